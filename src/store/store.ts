// The Store contract: every operation that must be atomic across processes is one call here, and each backend makes
// it atomic (one SQL transaction). Queue semantics that need no atomicity (retry decisions, timers, fan-out to
// followers) live above, in engine/, written once. Every backend passes store/conformance/.
import type { Json, Progress, Task, TaskError, TaskEvent, TaskStatus } from '../core/task.ts';
import type { NewTask } from '../core/validate.ts';

export interface CreatedTask {
  task: Task;
  /** False when the idempotency key matched an existing task, which is returned unchanged. */
  created: boolean;
}

export interface TaskQuery {
  queue?: string;
  status?: TaskStatus;
  type?: string;
  owner?: string;
  /** Only tasks whose tags contain this key with this value. */
  tag?: { key: string; value: string };
  /** At most this many, 1..1000. */
  limit: number;
  /** The `nextCursor` of the previous page. */
  cursor?: string;
}

export interface TaskPage {
  tasks: Task[];
  /** Present when more tasks follow. */
  nextCursor: string | null;
}

export interface ClaimRequest {
  workerId: string;
  /** Task types this worker can run; tasks of other types are left for others. */
  types: readonly string[];
  /** Queues to take from; null means every queue. */
  queues: readonly string[] | null;
  max: number;
  leaseMs: number;
  now: number;
}

export interface Claim {
  /** The task as it is now: running, attempts already counted. */
  task: Task;
  attemptToken: string;
  leaseExpiresAt: number;
}

/** Names one attempt of one task. Calls with a token that is not current throw StaleAttemptError. */
export interface AttemptRef {
  taskId: string;
  attemptToken: string;
}

export interface LeaseState {
  leaseExpiresAt: number;
  cancelRequested: boolean;
}

/** How an attempt ends. The engine decides which (retry or dead-letter); the store applies it atomically. */
export type AttemptOutcome =
  | { status: 'completed'; result: Json }
  /** `refundAttempt`: the attempt did not really run (the worker shut down), so it does not count against maxAttempts. */
  | { status: 'retry'; error: TaskError; runAt: number; refundAttempt?: boolean }
  | { status: 'failed'; error: TaskError }
  | { status: 'cancelled'; reason: string };

export interface FinishRequest {
  ref: AttemptRef;
  outcome: AttemptOutcome;
  /** Apply only if the lease has expired by `now` (the sweeper's guard against a heartbeat that just renewed it). */
  onlyIfLeaseExpired?: boolean;
}

/** Per request: the updated task, or the reason it was refused (StaleAttemptError, TaskNotFoundError). */
export type FinishResult = { ok: true; task: Task } | { ok: false; error: Error };

export interface ExpiredLease {
  task: Task;
  attemptToken: string;
}

export interface QueueCounts {
  queue: string;
  counts: Record<TaskStatus, number>;
}

/**
 * Something changed that someone may be waiting for. Backends deliver their own process's changes at once and other
 * processes' changes as soon as they learn of them. Delivery may repeat; consumers dedupe by (taskId, seq).
 */
export type StoreNotice =
  | { kind: 'event'; queue: string; owner: string | null; event: TaskEvent }
  /** Tasks may have become claimable in `queue` (null: in any queue). */
  | { kind: 'ready'; queue: string | null }
  /** A running task was asked to stop: its worker, wherever it runs, should abort it. */
  | { kind: 'cancel'; taskId: string };

export type NoticeListener = (notice: StoreNotice) => void;

export interface Store {
  /** `sqlite` or `postgres`: for logs and metrics, never for branching above the store. */
  readonly backend: string;

  /** Creates or upgrades the schema; safe when many processes call it at once. */
  migrate(): Promise<void>;
  close(): Promise<void>;
  /** Resolves when the store answers a trivial query; rejects with StoreUnavailableError otherwise. */
  ping(): Promise<void>;

  /**
   * Inserts every task and its `created` event in one transaction: all or none. A task whose (owner, idempotencyKey)
   * exists already is not inserted; the existing task comes back with `created: false`. Order of results = order of input.
   */
  createTasks(tasks: readonly NewTask[]): Promise<CreatedTask[]>;

  getTask(id: string): Promise<Task | null>;
  /** Newest first (by id, which is time-ordered). */
  listTasks(query: TaskQuery): Promise<TaskPage>;
  /** Events with seq > afterSeq, oldest first. Throws TaskNotFoundError for an unknown task. */
  listEvents(taskId: string, afterSeq: number, limit: number): Promise<TaskEvent[]>;
  countByQueue(): Promise<QueueCounts[]>;

  /**
   * Moves due `scheduled` tasks to `queued`, then takes up to `max` queued tasks of the given types and queues, by
   * priority (higher first), then runAt, then id; each becomes `running` with attempts + 1, a fresh attempt token, a
   * lease until now + leaseMs, and a `started` event. Two concurrent claims never return the same task.
   */
  claim(request: ClaimRequest): Promise<Claim[]>;
  /** Earliest runAt of a scheduled task in these queues (null: all), or null: lets workers sleep exactly that long. */
  nextScheduledAt(queues: readonly string[] | null): Promise<number | null>;

  heartbeat(ref: AttemptRef, leaseMs: number, now: number): Promise<LeaseState>;
  progress(ref: AttemptRef, progress: Progress, now: number): Promise<TaskEvent>;
  output(ref: AttemptRef, chunk: string, now: number): Promise<TaskEvent>;
  /**
   * Ends attempts, all in one transaction (the engine coalesces concurrent completions so one commit serves many):
   * `completed`, `failed` (dead-letter), `cancelled`, or a retry at runAt (`scheduled`, or `queued` when runAt <= now),
   * appending the matching event (`completed`, `failed`, `cancelled`, `retrying`). A refused request changes nothing
   * and does not affect the others.
   */
  finish(requests: readonly FinishRequest[], now: number): Promise<FinishResult[]>;
  /** Running tasks whose lease ended before `now`, oldest lease first. */
  expiredLeases(now: number, limit: number): Promise<ExpiredLease[]>;

  /**
   * A scheduled or queued task becomes `cancelled` at once (event `cancelled`); a running one gets cancelRequested
   * and ends when its worker stops. Terminal tasks throw InvalidStateError; unknown ids TaskNotFoundError.
   */
  cancel(id: string, reason: string, now: number): Promise<Task>;
  /**
   * A failed or cancelled task goes back to `queued` with its attempts reset and error cleared (event `retrying`).
   * Other states throw InvalidStateError.
   */
  retry(id: string, now: number): Promise<Task>;

  /** Registers a listener for changes; returns the function that removes it. */
  listen(listener: NoticeListener): () => void;
}
