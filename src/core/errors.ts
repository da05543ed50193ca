// Typed errors: each carries what a caller needs to act on it, and an HTTP-friendly code (named in error-codes.ts).
import { ErrorCode, TaskErrorCode } from './error-codes.ts';
import type { TaskError } from './task.ts';

export class TaskhubError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = new.target.name;
    this.code = code;
  }
}

/** Input that breaks the task model; nothing was changed. */
export class ValidationError extends TaskhubError {
  readonly field: string | undefined;
  constructor(message: string, field?: string) {
    super(ErrorCode.VALIDATION, message);
    this.field = field;
  }
}

export class TaskNotFoundError extends TaskhubError {
  readonly taskId: string;
  constructor(taskId: string) {
    super(ErrorCode.NOT_FOUND, `task ${taskId} does not exist`);
    this.taskId = taskId;
  }
}

/** The attempt token is not the current one: the lease expired and the task moved on, or it finished. */
export class StaleAttemptError extends TaskhubError {
  readonly taskId: string;
  constructor(taskId: string, detail = 'the attempt token is not current (lease expired, task finished or retried)') {
    super(ErrorCode.STALE_ATTEMPT, `task ${taskId}: ${detail}`);
    this.taskId = taskId;
  }
}

/** The task is in a state that does not allow the operation (cancel a finished task, retry a running one). */
export class InvalidStateError extends TaskhubError {
  readonly taskId: string;
  readonly status: string;
  constructor(taskId: string, status: string, operation: string) {
    super(ErrorCode.INVALID_STATE, `cannot ${operation} task ${taskId}: it is ${status}`);
    this.taskId = taskId;
    this.status = status;
  }
}

/** A step of this name stored its result already for this task: the first result stands (docs/durable.md). */
export class StepExistsError extends TaskhubError {
  readonly taskId: string;
  readonly step: string;
  constructor(taskId: string, step: string) {
    super(ErrorCode.STEP_EXISTS, `task ${taskId}: step "${step}" has stored its result already`);
    this.taskId = taskId;
    this.step = step;
  }
}

/** A checkpoint's state (its JSON, UTF-8) is larger than the limit: nothing was stored (docs/durable.md). */
export class CheckpointTooLargeError extends TaskhubError {
  readonly taskId: string;
  /** Bytes of the state's JSON. */
  readonly size: number;
  /** The limit it broke, bytes. */
  readonly limit: number;
  constructor(taskId: string, size: number, limit: number) {
    super(ErrorCode.CHECKPOINT_TOO_LARGE, `task ${taskId}: checkpoint state is ${size} bytes of JSON, over the limit of ${limit} bytes; nothing was stored`);
    this.taskId = taskId;
    this.size = size;
    this.limit = limit;
  }
}

/** A child of `ctx.children` as a ChildTaskFailedError names it. */
export interface FailedChild {
  id: string;
  status: string;
  error: TaskError | null;
}

/**
 * Thrown by `ctx.children` (without `settle: true`) when children failed or were cancelled. Not retryable: a re-run
 * would get the same children back (children are never made twice for one wait), so the parent fails at once.
 */
export class ChildTaskFailedError extends TaskhubError {
  readonly retryable = false;
  readonly taskId: string;
  /** The wait's name (`ctx.children`'s `name`). */
  readonly wait: string;
  readonly failed: readonly FailedChild[];
  constructor(taskId: string, wait: string, failed: readonly FailedChild[], total: number) {
    const named = failed.map((c) => `${c.id} (${c.status}${c.error ? `: ${c.error.message}` : ''})`);
    super(TaskErrorCode.CHILD_FAILED, `task ${taskId}: ${failed.length} of ${total} children of "${wait}" did not complete: ${named.join(', ')}`);
    this.taskId = taskId;
    this.wait = wait;
    this.failed = failed;
  }
}

/**
 * Thrown by `ctx.waitForSignal` when its timeout passed before a signal of its name came. Not retryable: the timeout
 * is stored (a step), so a re-run would time out again at once, unless a signal came meanwhile.
 */
export class SignalTimeoutError extends TaskhubError {
  readonly retryable = false;
  readonly taskId: string;
  readonly signal: string;
  readonly timeoutAt: number | null;
  constructor(taskId: string, signal: string, timeoutAt: number | null) {
    super(TaskErrorCode.SIGNAL_TIMEOUT, `task ${taskId}: no signal "${signal}" came before its timeout${timeoutAt === null ? '' : ` (${new Date(timeoutAt).toISOString()})`}`);
    this.taskId = taskId;
    this.signal = signal;
    this.timeoutAt = timeoutAt;
  }
}

/** A singleton submit with policy `reject` while a task with its key is scheduled, queued, running or waiting (409). */
export class SingletonConflictError extends TaskhubError {
  /** The existing task with the key. */
  readonly taskId: string;
  readonly key: string;
  constructor(taskId: string, key: string) {
    super(ErrorCode.SINGLETON_CONFLICT, `singleton "${key}": task ${taskId} with this key has not finished; nothing was created`);
    this.taskId = taskId;
    this.key = key;
  }
}

export class StoreUnavailableError extends TaskhubError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(ErrorCode.STORE_UNAVAILABLE, message);
    if (options?.cause !== undefined) this.cause = options.cause;
  }
}

/** No credentials, or credentials that are not valid (401). */
export class UnauthorizedError extends TaskhubError {
  constructor(message = 'a valid bearer token is required') {
    super(ErrorCode.UNAUTHORIZED, message);
  }
}

/** Valid credentials without the scope the operation needs (403). */
export class ForbiddenError extends TaskhubError {
  readonly scope: string;
  constructor(scope: string, message = `this token lacks the "${scope}" scope`) {
    super(ErrorCode.FORBIDDEN, message);
    this.scope = scope;
  }
}

/** Thrown inside a handler to fail the attempt without retrying. */
export class NonRetryableError extends Error {
  readonly code: string | undefined;
  constructor(message: string, code?: string) {
    super(message);
    this.name = 'NonRetryableError';
    this.code = code;
  }
}
