// The embedded default: one SQLite file in WAL mode, every commit durable (synchronous=FULL). node:sqlite is
// synchronous, so each Store call runs its transaction to the end before another starts in this process; other
// processes on the same file are serialized by SQLite's write lock (BEGIN IMMEDIATE + busy_timeout).
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { DatabaseSync, type SQLInputValue, type StatementSync } from 'node:sqlite';
import { InvalidStateError, StaleAttemptError, StoreUnavailableError, TaskNotFoundError } from '../../core/errors.ts';
import type { Json, Progress, Task, TaskError, TaskEvent, TaskEventKind, TaskStatus } from '../../core/task.ts';
import { TASK_STATUSES } from '../../core/task.ts';
import { initialTask, type NewTask } from '../../core/validate.ts';
import { NoticeHub } from '../notice-hub.ts';
import type {
  AttemptRef,
  Claim,
  ClaimRequest,
  CreatedTask,
  ExpiredLease,
  FinishRequest,
  FinishResult,
  LeaseState,
  NoticeListener,
  QueueCounts,
  StoreNotice,
  Store,
  TaskPage,
  TaskQuery,
} from '../store.ts';
import { MIGRATIONS, SQL } from './sql.ts';

export interface SqliteStoreOptions {
  /** File path, or `:memory:`. */
  path: string;
  /** How often to look for commits made by other processes on the same file, in ms. Default 25. */
  pollIntervalMs?: number;
  /** How long a write waits for another process's lock before failing, in ms. Default 10000. */
  busyTimeoutMs?: number;
}

type Row = Record<string, string | number | null>;

function parseJson<T>(text: string | number | null, fallback: T): T {
  return typeof text === 'string' ? (JSON.parse(text) as T) : fallback;
}

function rowToTask(r: Row): Task {
  return {
    id: r.id as string,
    queue: r.queue as string,
    type: r.type as string,
    payload: parseJson<Json>(r.payload, null),
    status: r.status as TaskStatus,
    priority: r.priority as number,
    runAt: r.run_at as number,
    attempts: r.attempts as number,
    maxAttempts: r.max_attempts as number,
    backoff: parseJson(r.backoff, { type: 'exponential', delayMs: 1000, maxDelayMs: 3_600_000, jitter: 0.2 }),
    timeoutMs: r.timeout_ms as number | null,
    idempotencyKey: r.idempotency_key as string | null,
    tags: parseJson(r.tags, {}),
    owner: r.owner as string | null,
    parentId: r.parent_id as string | null,
    concurrencyKey: r.concurrency_key as string | null,
    traceparent: r.traceparent as string | null,
    progress: parseJson<Progress | null>(r.progress, null),
    result: parseJson<Json>(r.result, null),
    error: parseJson<TaskError | null>(r.error, null),
    cancelRequested: r.cancel_requested === 1,
    lastEventSeq: r.event_seq as number,
    createdAt: r.created_at as number,
    updatedAt: r.updated_at as number,
    startedAt: r.started_at as number | null,
    completedAt: r.completed_at as number | null,
  };
}

function rowToEvent(r: Row): TaskEvent {
  return {
    taskId: r.task_id as string,
    seq: r.seq as number,
    kind: r.kind as TaskEventKind,
    data: parseJson<Json>(r.data, null),
    at: r.at as number,
  };
}

const FINISH_STATUS = { completed: 'completed', retry: 'scheduled', failed: 'failed', cancelled: 'cancelled' } as const;
const FINISH_EVENT = { completed: 'completed', retry: 'retrying', failed: 'failed', cancelled: 'cancelled' } as const;

export class SqliteStore implements Store {
  readonly backend = 'sqlite';
  readonly #db: DatabaseSync;
  readonly #statements = new Map<string, StatementSync>();
  readonly #notices = new NoticeHub();
  readonly #pollIntervalMs: number;
  #poller: NodeJS.Timeout | undefined;
  #dataVersion = 0;
  #lastEventId = 0;
  /** Notices of the open transaction, delivered only once it commits. */
  #pending: StoreNotice[] = [];

  constructor(options: SqliteStoreOptions) {
    this.#pollIntervalMs = options.pollIntervalMs ?? 25;
    try {
      if (options.path !== ':memory:') mkdirSync(dirname(options.path), { recursive: true });
      this.#db = new DatabaseSync(options.path, { timeout: options.busyTimeoutMs ?? 10_000 });
      this.#db.exec(SQL.pragmas);
    } catch (error) {
      throw new StoreUnavailableError(`cannot open SQLite database ${options.path}: ${(error as Error).message}`, {
        cause: error,
      });
    }
  }

  #sql(text: string): StatementSync {
    let statement = this.#statements.get(text);
    if (!statement) {
      statement = this.#db.prepare(text);
      this.#statements.set(text, statement);
    }
    return statement;
  }

  #all(text: string, ...params: SQLInputValue[]): Row[] {
    return this.#sql(text).all(...params) as Row[];
  }

  #get(text: string, ...params: SQLInputValue[]): Row | undefined {
    return this.#sql(text).get(...params) as Row | undefined;
  }

  /** Runs fn in a write transaction; its notices go out after COMMIT, and are dropped on rollback. */
  #write<T>(fn: () => T): T {
    this.#db.exec('BEGIN IMMEDIATE');
    try {
      const value = fn();
      this.#db.exec('COMMIT');
      const notices = this.#pending;
      this.#pending = [];
      for (const notice of notices) this.#notices.emit(notice);
      return value;
    } catch (error) {
      this.#pending = [];
      if (this.#db.isTransaction) this.#db.exec('ROLLBACK');
      throw error;
    }
  }

  #appendEvent(task: { id: string; queue: string; owner: string | null }, seq: number, kind: TaskEventKind, data: Json, at: number): TaskEvent {
    this.#sql(SQL.insertEvent).run(task.id, seq, kind, JSON.stringify(data), at);
    const event: TaskEvent = { taskId: task.id, seq, kind, data, at };
    this.#pending.push({ kind: 'event', queue: task.queue, owner: task.owner, event });
    return event;
  }

  async migrate(): Promise<void> {
    this.#write(() => {
      this.#db.exec(SQL.createMigrationsTable);
      const applied = new Set(this.#all(SQL.appliedVersions).map((r) => r.version as number));
      MIGRATIONS.forEach((ddl, index) => {
        const version = index + 1;
        if (applied.has(version)) return;
        this.#db.exec(ddl);
        this.#sql(SQL.recordMigration).run(version, Date.now());
      });
    });
    this.#lastEventId = this.#get(SQL.maxEventId)?.id as number;
    this.#dataVersion = this.#get(SQL.dataVersion)?.data_version as number;
  }

  async close(): Promise<void> {
    if (this.#poller) clearInterval(this.#poller);
    this.#poller = undefined;
    if (this.#db.isOpen) this.#db.close();
  }

  async ping(): Promise<void> {
    try {
      this.#get('SELECT 1');
    } catch (error) {
      throw new StoreUnavailableError(`SQLite is not answering: ${(error as Error).message}`, { cause: error });
    }
  }

  async createTasks(tasks: readonly NewTask[]): Promise<CreatedTask[]> {
    return this.#write(() =>
      tasks.map((t) => {
        const inserted = this.#sql(SQL.insertTask).run(
          t.id, t.queue, t.type, JSON.stringify(t.payload), t.status, t.priority, t.runAt, t.maxAttempts,
          JSON.stringify(t.backoff), t.timeoutMs, t.idempotencyKey, JSON.stringify(t.tags), t.owner, t.parentId,
          t.concurrencyKey, t.traceparent, t.createdAt, t.createdAt,
        );
        if (inserted.changes === 0) {
          const existing = this.#get(SQL.taskByIdempotencyKey, t.owner ?? '', t.idempotencyKey);
          if (!existing) throw new Error(`task ${t.id} was not inserted and matches no idempotency key`);
          return { task: rowToTask(existing), created: false };
        }
        this.#appendEvent(t, 1, 'created', { status: t.status, runAt: t.runAt }, t.createdAt);
        if (t.status === 'queued') this.#pending.push({ kind: 'ready', queue: t.queue });
        return { task: initialTask(t), created: true };
      }),
    );
  }

  async getTask(id: string): Promise<Task | null> {
    const row = this.#get(SQL.getTask, id);
    return row ? rowToTask(row) : null;
  }

  async listTasks(query: TaskQuery): Promise<TaskPage> {
    const where: string[] = [];
    const params: SQLInputValue[] = [];
    const filter = (clause: string, value: SQLInputValue | undefined) => {
      if (value === undefined) return;
      where.push(clause);
      params.push(value);
    };
    filter('queue = ?', query.queue);
    filter('status = ?', query.status);
    filter('type = ?', query.type);
    filter('owner = ?', query.owner);
    filter('id < ?', query.cursor);
    if (query.tag) {
      where.push('EXISTS (SELECT 1 FROM json_each(tasks.tags) WHERE key = ? AND value = ?)');
      params.push(query.tag.key, query.tag.value);
    }
    const sql = `SELECT * FROM tasks ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id DESC LIMIT ?`;
    const rows = this.#all(sql, ...params, query.limit + 1);
    const tasks = rows.slice(0, query.limit).map(rowToTask);
    return { tasks, nextCursor: rows.length > query.limit ? tasks[tasks.length - 1].id : null };
  }

  async listEvents(taskId: string, afterSeq: number, limit: number): Promise<TaskEvent[]> {
    const rows = this.#all(SQL.listEvents, taskId, afterSeq, limit);
    if (rows.length === 0 && !this.#get(SQL.taskExists, taskId)) throw new TaskNotFoundError(taskId);
    return rows.map(rowToEvent);
  }

  async countByQueue(): Promise<QueueCounts[]> {
    const byQueue = new Map<string, QueueCounts>();
    for (const r of this.#all(SQL.countByQueue)) {
      const queue = r.queue as string;
      let entry = byQueue.get(queue);
      if (!entry) {
        entry = { queue, counts: Object.fromEntries(TASK_STATUSES.map((s) => [s, 0])) as Record<TaskStatus, number> };
        byQueue.set(queue, entry);
      }
      entry.counts[r.status as TaskStatus] = r.n as number;
    }
    return [...byQueue.values()].sort((a, b) => a.queue.localeCompare(b.queue));
  }

  async claim(request: ClaimRequest): Promise<Claim[]> {
    if (request.max <= 0 || request.types.length === 0) return [];
    const { now } = request;
    return this.#write(() => {
      this.#sql(SQL.promoteDue).run(now, now);
      // One index range per type, merged here: each walk reads only ready rows of a type this worker runs, however
      // large the backlog of other types.
      const queues = request.queues ? JSON.stringify(request.queues) : null;
      const candidates: Row[] = [];
      for (const type of request.types) {
        candidates.push(
          ...(queues === null
            ? this.#all(SQL.readyOfType, type, request.max)
            : this.#all(SQL.readyOfTypeInQueues, type, queues, request.max)),
        );
      }
      if (request.types.length > 1) {
        candidates.sort(
          (a, b) =>
            (b.priority as number) - (a.priority as number) ||
            (a.run_at as number) - (b.run_at as number) ||
            (a.id as string).localeCompare(b.id as string),
        );
      }
      const leaseUntil = now + request.leaseMs;
      const ids = JSON.stringify(candidates.slice(0, request.max).map((c) => c.id));
      const claims = this.#all(SQL.claimIds, leaseUntil, request.workerId, now, now, ids).map((row) => {
        const task = rowToTask(row);
        this.#appendEvent(task, task.lastEventSeq, 'started', { attempt: task.attempts, workerId: request.workerId }, now);
        return { task, attemptToken: row.attempt_token as string, leaseExpiresAt: leaseUntil };
      });
      return claims.sort(
        (a, b) => b.task.priority - a.task.priority || a.task.runAt - b.task.runAt || a.task.id.localeCompare(b.task.id),
      );
    });
  }

  async nextScheduledAt(queues: readonly string[] | null): Promise<number | null> {
    const row = queues ? this.#get(SQL.nextScheduledAtInQueues, JSON.stringify(queues)) : this.#get(SQL.nextScheduledAt);
    return (row?.at as number | null) ?? null;
  }

  /** Distinguishes an unknown task from a stale token, for the error a refused call throws. */
  #refusal(taskId: string): Error {
    return this.#get(SQL.taskExists, taskId) ? new StaleAttemptError(taskId) : new TaskNotFoundError(taskId);
  }

  async heartbeat(ref: AttemptRef, leaseMs: number, now: number): Promise<LeaseState> {
    const row = this.#get(SQL.heartbeat, now + leaseMs, ref.taskId, ref.attemptToken);
    if (!row) throw this.#refusal(ref.taskId);
    return { leaseExpiresAt: row.lease_until as number, cancelRequested: row.cancel_requested === 1 };
  }

  async progress(ref: AttemptRef, progress: Progress, now: number): Promise<TaskEvent> {
    return this.#write(() => {
      const row = this.#get(SQL.progress, JSON.stringify(progress), now, ref.taskId, ref.attemptToken);
      if (!row) throw this.#refusal(ref.taskId);
      const task = { id: ref.taskId, queue: row.queue as string, owner: row.owner as string | null };
      return this.#appendEvent(task, row.event_seq as number, 'progress', progress as unknown as Json, now);
    });
  }

  async output(ref: AttemptRef, chunk: string, now: number): Promise<TaskEvent> {
    return this.#write(() => {
      const row = this.#get(SQL.output, now, ref.taskId, ref.attemptToken);
      if (!row) throw this.#refusal(ref.taskId);
      const task = { id: ref.taskId, queue: row.queue as string, owner: row.owner as string | null };
      return this.#appendEvent(task, row.event_seq as number, 'output', { chunk }, now);
    });
  }

  async finish(requests: readonly FinishRequest[], now: number): Promise<FinishResult[]> {
    return this.#write(() => requests.map((request) => this.#finishOne(request, now)));
  }

  #finishOne({ ref, outcome, onlyIfLeaseExpired }: FinishRequest, now: number): FinishResult {
    const retryNow = outcome.status === 'retry' && outcome.runAt <= now;
    const status = retryNow ? 'queued' : FINISH_STATUS[outcome.status];
    const terminal = outcome.status !== 'retry';
    const error =
      outcome.status === 'failed' || outcome.status === 'retry'
        ? outcome.error
        : outcome.status === 'cancelled'
          ? { message: outcome.reason, code: 'CANCELLED', retryable: false }
          : null;
    const row = this.#get(
      SQL.finish,
      status,
      outcome.status === 'retry' ? outcome.runAt : null,
      outcome.status === 'completed' ? JSON.stringify(outcome.result) : null,
      error ? JSON.stringify(error) : null,
      terminal ? now : null,
      outcome.status === 'retry' && outcome.refundAttempt ? 1 : 0,
      now,
      ref.taskId,
      ref.attemptToken,
      onlyIfLeaseExpired ? 1 : 0,
      now,
    );
    if (!row) return { ok: false, error: this.#refusal(ref.taskId) };
    const task = rowToTask(row);
    const data: Json =
      outcome.status === 'completed'
        ? { result: outcome.result }
        : outcome.status === 'retry'
          ? { attempt: task.attempts, error: error as unknown as Json, runAt: outcome.runAt }
          : { error: error as unknown as Json };
    this.#appendEvent(task, task.lastEventSeq, FINISH_EVENT[outcome.status], data, now);
    if (retryNow) this.#pending.push({ kind: 'ready', queue: task.queue });
    return { ok: true, task };
  }

  async expiredLeases(now: number, limit: number): Promise<ExpiredLease[]> {
    return this.#all(SQL.expiredLeases, now, limit).map((r) => ({
      task: rowToTask(r),
      attemptToken: r.attempt_token as string,
    }));
  }

  async cancel(id: string, reason: string, now: number): Promise<Task> {
    return this.#write(() => {
      const error = { message: reason, code: 'CANCELLED', retryable: false };
      const cancelled = this.#get(SQL.cancelNow, JSON.stringify(error), now, now, id);
      if (cancelled) {
        const task = rowToTask(cancelled);
        this.#appendEvent(task, task.lastEventSeq, 'cancelled', { error }, now);
        return task;
      }
      const running = this.#get(SQL.requestCancel, now, id);
      if (running) {
        this.#pending.push({ kind: 'cancel', taskId: id });
        return rowToTask(running);
      }
      const current = this.#get(SQL.taskExists, id);
      if (!current) throw new TaskNotFoundError(id);
      throw new InvalidStateError(id, current.status as string, 'cancel');
    });
  }

  async retry(id: string, now: number): Promise<Task> {
    return this.#write(() => {
      const row = this.#get(SQL.retry, now, now, id);
      if (!row) {
        const current = this.#get(SQL.taskExists, id);
        if (!current) throw new TaskNotFoundError(id);
        throw new InvalidStateError(id, current.status as string, 'retry');
      }
      const task = rowToTask(row);
      this.#appendEvent(task, task.lastEventSeq, 'retrying', { manual: true }, now);
      this.#pending.push({ kind: 'ready', queue: task.queue });
      return task;
    });
  }

  listen(listener: NoticeListener): () => void {
    const unsubscribe = this.#notices.add(listener);
    this.#poller ??= setInterval(() => this.#pollOtherProcesses(), this.#pollIntervalMs).unref();
    return () => {
      unsubscribe();
      if (this.#notices.size === 0 && this.#poller) {
        clearInterval(this.#poller);
        this.#poller = undefined;
      }
    };
  }

  /**
   * data_version changes only when another connection commits, so this costs one pragma per tick while nothing
   * happens elsewhere. When it changes, new event rows (from any process; repeats are deduped downstream) become
   * notices, and every queue may have work.
   */
  #pollOtherProcesses(): void {
    if (!this.#db.isOpen) return;
    try {
      const version = this.#get(SQL.dataVersion)?.data_version as number;
      if (version === this.#dataVersion) return;
      this.#dataVersion = version;
      for (;;) {
        const rows = this.#all(SQL.eventsAfter, this.#lastEventId);
        for (const r of rows) {
          this.#lastEventId = r.id as number;
          this.#notices.emit({ kind: 'event', queue: r.queue as string, owner: r.owner as string | null, event: rowToEvent(r) });
        }
        if (rows.length < 1000) break;
      }
      for (const r of this.#all(SQL.cancelRequestedIds)) this.#notices.emit({ kind: 'cancel', taskId: r.id as string });
      this.#notices.emit({ kind: 'ready', queue: null });
    } catch {
      // Busy or closing: the next tick tries again.
    }
  }
}
