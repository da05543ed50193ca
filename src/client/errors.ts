// Typed errors of the client SDK, so callers can act on what went wrong without parsing messages.
import type { TaskStatus } from '../core/task.ts';

/** Base class of every error the SDK throws on purpose. */
export class TaskhubClientError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message);
    this.name = new.target.name;
    if (options?.cause !== undefined) this.cause = options.cause;
  }
}

/** An RFC 9457 problem document as the server sends it. Extra members are kept. */
export interface ProblemDetails {
  type?: string;
  title?: string;
  status?: number;
  detail?: string;
  [member: string]: unknown;
}

/** The server answered with an error status. `title` and `detail` come from its problem+json body. */
export class TaskhubHttpError extends TaskhubClientError {
  readonly status: number;
  readonly title: string;
  readonly detail: string;
  /** The problem type URI, `about:blank` when the server gave none. */
  readonly type: string;
  readonly method: string;
  readonly url: string;
  /** Seconds from a Retry-After header (429, 503), or null. */
  readonly retryAfterSeconds: number | null;
  readonly problem: ProblemDetails | null;

  constructor(init: {
    status: number;
    method: string;
    url: string;
    problem: ProblemDetails | null;
    fallbackDetail?: string;
    retryAfterSeconds?: number | null;
  }) {
    const title = typeof init.problem?.title === 'string' ? init.problem.title : `HTTP ${init.status}`;
    const detail = typeof init.problem?.detail === 'string' ? init.problem.detail : (init.fallbackDetail ?? '');
    super(`${init.method} ${init.url}: ${init.status} ${title}${detail ? `: ${detail}` : ''}`);
    this.status = init.status;
    this.title = title;
    this.detail = detail;
    this.type = typeof init.problem?.type === 'string' ? init.problem.type : 'about:blank';
    this.method = init.method;
    this.url = init.url;
    this.retryAfterSeconds = init.retryAfterSeconds ?? null;
    this.problem = init.problem;
  }
}

/** The request never got an HTTP answer (connection refused or reset, DNS, CORS in a browser). */
export class TaskhubNetworkError extends TaskhubClientError {
  readonly method: string;
  readonly url: string;
  constructor(method: string, url: string, cause: unknown) {
    super(`${method} ${url}: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    this.method = method;
    this.url = url;
  }
}

/** `result()` gave up before the task finished. `status` is the task's status as last seen, when known. */
export class TaskhubTimeoutError extends TaskhubClientError {
  readonly taskId: string;
  readonly timeoutMs: number;
  readonly status: TaskStatus | null;
  constructor(taskId: string, timeoutMs: number, status: TaskStatus | null) {
    super(`task ${taskId} did not finish within ${timeoutMs} ms${status ? ` (it is ${status})` : ''}`);
    this.taskId = taskId;
    this.timeoutMs = timeoutMs;
    this.status = status;
  }
}

/**
 * A singleton submit with policy `reject` was refused (409 SINGLETON_CONFLICT): a task with its key has not finished.
 * `taskId` names that task, so the caller can follow it instead.
 */
export class TaskhubSingletonConflictError extends TaskhubHttpError {
  readonly taskId: string;
  readonly key: string;
  constructor(init: ConstructorParameters<typeof TaskhubHttpError>[0] & { taskId: string; key: string }) {
    super(init);
    this.taskId = init.taskId;
    this.key = init.key;
  }
}
