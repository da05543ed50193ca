// Every error code Taskhub gives out, named once. Two kinds:
// codes of a TaskError (why an attempt or a task ended: stored with the task, shown in its events), and codes of a
// thrown TaskhubError (what went wrong with a call: the `code` of an HTTP problem). Both are part of the HTTP contract:
// clients match on them, so a shipped code never changes its spelling.

/** Codes of `TaskError.code`, set by Taskhub itself (a handler may set any code of its own). */
export const TaskErrorCode = {
  /** The task was cancelled (at once, or by its worker after a cancel request). */
  CANCELLED: 'CANCELLED',
  /** The worker stopped heartbeating: the sweeper ended the attempt. */
  LEASE_EXPIRED: 'LEASE_EXPIRED',
  /** The attempt ran past the task's timeoutMs. */
  TIMEOUT: 'TIMEOUT',
  /** The worker gave the task back (shutdown); the attempt does not count. */
  RELEASED: 'RELEASED',
  /** A durable handler's children failed or were cancelled (ctx.children without `settle`). */
  CHILD_FAILED: 'CHILD_FAILED',
  /** ctx.waitForSignal gave up: no signal of its name came before its timeout. */
  SIGNAL_TIMEOUT: 'SIGNAL_TIMEOUT',
} as const;
export type TaskErrorCode = (typeof TaskErrorCode)[keyof typeof TaskErrorCode];

/** Codes of thrown TaskhubErrors and of HTTP problems. */
export const ErrorCode = {
  VALIDATION: 'VALIDATION',
  NOT_FOUND: 'NOT_FOUND',
  STALE_ATTEMPT: 'STALE_ATTEMPT',
  INVALID_STATE: 'INVALID_STATE',
  /** A durable step of this name has stored its result already (the first result stands). */
  STEP_EXISTS: 'STEP_EXISTS',
  /** A checkpoint's state is larger than the configured limit (checkpointMaxBytes); nothing was stored. */
  CHECKPOINT_TOO_LARGE: 'CHECKPOINT_TOO_LARGE',
  /** A singleton submit with policy `reject` found a task with its key unfinished; the problem names it (`taskId`). */
  SINGLETON_CONFLICT: 'SINGLETON_CONFLICT',
  STORE_UNAVAILABLE: 'STORE_UNAVAILABLE',
  UNAUTHORIZED: 'UNAUTHORIZED',
  FORBIDDEN: 'FORBIDDEN',
  /** An operation the configured store cannot do (enqueueIn on SQLite). */
  UNSUPPORTED: 'UNSUPPORTED',
  RATE_LIMITED: 'RATE_LIMITED',
  MALFORMED_JSON: 'MALFORMED_JSON',
  PAYLOAD_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  UNSUPPORTED_MEDIA_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  UPGRADE_REQUIRED: 'UPGRADE_REQUIRED',
  BAD_REQUEST: 'BAD_REQUEST',
  INTERNAL: 'INTERNAL',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];
