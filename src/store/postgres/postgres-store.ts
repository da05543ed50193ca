// The shared backend: any number of API nodes and worker processes on one PostgreSQL database. Every Store call that
// writes is one SQL statement (sql/*.ts), so it is atomic without BEGIN/COMMIT and costs one round trip; the durable
// calls that must decide on what they read (suspend, sendSignal, recover, the cancel of a waiting task or of a child)
// are one short transaction that first locks the task row (sql/durable.ts, docs/durable.md). Changes
// reach other processes through LISTEN/NOTIFY on one channel per schema: right after a write commits, its notices go
// to this process's listeners at once and, packed into as few NOTIFY messages as fit, to every other process (the
// echo of our own messages is skipped by origin). docs/postgres.md explains why after commit and not inside it.
//
// This file runs the task's life (SQL calls and row mapping), delegating to the files beside it: claim-store.ts (a
// worker's claim), attempts-store.ts (output and finish), durable-store.ts (durable execution's calls) and
// flow-store.ts (debounce and singleton). Also beside it: rows.ts (row types and mappers), encoding.ts (array and JSON
// parameters), errors.ts (error classification), refusal.ts (what an empty answer stands for), wire.ts (the NOTIFY
// format), pool.ts (connections), listener.ts (LISTEN and presence), publisher.ts (the outbox), settings.ts
// (everything that is not a task's life).
// Reconnecting and fan-out are the backend-neutral notifier's (../notifier/notifier.ts).
import { randomUUID } from 'node:crypto';
import type { QueryResultRow } from 'pg';
import { InvalidStateError, StoreUnavailableError, TaskNotFoundError, ValidationError } from '../../core/errors.ts';
import type { Json, Task, TaskEvent, TaskStatus } from '../../core/task.ts';
import { isTerminal } from '../../core/task.ts';
import { initialTask, type NewTask } from '../../core/validate.ts';
import { type CountRow, cappedCounts, countsByQueue, pageOf } from '../counts.ts';
import { Notifier, type ResyncListener } from '../notifier/notifier.ts';
import { heldBackOf } from '../flow-limits.ts';
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
  StoreNotice,
  Subscription,
  SuspendResult,
  TaskPage,
  TaskQuery,
  TypeSettings,
  WaitRequest,
  WorkerInfo,
} from '../store.ts';
import {
  cancelledError,
  cancelledEvent,
  cancelRequestNotice,
  createdNotices,
  eventNotice,
  leaseState,
  manualRetryEvent,
  readyNotice,
} from '../transitions.ts';
import * as attempts from './attempts-store.ts';
import * as claiming from './claim-store.ts';
import * as durable from './durable-store.ts';
import * as flow from './flow-store.ts';
import { hasFlowRules } from '../flow.ts';
import { appendParams, completeManyParams, finishParams, newTaskParams } from './encoding.ts';
import { PgListener } from './listener.ts';
import { checkedOptions, PgPool, type PostgresStoreOptions, type Queryable } from './pool.ts';
import { Publisher } from './publisher.ts';
import { refusal } from './refusal.ts';
import {
  type AppendedEventRow,
  type EventRow,
  type Int8,
  rowToTask,
  type TaskRow,
  type TaskRowWithToken,
  toNumber,
  toNumberOrNull,
} from './rows.ts';
import { PostgresSettings } from './settings.ts';
import { PostgresFlow } from './flow-limits.ts';
import { buildSql, type PostgresSql, type Statement } from './sql.ts';

export type { PostgresStoreOptions, Queryable } from './pool.ts';
export { decodeNotices, encodeNotices } from './wire.ts';

/** Connections warmUp prepares: about as many as a busy worker's claims and finishes use at once. */
const WARM_CONNECTIONS = 3;

export class PostgresStore implements Store {
  readonly backend = 'postgres';
  // Each claim statement has a fixed cost; batches of about 500 drained 10-25 % faster than 200 (docs/benchmarks.md).
  readonly maxClaimAhead = 500;
  // A batch of output costs a round trip and a commit whatever its size, so a tight delay only shrinks batches: 30 ms
  // (a first controller) cost a fifth of the rate. 40 ms had the p99 under 100 ms in the most rounds, 3 of 7 against 1
  // at 50 ms and 2 at a fixed 600 (docs/benchmarks.md, twenty-fourth session).
  readonly outputDelayMs = 40;
  readonly schema: string;
  readonly #sql: PostgresSql;
  readonly #pool: PgPool;
  /** Names this store instance in its NOTIFYs, so it can skip the echo of what it already delivered locally. */
  readonly #origin = randomUUID();
  readonly #listener: PgListener;
  readonly #notifier: Notifier;
  readonly #publisher: Publisher;
  readonly #settings: PostgresSettings;
  readonly #flow: PostgresFlow;
  /** What durable-store.ts and refusal.ts use: the pool, the statements, and #announce. */
  readonly #db: durable.PgStoreDb;
  /** The warm-up (warmUp), which close waits for. */
  #warming: Promise<void> | undefined;
  #closed = false;

  constructor(options: PostgresStoreOptions) {
    const { connectionString, schema, poolSize } = checkedOptions(options);
    this.schema = schema;
    this.#sql = buildSql(schema);
    this.#pool = new PgPool(connectionString, poolSize);
    this.#listener = new PgListener({
      connectionString,
      pool: this.#pool,
      sql: this.#sql,
      origin: this.#origin,
      readEvent: async (taskId, seq) => (await this.listEvents(taskId, seq - 1, 1))[0],
    });
    this.#notifier = new Notifier(this.#listener);
    this.#publisher = new Publisher(this.#pool, this.#sql, this.#origin);
    const announce = (notices: readonly StoreNotice[]) => this.#announce(notices);
    this.#settings = new PostgresSettings(this.#pool, this.#sql, announce);
    this.#flow = new PostgresFlow(this.#pool, this.#sql, () => this.#notifier.emit(readyNotice(null)));
    this.#db = { pool: this.#pool, sql: this.#sql, announce, announcesStartsAndCompletions: () => this.#announcesStartsAndCompletions() };
  }

  // ---- plumbing ----

  #query<R extends QueryResultRow>(statement: Statement | string, values: unknown[], on?: Queryable): Promise<R[]> {
    return this.#pool.query<R>(statement, values, on);
  }

  /** ListenOptions.wantsStartsAndCompletions of this process's listeners, or another process that may listen. */
  #announcesStartsAndCompletions(): boolean {
    return this.#notifier.wantsStartsAndCompletions() || this.#listener.othersMayListen();
  }

  /**
   * After a write committed: its notices go to this process's listeners at once, and to the other processes when
   * any may listen. Sending them after the commit rather than from inside the write keeps PostgreSQL's NOTIFY lock,
   * which serializes every notifying commit of the database, out of the write's commit (docs/postgres.md).
   */
  #announce(notices: readonly StoreNotice[]): void {
    if (notices.length === 0) return;
    for (const notice of notices) this.#notifier.emit(notice);
    if (this.#listener.othersMayListen()) this.#publisher.publish(notices);
  }

  // ---- schema ----

  async migrate(): Promise<void> {
    await this.#pool.transaction(async (client) => {
      // Serializes every process migrating this schema; released by COMMIT or ROLLBACK.
      await client.query(this.#sql.migrationLock, [this.schema]);
      const schemaExists = await client.query(this.#sql.schemaExists, [this.schema]);
      if (schemaExists.rowCount === 0) await client.query(this.#sql.createSchema);
      const table = await client.query<{ present: boolean }>(this.#sql.migrationsTableExists);
      if (!table.rows[0].present) await client.query(this.#sql.createMigrationsTable);
      const applied = new Set((await client.query<{ version: number }>(this.#sql.appliedVersions)).rows.map((r) => r.version));
      for (const [index, ddl] of this.#sql.migrations.entries()) {
        const version = index + 1;
        if (applied.has(version)) continue;
        await client.query(ddl);
        await client.query(this.#sql.recordMigration, [version, Date.now()]);
      }
    });
    // Listening from here on means a store that has migrated hears every change committed after this returns.
    await this.#notifier.start();
  }

  /**
   * The statements of a task's life (enqueue, claim, output, finish) run with empty inputs on a few connections, so
   * that a worker's first tasks do not wait while a new connection plans them (their enqueue-to-start took 20-50 ms
   * before, docs/postgres.md). The claim runs at time 0, when nothing is due: it promotes and claims nothing.
   */
  warmUp(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#warming ??= this.#warmedConnections();
    return this.#warming;
  }

  #warmedConnections(): Promise<void> {
    const runs = [
      { statement: this.#sql.createTasks, values: newTaskParams([]) },
      { statement: this.#sql.claim, values: [0, [], null, 0, 0, '', ''] },
      { statement: this.#sql.appendAttemptEvents, values: appendParams([], [], 0) },
      { statement: this.#sql.finish, values: finishParams([], 0) },
      { statement: this.#sql.completeManyClaimed, values: completeManyParams([], [], 0) },
      { statement: this.#sql.completeMany, values: completeManyParams([], [], 0) },
    ];
    return this.#pool.warm(runs, WARM_CONNECTIONS).catch(() => {});
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#flow.close();
    // What was committed before close() gets announced to other processes.
    await this.#publisher.idle();
    await this.#warming;
    this.#pool.stop();
    await this.#notifier.close();
    await this.#pool.close();
  }

  async ping(): Promise<void> {
    try {
      await this.#query(this.#sql.ping, []);
    } catch (error) {
      if (error instanceof StoreUnavailableError) throw error;
      throw new StoreUnavailableError(`PostgreSQL is not answering: ${(error as Error).message}`, { cause: error });
    }
  }

  // ---- producing ----

  async createTasks(tasks: readonly NewTask[]): Promise<CreatedTask[]> {
    // With debounce or singleton: one transaction under the keys' locks, which announces its notices itself.
    if (tasks.some(hasFlowRules)) return flow.createWithFlow(this.#db, tasks, (client, plain) => this.#createTasks(client, plain, this.#sql.createTasks));
    const results = await this.#createTasks(undefined, tasks, this.#sql.createTasks);
    const notices: StoreNotice[] = [];
    for (const { task, created } of results) if (created) createdNotices(task, notices);
    this.#announce(notices);
    return results;
  }

  /**
   * createTasks on a connection the application controls, typically inside its own BEGIN ... COMMIT, so the tasks
   * exist if and only if the application's transaction commits. Their notices are NOTIFYed from inside that
   * transaction, so they go out when (and only when) it commits; this process hears them like any other's.
   * See docs/postgres.md.
   */
  createTasksIn(client: Queryable, tasks: readonly NewTask[]): Promise<CreatedTask[]> {
    // A debounce or singleton decides under locks of the store's own transaction; the application's cannot hold them.
    if (tasks.some(hasFlowRules)) return Promise.reject(new ValidationError('debounce, singleton: not available with enqueueIn'));
    return this.#createTasks(client, tasks, this.#sql.createTasksNotifying);
  }

  async #createTasks(on: Queryable | undefined, tasks: readonly NewTask[], statement: Statement): Promise<CreatedTask[]> {
    if (tasks.length === 0) return [];
    const rows = await this.#query<{ id: string }>(statement, newTaskParams(tasks), on);
    const inserted = new Set(rows.map((r) => r.id));
    // An inserted row is exactly its NewTask with the initial values: no need to read it back.
    if (inserted.size === tasks.length) return tasks.map((t) => ({ task: initialTask(t), created: true }));

    // Skipped for an idempotency key: the existing task is one inserted earlier in this batch, or one stored before.
    const keyOf = (owner: string | null, key: string | null) => JSON.stringify([owner ?? '', key]);
    const byKey = new Map<string, Task>();
    for (const t of tasks) {
      if (inserted.has(t.id) && t.idempotencyKey !== null) byKey.set(keyOf(t.owner, t.idempotencyKey), initialTask(t));
    }
    const unresolved = tasks.filter((t) => !inserted.has(t.id) && !byKey.has(keyOf(t.owner, t.idempotencyKey)));
    if (unresolved.length > 0) {
      const existing = await this.#query<TaskRow>(
        this.#sql.tasksByIdempotencyKey,
        [unresolved.map((t) => t.owner ?? ''), unresolved.map((t) => t.idempotencyKey)],
        on,
      );
      for (const row of existing) byKey.set(keyOf(row.owner, row.idempotency_key), rowToTask(row));
    }
    return tasks.map((t) => {
      if (inserted.has(t.id)) return { task: initialTask(t), created: true };
      const existing = byKey.get(keyOf(t.owner, t.idempotencyKey));
      if (!existing) throw new Error(`task ${t.id} was not inserted and matches no idempotency key`);
      return { task: existing, created: false };
    });
  }

  // ---- reading ----

  async getTask(id: string): Promise<Task | null> {
    const [row] = await this.#query<TaskRow>(this.#sql.getTask, [id]);
    return row ? rowToTask(row) : null;
  }

  async listTasks(query: TaskQuery): Promise<TaskPage> {
    return pageOf(await this.#query<TaskRow>(this.#sql.listTasks(query), []), query.limit, rowToTask);
  }

  async listEvents(taskId: string, afterSeq: number, limit: number): Promise<TaskEvent[]> {
    const rows = await this.#query<EventRow>(this.#sql.listEvents, [taskId, afterSeq, limit]);
    if (!rows[0]?.task_exists) throw new TaskNotFoundError(taskId);
    const events: TaskEvent[] = [];
    for (const r of rows) {
      if (r.seq !== null) events.push({ taskId, seq: r.seq, kind: r.kind, data: r.data ?? null, at: toNumber(r.at) });
    }
    return events;
  }

  async countByQueue(owner?: string): Promise<QueueCounts[]> {
    const rows =
      owner === undefined
        ? await this.#query<CountRow>(this.#sql.countByQueue, [])
        : await this.#query<CountRow>(this.#sql.countByQueueOfOwner, [owner]);
    return countsByQueue(rows);
  }

  async countTasks(cap: number): Promise<CappedCounts> {
    return cappedCounts(await this.#query<CountRow>(this.#sql.countCapped, [cap]), cap);
  }

  // ---- the worker side ----

  claim(request: ClaimRequest): Promise<Claim[]> {
    return claiming.claim(this.#db, this.#flow, request);
  }

  async nextScheduledAt(queues: readonly string[] | null): Promise<number | null> {
    const [row] = queues
      ? await this.#query<{ at: Int8 | null }>(this.#sql.nextScheduledAtInQueues, [queues])
      : await this.#query<{ at: Int8 | null }>(this.#sql.nextScheduledAt, []);
    return row ? toNumberOrNull(row.at) : null;
  }

  async heartbeat(ref: AttemptRef, leaseMs: number, now: number): Promise<LeaseState> {
    const [row] = await this.#query<{ lease_until: Int8; cancel_requested: boolean; started_at: Int8 | null; soft_timeout_ms: number | null }>(this.#sql.heartbeat, [
      now + leaseMs,
      ref.taskId,
      ref.attemptToken,
    ]);
    if (!row) throw await refusal(this.#db, ref.taskId);
    return leaseState(toNumber(row.lease_until), row.cancel_requested, toNumberOrNull(row.started_at), row.soft_timeout_ms, now);
  }

  appendAttemptEvents(inputs: readonly AttemptEventInput[], now: number): Promise<AppendResult[]> {
    return attempts.appendAttemptEvents(this.#db, inputs, now);
  }

  finish(requests: readonly FinishRequest[], now: number): Promise<FinishResult[]> {
    return attempts.finish(this.#db, requests, now);
  }

  async expiredLeases(now: number, limit: number): Promise<ExpiredLease[]> {
    const rows = await this.#query<TaskRowWithToken>(this.#sql.expiredLeases, [now, limit]);
    return rows.map((r) => ({ task: rowToTask(r), attemptToken: r.attempt_token }));
  }

  // ---- control ----

  async cancel(id: string, reason: string, now: number): Promise<Task> {
    const error = cancelledError(reason);
    // A failed task retried between the update and the status read would look cancellable: then try again.
    for (let round = 1; ; round++) {
      const [row] = await this.#query<TaskRow>(this.#sql.cancel, [id, JSON.stringify(error), now]);
      if (row) {
        const task = rowToTask(row);
        this.#announce([
          task.status === 'cancelled'
            ? eventNotice(task, cancelledEvent(id, task.lastEventSeq, error, now))
            : cancelRequestNotice(id),
        ]);
        return task;
      }
      const [current] = await this.#query<{ status: TaskStatus }>(this.#sql.taskStatus, [id]);
      if (!current) throw new TaskNotFoundError(id);
      if (isTerminal(current.status)) throw new InvalidStateError(id, current.status, 'cancel');
      // A waiting task, or a child of a wait: cancelled with its children, or telling its parent.
      if (current.status !== 'running') return durable.cancelDurable(this.#db, id, error, now);
      if (round >= 3) throw new InvalidStateError(id, current.status, 'cancel');
    }
  }

  async retry(id: string, now: number): Promise<Task> {
    const [row] = await this.#query<TaskRow>(this.#sql.retry, [id, now]);
    if (!row) {
      const [current] = await this.#query<{ status: TaskStatus }>(this.#sql.taskStatus, [id]);
      if (!current) throw new TaskNotFoundError(id);
      throw new InvalidStateError(id, current.status, 'retry');
    }
    const task = rowToTask(row);
    this.#announce([
      eventNotice(task, manualRetryEvent(id, task.lastEventSeq, now)),
      readyNotice(task.queue),
    ]);
    return task;
  }

  async retryFailed(queue: string, limit: number, now: number): Promise<number> {
    const rows = await this.#query<AppendedEventRow & { id: string }>(this.#sql.retryFailedOfQueue, [now, queue, limit]);
    if (rows.length === 0) return 0;
    const notices: StoreNotice[] = rows.map((r) => eventNotice(r, manualRetryEvent(r.id, r.event_seq, now)));
    notices.push(readyNotice(queue));
    this.#announce(notices);
    return rows.length;
  }

  async deleteTask(id: string): Promise<boolean> {
    const [row] = await this.#query<{ id: string }>(this.#sql.deleteTask, [id]);
    if (row) return true;
    const [current] = await this.#query<{ status: TaskStatus }>(this.#sql.taskStatus, [id]);
    if (!current) return false;
    throw new InvalidStateError(id, current.status, 'delete');
  }
  // ---- queue and type settings, subscriptions, schedules, workers, API keys, secrets, retention ----

  listQueueSettings(): Promise<QueueSettings[]> {
    return this.#settings.listQueueSettings();
  }
  /** Debounce and singleton holds (flow-store.ts), then throttles and budgets (flow-limits.ts). */
  async heldBack(queue: string): Promise<HeldBack[]> {
    const [keys, limits] = await Promise.all([flow.heldBack(this.#db, queue), heldBackOf(queue, this.#flow, Date.now())]);
    return [...keys, ...limits];
  }
  updateQueueSettings(name: string, patch: QueueSettingsPatch, now: number): Promise<QueueSettings> {
    return this.#settings.updateQueueSettings(name, patch, now);
  }
  listTypeSettings(): Promise<TypeSettings[]> {
    return this.#settings.listTypeSettings();
  }
  putTypeSettings(settings: TypeSettings): Promise<TypeSettings> {
    return this.#settings.putTypeSettings(settings);
  }
  deleteTypeSettings(type: string): Promise<boolean> {
    return this.#settings.deleteTypeSettings(type);
  }
  listSubscriptions(): Promise<Subscription[]> {
    return this.#settings.listSubscriptions();
  }
  putSubscription(s: Omit<Subscription, 'createdAt' | 'updatedAt'>, now: number): Promise<{ subscription: Subscription; created: boolean }> {
    return this.#settings.putSubscription(s, now);
  }
  deleteSubscription(name: string): Promise<boolean> {
    return this.#settings.deleteSubscription(name);
  }
  registerWorker(info: WorkerInfo): Promise<void> {
    return this.#settings.registerWorker(info);
  }
  sawWorker(info: WorkerInfo): Promise<void> {
    return this.#settings.sawWorker(info);
  }
  listWorkers(seenSince: number): Promise<WorkerInfo[]> {
    return this.#settings.listWorkers(seenSince);
  }
  removeWorkers(before: number, id?: string): Promise<number> {
    return this.#settings.removeWorkers(before, id);
  }
  createApiKey(key: ApiKey, secretHash: string): Promise<void> {
    return this.#settings.createApiKey(key, secretHash);
  }
  findApiKey(id: string): Promise<{ key: ApiKey; secretHash: string } | null> {
    return this.#settings.findApiKey(id);
  }
  listApiKeys(): Promise<ApiKey[]> {
    return this.#settings.listApiKeys();
  }
  revokeApiKey(id: string, now: number): Promise<boolean> {
    return this.#settings.revokeApiKey(id, now);
  }
  secret(name: string): Promise<string> {
    return this.#settings.secret(name);
  }
  listSchedules(): Promise<Schedule[]> {
    return this.#settings.listSchedules();
  }
  getSchedule(name: string): Promise<Schedule | null> {
    return this.#settings.getSchedule(name);
  }
  putSchedule(definition: ScheduleDefinition, nextRunAt: number | null, now: number): Promise<{ schedule: Schedule; created: boolean }> {
    return this.#settings.putSchedule(definition, nextRunAt, now);
  }
  deleteSchedule(name: string): Promise<boolean> {
    return this.#settings.deleteSchedule(name);
  }
  dueSchedules(now: number, limit: number): Promise<Schedule[]> {
    return this.#settings.dueSchedules(now, limit);
  }
  advanceSchedule(name: string, from: number, to: number | null, fired: { at: number; taskId: string } | null, now: number): Promise<boolean> {
    return this.#settings.advanceSchedule(name, from, to, fired, now);
  }
  deleteFinishedTasks(status: 'completed' | 'failed' | 'cancelled', before: number, limit: number): Promise<number> {
    return this.#settings.deleteFinishedTasks(status, before, limit);
  }

  // ---- durable execution (docs/durable.md, "Store model") ----

  saveCheckpoint(ref: AttemptRef, state: Json, options: { label?: string | null; size: number }, now: number): Promise<CheckpointInfo> {
    return durable.saveCheckpoint(this.#db, ref, state, options, now);
  }
  listCheckpoints(taskId: string): Promise<CheckpointInfo[]> {
    return durable.listCheckpoints(this.#db, taskId);
  }
  getCheckpoint(taskId: string, version: number | 'latest'): Promise<Checkpoint | null> {
    return durable.getCheckpoint(this.#db, taskId, version);
  }
  recover(taskId: string, options: { fromVersion?: number }, now: number): Promise<Task> {
    return durable.recover(this.#db, taskId, options, now);
  }
  deriveTask(task: NewTask, from: { taskId: string; version: number | 'latest' }, now: number): Promise<Task> {
    return durable.deriveTask(this.#db, task, from, now);
  }
  saveStep(ref: AttemptRef, name: string, result: Json, now: number): Promise<StepRecord> {
    return durable.saveStep(this.#db, ref, name, result, now);
  }
  listSteps(taskId: string): Promise<StepRecord[]> {
    return durable.listSteps(this.#db, taskId);
  }
  suspend(ref: AttemptRef, wait: WaitRequest, now: number): Promise<SuspendResult> {
    return durable.suspend(this.#db, ref, wait, now);
  }
  childOutcomes(parentId: string, name: string): Promise<ChildOutcome[]> {
    return durable.childOutcomes(this.#db, parentId, name);
  }
  sendSignal(taskId: string, name: string, data: Json, now: number): Promise<SendSignalResult> {
    return durable.sendSignal(this.#db, taskId, name, data, now);
  }
  listSignals(taskId: string): Promise<SignalRecord[]> {
    return durable.listSignals(this.#db, taskId);
  }

  // ---- notices ----

  listen(listener: NoticeListener, options?: ListenOptions): () => void {
    return this.#notifier.listen(listener, options);
  }

  /** Calls `listener` each time the LISTEN connection is back after a gap, once the gap's notices are re-announced. */
  onResync(listener: ResyncListener): () => void {
    return this.#notifier.onResync(listener);
  }
}
