// The queue's vocabulary, written once above the backends: for each state change of a task, the status it leads to,
// the event it appends (kind and data) and the notices it sends. Backends run the SQL that applies a change and call
// these for everything else, so SQLite, PostgreSQL and any later backend name events and notices alike.
//
// PostgreSQL also writes each event row from inside its one-statement writes (postgres/sql/*.ts): those statements
// build the same kind and data in SQL, and the conformance suite checks that a notice's event equals the stored one.
import { TaskErrorCode } from '../core/error-codes.ts';
import type { Json, Progress, TaskError, TaskEvent, TaskEventKind, TaskStatus, WaitingFor } from '../core/task.ts';
import type { AttemptOutcome, LeaseState, QueueSettingsPatch, StoreNotice } from './store.ts';

/** Where notices go: an array of a write's notices, or a backend's pending notices of its transaction. */
export interface NoticeSink {
  push(notice: StoreNotice): unknown;
}

/** Where a task lives, which is what its notices carry besides the event. */
export interface TaskPlace {
  queue: string;
  owner: string | null;
}

// ---- notices ----

export function eventNotice(task: TaskPlace, event: TaskEvent): StoreNotice {
  return { kind: 'event', queue: task.queue, owner: task.owner, event };
}

/** Tasks may have become claimable in `queue`; null: in any queue (after a gap in notices). */
export function readyNotice(queue: string | null): StoreNotice {
  return { kind: 'ready', queue };
}

export function cancelRequestNotice(taskId: string): StoreNotice {
  return { kind: 'cancel', taskId };
}

// ---- created ----

/** A new task's first event (seq 1). */
function createdEvent(task: { id: string; status: TaskStatus; runAt: number; createdAt: number }): TaskEvent {
  return { taskId: task.id, seq: 1, kind: 'created', data: { status: task.status, runAt: task.runAt }, at: task.createdAt };
}

/**
 * The notices of a created task: its event, and `ready` when it is claimable now. `wakeWorkers` false: the task
 * starts in the same write (a hand-off), so no worker needs telling it is ready.
 */
export function createdNotices(
  task: TaskPlace & { id: string; status: TaskStatus; runAt: number; createdAt: number },
  into: NoticeSink,
  wakeWorkers = true,
): void {
  into.push(eventNotice(task, createdEvent(task)));
  if (task.status === 'queued' && wakeWorkers) into.push(readyNotice(task.queue));
}

// ---- an attempt: started, progress, output ----

export function startedEvent(taskId: string, seq: number, attempt: number, workerId: string, at: number): TaskEvent {
  return { taskId, seq, kind: 'started', data: { attempt, workerId }, at };
}

export function progressEvent(taskId: string, seq: number, progress: Progress, at: number): TaskEvent {
  return { taskId, seq, kind: 'progress', data: progress as unknown as Json, at };
}

export function outputEvent(taskId: string, seq: number, chunk: string, at: number): TaskEvent {
  return { taskId, seq, kind: 'output', data: { chunk }, at };
}

// ---- finish: how an attempt ends ----

/** The event each outcome appends. */
export const FINISH_EVENT_KIND = {
  completed: 'completed',
  retry: 'retrying',
  failed: 'failed',
  cancelled: 'cancelled',
} as const satisfies Record<AttemptOutcome['status'], TaskEventKind>;

/** The status each outcome leaves; a retry is `scheduled`, or `queued` when it is due already (see finishStatus). */
const FINISH_STATUS = {
  completed: 'completed',
  retry: 'scheduled',
  failed: 'failed',
  cancelled: 'cancelled',
} as const satisfies Record<AttemptOutcome['status'], TaskStatus>;

export function finishStatus(outcome: AttemptOutcome, now: number): TaskStatus {
  return outcome.status === 'retry' && outcome.runAt <= now ? 'queued' : FINISH_STATUS[outcome.status];
}

/** The error a task stopped by a cancel carries. */
export function cancelledError(reason: string): TaskError {
  return { message: reason, code: TaskErrorCode.CANCELLED, retryable: false };
}

/** The error an outcome stores on the task; null for `completed`. */
export function finishError(outcome: AttemptOutcome): TaskError | null {
  switch (outcome.status) {
    case 'completed':
      return null;
    case 'cancelled':
      return cancelledError(outcome.reason);
    default:
      return outcome.error;
  }
}

/** What an outcome stores: its result (completed) or its error (the others). Also the core of its event's data. */
export function finishValue(outcome: AttemptOutcome): Json {
  return outcome.status === 'completed' ? (outcome.result ?? null) : (finishError(outcome) as unknown as Json);
}

/**
 * The data of an outcome's event. `value`: finishValue(outcome), computed once by the caller; `attempts`: the task's
 * attempts after the finish (a retry names the attempt that failed).
 */
export function finishEventData(outcome: AttemptOutcome, value: Json, attempts: number): Json {
  switch (outcome.status) {
    case 'completed':
      return { result: value };
    case 'retry':
      return { attempt: attempts, error: value, runAt: outcome.runAt };
    default:
      return { error: value };
  }
}

/** The notices of a finished attempt: its event, and `ready` when the task is queued again at once. */
export function finishedNotices(
  task: TaskPlace & { id: string; status: TaskStatus; lastEventSeq: number },
  outcome: AttemptOutcome,
  value: Json,
  attempts: number,
  now: number,
  into: NoticeSink,
): void {
  const event: TaskEvent = {
    taskId: task.id,
    seq: task.lastEventSeq,
    kind: FINISH_EVENT_KIND[outcome.status],
    data: finishEventData(outcome, value, attempts),
    at: now,
  };
  into.push(eventNotice(task, event));
  if (task.status === 'queued') into.push(readyNotice(task.queue));
}

// ---- control: cancel, retry by hand ----

/** A scheduled or queued task cancelled at once. */
export function cancelledEvent(taskId: string, seq: number, error: TaskError, at: number): TaskEvent {
  return { taskId, seq, kind: 'cancelled', data: { error: error as unknown as Json }, at };
}

/** The `retrying` event of a retry by hand (retry, retryFailed). */
export function manualRetryEvent(taskId: string, seq: number, at: number): TaskEvent {
  return { taskId, seq, kind: 'retrying', data: { manual: true }, at };
}

// ---- queue settings ----

/** Resumed, or limits changed: the queue's waiting tasks may have become claimable. */
export function queueSettingsNotices(name: string, patch: QueueSettingsPatch): StoreNotice[] {
  const mayFreeTasks =
    patch.paused === false || patch.maxConcurrency !== undefined || patch.rateLimit !== undefined || patch.maxPerKey !== undefined ||
    patch.costLimit !== undefined;
  return mayFreeTasks ? [readyNotice(name)] : [];
}

// ---- durable execution (docs/durable.md, "Store model"); decisions shared by the backends are in ./waits.ts ----

export function checkpointEvent(taskId: string, seq: number, info: { version: number; label: string | null; size: number }, at: number): TaskEvent {
  return { taskId, seq, kind: 'checkpoint', data: { version: info.version, label: info.label, size: info.size }, at };
}

/** A running task suspended. */
export function waitingEvent(taskId: string, seq: number, waitingFor: WaitingFor, at: number): TaskEvent {
  return { taskId, seq, kind: 'waiting', data: { waitingFor: waitingFor as unknown as Json }, at };
}

/** Why a waiting task is queued again: its children finished, its sleep ended, its signal came, or its wait timed out. */
export type ResumeReason = 'children' | 'slept' | 'signal' | 'signal-timeout';

export function resumedEvent(taskId: string, seq: number, reason: ResumeReason, name: string, at: number): TaskEvent {
  return { taskId, seq, kind: 'resumed', data: { reason, name }, at };
}

export function signalEvent(taskId: string, seq: number, name: string, at: number): TaskEvent {
  return { taskId, seq, kind: 'signal', data: { name }, at };
}

/** On the parent: one of the children it waits for finished; `pending` children of the wait remain. */
export function childFinishedEvent(
  parentId: string,
  seq: number,
  child: { id: string; status: TaskStatus },
  name: string,
  pending: number,
  at: number,
): TaskEvent {
  return { taskId: parentId, seq, kind: 'child-finished', data: { childId: child.id, name, status: child.status, pending }, at };
}

/** The `retrying` event of a recover: a retry by hand that resumes from a checkpoint. */
export function recoverEvent(taskId: string, seq: number, fromVersion: number | null, at: number): TaskEvent {
  return { taskId, seq, kind: 'retrying', data: { manual: true, recover: true, fromVersion }, at };
}

/** What a heartbeat answers, from the columns it returns: the lease, a pending cancel, and the soft time limit. */
export function leaseState(leaseUntil: number, cancelRequested: boolean, startedAt: number | null, softTimeoutMs: number | null, now: number): LeaseState {
  const lease = { leaseExpiresAt: leaseUntil, cancelRequested };
  if (startedAt === null || softTimeoutMs === null) return lease;
  const softDeadline = startedAt + softTimeoutMs;
  return { ...lease, softDeadline, softTimeLimitExceeded: now >= softDeadline };
}
