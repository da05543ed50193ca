// Which PostgreSQL failures mean "the server is not there for us" (StoreUnavailableError, HTTP 503), as opposed to a
// problem with the statement.
import { StoreUnavailableError, ValidationError } from '../../core/errors.ts';

/** SQLSTATE of a statement PostgreSQL failed to end a deadlock. */
export const DEADLOCK_DETECTED = '40P01';
/** unique_violation: a claim that raced another to start a singleton key's task (tasks_singleton_running). */
export const UNIQUE_VIOLATION = '23505';

// ---- connection errors ----

/** SQLSTATEs that mean "the server is not there for us", as opposed to a problem with the statement. */
const UNAVAILABLE_SQLSTATES = new Set(['57P01', '57P02', '57P03', '53300', '53000']);
const UNAVAILABLE_NODE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EPIPE',
  'EAI_AGAIN',
]);
const UNAVAILABLE_MESSAGES = [/connection terminated/i, /timeout exceeded when trying to connect/i, /connection error/i, /not queryable/i];

export function isUnavailable(error: unknown): error is Error {
  if (!(error instanceof Error)) return false;
  const code = (error as Error & { code?: unknown }).code;
  if (typeof code === 'string' && (code.startsWith('08') || UNAVAILABLE_SQLSTATES.has(code) || UNAVAILABLE_NODE_CODES.has(code))) {
    return true;
  }
  if (error instanceof AggregateError) return error.errors.some(isUnavailable);
  return UNAVAILABLE_MESSAGES.some((pattern) => pattern.test(error.message));
}

/**
 * SQLSTATEs that mean "a value sent cannot be stored": class 22 (data exception: a number out of range, U+0000 in
 * text, invalid JSON text) and 54001 (too deeply nested). The input rules (core/input-rules.ts) keep these from
 * reaching the database; should one slip through, it is the caller's value that is wrong, not the server.
 */
function isDataError(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && (code.startsWith('22') || code === '54001');
}

/**
 * Connection failures become StoreUnavailableError (the server answers 503), data errors ValidationError (400);
 * anything else passes unchanged.
 */
export function translateError(error: unknown): unknown {
  if (error instanceof StoreUnavailableError || error instanceof ValidationError) return error;
  if (isDataError(error)) {
    return Object.assign(new ValidationError(`a value cannot be stored: ${(error as Error).message}`), { cause: error });
  }
  if (!isUnavailable(error)) return error;
  return new StoreUnavailableError(`PostgreSQL is unavailable: ${error.message}`, { cause: error });
}
