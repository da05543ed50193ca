// Typed errors: each carries what a caller needs to act on it, and an HTTP-friendly code (named in error-codes.ts).
import { ErrorCode } from './error-codes.ts';

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
