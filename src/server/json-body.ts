// The JSON request body, parsed under the input rules (core/input-rules.ts) before any route sees it: valid UTF-8,
// JSON, no key twice in an object, nesting bounded, no U+0000 or unpaired surrogate in any string or key, finite
// numbers, no __proto__ or constructor.prototype keys. The hot path (every submit) is JSON.parse and one iterative walk
// of the value; the text is scanned for duplicate keys only when a cheap count says some key may be repeated.
import { isUtf8 } from 'node:buffer';
import { ValidationError } from '../core/errors.ts';
import { childPath, ForbiddenKeyError, MAX_JSON_DEPTH, walkJson } from '../core/input-rules.ts';
import { HttpProblem } from './http-problem.ts';

/**
 * Deepest nesting of a whole request body: a stored value may nest MAX_JSON_DEPTH levels, and the body wraps it in
 * up to three (`{"tasks":[{"payload":…}]}`); the core refuses a value deeper than its own limit, naming it.
 */
const MAX_BODY_DEPTH = MAX_JSON_DEPTH + 4;

const malformed = (reason: string) => new HttpProblem(400, 'MALFORMED_JSON', `the request body is not valid JSON: ${reason}`);

/** The value of a JSON body, or an HttpProblem (400) saying what is wrong with it. */
export function parseJsonBody(body: Buffer): unknown {
  if (!isUtf8(body)) {
    throw new HttpProblem(400, 'MALFORMED_JSON', 'the request body is not valid UTF-8 (JSON must be sent as UTF-8)');
  }
  let text = body.toString('utf8');
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw malformed((error as Error).message);
  }
  let keys: number;
  try {
    keys = walkJson(value, '', MAX_BODY_DEPTH, { plain: true, protoKeys: false });
  } catch (error) {
    if (!(error instanceof ValidationError)) throw error;
    if (error instanceof ForbiddenKeyError) throw malformed(`it ${error.message.replace(/^.*: contains/, 'contains')}`);
    const where = error.field ? error.message : `the request body ${error.message}`;
    throw new HttpProblem(400, 'VALIDATION', where, error.field);
  }
  if (keys > 0 && keyTokens(text) !== keys) {
    const duplicate = findDuplicateKey(text);
    if (duplicate) {
      const [path, key] = duplicate;
      const field = childPath(path, key);
      throw new HttpProblem(400, 'MALFORMED_JSON', `the request body is not valid JSON here: ${field}: the key "${key}" appears twice in one object`, field);
    }
  }
  return value;
}

/**
 * How many `"…" :` there are in a JSON text: every key ends so, and a string value only when it holds `":` itself.
 * So when this equals the number of keys JSON.parse kept, no key was given twice; when it is larger, maybe one was.
 */
function keyTokens(text: string): number {
  let count = 0;
  for (let i = text.indexOf(':'); i >= 0; i = text.indexOf(':', i + 1)) {
    let j = i - 1;
    let c = text.charCodeAt(j);
    while (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) c = text.charCodeAt(--j);
    if (c === 0x22) count++;
  }
  return count;
}

interface Frame {
  /** The keys seen so far, for an object; null for an array. */
  keys: Set<string> | null;
  /** Path of this container. */
  path: string;
  /** Object: the key being read or last read; array: the index of the current element. */
  at: string | number;
  expectKey: boolean;
}

/** The first key given twice in one object of a valid JSON text, as [path of its object, key], or null. */
function findDuplicateKey(text: string): [string, string] | null {
  const stack: Frame[] = [];
  const pathHere = () => {
    const top = stack[stack.length - 1];
    return top ? childPath(top.path, top.at) : '';
  };
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      // The closing quote: the next one not escaped by an odd run of backslashes.
      let end = text.indexOf('"', i + 1);
      let escaped = false;
      for (;;) {
        let b = end - 1;
        while (text.charCodeAt(b) === 0x5c) b--;
        if ((end - 1 - b) % 2 === 0) break;
        escaped = true;
        end = text.indexOf('"', end + 1);
      }
      const top = stack[stack.length - 1];
      if (top?.keys && top.expectKey) {
        const raw = text.slice(i + 1, end);
        const key = escaped || raw.includes('\\') ? (JSON.parse(text.slice(i, end + 1)) as string) : raw;
        if (top.keys.has(key)) return [top.path, key];
        top.keys.add(key);
        top.at = key;
        top.expectKey = false;
      }
      i = end;
    } else if (c === 0x7b) {
      stack.push({ keys: new Set(), path: pathHere(), at: '', expectKey: true });
    } else if (c === 0x5b) {
      stack.push({ keys: null, path: pathHere(), at: 0, expectKey: false });
    } else if (c === 0x7d || c === 0x5d) {
      stack.pop();
    } else if (c === 0x2c) {
      const top = stack[stack.length - 1];
      if (top.keys) top.expectKey = true;
      else top.at = (top.at as number) + 1;
    }
  }
  return null;
}
