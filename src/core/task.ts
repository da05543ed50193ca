// The task model shared by every layer. Pure data: no I/O here.

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/**
 * `waiting`: a durable task suspended until its children finish, a sleep ends or a signal arrives (docs/durable.md). It
 * holds no worker slot and no lease, is not claimable, and is not terminal.
 */
export const TASK_STATUSES = ['scheduled', 'queued', 'running', 'waiting', 'completed', 'failed', 'cancelled'] as const;
export type TaskStatus = (typeof TASK_STATUSES)[number];

export const TERMINAL_STATUSES: ReadonlySet<TaskStatus> = new Set(['completed', 'failed', 'cancelled']);
export function isTerminal(status: TaskStatus): boolean {
  return TERMINAL_STATUSES.has(status);
}

export interface BackoffPolicy {
  /** `exponential` doubles the delay each attempt; `fixed` keeps it. Default `exponential`. */
  type: 'exponential' | 'fixed';
  /** Delay before the first retry, in ms. Default 1000. */
  delayMs: number;
  /** Upper bound of any delay, in ms. Default 3_600_000 (one hour). */
  maxDelayMs: number;
  /** Fraction of the delay drawn at random and subtracted, 0..1, so retries of a burst spread out. Default 0.2. */
  jitter: number;
}

export interface Progress {
  percent: number;
  message?: string;
  phase?: string;
  data?: Json;
}

export interface TaskError {
  message: string;
  code?: string;
  retryable: boolean;
  stack?: string;
}

/** What a `waiting` task waits for (docs/durable.md). `name` is the wait's name in the handler. */
export type WaitingFor =
  /** Its children of this wait: `pending` of `total` have not finished yet. */
  | { kind: 'children'; name: string; pending: number; total: number }
  | { kind: 'sleep'; name: string; until: number }
  /** A signal named `name`; `timeoutAt`: when the wait gives up (null: never). */
  | { kind: 'signal'; name: string; timeoutAt: number | null };

export interface Task {
  id: string;
  queue: string;
  type: string;
  payload: Json;
  status: TaskStatus;
  priority: number;
  /** When the task becomes (or became) ready to claim, epoch ms. */
  runAt: number;
  attempts: number;
  maxAttempts: number;
  backoff: BackoffPolicy;
  /** Per-attempt time limit in ms (the hard limit: the attempt fails with TIMEOUT and the handler is stopped); null means none. */
  timeoutMs: number | null;
  /**
   * Per-attempt soft time limit in ms, below timeoutMs: the handler is told (ctx.softSignal, the heartbeat answer's
   * `softTimeLimitExceeded`) and may still finish and return its result; null means none.
   */
  softTimeoutMs: number | null;
  idempotencyKey: string | null;
  tags: Record<string, string>;
  owner: string | null;
  parentId: string | null;
  /** Key for fair sharing between tenants; defaults to the owner. */
  concurrencyKey: string | null;
  /** At most `limit` tasks with this key (per owner) start in any `periodMs` (docs/queues.md, "Throttle"); null: none. */
  throttle: Throttle | null;
  /** The declared cost (units of a cost limit, e.g. expected tokens); null: 1 where a cost limit applies. */
  cost: number | null;
  /** The cost the handler reported at its last finish (ctx.reportCost); null while none was reported. */
  reportedCost: number | null;
  traceparent: string | null;
  progress: Progress | null;
  result: Json | null;
  error: TaskError | null;
  /** Set while a running task has been asked to stop; the worker sees it on its next heartbeat. */
  cancelRequested: boolean;
  /** Sequence number of the newest event of this task. */
  lastEventSeq: number;
  createdAt: number;
  updatedAt: number;
  startedAt: number | null;
  completedAt: number | null;
  /** The latest checkpoint's version (1, 2, …); 0 when the task has none. */
  checkpointVersion: number;
  /** What a `waiting` task waits for; null in every other status. */
  waitingFor: WaitingFor | null;
  /** The debounce this task was submitted with (docs/queues.md, "Debounce"); null: none. */
  debounce: Debounce | null;
  /** The singleton rule this task was submitted with (docs/queues.md, "Singleton"); null: none. */
  singleton: Singleton | null;
}

/**
 * Submits with the same key (per owner) within `delayMs` of each other collapse into one task, which runs `delayMs`
 * after the last of them with the last payload, but no later than `maxWaitMs` after the first.
 */
export interface DebounceOptions {
  key: string;
  delayMs: number;
  maxWaitMs?: number;
}

/** A task's debounce as stored: `firstAt`, the first submit of its window, bounds it with maxWaitMs. */
export interface Debounce {
  key: string;
  delayMs: number;
  maxWaitMs: number | null;
  firstAt: number;
}

export const SINGLETON_POLICIES = ['reject', 'queue-one', 'supersede'] as const;
export type SingletonPolicy = (typeof SINGLETON_POLICIES)[number];

/**
 * At most one task with this key (per owner) runs at a time. What a submit does when one exists: `reject` it
 * (SingletonConflictError), `queue-one` (at most one waits: a later submit replaces its payload), or `supersede`
 * (the existing ones are cancelled and the new one runs once they stopped).
 */
export interface Singleton {
  key: string;
  policy: SingletonPolicy;
}

export const TASK_EVENT_KINDS = [
  'created',
  'started',
  'progress',
  'output',
  'retrying',
  'completed',
  'failed',
  'cancelled',
  // Durable execution (docs/durable.md):
  /** A checkpoint was saved: { version, label, size }. */
  'checkpoint',
  /** The task suspended: { waitingFor }. */
  'waiting',
  /** A waiting task is queued again: { reason: 'children' | 'slept' | 'signal' | 'signal-timeout', name }. */
  'resumed',
  /** A signal was sent to the task: { name }. */
  'signal',
  /** One of the children the task waits for finished: { childId, name, status, pending }. */
  'child-finished',
] as const;
export type TaskEventKind = (typeof TASK_EVENT_KINDS)[number];

export const TERMINAL_EVENT_KINDS: ReadonlySet<TaskEventKind> = new Set(['completed', 'failed', 'cancelled']);

export interface TaskEvent {
  taskId: string;
  /** 1, 2, 3 … per task, without gaps: the SSE event id. */
  seq: number;
  kind: TaskEventKind;
  data: Json;
  at: number;
}

/** Per-key throttle: at most `limit` tasks with `key` (scoped per owner) start in any sliding window of `periodMs`. */
export interface Throttle {
  key: string;
  limit: number;
  periodMs: number;
}

/** A type's default throttle: without `key`, each task's concurrencyKey (else the type name) is its key. */
export interface ThrottleDefault {
  key?: string;
  limit: number;
  periodMs: number;
}

/** What a producer may say about a new task; everything else has a default. */
export interface EnqueueOptions {
  queue?: string;
  priority?: number;
  delayMs?: number;
  runAt?: number | Date;
  maxAttempts?: number;
  backoff?: Partial<BackoffPolicy>;
  timeoutMs?: number | null;
  softTimeoutMs?: number | null;
  idempotencyKey?: string;
  tags?: Record<string, string>;
  owner?: string;
  parentId?: string;
  concurrencyKey?: string;
  traceparent?: string;
  /** At most `limit` tasks with this key start per `periodMs`; the others wait, in claim order. */
  throttle?: Throttle | null;
  /** Units this task uses of a cost limit (a non-negative integer); absent: 1 where a cost limit applies. */
  cost?: number | null;
  /** Collapse submits with this key (per owner) into one task; see DebounceOptions. Not with delayMs, runAt or idempotencyKey. */
  debounce?: DebounceOptions;
  /** At most one task with this key (per owner) runs at a time; see Singleton. */
  singleton?: Singleton;
}

export interface TaskSpec extends EnqueueOptions {
  type: string;
  payload?: Json;
}

/** One saved version of a task's state, as listed (without the state). */
export interface CheckpointInfo {
  version: number;
  label: string | null;
  /** Bytes of the state's JSON text (UTF-8), as the caller measured it when saving. */
  size: number;
  createdAt: number;
}

export interface Checkpoint extends CheckpointInfo {
  state: Json;
}

/**
 * A task made from an earlier one (`derive`): everything not given is the original's (type, queue, priority,
 * maxAttempts, backoff, timeoutMs, tags, owner, concurrencyKey, throttle, cost); `payload` is shallow-merged into the
 * original's.
 */
export interface DeriveSpec {
  /** Merged into the original's payload when both are JSON objects; otherwise it replaces it. */
  payload?: Json;
  type?: string;
  queue?: string;
  priority?: number;
  maxAttempts?: number;
  timeoutMs?: number | null;
  tags?: Record<string, string>;
  /** Start from this checkpoint of the original (a version, or its latest) as the new task's version 1. */
  fromCheckpoint?: 'latest' | number;
}
