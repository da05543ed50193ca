// What happens after an attempt fails: cancelled, retried later, or dead-lettered. Decided here once for every
// backend and for every way an attempt can fail (an in-process handler, a worker over HTTP, an expired lease).
import { retryDelayMs } from '../core/backoff.ts';
import type { Task, TaskError } from '../core/task.ts';
import type { AttemptOutcome } from '../store/store.ts';

/** What the decision reads of the task: nothing that changes during an attempt except `cancelRequested`. */
export type FailureFacts = Pick<Task, 'attempts' | 'maxAttempts' | 'backoff' | 'cancelRequested'>;

export interface FailureOptions {
  /** The reason a task with a pending cancel request ends with. Default: the error's message. */
  cancelReason?: string;
  /** Jitter source, for tests. */
  random?: () => number;
}

/**
 * How a failed attempt ends. A fail while a cancel is requested ends `cancelled`: that is how a worker acknowledges a
 * cancel request (and how a worker that died with one pending is finished). Otherwise the task is retried with its
 * backoff while attempts remain and the error is retryable, else it fails for good (the dead-letter set).
 */
export function outcomeOfFailure(task: FailureFacts, error: TaskError, now: number, options: FailureOptions = {}): AttemptOutcome {
  if (task.cancelRequested) return { status: 'cancelled', reason: options.cancelReason ?? error.message };
  if (!error.retryable || task.attempts >= task.maxAttempts) return { status: 'failed', error };
  return { status: 'retry', error, runAt: now + retryDelayMs(task.backoff, task.attempts, options.random ?? Math.random) };
}

/** Turns whatever a handler threw into a TaskError. */
export function toTaskError(thrown: unknown, retryable = true): TaskError {
  if (thrown instanceof Error) {
    const code = (thrown as { code?: unknown }).code;
    const explicit = (thrown as { retryable?: unknown }).retryable;
    return {
      message: thrown.message || thrown.name,
      ...(typeof code === 'string' ? { code } : {}),
      retryable: thrown.name === 'NonRetryableError' ? false : typeof explicit === 'boolean' ? explicit : retryable,
      ...(thrown.stack ? { stack: thrown.stack } : {}),
    };
  }
  return { message: typeof thrown === 'string' ? thrown : JSON.stringify(thrown) ?? String(thrown), retryable };
}
