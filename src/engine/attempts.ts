// What happens after an attempt fails: retry later, or dead-letter. Decided here once for every backend.
import { retryDelayMs } from '../core/backoff.ts';
import type { Task, TaskError } from '../core/task.ts';
import type { AttemptOutcome } from '../store/store.ts';

export function outcomeOfFailure(task: Task, error: TaskError, now: number, random: () => number = Math.random): AttemptOutcome {
  if (!error.retryable || task.attempts >= task.maxAttempts) return { status: 'failed', error };
  return { status: 'retry', error, runAt: now + retryDelayMs(task.backoff, task.attempts, random) };
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
