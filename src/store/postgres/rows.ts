// PostgreSQL rows to the contract's shapes: times are bigint epoch ms (strings from pg, exact), JSON is jsonb.
import { randomBytes } from 'node:crypto';
import { DEFAULT_BACKOFF } from '../../core/backoff.ts';
import type { BackoffPolicy, Debounce, Json, Singleton, Progress, Task, TaskError, TaskEvent, TaskEventKind, TaskStatus } from '../../core/task.ts';
import type {
  ApiKey,
  Checkpoint,
  CheckpointInfo,
  ChildOutcome,
  CostLimit,
  FinishedTask,
  QueueSettings,
  Schedule,
  SignalRecord,
  StepRecord,
  Subscription,
  TypeSettings,
  WorkerInfo,
} from '../store.ts';
import { childOutcome, waitingForOf, type WaitColumns } from '../waits.ts';
import { TASK_COLUMN_NAMES } from './sql/common.ts';

/**
 * bigint columns arrive as numbers on the store's pool (pool.ts), and as strings (pg's default) or numbers on an
 * application's client (createTasksIn).
 */
export type Int8 = string | number;

export interface TaskRow {
  id: string;
  queue: string;
  type: string;
  payload: Json;
  status: TaskStatus;
  /** Null: 0 (sql/common.ts, taskColumns), as the next three say. */
  priority: number | null;
  /** Null: created_at. */
  run_at: Int8 | null;
  attempts: number;
  max_attempts: number;
  /** Null: the default policy (sql/common.ts, taskColumns). */
  backoff: BackoffPolicy | null;
  timeout_ms: number | null;
  soft_timeout_ms: number | null;
  throttle_key?: string | null;
  throttle_limit?: number | null;
  throttle_period_ms?: number | null;
  cost?: number | null;
  reported_cost?: number | null;
  idempotency_key: string | null;
  /** Null: no tags (sql/common.ts, taskColumns). */
  tags: Record<string, string> | null;
  owner: string | null;
  parent_id: string | null;
  concurrency_key: string | null;
  traceparent: string | null;
  progress: Progress | null;
  result: Json | null;
  error: TaskError | null;
  cancel_requested: boolean | null;
  event_seq: number;
  created_at: Int8;
  /** Null: started_at, or created_at before a start. */
  updated_at: Int8 | null;
  started_at: Int8 | null;
  completed_at: Int8 | null;
  checkpoint_version: number | null;
  wait_kind: WaitColumns['kind'];
  wait_name: string | null;
  wake_at: Int8 | null;
  children_pending: number | null;
  children_total: number | null;
  debounce?: Debounce | null;
  singleton?: Singleton | null;
}

export interface TaskRowWithToken extends TaskRow {
  attempt_token: string;
}

/** A wait the claim's promotion ended (sleep, signal timeout). */
export interface WokenRow {
  id: string;
  queue: string;
  owner: string | null;
  seq: number;
  reason: 'slept' | 'signal-timeout';
  name: string;
}

/** An event a statement wrote on another task (a parent), as JSON for the store's notices. */
export interface OtherTaskEventRow {
  taskId: string;
  queue: string;
  owner: string | null;
  kind: TaskEventKind;
  seq: number;
  data: Json;
}

export function otherTaskEvent(r: OtherTaskEventRow, at: number): TaskEvent {
  return { taskId: r.taskId, seq: r.seq, kind: r.kind, data: r.data, at };
}

export interface CheckpointRow {
  version: number;
  label: string | null;
  size: number;
  created_at: Int8;
  state?: Json;
}

export function rowToCheckpointInfo(r: CheckpointRow): CheckpointInfo {
  return { version: r.version, label: r.label, size: r.size, createdAt: toNumber(r.created_at) };
}

export function rowToCheckpoint(r: CheckpointRow): Checkpoint {
  return { ...rowToCheckpointInfo(r), state: r.state ?? null };
}

export interface StepRow {
  name: string;
  result: Json;
  created_at: Int8;
}

export function rowToStep(r: StepRow): StepRecord {
  return { name: r.name, result: r.result ?? null, createdAt: toNumber(r.created_at) };
}

export interface SignalRow {
  id: Int8;
  name: string;
  data: Json;
  created_at: Int8;
  consumed_at: Int8 | null;
}

export function rowToSignal(r: SignalRow): SignalRecord {
  return { name: r.name, data: r.data ?? null, createdAt: toNumber(r.created_at), consumedAt: toNumberOrNull(r.consumed_at) };
}

export interface ChildRow {
  id: string;
  status: TaskStatus;
  result: Json | null;
  error: TaskError | null;
}

export function rowToChildOutcome(r: ChildRow): ChildOutcome {
  return childOutcome(r.id, r.status, r.result, r.error);
}

export interface QueueRow {
  name: string;
  paused: boolean;
  max_concurrency: number | null;
  max_per_key: number | null;
  rate_count: number | null;
  rate_interval_ms: number | null;
  updated_at: Int8;
  cost_budget?: number | null;
  cost_period_ms?: number | null;
  cost_per_key?: boolean | null;
}

export interface TypeSettingsRow {
  type: string;
  defaults: TypeSettings['defaults'];
  payload_schema: Json | null;
  updated_at: Int8;
  rate_count: number | null;
  rate_interval_ms: number | null;
  cost_budget?: number | null;
  cost_period_ms?: number | null;
  cost_per_key?: boolean | null;
}

export interface SubscriptionRow {
  name: string;
  pattern: string;
  queue: string;
  type: string;
  created_at: Int8;
  updated_at: Int8;
}

export interface ScheduleRow {
  name: string;
  cron: string;
  every_ms: Int8 | null;
  timezone: string;
  task: Schedule['task'];
  missed_policy: Schedule['missedPolicy'];
  paused: boolean;
  next_run_at: Int8 | null;
  last_run_at: Int8 | null;
  last_task_id: string | null;
  created_at: Int8;
  updated_at: Int8;
}

export interface WorkerRow {
  id: string;
  host: string | null;
  pid: number | null;
  types: string[];
  queues: string[] | null;
  concurrency: number;
  running: number;
  started_at: Int8;
  last_seen_at: Int8;
  registered: boolean;
}

export interface ApiKeyRow {
  id: string;
  name: string | null;
  owner: string;
  scopes: string[];
  secret_hash: string;
  created_at: Int8;
  revoked_at: Int8 | null;
}

export function rowToApiKey(r: ApiKeyRow): ApiKey {
  return {
    id: r.id,
    name: r.name,
    owner: r.owner,
    scopes: r.scopes,
    createdAt: Number(r.created_at),
    revokedAt: r.revoked_at === null ? null : Number(r.revoked_at),
  };
}

export interface FinishedRow
  extends Pick<TaskRow, 'id' | 'queue' | 'type' | 'owner' | 'status' | 'attempts' | 'run_at' | 'started_at' | 'event_seq'> {
  /** The request's place in the batch, from 1. */
  ord: number;
  /** Events the batch wrote on waiting parents (children-finished, resumed); the same on every row, null: none. */
  parent_events: OtherTaskEventRow[] | null;
}

export interface AppendedEventRow {
  queue: string;
  owner: string | null;
  event_seq: number;
}

export interface EventRow {
  task_exists: boolean;
  seq: number | null;
  kind: TaskEventKind;
  data: Json;
  at: Int8;
}

export function toNumber(value: Int8): number {
  return typeof value === 'number' ? value : Number(value);
}

export function toNumberOrNull(value: Int8 | null): number | null {
  return value === null ? null : toNumber(value);
}

/**
 * A task row's values and where each column is among them: a pg row object, read by name (BY_NAME), or an array row
 * (PgPool.queryArrays), read by position. pg makes its row objects from a null-prototype template, in dictionary
 * mode: slow to make and to read, so the claim, which reads hundreds of tasks at a time, takes arrays.
 */
type Cells = { readonly [column: number | string]: unknown };
type TaskColumn = keyof TaskRowWithToken;
type Columns = Readonly<Record<TaskColumn, number | string>>;
export type ColumnIndex = Readonly<Record<string, number>>;

const BY_NAME = Object.fromEntries([...TASK_COLUMN_NAMES, 'attempt_token'].map((name) => [name, name])) as Columns;

function cell<K extends TaskColumn>(r: Cells, c: Columns, name: K): TaskRowWithToken[K] {
  return r[c[name]] as TaskRowWithToken[K];
}

export function rowToTask(r: TaskRow): Task {
  const cells = r as unknown as Cells;
  return cellsToTask(cells, BY_NAME, cell(cells, BY_NAME, 'type'), cell(cells, BY_NAME, 'status'), toNumberOrNull(cell(cells, BY_NAME, 'started_at')));
}

/** A task a claim took, with its attempt's token. */
export interface Claimed {
  task: Task;
  attemptToken: string;
}

/**
 * What the plain claim's rows leave out because its caller knows them (sql/common.ts, claimedTaskColumns): the type
 * when it is the first one claimed for, the start time (the claim's), and the attempt token (the claim's secret, then
 * the task id). Every claimed task is running.
 */
export interface ClaimKnowns {
  firstType: string;
  startedAt: number;
  tokenSecret: string;
}

/** What a plain claim of `firstType` (first of its types) at `now` will know, with a new secret: 128 random bits. */
export function claimKnowns(firstType: string, now: number): ClaimKnowns {
  return { firstType, startedAt: now, tokenSecret: randomBytes(16).toString('hex') };
}

/** A claimed task and its attempt token, from an array row of the plain claim (its columns at `at`) and what it knows. */
export function arrayToClaimed(values: readonly unknown[], at: ColumnIndex, knowns: ClaimKnowns): Claimed {
  const cells = values as unknown as Cells;
  const c = at as Columns;
  const task = cellsToTask(cells, c, cell(cells, c, 'type') ?? knowns.firstType, 'running', knowns.startedAt);
  return { task, attemptToken: knowns.tokenSecret + task.id };
}

function cellsToTask(r: Cells, c: Columns, type: string, status: TaskStatus, startedAt: number | null): Task {
  const createdAt = toNumber(cell(r, c, 'created_at'));
  const runAt = cell(r, c, 'run_at');
  const updatedAt = cell(r, c, 'updated_at');
  const throttleKey = cell(r, c, 'throttle_key');
  return {
    id: cell(r, c, 'id'),
    queue: cell(r, c, 'queue'),
    type,
    payload: cell(r, c, 'payload') ?? null,
    status,
    priority: cell(r, c, 'priority') ?? 0,
    runAt: runAt === null ? createdAt : toNumber(runAt),
    attempts: cell(r, c, 'attempts'),
    maxAttempts: cell(r, c, 'max_attempts'),
    backoff: cell(r, c, 'backoff') ?? { ...DEFAULT_BACKOFF },
    timeoutMs: cell(r, c, 'timeout_ms'),
    softTimeoutMs: cell(r, c, 'soft_timeout_ms') ?? null,
    idempotencyKey: cell(r, c, 'idempotency_key'),
    tags: cell(r, c, 'tags') ?? {},
    owner: cell(r, c, 'owner'),
    parentId: cell(r, c, 'parent_id'),
    concurrencyKey: cell(r, c, 'concurrency_key'),
    throttle:
      throttleKey === null || throttleKey === undefined
        ? null
        : { key: throttleKey, limit: cell(r, c, 'throttle_limit') as number, periodMs: cell(r, c, 'throttle_period_ms') as number },
    cost: cell(r, c, 'cost') ?? null,
    reportedCost: cell(r, c, 'reported_cost') ?? null,
    traceparent: cell(r, c, 'traceparent'),
    progress: cell(r, c, 'progress'),
    result: cell(r, c, 'result') ?? null,
    error: cell(r, c, 'error'),
    cancelRequested: cell(r, c, 'cancel_requested') ?? false,
    lastEventSeq: cell(r, c, 'event_seq'),
    createdAt,
    updatedAt: updatedAt === null ? (startedAt ?? createdAt) : toNumber(updatedAt),
    startedAt,
    completedAt: toNumberOrNull(cell(r, c, 'completed_at')),
    checkpointVersion: cell(r, c, 'checkpoint_version') ?? 0,
    waitingFor:
      status === 'waiting'
        ? waitingForOf({
            kind: cell(r, c, 'wait_kind'),
            name: cell(r, c, 'wait_name'),
            wakeAt: toNumberOrNull(cell(r, c, 'wake_at')),
            pending: cell(r, c, 'children_pending'),
            total: cell(r, c, 'children_total'),
          })
        : null,
    debounce: cell(r, c, 'debounce') ?? null,
    singleton: cell(r, c, 'singleton') ?? null,
  };
}

export function rowToQueueSettings(r: QueueRow): QueueSettings {
  return {
    name: r.name,
    paused: r.paused,
    maxConcurrency: r.max_concurrency,
    rateLimit: r.rate_count === null || r.rate_interval_ms === null ? null : { count: r.rate_count, intervalMs: r.rate_interval_ms },
    maxPerKey: r.max_per_key,
    costLimit: costLimitOf(r),
    updatedAt: toNumber(r.updated_at),
  };
}

/** A queue's or type's cost limit columns; null when unset (or in rows read before them). */
export function costLimitOf(r: { cost_budget?: number | null; cost_period_ms?: number | null; cost_per_key?: boolean | null }): CostLimit | null {
  if (r.cost_budget === null || r.cost_budget === undefined) return null;
  return { budget: r.cost_budget, periodMs: r.cost_period_ms as number, perKey: r.cost_per_key === true };
}

export function rowToTypeSettings(r: TypeSettingsRow): TypeSettings {
  return {
    type: r.type,
    defaults: r.defaults ?? {},
    payloadSchema: r.payload_schema ?? null,
    // Present only when set, as the contract allows: settings stored before rate limits read back unchanged.
    ...(r.rate_count === null || r.rate_interval_ms === null ? {} : { rateLimit: { count: r.rate_count, intervalMs: r.rate_interval_ms } }),
    ...(r.cost_budget === null || r.cost_budget === undefined ? {} : { costLimit: costLimitOf(r) }),
    updatedAt: toNumber(r.updated_at),
  };
}

export function rowToSubscription(r: SubscriptionRow): Subscription {
  return {
    name: r.name,
    pattern: r.pattern,
    queue: r.queue,
    type: r.type,
    createdAt: toNumber(r.created_at),
    updatedAt: toNumber(r.updated_at),
  };
}

export function rowToSchedule(r: ScheduleRow): Schedule {
  return {
    name: r.name,
    cron: r.every_ms === null ? r.cron : null,
    everyMs: toNumberOrNull(r.every_ms),
    timezone: r.timezone,
    task: r.task,
    missedPolicy: r.missed_policy,
    paused: r.paused,
    nextRunAt: toNumberOrNull(r.next_run_at),
    lastRunAt: toNumberOrNull(r.last_run_at),
    lastTaskId: r.last_task_id,
    createdAt: toNumber(r.created_at),
    updatedAt: toNumber(r.updated_at),
  };
}

export function rowToFinished(row: FinishedRow): FinishedTask {
  return {
    id: row.id,
    queue: row.queue,
    type: row.type,
    owner: row.owner,
    status: row.status,
    attempts: row.attempts,
    runAt: Number(row.run_at),
    startedAt: toNumberOrNull(row.started_at),
    lastEventSeq: Number(row.event_seq),
  };
}

export function rowToWorker(r: WorkerRow): WorkerInfo {
  return {
    id: r.id,
    host: r.host,
    pid: r.pid,
    types: r.types,
    queues: r.queues,
    concurrency: r.concurrency,
    running: r.running,
    startedAt: Number(r.started_at),
    lastSeenAt: Number(r.last_seen_at),
    // Only said when false: a registered worker's info is exactly what it reported.
    ...(r.registered ? {} : { registered: false }),
  };
}
