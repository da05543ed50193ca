// SQLite rows to the contract's shapes: times are INTEGER epoch ms, JSON is TEXT, booleans are 0/1.
import { DEFAULT_BACKOFF } from '../../core/backoff.ts';
import type { Debounce, Json, Progress, Singleton, Task, TaskError, TaskEvent, TaskEventKind, TaskStatus } from '../../core/task.ts';
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
    JSON.stringify(t.backoff), t.timeoutMs, idempotencyKey, JSON.stringify(t.tags), t.owner, parentId,
    t.concurrencyKey, t.traceparent, t.createdAt, t.createdAt, t.softTimeoutMs,
    t.throttle?.key ?? null, t.throttle?.limit ?? null, t.throttle?.periodMs ?? null, t.cost,
    t.debounce ? JSON.stringify(t.debounce) : null, t.debounce?.key ?? null,
    t.singleton ? JSON.stringify(t.singleton) : null, t.singleton?.key ?? null,
  ];
}

export function parseJson<T>(text: string | number | null, fallback: T): T {
  return typeof text === 'string' ? (JSON.parse(text) as T) : fallback;
}

export function rowToTask(r: Row): Task {
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
    backoff: parseJson(r.backoff, DEFAULT_BACKOFF),
    timeoutMs: r.timeout_ms as number | null,
    softTimeoutMs: (r.soft_timeout_ms as number | null | undefined) ?? null,
    idempotencyKey: r.idempotency_key as string | null,
    tags: parseJson(r.tags, {}),
    owner: r.owner as string | null,
    parentId: r.parent_id as string | null,
    concurrencyKey: r.concurrency_key as string | null,
    ...flowColumns(r),
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
    checkpointVersion: (r.checkpoint_version as number | undefined) ?? 0,
    waitingFor: r.status === 'waiting' ? waitingForOf(rowToWait(r)) : null,
    debounce: parseJson<Debounce | null>(r.debounce ?? null, null),
    singleton: parseJson<Singleton | null>(r.singleton ?? null, null),
  };
}

function rowToWait(r: Row): WaitColumns {
  return {
    kind: r.wait_kind as WaitColumns['kind'],
    name: r.wait_name as string | null,
    wakeAt: r.wake_at as number | null,
    pending: r.children_pending as number | null,
    total: r.children_total as number | null,
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

/** A task's flow control fields (null in rows stored before them). */
export function flowColumns(r: Row): Pick<Task, 'throttle' | 'cost' | 'reportedCost'> {
  return {
    throttle:
      r.throttle_key === null || r.throttle_key === undefined
        ? null
        : { key: r.throttle_key as string, limit: r.throttle_limit as number, periodMs: r.throttle_period_ms as number },
    cost: (r.cost as number | null | undefined) ?? null,
    reportedCost: (r.reported_cost as number | null | undefined) ?? null,
  };
}

export function rowToCandidate(r: Row, round: number): Candidate {
  return {
    id: r.id as string,
    queue: r.queue as string,
    type: r.type as string,
    priority: r.priority as number,
    runAt: r.run_at as number,
    round,
    singleton: (r.singleton as string | null | undefined) ?? null,
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
