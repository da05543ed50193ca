// SQLite rows to the contract's shapes: times are INTEGER epoch ms, JSON is TEXT, booleans are 0/1.
import { DEFAULT_BACKOFF, isDefaultBackoff } from '../../core/backoff.ts';
import type { BackoffPolicy, Debounce, Json, Progress, Singleton, Task, TaskError, TaskEvent, TaskEventKind, TaskStatus } from '../../core/task.ts';
import type { NewTask } from '../../core/validate.ts';
import type { Candidate } from '../claim-order.ts';
import type { Checkpoint, CheckpointInfo, ChildOutcome, SignalRecord, StepRecord, FinishedTask } from '../store.ts';
import { childOutcome, waitingForOf, type WaitColumns } from '../waits.ts';

export type Row = Record<string, string | number | null>;

/**
 * The parameters of `SQL.insertTask`, in its column order (also the first ones of `SQL.insertChild`): one list for
 * every insert, so a new column cannot be forgotten in one of them.
 */
export function newTaskParams(t: NewTask, parentId = t.parentId, idempotencyKey = t.idempotencyKey): (string | number | null)[] {
  return [
    t.id, t.queue, t.type, JSON.stringify(t.payload), t.status, t.priority, t.runAt, t.maxAttempts,
    backoffText(t.backoff), t.timeoutMs, idempotencyKey, JSON.stringify(t.tags), t.owner, parentId,
    t.concurrencyKey, t.traceparent, t.createdAt, t.createdAt, t.softTimeoutMs,
    t.throttle?.key ?? null, t.throttle?.limit ?? null, t.throttle?.periodMs ?? null, t.cost,
    t.debounce ? JSON.stringify(t.debounce) : null, t.debounce?.key ?? null,
    t.singleton ? JSON.stringify(t.singleton) : null, t.singleton?.key ?? null,
  ];
}

export function parseJson<T>(text: string | number | null | undefined, fallback: T): T {
  return typeof text === 'string' ? (JSON.parse(text) as T) : fallback;
}

/**
 * A row's cells, and where each column is among them. node:sqlite's row objects are hash tables (dictionary-mode
 * objects), slow to read and to make; a statement that returns whole tasks by the hundred reads arrays instead
 * (SqliteConnection.allArrays), as do the claim's candidate walks, so one mapper reads both: a Row by name (BY_NAME),
 * an array by position.
 */
type Cells = Readonly<Record<string | number, string | number | null | undefined>>;
export type ColumnIndex = Readonly<Record<string, number>>;
type Columns = Readonly<Record<TaskColumn, string | number>>;

/** The columns a Task is made of (cellsToTask): what a statement that reads whole tasks by the hundred selects. */
export const TASK_COLUMNS = [
  'id', 'queue', 'type', 'payload', 'status', 'priority', 'run_at', 'attempts', 'max_attempts', 'backoff', 'timeout_ms',
  'soft_timeout_ms', 'idempotency_key', 'tags', 'owner', 'parent_id', 'concurrency_key', 'throttle_key', 'throttle_limit',
  'throttle_period_ms', 'cost', 'reported_cost', 'traceparent', 'progress', 'result', 'error', 'cancel_requested',
  'event_seq', 'created_at', 'updated_at', 'started_at', 'completed_at', 'checkpoint_version', 'wait_kind', 'wait_name',
  'wake_at', 'children_pending', 'children_total', 'debounce', 'singleton',
] as const;
type TaskColumn = (typeof TASK_COLUMNS)[number];

/** Every task column under its own name: how a Row is read. */
const BY_NAME: Columns = Object.fromEntries(TASK_COLUMNS.map((name) => [name, name])) as Record<TaskColumn, string>;

export function rowToTask(r: Row): Task {
  return cellsToTask(r, BY_NAME);
}

/** A task from an array row of a statement whose columns are at `at` (SqliteConnection.allArrays). */
export function arrayToTask(values: readonly unknown[], at: ColumnIndex): Task {
  return cellsToTask(values as unknown as Cells, at as Columns);
}

function cellsToTask(r: Cells, c: Columns): Task {
  const status = r[c.status] as TaskStatus;
  const throttleKey = r[c.throttle_key];
  return {
    id: r[c.id] as string,
    queue: r[c.queue] as string,
    type: r[c.type] as string,
    payload: parseJson<Json>(r[c.payload], null),
    status,
    priority: r[c.priority] as number,
    runAt: r[c.run_at] as number,
    attempts: r[c.attempts] as number,
    maxAttempts: r[c.max_attempts] as number,
    backoff: backoffOf(r[c.backoff]),
    timeoutMs: r[c.timeout_ms] as number | null,
    softTimeoutMs: (r[c.soft_timeout_ms] as number | null | undefined) ?? null,
    idempotencyKey: r[c.idempotency_key] as string | null,
    tags: r[c.tags] === '{}' ? {} : parseJson(r[c.tags], {}),
    owner: r[c.owner] as string | null,
    parentId: r[c.parent_id] as string | null,
    concurrencyKey: r[c.concurrency_key] as string | null,
    // Flow control columns are null in rows stored before them.
    throttle:
      throttleKey === null || throttleKey === undefined
        ? null
        : { key: throttleKey as string, limit: r[c.throttle_limit] as number, periodMs: r[c.throttle_period_ms] as number },
    cost: (r[c.cost] as number | null | undefined) ?? null,
    reportedCost: (r[c.reported_cost] as number | null | undefined) ?? null,
    traceparent: r[c.traceparent] as string | null,
    progress: parseJson<Progress | null>(r[c.progress], null),
    result: parseJson<Json>(r[c.result], null),
    error: parseJson<TaskError | null>(r[c.error], null),
    cancelRequested: r[c.cancel_requested] === 1,
    lastEventSeq: r[c.event_seq] as number,
    createdAt: r[c.created_at] as number,
    updatedAt: r[c.updated_at] as number,
    startedAt: r[c.started_at] as number | null,
    completedAt: r[c.completed_at] as number | null,
    checkpointVersion: (r[c.checkpoint_version] as number | undefined) ?? 0,
    waitingFor: status === 'waiting' ? waitingForOf(cellsToWait(r, c)) : null,
    debounce: parseJson<Debounce | null>(r[c.debounce] ?? null, null),
    singleton: parseJson<Singleton | null>(r[c.singleton] ?? null, null),
  };
}

/**
 * The stored text of a backoff policy: empty for the default one, which nearly every task has (its JSON was over a
 * quarter of a task row, rewritten by every update of the row); tasks stored before hold it in full.
 */
function backoffText(policy: BackoffPolicy): string {
  return isDefaultBackoff(policy) ? '' : JSON.stringify(policy);
}

const DEFAULT_BACKOFF_TEXT = JSON.stringify(DEFAULT_BACKOFF);

function backoffOf(text: string | number | null | undefined): BackoffPolicy {
  return text === '' || text === DEFAULT_BACKOFF_TEXT ? { ...DEFAULT_BACKOFF } : parseJson(text, DEFAULT_BACKOFF);
}

function cellsToWait(r: Cells, c: Columns): WaitColumns {
  return {
    kind: r[c.wait_kind] as WaitColumns['kind'],
    name: r[c.wait_name] as string | null,
    wakeAt: r[c.wake_at] as number | null,
    pending: r[c.children_pending] as number | null,
    total: r[c.children_total] as number | null,
  };
}

export function rowToCheckpointInfo(r: Row): CheckpointInfo {
  return { version: r.version as number, label: r.label as string | null, size: r.size as number, createdAt: r.created_at as number };
}

export function rowToCheckpoint(r: Row): Checkpoint {
  return { ...rowToCheckpointInfo(r), state: parseJson<Json>(r.state, null) };
}

export function rowToStep(r: Row): StepRecord {
  return { name: r.name as string, result: parseJson<Json>(r.result, null), createdAt: r.created_at as number };
}

export function rowToSignal(r: Row): SignalRecord {
  return { name: r.name as string, data: parseJson<Json>(r.data, null), createdAt: r.created_at as number, consumedAt: r.consumed_at as number | null };
}

export function rowToChildOutcome(r: Row): ChildOutcome {
  return childOutcome(r.id as string, r.status as TaskStatus, parseJson<Json>(r.result, null), parseJson<TaskError | null>(r.error, null));
}

export function rowToFinished(row: Row): FinishedTask {
  return {
    id: row.id as string,
    queue: row.queue as string,
    type: row.type as string,
    owner: row.owner as string | null,
    status: row.status as TaskStatus,
    attempts: row.attempts as number,
    runAt: row.run_at as number,
    startedAt: row.started_at as number | null,
    lastEventSeq: row.event_seq as number,
  };
}

/**
 * A row of SQL.completeMany read as an array (SqliteConnection.eachValueRows) as the Row that finish reads: a literal of
 * one shape, far cheaper to make and read than node:sqlite's row object, once per completed task.
 */
export function arrayToFinishRow(v: readonly unknown[], at: ColumnIndex): Row {
  return {
    id: v[at.id] as string,
    queue: v[at.queue] as string,
    type: v[at.type] as string,
    owner: v[at.owner] as string | null,
    status: v[at.status] as string,
    attempts: v[at.attempts] as number,
    run_at: v[at.run_at] as number,
    started_at: v[at.started_at] as number | null,
    event_seq: v[at.event_seq] as number,
    parent_id: v[at.parent_id] as string | null,
    child_key: v[at.child_key] as string | null,
  };
}

/** A row of SQL.completeManyClaimed read as an array: what finish reads of a completed task the claim did not give. */
export function arrayToCompletedRow(v: readonly unknown[], at: ColumnIndex): Row {
  return {
    id: v[at.id] as string,
    event_seq: v[at.event_seq] as number,
    parent_id: v[at.parent_id] as string | null,
    child_key: v[at.child_key] as string | null,
  };
}

export function rowToCandidate(r: Row, round: number): Candidate {
  return cellsToCandidate(r, BY_NAME, round);
}

/** A candidate from an array row (SqliteConnection.allArrays), as arrayToTask. */
export function arrayToCandidate(values: readonly unknown[], at: ColumnIndex, round: number): Candidate {
  return cellsToCandidate(values as unknown as Cells, at as Columns, round);
}

function cellsToCandidate(r: Cells, c: Columns, round: number): Candidate {
  return {
    id: r[c.id] as string,
    queue: r[c.queue] as string,
    type: r[c.type] as string,
    priority: r[c.priority] as number,
    runAt: r[c.run_at] as number,
    round,
    singleton: (r[c.singleton] as string | null | undefined) ?? null,
  };
}

export function rowToEvent(r: Row): TaskEvent {
  return {
    taskId: r.task_id as string,
    seq: r.seq as number,
    kind: r.kind as TaskEventKind,
    data: parseJson<Json>(r.data, null),
    at: r.at as number,
  };
}
