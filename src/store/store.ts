// The Store contract: every operation that must be atomic across processes is one call here, and each backend makes
// it atomic (one SQL transaction). Queue semantics that need no atomicity (retry decisions, timers, fan-out to
// followers) live above, in engine/, written once. Every backend passes store/conformance/.
import type { Checkpoint, CheckpointInfo, Json, Progress, Task, TaskError, TaskEvent, TaskStatus } from '../core/task.ts';
import type { NewTask } from '../core/validate.ts';
import type { ChildOutcome, SendSignalResult, SignalRecord, StepRecord, SuspendResult, WaitRequest } from './durable-types.ts';
import type { ApiKey, QueueSettings, QueueSettingsPatch, Schedule, ScheduleDefinition, Subscription, TypeSettings, WorkerInfo } from './settings-types.ts';

export interface CreatedTask {
  task: Task;
  /**
   * False when the idempotency key matched an existing task, which is returned unchanged, or when the submit was
   * folded into an existing task (`merged`).
   */
  created: boolean;
  /**
   * Set when the submit was folded into an existing task, which comes back with its new payload: by its debounce key
   * (`debounce`), or by a singleton `queue-one` whose waiting task took the payload (`queue-one`).
   */
  merged?: 'debounce' | 'queue-one';
}

/** Tasks of a queue that a key holds back, and why (docs/queues.md). */
export interface HeldBack {
  /** The debounce, singleton, throttle or budget key (owner-scoped keys show without their owner). */
  key: string;
  /**
   * `debounce`: scheduled in an open debounce window; `singleton`: queued while a task with its key runs;
   * `throttled` and `over-budget`: held by a key's throttle or cost budget.
   */
  reason: 'debounce' | 'singleton' | 'throttled' | 'over-budget';
  tasks: number;
}

export interface TaskQuery {
  queue?: string;
  status?: TaskStatus;
  type?: string;
  owner?: string;
  /** Only the tasks whose parentId is this: a task's children and derived tasks (along tasks_parent). */
  parentId?: string;
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
  /**
   * The checkpoint this attempt resumes from (the latest), present only when the task has one
   * (`task.checkpointVersion > 0`): tasks without checkpoints cost the claim nothing more.
   */
  resumeCheckpoint?: Checkpoint;
}

// ---- durable execution (docs/durable.md, "Store model"): the shapes of its calls, in durable-types.ts ----

export type { Checkpoint, CheckpointInfo } from '../core/task.ts';
export type { ChildOutcome, SendSignalResult, SignalRecord, StepRecord, SuspendResult, WaitOutcome, WaitRequest } from './durable-types.ts';

/** Names one attempt of one task. Calls with a token that is not current throw StaleAttemptError. */
export interface AttemptRef {
  taskId: string;
  attemptToken: string;
  /** The task as its claim returned it, from a worker in this process only: finish may answer from it (docs/postgres.md). */
  claimed?: ClaimedTask;
}

/** What stays as the claim left it while its attempt holds the token; a completion does not change it either. */
export type ClaimedTask = Pick<Task, 'queue' | 'type' | 'owner' | 'attempts' | 'runAt' | 'startedAt'>;

/** One progress report or one output chunk of a running attempt (Store.appendAttemptEvents). */
export type AttemptEventInput = { ref: AttemptRef; progress: Progress } | { ref: AttemptRef; chunk: string };

/** Each input's answer, in input order: its event, or why it was refused (a stale attempt, an unknown task). */
export type AppendResult = { ok: true; event: TaskEvent } | { ok: false; error: Error };

export interface LeaseState {
  leaseExpiresAt: number;
  cancelRequested: boolean;
  /**
   * When the attempt's soft time limit passes (startedAt + softTimeoutMs, the store's clock). A store sets it (and
   * the flag below) only for a task with a soft limit; the engine answers null and false for the others.
   */
  softDeadline?: number | null;
  /** The soft time limit has passed: the handler should finish up (it may still complete). */
  softTimeLimitExceeded?: boolean;
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
  /**
   * The cost the handler reported (ctx.reportCost): stored as the task's reportedCost and, in the same transaction,
   * replaces the declared cost of this attempt's start in the cost windows it counts in (docs/queues.md, "Cost limits").
   */
  reportedCost?: number;
}

/**
 * A task as a finish left it: what callers, notices and metrics need (type and startedAt: the run time of the attempt
 * by queue and type), without reading the whole row back.
 */
export type FinishedTask = Pick<Task, 'id' | 'queue' | 'type' | 'owner' | 'status' | 'attempts' | 'runAt' | 'startedAt' | 'lastEventSeq'>;

/** Per request: the task as it is now, or the reason it was refused (StaleAttemptError, TaskNotFoundError). */
export type FinishResult = { ok: true; task: FinishedTask } | { ok: false; error: Error };

export interface ExpiredLease {
  task: Task;
  attemptToken: string;
}

export interface QueueCounts {
  queue: string;
  counts: Record<TaskStatus, number>;
}

/** Counts of `countTasks`: per queue and status, reading at most `cap` tasks of each status. */
export interface CappedCounts {
  queues: QueueCounts[];
  /** Statuses with `cap` tasks or more: their counts are lower bounds (they add up to `cap` across queues). */
  capped: TaskStatus[];
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

/** What a listener asks of the notices it gets (Store.listen). */
export interface ListenOptions {
  /**
   * Asked as attempts start and complete: while every listener of the process answers false and no other process
   * listens, the store may leave out the notices of those two events (a drain builds two per task otherwise). Every
   * other notice comes as before, and the events are stored either way: a follower that comes later reads them from
   * the store. A listener without it gets every notice.
   */
  wantsStartsAndCompletions?: () => boolean;
}

// ---- settings and registries: their shapes, in settings-types.ts ----

export type { ApiKey, CostLimit, QueueSettings, QueueSettingsPatch, RateLimit, Schedule, ScheduleDefinition, Subscription, TypeSettings, WorkerInfo } from './settings-types.ts';

export interface Store {
  /** `sqlite` or `postgres`: for logs and metrics, never for branching above the store. */
  readonly backend: string;
  /**
   * The most tasks a worker of this process should claim beyond its free slots (worker/claim-ahead.ts). Larger
   * batches spread a claim statement's fixed cost; a store whose claim runs on the event loop keeps it lower, since
   * the loop is held for the whole batch.
   */
  readonly maxClaimAhead: number;
  /**
   * How long an output chunk of a worker in this process should wait to be stored, at most: the worker then keeps as
   * many chunks in flight as the store takes in that time (worker/output-backlog.ts). Null keeps a fixed count.
   */
  readonly outputDelayMs: number | null;

  /** Creates or upgrades the schema; safe when many processes call it at once. */
  migrate(): Promise<void>;
  /**
   * Prepares what a worker's first tasks will run (on PostgreSQL: its statements planned on a few pooled
   * connections), so that they do not wait for it. Called when a worker first waits for work; runs once however
   * often it is called, and never fails (a failure is left for the statements themselves). A store with nothing to
   * prepare has no such method.
   */
  warmUp?(): Promise<void>;
  close(): Promise<void>;
  /** Resolves when the store answers a trivial query; rejects with StoreUnavailableError otherwise. */
  ping(): Promise<void>;

  /**
   * Inserts every task and its `created` event in one transaction: all or none. A task whose (owner, idempotencyKey)
   * exists already is not inserted; the existing task comes back with `created: false`. Order of results = order of input.
   */
  createTasks(tasks: readonly NewTask[]): Promise<CreatedTask[]>;
  // Tasks with a debounce or singleton (store/flow.ts) are decided in the same transaction, across processes: a
  // debounce key's open task absorbs the submit (`merged: 'debounce'`); a singleton `reject` throws
  // SingletonConflictError (nothing of the batch is stored), `queue-one` may merge, `supersede` cancels the key's
  // unfinished tasks (a running one by cancel request) before inserting.

  getTask(id: string): Promise<Task | null>;
  /** Newest first (by id, which is time-ordered). */
  listTasks(query: TaskQuery): Promise<TaskPage>;
  /** Events with seq > afterSeq, oldest first. Throws TaskNotFoundError for an unknown task. */
  listEvents(taskId: string, afterSeq: number, limit: number): Promise<TaskEvent[]>;
  /** Task counts by queue and status; with `owner`, only that owner's tasks (a tenant's view of the queues). */
  countByQueue(owner?: string): Promise<QueueCounts[]>;
  /**
   * Task counts by queue and status at a bounded cost, for metrics and the dashboard on tables of millions of rows:
   * reads at most `cap` tasks of each status, each status along an index. A status with `cap` tasks or more is listed
   * in `capped`. Queues with no counted task are absent.
   */
  countTasks(cap: number): Promise<CappedCounts>;

  /**
   * Moves due `scheduled` tasks to `queued` and due waits (`waiting` tasks whose sleep ended or signal wait timed
   * out: event `resumed`) back to `queued`, then takes up to `max` queued tasks of the given types and queues, by
   * priority (higher first), then runAt, then id, skipping paused queues and never exceeding a queue's maxConcurrency
   * or rateLimit, or a type's rateLimit (counted across all processes), or a task's throttle or a queue's or type's
   * costLimit (store/flow-limits.ts; tasks without them pay nothing); in a queue with maxPerKey, never more than that many running per
   * concurrencyKey, taking tasks round-robin across keys within a priority; never a task whose singleton key (per
   * owner) has a running task, nor two of one key; each becomes `running` with attempts + 1, a fresh attempt token, a
   * lease until now + leaseMs, and a `started` event. Two concurrent claims never return the same task.
   */
  claim(request: ClaimRequest): Promise<Claim[]>;
  /**
   * Earliest runAt of a scheduled task, or wake time of a waiting task (sleep end, signal timeout), in these queues
   * (null: all), or null: lets workers sleep exactly that long.
   */
  nextScheduledAt(queues: readonly string[] | null): Promise<number | null>;

  heartbeat(ref: AttemptRef, leaseMs: number, now: number): Promise<LeaseState>;
  /**
   * Appends progress reports (`progress` events; the task keeps the last as its progress) and output chunks (`output`
   * events) of running attempts, all in one transaction: the engine coalesces the calls of many attempts so one commit
   * serves them (store/attempt-events.ts). Each input takes the next seq of its task, in the order given; an input
   * whose attempt is not current (or whose task is gone) is refused without affecting the others.
   */
  appendAttemptEvents(inputs: readonly AttemptEventInput[], now: number): Promise<AppendResult[]>;
  /**
   * Ends attempts, all in one transaction (the engine coalesces concurrent completions so one commit serves many):
   * `completed`, `failed` (dead-letter), `cancelled`, or a retry at runAt (`scheduled`, or `queued` when runAt <= now),
   * appending the matching event (`completed`, `failed`, `cancelled`, `retrying`). A refused request changes nothing
   * and does not affect the others. A child of a wait that ends (not a retry) takes one off its waiting parent's
   * pending count (event `child-finished` on the parent), and the parent whose count reaches 0 is queued (`resumed`).
   */
  finish(requests: readonly FinishRequest[], now: number): Promise<FinishResult[]>;
  /** Running tasks whose lease ended before `now`, oldest lease first. */
  expiredLeases(now: number, limit: number): Promise<ExpiredLease[]>;

  /**
   * A scheduled, queued or waiting task becomes `cancelled` at once (event `cancelled`); a running one gets
   * cancelRequested and ends when its worker stops. A waiting task's unfinished children of its wait are cancelled
   * in the same transaction, each as by its own cancel (down the tree); a child of a wait cancelled at once counts
   * as finished for its waiting parent. Terminal tasks throw InvalidStateError; unknown ids TaskNotFoundError.
   */
  cancel(id: string, reason: string, now: number): Promise<Task>;
  /**
   * A failed or cancelled task goes back to `queued` with its attempts reset and error cleared (event `retrying`).
   * Other states throw InvalidStateError.
   */
  retry(id: string, now: number): Promise<Task>;
  /**
   * Dead-letter redrive: `retry` for up to `limit` tasks of `queue` that failed at or before `now` (oldest failure
   * first), in one transaction; answers how many went back. Call again with the same `now` until it answers less than
   * `limit`: tasks that fail again meanwhile are not taken a second time.
   */
  retryFailed(queue: string, limit: number, now: number): Promise<number>;
  /**
   * Deletes a task that is not running, with its events, checkpoints, steps and signals; false when there is no such
   * task. A running task throws
   * InvalidStateError (cancel it first).
   */
  deleteTask(id: string): Promise<boolean>;

  // ---- queue and type settings ----
  listQueueSettings(): Promise<QueueSettings[]>;
  /**
   * Tasks of `queue` that flow control holds back now, per key and reason: `debounce` (scheduled in an open debounce
   * window), `singleton` (queued while a task of their key runs), `throttled` (their throttle key started its limit
   * within its period), `over-budget` (their cost does not fit their queue's or type's cost window). Keys with nothing
   * held back are absent.
   */
  heldBack(queue: string): Promise<HeldBack[]>;
  /** Creates the settings row on first use. */
  updateQueueSettings(name: string, patch: QueueSettingsPatch, now: number): Promise<QueueSettings>;
  listTypeSettings(): Promise<TypeSettings[]>;
  putTypeSettings(settings: TypeSettings): Promise<TypeSettings>;
  deleteTypeSettings(type: string): Promise<boolean>;

  // ---- topics ----
  listSubscriptions(): Promise<Subscription[]>;
  /** Creates or replaces; `created` tells which. */
  putSubscription(subscription: Omit<Subscription, 'createdAt' | 'updatedAt'>, now: number): Promise<{ subscription: Subscription; created: boolean }>;
  deleteSubscription(name: string): Promise<boolean>;

  // ---- schedules ----
  listSchedules(): Promise<Schedule[]>;
  getSchedule(name: string): Promise<Schedule | null>;
  putSchedule(definition: ScheduleDefinition, nextRunAt: number | null, now: number): Promise<{ schedule: Schedule; created: boolean }>;
  deleteSchedule(name: string): Promise<boolean>;
  /** Unpaused schedules whose nextRunAt <= now. */
  dueSchedules(now: number, limit: number): Promise<Schedule[]>;
  /**
   * Moves a schedule from slot `fromNextRunAt` to `toNextRunAt`, recording the task it fired; false when another
   * process moved it first (compare-and-set). Exactly-once firing rests on this plus the slot's idempotency key.
   */
  advanceSchedule(name: string, fromNextRunAt: number, toNextRunAt: number | null, fired: { at: number; taskId: string } | null, now: number): Promise<boolean>;

  // ---- retention ----
  /**
   * Deletes up to `limit` tasks of this terminal status finished before `before`, with their events, checkpoints,
   * steps and signals; returns how many.
   */
  deleteFinishedTasks(status: 'completed' | 'failed' | 'cancelled', before: number, limit: number): Promise<number>;

  // ---- workers ----
  /** Creates or refreshes a worker's row (its heartbeat). */
  registerWorker(info: WorkerInfo): Promise<void>;
  /**
   * A worker claimed: creates its row from what the claim says (registered false) or refreshes lastSeenAt; the
   * details of a registered worker's row are kept, those of a claims-only one replaced.
   */
  sawWorker(info: WorkerInfo): Promise<void>;
  /** Workers seen at or after `seenSince`, by id. */
  listWorkers(seenSince: number): Promise<WorkerInfo[]>;
  /** Forgets workers not seen since `before` (and one that stopped cleanly: before = Infinity with its id). */
  removeWorkers(before: number, id?: string): Promise<number>;

  // ---- API keys ----
  createApiKey(key: ApiKey, secretHash: string): Promise<void>;
  /** The key and its secret's hash, revoked or not; null when unknown. */
  findApiKey(id: string): Promise<{ key: ApiKey; secretHash: string } | null>;
  listApiKeys(): Promise<ApiKey[]>;
  /** False when the key is unknown or already revoked. */
  revokeApiKey(id: string, now: number): Promise<boolean>;

  // ---- secrets ----
  /**
   * The secret named `name` (base64url, 256 random bits), created on first use; every process, however many call at
   * once, gets the same value. For keys every API node must share, such as the one that signs follow tokens.
   */
  secret(name: string): Promise<string>;

  // ---- durable execution (docs/durable.md, "Store model") ----
  /**
   * Appends version checkpointVersion + 1 of the task's state (event `checkpoint` { version, label, size }), guarded
   * by the attempt token like `progress` (StaleAttemptError otherwise). `size`: the state's JSON size in bytes, which
   * the caller measured against its limit; the store keeps the state whole, whatever its size.
   */
  saveCheckpoint(ref: AttemptRef, state: Json, options: { label?: string | null; size: number }, now: number): Promise<CheckpointInfo>;
  /** Oldest first, without states. TaskNotFoundError for an unknown task. */
  listCheckpoints(taskId: string): Promise<CheckpointInfo[]>;
  /** One version with its state, or the latest; null when there is no such version (or task). */
  getCheckpoint(taskId: string, version: number | 'latest'): Promise<Checkpoint | null>;
  /**
   * `retry` for durable tasks: a failed or cancelled task goes back to `queued` (attempts reset, event `retrying`
   * { manual, recover, fromVersion }). With `fromVersion` older than the latest, that version's state is saved again
   * as a new latest version (label `recover:N`), so the next attempt resumes from it; history is never rewritten.
   * InvalidStateError in other states; ValidationError for an unknown version.
   */
  recover(taskId: string, options: { fromVersion?: number }, now: number): Promise<Task>;
  /**
   * Creates `task` (as createTasks, with its `created` event; it takes no idempotency key) starting from a copy of
   * another task's checkpoint: version `from.version` (or the latest) of task `from.taskId` becomes the new task's
   * version 1, labelled `derived:<taskId>@<version>`, with its `checkpoint` event, all in one transaction, so the
   * task is never claimable without its state. TaskNotFoundError for an unknown source task, ValidationError when it
   * has no such checkpoint: nothing is created then.
   */
  deriveTask(task: NewTask, from: { taskId: string; version: number | 'latest' }, now: number): Promise<Task>;

  /**
   * Stores a step's result, guarded by the attempt token. A name the task has stored already throws
   * StepExistsError (the first result stands: read it with listSteps). No event.
   */
  saveStep(ref: AttemptRef, name: string, result: Json, now: number): Promise<StepRecord>;
  /** Oldest first. TaskNotFoundError for an unknown task. */
  listSteps(taskId: string): Promise<StepRecord[]>;

  /**
   * Ends a running attempt by suspending the task, atomically, unless the wait's condition holds already:
   * - children: creates `tasks` (in order, parentId = the task; their own `created` events) unless children of this
   *   wait name exist already, in which case none are created and their outcomes answer when all have finished;
   * - sleep: holds when `until` <= now;
   * - signal: holds when a signal of this name was sent (the earliest; a wait takes it, and every later wait of this
   *   name gets the same one), or when `timeoutAt` <= now (`signal-timeout`).
   * Suspending: status `waiting`, no lease, no token, the attempt not counted against maxAttempts, event `waiting`.
   * StaleAttemptError when the token is not current.
   */
  suspend(ref: AttemptRef, wait: WaitRequest, now: number): Promise<SuspendResult>;
  /** The children of a parent's wait, in the order given, with their outcomes. */
  childOutcomes(parentId: string, name: string): Promise<ChildOutcome[]>;
  /**
   * Stores a signal (event `signal` { name }); a task waiting for this name is queued again (event `resumed`). A
   * signal nobody waits for yet is kept for a later wait. Terminal tasks throw InvalidStateError.
   */
  sendSignal(taskId: string, name: string, data: Json, now: number): Promise<SendSignalResult>;
  /** The task's signals, oldest first. */
  listSignals(taskId: string): Promise<SignalRecord[]>;

  /** Registers a listener for changes; returns the function that removes it. */
  listen(listener: NoticeListener, options?: ListenOptions): () => void;
}

/**
 * An optional capability: a backend that can insert tasks inside a transaction the application controls (PostgreSQL:
 * on the pg client on which the application ran BEGIN), so the tasks exist if and only if that transaction commits.
 */
export interface TransactionalEnqueue {
  createTasksIn(client: TransactionClient, tasks: readonly NewTask[]): Promise<CreatedTask[]>;
}

/** A connection that can run queries: `pg.Client` or `pg.PoolClient`, inside the application's BEGIN … COMMIT. */
export interface TransactionClient {
  query(...args: never[]): unknown;
}

export function supportsTransactionalEnqueue(store: Store): store is Store & TransactionalEnqueue {
  return typeof (store as Partial<TransactionalEnqueue>).createTasksIn === 'function';
}

/**
 * An optional capability (SQLite): createTasks that also starts some of the new tasks at once for an idle worker of
 * this process (engine/handoff.ts), in the same transaction, as a claim by `starts.get(id)` would. A task is started
 * only when a claim would pick it now: its queue is not paused and has no cap, rate, fair-share or cost limit, its
 * type has no rate or cost limit, and no other task of its type is ready or due; else it stays queued. `claims`:
 * the attempts started, each with its `started` event. `started` gets them as soon as the transaction commits, before
 * it is on the disk (which the answer waits for): a handed-over task may start running before its submit is
 * acknowledged, and a power loss in between loses both (docs/architecture.md, "Commits flushed off the event loop").
 */
export interface HandoffStore {
  createAndStart(
    tasks: readonly NewTask[],
    starts: ReadonlyMap<string, string>,
    leaseMs: number,
    now: number,
    started?: (claims: Claim[]) => void,
  ): Promise<{ created: CreatedTask[]; claims: Claim[] }>;
}

export function supportsHandoff(store: Store): store is Store & HandoffStore {
  return typeof (store as Partial<HandoffStore>).createAndStart === 'function';
}
