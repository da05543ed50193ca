// The embedded default: one SQLite file in WAL mode, every answer durable (synchronous=FULL, or for a hand-off a flush
// off the event loop: flusher.ts). node:sqlite is synchronous, so each Store call runs its transaction to the end
// before another starts in this process; other processes on the same file are serialized by SQLite's write lock
// (BEGIN IMMEDIATE + busy_timeout).
//
// This file runs a task's life: SQL (sql.ts) and row mapping (rows.ts); events and notices are named in
// ../transitions.ts, claim order in ../claim-order.ts. Beside it: durable.ts (durable execution's calls, which the
// class delegates to), settings.ts (everything that is not a task's life), connection.ts (transactions and notices,
// with flusher.ts), refusal.ts. Other processes' commits arrive through the poller (poller.ts) behind the notifier.
import { InvalidStateError, StoreUnavailableError, TaskNotFoundError } from '../../core/errors.ts';
import type { Json, Task, TaskError, TaskEvent, WaitingFor } from '../../core/task.ts';
import { TASK_STATUSES } from '../../core/task.ts';
import { initialTask, type NewTask } from '../../core/validate.ts';
import type {
  ApiKey,
  AppendResult,
  AttemptEventInput,
  AttemptRef,
  CappedCounts,
  Checkpoint,
  CheckpointInfo,
  ChildOutcome,
  Claim,
  ClaimRequest,
  CreatedTask,
  ExpiredLease,
  FinishRequest,
  FinishResult,
  HandoffStore,
  HeldBack,
  LeaseState,
  ListenOptions,
  NoticeListener,
  QueueCounts,
  QueueSettings,
  QueueSettingsPatch,
  Schedule,
  ScheduleDefinition,
  SendSignalResult,
  SignalRecord,
  StepRecord,
  Store,
  Subscription,
  SuspendResult,
  TaskPage,
  TaskQuery,
  TypeSettings,
  WaitRequest,
  WorkerInfo,
} from '../store.ts';
import { type Candidate, chooseCandidates, freeSlotsPerKey, inClaimOrder } from '../claim-order.ts';
import { type CountRow, cappedCounts, countsByQueue, pageOf } from '../counts.ts';
import { type FlowLimits, FlowWake, heldBackOf } from '../flow-limits.ts';
import { hasFlowRules } from '../flow.ts';
import {
  cancelledError,
  cancelledEvent,
  cancelRequestNotice,
  createdNotices,
  eventNotice,
  leaseState,
  manualRetryEvent,
  readyNotice,
  resumedEvent,
  startedEvent,
  type TaskPlace,
} from '../transitions.ts';
import { Notifier, type ResyncListener } from '../notifier/notifier.ts';
import { timedWakeReason } from '../waits.ts';
import { type QueueLimitsNow, queueLimitsNow, typeRoomsNow } from './claim-limits.ts';
import { SqliteConnection } from './connection.ts';
import * as attempts from './attempts.ts';
import { listEvents } from './history.ts';
import * as durable from './durable.ts';
import { SqliteFlow } from './flow-limits.ts';
import { SqlitePoller } from './poller.ts';
import { refusal } from './refusal.ts';
import * as flow from './flow.ts';
import { arrayToCandidate, arrayToTask, newTaskParams, type Row, rowToCandidate, rowToCheckpoint, rowToTask } from './rows.ts';
import { SqliteSettings } from './settings.ts';
import { MIGRATIONS } from './migrations.ts';
import { SQL } from './sql.ts';

export interface SqliteStoreOptions {
  /** File path, or `:memory:`. */
  path: string;
  /** How often to look for commits made by other processes on the same file, in ms. Default 25. */
  pollIntervalMs?: number;
  /** How long a write waits for another process's lock before failing, in ms. Default 10000. */
  busyTimeoutMs?: number;
}

/** How much deeper than `max` a claim walks again when flow control turned candidates away. */
const FLOW_WALK = 200;

export class SqliteStore implements Store, HandoffStore {
  readonly backend = 'sqlite';
  // The claim runs on the event loop (4.1 ms per claim of 250 in a drain): 500 would hold it twice as long, and bought
  // nothing over 200 (docs/benchmarks.md).
  readonly maxClaimAhead = 200;
  // Against 30, 35 and 55 ms and a fixed 600 (docs/benchmarks.md, twenty-fourth session): a SQLite batch's cost is
  // mostly per chunk, so larger batches cost less per chunk and drain sooner; 45 gave the best rate with the p99 no
  // worse than at 35, and 55 raised the p99.
  readonly outputDelayMs = 45;
  readonly #c: SqliteConnection;
  readonly #settings: SqliteSettings;
  readonly #flow: SqliteFlow;
  readonly #flowWake = new FlowWake(() => this.#notifier.emit(readyNotice(null)));
  readonly #poller: SqlitePoller;
  readonly #notifier: Notifier;

  constructor(options: SqliteStoreOptions) {
    this.#c = new SqliteConnection(
      options.path,
      options.busyTimeoutMs ?? 10_000,
      (notice) => this.#notifier.emit(notice),
      () => this.#notifier.wantsStartsAndCompletions(),
    );
    this.#settings = new SqliteSettings(this.#c);
    this.#flow = new SqliteFlow(this.#c);
    this.#poller = new SqlitePoller(this.#c, options.pollIntervalMs ?? 25);
    // The poller runs only while someone listens: it reads by event id, so a pause loses nothing.
    this.#notifier = new Notifier(this.#poller, { listenWhileIdle: false });
  }

  /** Adds the event's row to the transaction, and its notice for when it commits. */
  #appendEvent(task: TaskPlace, event: TaskEvent): TaskEvent {
    this.#c.push(eventNotice(task, event));
    return event;
  }

  async migrate(): Promise<void> {
    await this.#c.write(() => {
      this.#c.db.exec(SQL.createMigrationsTable);
      const applied = new Set(this.#c.all(SQL.appliedVersions).map((r) => r.version as number));
      MIGRATIONS.forEach((ddl, index) => {
        const version = index + 1;
        if (applied.has(version)) return;
        this.#c.db.exec(ddl);
        this.#c.sql(SQL.recordMigration).run(version, Date.now());
      });
    });
    this.#poller.mark();
  }

  async close(): Promise<void> {
    this.#flowWake.close();
    await this.#notifier.close();
    await this.#c.close();
  }

  async ping(): Promise<void> {
    try {
      this.#c.get(SQL.ping);
    } catch (error) {
      throw new StoreUnavailableError(`SQLite is not answering: ${(error as Error).message}`, { cause: error });
    }
  }

  async createTasks(tasks: readonly NewTask[]): Promise<CreatedTask[]> {
    return this.#c.write(() => tasks.map((t) => this.#create(t)));
  }

  async createAndStart(tasks: readonly NewTask[], starts: ReadonlyMap<string, string>, leaseMs: number, now: number, started?: (claims: Claim[]) => void) {
    return this.#c.write(() => {
      const claims: Claim[] = [];
      const created = tasks.map((t) => {
        const workerId = starts.get(t.id);
        const plain = t.status === 'queued' && t.throttle === null && !hasFlowRules(t);
        if (workerId === undefined || !plain || this.#c.get(SQL.handoffBlocked, t.queue, t.type, t.id, now)?.blocked !== 0) return this.#create(t);
        const result = this.#insert(t, true);
        if (result.created) claims.push(this.#startInserted(result.task, workerId, now + leaseMs, now));
        return result;
      });
      return { created, claims };
    }, { durability: 'flushLater', onCommit: ({ claims }) => started?.(claims) });
  }

  /** Inside a write: the task `#insert` just stored starts for `workerId`, as a claim of it alone would. */
  #startInserted(created: Task, workerId: string, leaseUntil: number, now: number): Claim {
    const row = this.#c.get(SQL.startInserted, leaseUntil, workerId, now, created.id) as Row;
    const task: Task = { ...created, status: 'running', attempts: 1, startedAt: now, updatedAt: now, lastEventSeq: 2 };
    this.#c.announce(task, startedEvent(task.id, 2, 1, workerId, now));
    return { task, attemptToken: row.attempt_token as string, leaseExpiresAt: leaseUntil };
  }

  /** Inside a write. */
  #create(t: NewTask): CreatedTask {
    if (!hasFlowRules(t)) return this.#insert(t);
    return flow.createWithFlow(this.#c, t, { insert: (task) => this.#insert(task), cancel: (id, error, now) => this.#cancelOne(id, error, now) });
  }

  /**
   * Inside a write. `startsNow`: the task is handed to a worker in this same write (createAndStart), so no worker
   * needs waking for it: its created event goes out without a ready notice.
   */
  #insert(t: NewTask, startsNow = false): CreatedTask {
    const inserted = this.#c.sql(SQL.insertTask).run(...newTaskParams(t));
    if (inserted.changes === 0) {
      const existing = this.#c.get(SQL.taskByIdempotencyKey, t.owner ?? '', t.idempotencyKey);
      if (!existing) throw new Error(`task ${t.id} was not inserted and matches no idempotency key`);
      return { task: rowToTask(existing), created: false };
    }
    createdNotices(t, this.#c, !startsNow);
    return { task: initialTask(t), created: true };
  }

  async getTask(id: string): Promise<Task | null> {
    const row = this.#c.get(SQL.getTask, id);
    return row ? rowToTask(row) : null;
  }

  async listTasks(query: TaskQuery): Promise<TaskPage> {
    const { text, params } = SQL.listTasks(query);
    return pageOf(this.#c.all(text, ...params), query.limit, rowToTask);
  }

  async listEvents(taskId: string, afterSeq: number, limit: number): Promise<TaskEvent[]> {
    return listEvents(this.#c, taskId, afterSeq, limit);
  }

  async countByQueue(owner?: string): Promise<QueueCounts[]> {
    const rows = owner === undefined ? this.#c.all(SQL.countByQueue) : this.#c.all(SQL.countByQueueOfOwner, owner);
    return countsByQueue(rows as unknown as CountRow[]);
  }

  async countTasks(cap: number): Promise<CappedCounts> {
    const rows: CountRow[] = [];
    for (const status of TASK_STATUSES) {
      for (const r of this.#c.all(SQL.countCapped[status], cap)) rows.push({ queue: r.queue as string, status, n: r.n as number });
    }
    return cappedCounts(rows, cap);
  }

  async claim(request: ClaimRequest): Promise<Claim[]> {
    if (request.max <= 0 || request.types.length === 0) return [];
    const { now } = request;
    // A claim lost in a power failure leaves its tasks queued, to be claimed again (delivery is at least once),
    // and its worker's finish is refused: it need not wait for the disk (as on PostgreSQL, docs/postgres.md).
    return this.#c.write(() => {
      this.#promoteDue(now);
      const limits = queueLimitsNow(this.#c, now);
      const typeLimits = typeRoomsNow(this.#c, request.types, now);
      // Types at their rate limit are not walked at all, so they cannot crowd out the others' tasks. A type named
      // twice is walked once: twice, its tasks would be chosen twice each.
      const walk = { ...request, types: [...new Set(request.types)].filter((type) => typeLimits.get(type) !== 0) };
      if (walk.types.length === 0) return [];
      const flowLimits = this.#flow.limitsForClaim();
      let { chosen, flow } = this.#choose(walk, walk.max, limits, typeLimits, flowLimits, now);
      // Flow control turned candidates away (a throttled key's backlog ahead of other keys' tasks, say): walk further
      // once, so those tasks do not hold back the others.
      if (flow && flow.refused() > 0 && chosen.length < request.max) ({ chosen, flow } = this.#choose(walk, walk.max + FLOW_WALK, limits, typeLimits, flowLimits, now));
      // Flow control held tasks back: wake this process's claimers when the first window moves on.
      if (flow && flow.refused() > 0 && chosen.length < request.max) this.#flowWake.arm(this.#flow.nextWindowEnd(now), now);
      if (chosen.length === 0) return [];
      const leaseUntil = now + request.leaseMs;
      const ids = JSON.stringify(chosen);
      // The walk found each chosen task queued in this transaction (no other writer): the update takes all of them.
      const updated = this.#c.run(SQL.claimIds, leaseUntil, request.workerId, now, now, ids);
      if (updated !== chosen.length) throw new Error(`a claim updated ${updated} of the ${chosen.length} tasks it chose`);
      const { rows, at } = this.#c.allArrays(SQL.claimedTasks, ids);
      const claims = rows.map((row): Claim => {
        const task = arrayToTask(row, at);
        if (this.#c.announcesStartsAndCompletions) this.#c.announce(task, startedEvent(task.id, task.lastEventSeq, task.attempts, request.workerId, now));
        return { task, attemptToken: row[at.attempt_token] as string, leaseExpiresAt: leaseUntil };
      });
      if (flow) this.#flow.record(claims.map((c) => c.task.id), flow.windows, now);
      for (const claim of claims) {
        const { task } = claim;
        if (limits.rateLimited.has(task.queue)) this.#c.run(SQL.recordStart, task.queue, now);
        if (typeLimits.has(task.type)) this.#c.run(SQL.recordTypeStart, task.type, now);
        if (task.checkpointVersion > 0) {
          const checkpoint = this.#c.get(SQL.getCheckpoint, task.id, task.checkpointVersion);
          if (checkpoint) claim.resumeCheckpoint = rowToCheckpoint(checkpoint);
        }
      }
      return inClaimOrder(claims, chosen);
    }, { durability: 'lazy' });
  }

  /** Candidates walked `walkMax` deep per type (and key), and the ids chosen among them in claim order. */
  #choose(walk: ClaimRequest, walkMax: number, limits: QueueLimitsNow, typeLimits: Map<string, number>, flowLimits: FlowLimits | null, now: number) {
    const wanted = (queue: string) => !walk.queues || walk.queues.includes(queue);
    const deep = { ...walk, max: walkMax };
    const candidates = this.#plainCandidates(deep, [...limits.blocked, ...limits.fair.keys()]);
    for (const [queue, maxPerKey] of limits.fair) {
      if (wanted(queue) && !limits.blocked.includes(queue)) candidates.push(...this.#fairCandidates(queue, maxPerKey, deep));
    }
    const flow = flowLimits ? this.#flow.gate(flowLimits, candidates, now) : null;
    // Copies: a second walk starts from the same allowances.
    const chosen = chooseCandidates(candidates, walk.max, new Map(limits.allowance), new Map(typeLimits), flow?.admit);
    return { chosen, flow };
  }

  /**
   * One index range per type, merged by the caller: each walk reads only ready rows of a type this worker runs,
   * however large the backlog of other types. `skip`: queues this walk must not take from.
   */
  #plainCandidates(request: ClaimRequest, skip: string[]): Candidate[] {
    const queues = request.queues ? JSON.stringify(request.queues) : null;
    const filtered = queues !== null || skip.length > 0;
    const candidates: Candidate[] = [];
    for (const type of request.types) {
      const { rows, at } = filtered
        ? this.#c.allArrays(SQL.readyOfTypeFiltered, type, queues, JSON.stringify(skip), request.max)
        : this.#c.allArrays(SQL.readyOfType, type, request.max);
      for (const r of rows) candidates.push(arrayToCandidate(r, at, 0));
    }
    return candidates;
  }

  /** A fair queue's candidates: for each key with free slots, its best tasks, numbered by round. */
  #fairCandidates(queue: string, maxPerKey: number, request: ClaimRequest): Candidate[] {
    const types = JSON.stringify(request.types);
    const running = new Map(this.#c.all(SQL.runningPerKey, queue).map((r) => [r.key as string | null, r.n as number]));
    const keys: (string | null)[] = [...this.#c.all(SQL.readyKeys, queue).map((r) => r.key as string), null];
    const candidates: Candidate[] = [];
    for (const [key, free] of freeSlotsPerKey(keys, running, maxPerKey)) {
      const limit = Math.min(free, request.max);
      const rows = key === null ? this.#c.all(SQL.readyWithoutKey, queue, types, limit) : this.#c.all(SQL.readyOfKey, queue, key, types, limit);
      for (const [round, r] of rows.entries()) candidates.push(rowToCandidate(r, round));
    }
    return candidates;
  }

  async nextScheduledAt(queues: readonly string[] | null): Promise<number | null> {
    const row = queues ? this.#c.get(SQL.nextScheduledAtInQueues, JSON.stringify(queues)) : this.#c.get(SQL.nextScheduledAt);
    return (row?.at as number | null) ?? null;
  }

  async heartbeat(ref: AttemptRef, leaseMs: number, now: number): Promise<LeaseState> {
    const row = this.#c.get(SQL.heartbeat, now + leaseMs, ref.taskId, ref.attemptToken);
    if (!row) throw refusal(this.#c, ref.taskId);
    return leaseState(row.lease_until as number, row.cancel_requested === 1, row.started_at as number | null, row.soft_timeout_ms as number | null, now);
  }

  async appendAttemptEvents(inputs: readonly AttemptEventInput[], now: number): Promise<AppendResult[]> {
    return this.#c.write(() => attempts.appendAttemptEvents(this.#c, inputs, now));
  }

  async finish(requests: readonly FinishRequest[], now: number): Promise<FinishResult[]> {
    return this.#c.write(() => attempts.finish(this.#c, requests, now, (taskId, startedAt, cost) => this.#flow.reportCost(taskId, startedAt, cost)));
  }

  async expiredLeases(now: number, limit: number): Promise<ExpiredLease[]> {
    return this.#c.all(SQL.expiredLeases, now, limit).map((r) => ({
      task: rowToTask(r),
      attemptToken: r.attempt_token as string,
    }));
  }

  async cancel(id: string, reason: string, now: number): Promise<Task> {
    return this.#c.write(() => this.#cancelOne(id, cancelledError(reason), now));
  }

  /**
   * Inside a write. A waiting parent's unfinished children of its wait are cancelled with it (each as by its own
   * cancel: running ones get cancelRequested, waiting ones cancel theirs); a child cancelled at once tells its parent.
   */
  #cancelOne(id: string, error: TaskError, now: number): Task {
    const target = this.#c.get(SQL.cancelTarget, id);
    const cancelled = this.#c.get(SQL.cancelNow, JSON.stringify(error), now, now, id);
    if (cancelled) {
      const task = rowToTask(cancelled);
      this.#appendEvent(task, cancelledEvent(id, task.lastEventSeq, error, now));
      if (target?.status === 'waiting' && target.wait_kind === 'children') {
        for (const child of this.#c.all(SQL.unfinishedChildren, id, target.wait_name)) this.#cancelOne(child.id as string, error, now);
      }
      if (cancelled.child_key !== null) attempts.childFinished(this.#c, cancelled, 'cancelled', now);
      return task;
    }
    const running = this.#c.get(SQL.requestCancel, now, id);
    if (running) {
      this.#c.push(cancelRequestNotice(id));
      return rowToTask(running);
    }
    if (!target) throw new TaskNotFoundError(id);
    throw new InvalidStateError(id, target.status as string, 'cancel');
  }

  async retry(id: string, now: number): Promise<Task> {
    return this.#c.write(() => {
      const row = this.#c.get(SQL.retry, now, now, id);
      if (!row) {
        const current = this.#c.get(SQL.taskExists, id);
        if (!current) throw new TaskNotFoundError(id);
        throw new InvalidStateError(id, current.status as string, 'retry');
      }
      const task = rowToTask(row);
      this.#appendEvent(task, manualRetryEvent(id, task.lastEventSeq, now));
      this.#c.push(readyNotice(task.queue));
      return task;
    });
  }

  async retryFailed(queue: string, limit: number, now: number): Promise<number> {
    return this.#c.write(() => {
      const rows = this.#c.all(SQL.retryFailedOfQueue, now, queue, limit);
      for (const r of rows) {
        const task = { queue: r.queue as string, owner: r.owner as string | null };
        this.#appendEvent(task, manualRetryEvent(r.id as string, r.event_seq as number, now));
      }
      if (rows.length > 0) this.#c.push(readyNotice(queue));
      return rows.length;
    });
  }

  async deleteTask(id: string): Promise<boolean> {
    return this.#c.write(() => {
      if (this.#c.get(SQL.deleteTask, id)) {
        this.#c.run(SQL.deleteEventsOfTask, id);
        this.#c.run(SQL.deleteRecentEventsOfTask, id);
        this.#c.run(SQL.deleteCheckpointsOfTask, id);
        this.#c.run(SQL.deleteStepsOfTask, id);
        this.#c.run(SQL.deleteSignalsOfTask, id);
        return true;
      }
      const current = this.#c.get(SQL.taskExists, id);
      if (!current) return false;
      throw new InvalidStateError(id, current.status as string, 'delete');
    });
  }

  async listQueueSettings(): Promise<QueueSettings[]> {
    return this.#settings.listQueueSettings();
  }
  /** Debounce and singleton holds (flow.ts), then throttles and budgets (flow-limits.ts). */
  async heldBack(queue: string): Promise<HeldBack[]> {
    return [...flow.heldBack(this.#c, queue), ...(await heldBackOf(queue, this.#flow, Date.now()))];
  }
  async updateQueueSettings(name: string, patch: QueueSettingsPatch, now: number): Promise<QueueSettings> {
    return this.#settings.updateQueueSettings(name, patch, now);
  }
  async listTypeSettings(): Promise<TypeSettings[]> {
    return this.#settings.listTypeSettings();
  }
  async putTypeSettings(settings: TypeSettings): Promise<TypeSettings> {
    return this.#settings.putTypeSettings(settings);
  }
  async deleteTypeSettings(type: string): Promise<boolean> {
    return this.#settings.deleteTypeSettings(type);
  }
  async listSubscriptions(): Promise<Subscription[]> {
    return this.#settings.listSubscriptions();
  }
  async putSubscription(s: Omit<Subscription, 'createdAt' | 'updatedAt'>, now: number) {
    return this.#settings.putSubscription(s, now);
  }
  async deleteSubscription(name: string): Promise<boolean> {
    return this.#settings.deleteSubscription(name);
  }
  async listSchedules(): Promise<Schedule[]> {
    return this.#settings.listSchedules();
  }
  async getSchedule(name: string): Promise<Schedule | null> {
    return this.#settings.getSchedule(name);
  }
  async putSchedule(definition: ScheduleDefinition, nextRunAt: number | null, now: number) {
    return this.#settings.putSchedule(definition, nextRunAt, now);
  }
  async deleteSchedule(name: string): Promise<boolean> {
    return this.#settings.deleteSchedule(name);
  }
  async dueSchedules(now: number, limit: number): Promise<Schedule[]> {
    return this.#settings.dueSchedules(now, limit);
  }
  async advanceSchedule(name: string, from: number, to: number | null, fired: { at: number; taskId: string } | null, now: number) {
    return this.#settings.advanceSchedule(name, from, to, fired, now);
  }
  async deleteFinishedTasks(status: 'completed' | 'failed' | 'cancelled', before: number, limit: number): Promise<number> {
    return this.#settings.deleteFinishedTasks(status, before, limit);
  }

  async registerWorker(info: WorkerInfo): Promise<void> {
    await this.#settings.registerWorker(info);
  }
  async sawWorker(info: WorkerInfo): Promise<void> {
    await this.#settings.sawWorker(info);
  }
  async listWorkers(seenSince: number): Promise<WorkerInfo[]> {
    return this.#settings.listWorkers(seenSince);
  }
  async removeWorkers(before: number, id?: string): Promise<number> {
    return this.#settings.removeWorkers(before, id);
  }
  async createApiKey(key: ApiKey, secretHash: string): Promise<void> {
    await this.#settings.createApiKey(key, secretHash);
  }
  async findApiKey(id: string): Promise<{ key: ApiKey; secretHash: string } | null> {
    return this.#settings.findApiKey(id);
  }
  async listApiKeys(): Promise<ApiKey[]> {
    return this.#settings.listApiKeys();
  }
  async revokeApiKey(id: string, now: number): Promise<boolean> {
    return this.#settings.revokeApiKey(id, now);
  }
  async secret(name: string): Promise<string> {
    return this.#settings.secret(name);
  }

  // ---- durable execution (docs/durable.md, "Store model"): the wake-ups inside finish, cancel and the claim here;
  // the calls themselves in durable.ts ----

  /** Inside the claim's write: due scheduled tasks and due waits (sleeps, signal timeouts) are queued. */
  #promoteDue(now: number): void {
    for (const due of this.#c.all(SQL.promoteDue, now)) {
      if (due.wait_kind === null) continue;
      const place = { queue: due.queue as string, owner: due.owner as string | null };
      const reason = timedWakeReason(due.wait_kind as WaitingFor['kind']);
      this.#appendEvent(place, resumedEvent(due.id as string, due.event_seq as number, reason, due.wait_name as string, now));
      this.#c.push(readyNotice(place.queue));
    }
  }

  async saveCheckpoint(ref: AttemptRef, state: Json, options: { label?: string | null; size: number }, now: number): Promise<CheckpointInfo> {
    return durable.saveCheckpoint(this.#c, ref, state, options, now);
  }
  async listCheckpoints(taskId: string): Promise<CheckpointInfo[]> {
    return durable.listCheckpoints(this.#c, taskId);
  }
  async getCheckpoint(taskId: string, version: number | 'latest'): Promise<Checkpoint | null> {
    return durable.getCheckpoint(this.#c, taskId, version);
  }
  async recover(taskId: string, options: { fromVersion?: number }, now: number): Promise<Task> {
    return durable.recover(this.#c, taskId, options, now);
  }
  async deriveTask(task: NewTask, from: { taskId: string; version: number | 'latest' }, now: number): Promise<Task> {
    return durable.deriveTask(this.#c, task, from, now);
  }
  async saveStep(ref: AttemptRef, name: string, result: Json, now: number): Promise<StepRecord> {
    return durable.saveStep(this.#c, ref, name, result, now);
  }
  async listSteps(taskId: string): Promise<StepRecord[]> {
    return durable.listSteps(this.#c, taskId);
  }
  async suspend(ref: AttemptRef, wait: WaitRequest, now: number): Promise<SuspendResult> {
    return durable.suspend(this.#c, ref, wait, now);
  }
  async childOutcomes(parentId: string, name: string): Promise<ChildOutcome[]> {
    return durable.childOutcomes(this.#c, parentId, name);
  }
  async sendSignal(taskId: string, name: string, data: Json, now: number): Promise<SendSignalResult> {
    return durable.sendSignal(this.#c, taskId, name, data, now);
  }
  async listSignals(taskId: string): Promise<SignalRecord[]> {
    return durable.listSignals(this.#c, taskId);
  }

  listen(listener: NoticeListener, options?: ListenOptions): () => void {
    return this.#notifier.listen(listener, options);
  }

  onResync(listener: ResyncListener): () => void {
    return this.#notifier.onResync(listener);
  }
}

