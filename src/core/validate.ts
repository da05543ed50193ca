// Turns what a producer asked for into a complete new task, or a ValidationError naming the field. Written once here
// so the SDK, HTTP and CLI reject the same input with the same words.
import { DEFAULT_BACKOFF } from './backoff.ts';
import { ValidationError } from './errors.ts';
import { checkEpochMs, checkInteger, checkJsonValue, checkText, MAX_INT32 } from './input-rules.ts';
import { type Debounce, type DebounceOptions, SINGLETON_POLICIES, type Singleton, type SingletonPolicy } from './task.ts';
import type { BackoffPolicy, Json, Progress, Task, TaskError, TaskSpec, Throttle, ThrottleDefault } from './task.ts';

/** A task ready to be stored: every field decided. */
export type NewTask = Pick<
  Task,
  | 'id' | 'queue' | 'type' | 'payload' | 'priority' | 'runAt' | 'maxAttempts' | 'backoff' | 'timeoutMs' | 'softTimeoutMs'
  | 'idempotencyKey'
  | 'tags' | 'owner' | 'parentId' | 'concurrencyKey' | 'traceparent' | 'createdAt' | 'throttle' | 'cost' | 'debounce'
  | 'singleton'
> & {
  /** `scheduled` when runAt is in the future, else `queued`. */
  status: 'scheduled' | 'queued';
};

export interface TaskDefaults {
  queue: string;
  maxAttempts: number;
  backoff: BackoffPolicy;
  timeoutMs: number | null;
  softTimeoutMs: number | null;
  /** The type's default throttle (type settings); absent or null: none. */
  throttle?: ThrottleDefault | null;
  /** A type's default debounce; without `key`, the task's concurrencyKey (as given) or else its type. */
  debounce?: FlowDefault<DebounceOptions> | null;
  /** A type's default singleton rule; without `key`, as for debounce. */
  singleton?: FlowDefault<Singleton> | null;
}

/** A flow rule as a type's default: the key may be left out. */
export type FlowDefault<T extends { key: string }> = Omit<T, 'key'> & { key?: string };

export const DEFAULT_TASK_DEFAULTS: TaskDefaults = {
  queue: 'default',
  maxAttempts: 3,
  backoff: DEFAULT_BACKOFF,
  timeoutMs: null,
  softTimeoutMs: null,
};

/** Longest debounce delay or wait: 30 days (a window longer than that is a schedule, not a debounce). */
export const MAX_DEBOUNCE_MS = 30 * 86_400_000;

/** Longest time limit, soft or hard: 7 days. */
export const MAX_TIMEOUT_MS = 7 * 86_400_000;

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.:\-/]{0,199}$/;
const TRACEPARENT_RE = /^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/;
export const MAX_PRIORITY = 1_000_000;

function fail(field: string, message: string): never {
  throw new ValidationError(`${field}: ${message}`, field);
}

export function checkName(field: string, value: unknown): string {
  if (typeof value !== 'string' || !NAME_RE.test(value)) {
    fail(field, 'must be 1-200 characters of letters, digits and _ . : - /, starting with a letter or digit');
  }
  return value;
}


function checkOptionalString(field: string, value: unknown, maxLength: number): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'string' || value.length === 0 || value.length > maxLength) {
    fail(field, `must be a non-empty string of at most ${maxLength} characters`);
  }
  return checkText(field, value);
}

function checkBackoff(value: unknown, base: BackoffPolicy): BackoffPolicy {
  if (value === undefined) return base;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) fail('backoff', 'must be an object');
  const b = value as Record<string, unknown>;
  for (const key of Object.keys(b)) {
    if (!['type', 'delayMs', 'maxDelayMs', 'jitter'].includes(key)) fail(`backoff.${key}`, 'is not a known field');
  }
  const type = b.type ?? base.type;
  if (type !== 'exponential' && type !== 'fixed') fail('backoff.type', 'must be "exponential" or "fixed"');
  const delayMs = b.delayMs === undefined ? base.delayMs : checkInteger('backoff.delayMs', b.delayMs, 0, 2 ** 31);
  const maxDelayMs = b.maxDelayMs === undefined ? base.maxDelayMs : checkInteger('backoff.maxDelayMs', b.maxDelayMs, 0, 2 ** 31);
  const jitter = b.jitter ?? base.jitter;
  if (typeof jitter !== 'number' || !(jitter >= 0 && jitter <= 1)) fail('backoff.jitter', 'must be a number from 0 to 1');
  return { type, delayMs, maxDelayMs: Math.max(maxDelayMs, 0), jitter };
}

function checkTags(value: unknown): Record<string, string> {
  if (value === undefined || value === null) return {};
  if (typeof value !== 'object' || Array.isArray(value)) fail('tags', 'must be an object of string values');
  const entries = Object.entries(value as Record<string, unknown>);
  if (entries.length > 64) fail('tags', 'at most 64 tags');
  for (const [k, v] of entries) {
    if (k.length === 0 || k.length > 100) fail(`tags.${k}`, 'tag names are 1-100 characters');
    checkText('tags', k);
    if (typeof v !== 'string' || v.length > 1000) fail(`tags.${k}`, 'must be a string of at most 1000 characters');
    checkText(`tags.${k}`, v);
  }
  return value as Record<string, string>;
}

/** Any JSON value (payload, result, progress data): the input rules of core/input-rules.ts. undefined is null. */
export function checkJson(field: string, value: unknown): Json {
  return checkJsonValue(field, value) as Json;
}

/** A rate limit as given (queues and types alike): `{ count, intervalMs }` of positive integers, or null for none. */
export function checkRateLimit(field: string, value: unknown): { count: number; intervalMs: number } | null {
  if (value === null) return null;
  if (typeof value !== 'object') fail(field, 'must be { count, intervalMs } of positive integers, or null');
  const rate = value as { count?: unknown; intervalMs?: unknown };
  return { count: checkInt32(`${field}.count`, rate.count), intervalMs: checkInt32(`${field}.intervalMs`, rate.intervalMs) };
}

/** Longest window of a throttle or cost limit: 1 day (starts are kept that long). */
export const MAX_FLOW_PERIOD_MS = 86_400_000;
/** Largest declared or reported cost, and cost budget: what both backends store as an integer. */
export const MAX_COST = MAX_INT32;

/** A throttle as given: `{ key, limit, periodMs }`; with `keyOptional` (a type's default) the key may be absent. */
export function checkThrottle(field: string, value: unknown, keyOptional: true): ThrottleDefault | null;
export function checkThrottle(field: string, value: unknown, keyOptional?: false): Throttle | null;
export function checkThrottle(field: string, value: unknown, keyOptional = false): ThrottleDefault | null {
  if (value === null || value === undefined) return null;
  if (typeof value !== 'object' || Array.isArray(value)) fail(field, 'must be { key, limit, periodMs }, or null');
  const t = value as { key?: unknown; limit?: unknown; periodMs?: unknown };
  for (const k of Object.keys(t)) if (!['key', 'limit', 'periodMs'].includes(k)) fail(`${field}.${k}`, 'is not a known field');
  const key = keyOptional && t.key === undefined ? undefined : checkOptionalString(`${field}.key`, t.key, 200);
  if (key === null) fail(`${field}.key`, 'must be a non-empty string of at most 200 characters');
  const limit = checkInt32(`${field}.limit`, t.limit);
  const periodMs = checkInteger(`${field}.periodMs`, t.periodMs, 1, MAX_FLOW_PERIOD_MS);
  return key === undefined ? { limit, periodMs } : { key, limit, periodMs };
}

/** A declared or reported cost: a non-negative integer (null or absent: none). */
export function checkCost(field: string, value: unknown): number | null {
  if (value === null || value === undefined) return null;
  return checkInteger(field, value, 0, MAX_COST);
}

/** A cost limit as given (queues and types alike): `{ budget, periodMs, perKey? }`, or null for none. */
export function checkCostLimit(field: string, value: unknown): { budget: number; periodMs: number; perKey: boolean } | null {
  if (value === null) return null;
  if (typeof value !== 'object' || Array.isArray(value)) fail(field, 'must be { budget, periodMs, perKey? }, or null');
  const c = value as { budget?: unknown; periodMs?: unknown; perKey?: unknown };
  for (const k of Object.keys(c)) if (!['budget', 'periodMs', 'perKey'].includes(k)) fail(`${field}.${k}`, 'is not a known field');
  if (c.perKey !== undefined && typeof c.perKey !== 'boolean') fail(`${field}.perKey`, 'must be a boolean');
  return {
    budget: checkInt32(`${field}.budget`, c.budget),
    periodMs: checkInteger(`${field}.periodMs`, c.periodMs, 1, MAX_FLOW_PERIOD_MS),
    perKey: c.perKey === true,
  };
}

/** A time limit as given (undefined: the default; null: none), 1 ms to 7 days. */
function checkTimeLimit(field: string, value: unknown, fallback: number | null): number | null {
  if (value === undefined) return fallback;
  if (value === null) return null;
  return checkInteger(field, value, 1, MAX_TIMEOUT_MS);
}

/**
 * A soft limit at or past the hard one would never be seen: the hard limit stops the handler first. Checked on the
 * values that apply (a type's default timeoutMs included), for task specs and type defaults alike.
 */
export function checkSoftBelowHard(field: string, softTimeoutMs: number | null | undefined, timeoutMs: number | null | undefined): void {
  if (softTimeoutMs === null || softTimeoutMs === undefined || timeoutMs === null || timeoutMs === undefined) return;
  if (softTimeoutMs >= timeoutMs) fail(field, `must be less than timeoutMs (${timeoutMs})`);
}

/** Progress as a worker reports it (in-process or over HTTP). */
export function checkProgress(progress: Progress): Progress {
  if (typeof progress !== 'object' || progress === null) fail('progress', 'must be an object');
  const { percent, message, phase, data } = progress;
  if (typeof percent !== 'number' || !(percent >= 0 && percent <= 100)) fail('percent', 'must be a number from 0 to 100');
  if (message !== undefined) {
    if (typeof message !== 'string' || message.length > 10_000) fail('message', 'must be a string of at most 10000 characters');
    checkText('message', message);
  }
  if (phase !== undefined) {
    if (typeof phase !== 'string' || phase.length > 200) fail('phase', 'must be a string of at most 200 characters');
    checkText('phase', phase);
  }
  if (data !== undefined) checkJson('data', data);
  return progress;
}

/** Most progress reports and output chunks a remote worker sends in one request (POST /worker/events). */
export const MAX_WORKER_EVENTS = 1000;

/** A piece of output a worker streams. */
export function checkOutputChunk(chunk: string): string {
  if (typeof chunk !== 'string') fail('chunk', 'must be a string');
  return checkText('chunk', chunk);
}

/** The error a worker fails an attempt with. */
export function checkTaskError(error: TaskError): TaskError {
  if (typeof error !== 'object' || error === null) fail('error', 'must be an object');
  if (typeof error.message !== 'string') fail('error.message', 'must be a string');
  checkText('error.message', error.message);
  if (error.code !== undefined && error.code !== null) {
    if (typeof error.code !== 'string') fail('error.code', 'must be a string');
    checkText('error.code', error.code);
  }
  if (error.stack !== undefined && error.stack !== null) {
    if (typeof error.stack !== 'string') fail('error.stack', 'must be a string');
    checkText('error.stack', error.stack);
  }
  return error;
}

/** A step, wait or signal name (durable execution): 1 to 200 characters, no U+0000 or unpaired surrogate. */
export function checkDurableName(what: 'step' | 'wait' | 'signal', name: unknown): string {
  if (typeof name !== 'string' || name.length === 0 || name.length > 200) throw new ValidationError(`a ${what} name is 1 to 200 characters`, 'name');
  return checkText('name', name);
}

/** A checkpoint version as both backends store it (PostgreSQL integer): 1 to 2147483647; `latest` where allowed. */
export function checkCheckpointVersion<L extends 'latest' = never>(field: string, value: unknown, latest?: L): number | L {
  if (latest !== undefined && value === latest) return latest;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > MAX_INT32) {
    fail(field, `must be ${latest !== undefined ? '"latest" or ' : ''}a checkpoint version, an integer from 1 to ${MAX_INT32}`);
  }
  return value;
}

/** A count or limit stored as a PostgreSQL integer: 1 (or `min`) to 2147483647. */
export const checkInt32 = (field: string, value: unknown, min = 1): number => checkInteger(field, value, min, MAX_INT32);

function checkObject(field: string, value: unknown, known: readonly string[]): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) fail(field, 'must be an object');
  for (const key of Object.keys(value)) if (!known.includes(key)) fail(`${field}.${key}`, 'is not a known field');
  return value as Record<string, unknown>;
}

function checkFlowKey(field: string, value: unknown): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > 200) fail(field, 'must be a non-empty string of at most 200 characters');
  return checkText(field, value);
}

/** When a debounced task runs if a submit joins it at `now`: delayMs later, but no later than maxWaitMs after the first. */
export function debounceRunAt(debounce: Pick<Debounce, 'delayMs' | 'maxWaitMs' | 'firstAt'>, now: number): number {
  const last = now + debounce.delayMs;
  return debounce.maxWaitMs === null ? last : Math.min(last, debounce.firstAt + debounce.maxWaitMs);
}

/** A debounce as given (`key` optional where `needsKey` is false: a type's default). */
export function checkDebounce(field: string, value: unknown, needsKey: boolean): FlowDefault<DebounceOptions> {
  const d = checkObject(field, value, ['key', 'delayMs', 'maxWaitMs']);
  const delayMs = checkInteger(`${field}.delayMs`, d.delayMs, 1, MAX_DEBOUNCE_MS);
  const result: FlowDefault<DebounceOptions> = { delayMs };
  if (d.key !== undefined || needsKey) result.key = checkFlowKey(`${field}.key`, d.key);
  if (d.maxWaitMs !== undefined) result.maxWaitMs = checkInteger(`${field}.maxWaitMs`, d.maxWaitMs, 1, MAX_DEBOUNCE_MS);
  return result;
}

/** A singleton rule as given (`key` optional where `needsKey` is false: a type's default). */
export function checkSingleton(field: string, value: unknown, needsKey: boolean): FlowDefault<Singleton> {
  const v = checkObject(field, value, ['key', 'policy']);
  if (!SINGLETON_POLICIES.includes(v.policy as SingletonPolicy)) fail(`${field}.policy`, `must be one of ${SINGLETON_POLICIES.map((p) => `"${p}"`).join(', ')}`);
  const result: FlowDefault<Singleton> = { policy: v.policy as SingletonPolicy };
  if (v.key !== undefined || needsKey) result.key = checkFlowKey(`${field}.key`, v.key);
  return result;
}

/**
 * The debounce and singleton a task gets: its own, else its type's default (whose key defaults to the concurrencyKey
 * the spec gave, else the type). A debounce decides the task's runAt and merges submits, so it takes no delayMs,
 * runAt or idempotencyKey.
 */
function flowRules(spec: TaskSpec, defaults: TaskDefaults, type: string, now: number): { debounce: Debounce | null; singleton: Singleton | null } {
  const implicitKey = typeof spec.concurrencyKey === 'string' && spec.concurrencyKey.length > 0 ? spec.concurrencyKey : type;
  const given = spec.debounce === undefined || spec.debounce === null ? null : checkDebounce('debounce', spec.debounce, true);
  const timedBy = (['delayMs', 'runAt', 'idempotencyKey'] as const).find((field) => spec[field] !== undefined && spec[field] !== null);
  if (given && timedBy) fail('debounce', `cannot be combined with ${timedBy}: the debounce decides when the task runs and which submits it merges`);
  // A submit that says when it runs, or names an idempotency key (a schedule's slot), is not debounced by its type.
  const d = given ?? (timedBy ? null : (defaults.debounce ?? null));
  const debounce: Debounce | null = d ? { key: d.key ?? implicitKey, delayMs: d.delayMs, maxWaitMs: d.maxWaitMs ?? null, firstAt: now } : null;
  const s = spec.singleton === undefined || spec.singleton === null ? (defaults.singleton ?? null) : checkSingleton('singleton', spec.singleton, true);
  return { debounce, singleton: s ? { key: s.key ?? implicitKey, policy: s.policy } : null };
}

/** Validates one task spec and fills in defaults. `makeId` and `now` come from the caller so this stays pure. */
export function normalizeTaskSpec(spec: TaskSpec, defaults: TaskDefaults, now: number, makeId: (now: number) => string): NewTask {
  if (typeof spec !== 'object' || spec === null) throw new ValidationError('task must be an object');
  const type = checkName('type', spec.type);
  const queue = spec.queue === undefined ? defaults.queue : checkName('queue', spec.queue);
  const priority = spec.priority === undefined ? 0 : checkInteger('priority', spec.priority, -MAX_PRIORITY, MAX_PRIORITY);
  if (spec.delayMs !== undefined && spec.runAt !== undefined) fail('delayMs', 'give delayMs or runAt, not both');
  let runAt = now;
  if (spec.delayMs !== undefined) runAt = now + checkInteger('delayMs', spec.delayMs, 0, 10 * 365 * 86_400_000);
  if (spec.runAt !== undefined) {
    const at = spec.runAt instanceof Date ? spec.runAt.getTime() : spec.runAt;
    runAt = Math.max(Math.round(checkEpochMs('runAt', at)), now);
  }
  const maxAttempts =
    spec.maxAttempts === undefined ? defaults.maxAttempts : checkInteger('maxAttempts', spec.maxAttempts, 1, 1000);
  const timeoutMs = checkTimeLimit('timeoutMs', spec.timeoutMs, defaults.timeoutMs);
  const softTimeoutMs = checkTimeLimit('softTimeoutMs', spec.softTimeoutMs, defaults.softTimeoutMs);
  checkSoftBelowHard('softTimeoutMs', softTimeoutMs, timeoutMs);
  const traceparent = checkOptionalString('traceparent', spec.traceparent, 55);
  if (traceparent !== null && !TRACEPARENT_RE.test(traceparent)) fail('traceparent', 'must be a W3C traceparent');
  const owner = checkOptionalString('owner', spec.owner, 200);
  // Fair sharing groups by this key; a tenant's tasks share one unless they say otherwise.
  const concurrencyKey = checkOptionalString('concurrencyKey', spec.concurrencyKey, 200) ?? owner;
  const { debounce, singleton } = flowRules(spec, defaults, type, now);
  if (debounce) runAt = debounceRunAt(debounce, now);
  return {
    id: makeId(now),
    queue,
    type,
    payload: checkJson('payload', spec.payload),
    priority,
    runAt,
    status: runAt > now ? 'scheduled' : 'queued',
    maxAttempts,
    backoff: checkBackoff(spec.backoff, defaults.backoff),
    timeoutMs,
    softTimeoutMs,
    idempotencyKey: checkOptionalString('idempotencyKey', spec.idempotencyKey, 200),
    tags: checkTags(spec.tags),
    owner,
    parentId: checkOptionalString('parentId', spec.parentId, 100),
    concurrencyKey,
    traceparent,
    createdAt: now,
    throttle: spec.throttle === undefined ? defaultThrottle(defaults.throttle, concurrencyKey, type) : checkThrottle('throttle', spec.throttle),
    cost: checkCost('cost', spec.cost),
    debounce,
    singleton,
  };
}

/** A type's default throttle for one task: without a key of its own, the task's concurrencyKey, else the type name. */
function defaultThrottle(given: ThrottleDefault | null | undefined, concurrencyKey: string | null, type: string): Throttle | null {
  if (!given) return null;
  return { key: given.key ?? concurrencyKey ?? type, limit: given.limit, periodMs: given.periodMs };
}

/** The task exactly as a backend stores a NewTask: lets `createTasks` answer without reading the row back. */
export function initialTask(t: NewTask): Task {
  return {
    ...t,
    attempts: 0,
    progress: null,
    result: null,
    error: null,
    cancelRequested: false,
    lastEventSeq: 1,
    updatedAt: t.createdAt,
    startedAt: null,
    completedAt: null,
    checkpointVersion: 0,
    waitingFor: null,
    reportedCost: null,
  };
}
