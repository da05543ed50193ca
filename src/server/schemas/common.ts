// Building blocks of the HTTP API's JSON schemas and the parts every route group shares: problem answers, the
// health answer, name parameters and the idempotency header. A rule about a kind of value (an epoch time, a bounded
// string, any JSON) is written once here and reused by every group, so changing it changes it at every edge.
import { MAX_EPOCH_MS, MAX_INT32 } from '../../core/input-rules.ts';
import { headersPart, json, textPart } from './provider.ts';

export const NAME_DESCRIPTION = '1-200 characters of letters, digits and _ . : - /, starting with a letter or digit';

/** A point in time, epoch milliseconds, up to the end of year 9999 (core/input-rules.ts). */
export const epochMs = (description: string) => ({ type: 'integer', minimum: 0, maximum: MAX_EPOCH_MS, description }) as const;
/** A point in time, epoch milliseconds, or null. */
export const nullableEpochMs = (description: string) =>
  ({ type: ['integer', 'null'], minimum: 0, maximum: MAX_EPOCH_MS, description }) as const;
/** An integer stored in a PostgreSQL `integer` column (a count, a limit, a sequence number): min..2147483647. */
export const int32 = <const Min extends number>(minimum: Min) => ({ type: 'integer', minimum, maximum: MAX_INT32 }) as const;
/** A string of 1 to `maxLength` characters. */
export const nonEmptyString = (maxLength: number) => ({ type: 'string', minLength: 1, maxLength }) as const;
/** Any JSON value, handed on as it is (typed as the core's `Json`). */
export const anyJson = (description: string) => json({ description });

export const HealthStatus = {
  title: 'HealthStatus',
  type: 'object',
  required: ['status'],
  properties: { status: { type: 'string' } },
} as const;

export const Problem = {
  title: 'Problem',
  description: 'RFC 9457 problem details (media type application/problem+json).',
  type: 'object',
  required: ['type', 'title', 'status', 'detail'],
  properties: {
    type: { type: 'string', description: 'Identifies the kind of problem: `urn:taskhub:problem:<code>`.' },
    title: { type: 'string' },
    status: { type: 'integer' },
    detail: { type: 'string', description: 'What went wrong with this request, naming the offending field.' },
    instance: { type: 'string' },
    code: { type: 'string', description: 'Stable machine-readable code, e.g. VALIDATION, NOT_FOUND, INVALID_STATE.' },
    field: { type: 'string', description: 'The offending field, e.g. `priority` or `tasks[2].type`.' },
    taskId: { type: 'string' },
    taskStatus: { type: 'string', description: 'For INVALID_STATE: the status that forbade the operation.' },
    key: { type: 'string', description: 'For SINGLETON_CONFLICT: the singleton key; `taskId` names the task holding it.' },
  },
} as const;

// ---- request parts shared by several groups ----

/** `/{name}` of a subscription or schedule. */
export const NameParams = textPart({
  type: 'object',
  additionalProperties: false,
  required: ['name'],
  properties: { name: nonEmptyString(200) },
} as const);

export const IdempotencyHeaders = headersPart({
  type: 'object',
  properties: {
    'idempotency-key': {
      ...nonEmptyString(200),
      description: 'Submitting the same key again returns the first task (200) instead of creating one.',
    },
  },
} as const);

// ---- documented answers ----

const PROBLEM_DESCRIPTIONS: Record<number, string> = {
  400: 'Bad request: malformed JSON, a wrong type, an unknown field, or a value the task model refuses (`field` names it).',
  401: 'No token, or one that is not valid (malformed, badly signed, expired, revoked). Only with auth configured.',
  403: 'The token is valid but lacks the scope this needs (a follow token reads its one task only).',
  429: 'Too many requests from this token (or address): wait `Retry-After` seconds.',
  404: 'No such task (or not yours).',
  409: 'The task is in a state that does not allow this.',
  413: 'The request body is over the size limit.',
  426: 'Not a WebSocket upgrade request.',
  503: 'The store is unavailable; nothing was changed.',
};

/** A route `response` entry: a JSON answer with its own description (the schema stays the shared object). */
export function jsonResponse(schema: object, description: string): object {
  return { description, content: { 'application/json': { schema } } };
}

/** Route `response` entries for problem answers (application/problem+json). */
export function problemResponses(...statuses: number[]): Record<number, object> {
  return Object.fromEntries(
    statuses.map((status) => [
      status,
      { description: PROBLEM_DESCRIPTIONS[status] ?? 'Error', content: { 'application/problem+json': { schema: Problem } } },
    ]),
  );
}
