// The input rules: what any value a caller hands Taskhub may be, decided once here and applied at every edge (the
// HTTP body parser and schemas, core/validate.ts for the SDK, the worker calls). They are what both backends can store
// alike: PostgreSQL text and jsonb hold no U+0000 and no unpaired surrogate, its integer columns are int4 and int8,
// and SQLite would store what PostgreSQL refuses. docs/security.md ("Input rules") lists them.
import { ValidationError } from './errors.ts';

/** Largest int4 (PostgreSQL `integer`): counts, limits, sequence numbers, a worker's pid. */
export const MAX_INT32 = 2_147_483_647;
/** Latest point in time accepted, epoch ms: 9999-12-31T23:59:59.999Z (what an ISO 8601 date-time can write). */
export const MAX_EPOCH_MS = 253_402_300_799_999;
/** Deepest nesting of arrays and objects in any JSON value stored (a payload, a result, progress data). */
export const MAX_JSON_DEPTH = 64;

function fail(field: string, message: string): never {
  throw new ValidationError(field ? `${field}: ${message}` : message, field || undefined);
}

/** Why a string cannot be stored, or null: U+0000, or an unpaired surrogate (not Unicode, so not UTF-8 either). */
function textProblem(value: string): string | null {
  if (value.includes('\u0000')) return 'contains U+0000 (NUL), which cannot be stored';
  if (!value.isWellFormed()) return 'contains an unpaired UTF-16 surrogate (not valid Unicode)';
  return null;
}

/** A string fit to store, or a ValidationError naming `field`. */
export function checkText(field: string, value: string): string {
  const problem = textProblem(value);
  if (problem !== null) fail(field, problem);
  return value;
}

/** `a.b[2]` from a parent path and a key or index. */
export function childPath(parent: string, key: string | number): string {
  if (typeof key === 'number') return `${parent}[${key}]`;
  return parent ? `${parent}.${key}` : key;
}

/**
 * Checks a JSON value in one iterative walk (no recursion, so no stack to overflow whatever the nesting): nesting at
 * most `maxDepth` arrays or objects, no U+0000 or unpaired surrogate in any string or key, numbers finite. Answers the
 * number of object keys seen (the HTTP parser compares it with the text to find duplicate keys), or throws a
 * ValidationError naming the place. `plain` is set to false when something is not plain JSON (a Date, a Map, a
 * BigInt, undefined, a class instance): the caller then knows JSON.stringify decides what is stored.
 *
 * The walk keeps no paths (it is on every submit's path); when it meets a problem, a second walk that does finds
 * where, for the error.
 */
export function walkJson(
  value: unknown,
  field: string,
  maxDepth = MAX_JSON_DEPTH,
  state: { plain: boolean; protoKeys?: boolean } = { plain: true },
): number {
  const checkProto = state.protoKeys === false;
  let keys = 0;
  const values: unknown[] = [value];
  const depths: number[] = [0];
  while (values.length > 0) {
    const v = values.pop();
    const depth = depths.pop() as number;
    switch (typeof v) {
      case 'string':
        if (v.includes('\u0000') || !v.isWellFormed()) return locate(value, field, maxDepth, state);
        continue;
      case 'number':
        if (!Number.isFinite(v)) return locate(value, field, maxDepth, state);
        continue;
      case 'boolean':
        continue;
      case 'object': {
        if (v === null) continue;
        if (depth >= maxDepth) return locate(value, field, maxDepth, state);
        if (Array.isArray(v)) {
          for (let i = v.length - 1; i >= 0; i--) {
            values.push(v[i]);
            depths.push(depth + 1);
          }
          continue;
        }
        const proto = Object.getPrototypeOf(v);
        if (proto !== Object.prototype && proto !== null) state.plain = false;
        for (const key in v) {
          if (!Object.hasOwn(v, key)) continue;
          keys++;
          if (key.includes('\u0000') || !key.isWellFormed()) return locate(value, field, maxDepth, state);
          if (checkProto && isProtoKey(v as object, key)) return locate(value, field, maxDepth, state);
          values.push((v as Record<string, unknown>)[key]);
          depths.push(depth + 1);
        }
        continue;
      }
      default:
        // undefined, a function, a symbol, a BigInt: JSON.stringify leaves it out, calls it null, or throws.
        state.plain = false;
    }
  }
  return keys;
}

/** walkJson again, keeping paths, to throw the error that names where the problem is. */
function locate(value: unknown, field: string, maxDepth: number, state: { protoKeys?: boolean }): never {
  const values: unknown[] = [value];
  const depths: number[] = [0];
  const paths: string[] = [field];
  while (values.length > 0) {
    const v = values.pop();
    const depth = depths.pop() as number;
    const at = paths.pop() as string;
    if (typeof v === 'string') {
      if (v.includes('\u0000') || !v.isWellFormed()) fail(at, textProblem(v) as string);
    } else if (typeof v === 'number') {
      if (!Number.isFinite(v)) fail(at, 'numbers must be finite (JSON has no NaN or Infinity, and 1e400 is beyond a double)');
    } else if (typeof v === 'object' && v !== null) {
      if (depth >= maxDepth) fail(at, `nests deeper than ${maxDepth} levels of arrays and objects`);
      if (Array.isArray(v)) {
        for (let i = v.length - 1; i >= 0; i--) {
          values.push(v[i]);
          depths.push(depth + 1);
          paths.push(childPath(at, i));
        }
        continue;
      }
      for (const key in v) {
        if (!Object.hasOwn(v, key)) continue;
        if (key.includes('\u0000') || !key.isWellFormed()) fail(at, `a key ${textProblem(key)}`);
        if (state.protoKeys === false && isProtoKey(v as object, key)) {
          const name = key === '__proto__' ? '__proto__' : 'constructor.prototype';
          throw new ForbiddenKeyError(`${at ? `${at}: ` : ''}contains a forbidden ${name} key`, at || undefined);
        }
        values.push((v as Record<string, unknown>)[key]);
        depths.push(depth + 1);
        paths.push(childPath(at, key));
      }
    }
  }
  throw new Error('walkJson found a problem that locate did not');
}

/** A `__proto__` or `constructor.prototype` key (refused where JSON text is parsed: the HTTP body). */
export class ForbiddenKeyError extends ValidationError {}

/** `__proto__`, and `constructor` holding a `prototype`: keys that pollute prototypes when code merges objects. */
function isProtoKey(object: object, key: string): boolean {
  if (key === '__proto__') return true;
  if (key !== 'constructor') return false;
  const value = (object as Record<string, unknown>)[key];
  return typeof value === 'object' && value !== null && Object.hasOwn(value, 'prototype');
}

/**
 * A JSON value fit to store (see walkJson), as the SDK hands it in: also anything JSON.stringify accepts (a Date
 * becomes its ISO string, as it always has), checked as what would be stored. undefined is null.
 */
export function checkJsonValue<T>(field: string, value: T, maxDepth = MAX_JSON_DEPTH): T {
  if (value === undefined) return null as T;
  // Most results and many payloads are null, a boolean or a number: nothing to walk.
  if (value === null || typeof value === 'boolean' || (typeof value === 'number' && Number.isFinite(value))) return value;
  const state = { plain: true };
  walkJson(value, field, maxDepth, state);
  if (state.plain) return value;
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch (error) {
    fail(field, `must be JSON (${(error as Error).message})`);
  }
  if (text === undefined) fail(field, 'must be JSON');
  walkJson(JSON.parse(text), field, maxDepth);
  return value;
}

/** An integer in [min, max], or a ValidationError naming `field`. */
export function checkInteger(field: string, value: unknown, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    fail(field, `must be an integer from ${min} to ${max}`);
  }
  return value;
}

/** A point in time, epoch ms from 0 to MAX_EPOCH_MS (year 9999). */
export function checkEpochMs(field: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || value > MAX_EPOCH_MS) {
    fail(field, `must be a date or epoch milliseconds from 0 to ${MAX_EPOCH_MS} (the end of year 9999)`);
  }
  return value;
}
