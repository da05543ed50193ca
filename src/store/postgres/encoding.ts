// Parameters as PostgreSQL reads them fastest: array literals built in one pass, and values many rows share sent once.
import { isDefaultBackoff } from '../../core/backoff.ts';
import type { Json } from '../../core/task.ts';
import type { NewTask } from '../../core/validate.ts';
import type { AttemptEventGroup } from '../attempt-events.ts';
import type { AttemptEventInput, AttemptOutcome, FinishRequest } from '../store.ts';
import { finishValue } from '../transitions.ts';

const ARRAY_ELEMENT_ESCAPES = /[\\"]/g;

/**
 * An array parameter as PostgreSQL's array literal (`{"a","b",NULL}`, `{t,f}`, `{1,NULL}`), built in one pass: pg's
 * own encoding of a JavaScript array concatenates and escapes element by element, which allocated more than
 * anything else per finished task. A run of one value (a batch's queue, type, status, run time, a column of nulls) is
 * encoded once and repeated.
 */
export function arrayLiteral(values: readonly (string | number | boolean | null)[]): string {
  const n = values.length;
  const pieces: string[] = [];
  let i = 0;
  while (i < n) {
    const v = values[i];
    let end = i + 1;
    while (end < n && values[end] === v) end++;
    const text = element(v);
    pieces.push(end - i === 1 ? text : `${text},`.repeat(end - i - 1) + text);
    i = end;
  }
  return `{${pieces.join(',')}}`;
}

function element(v: string | number | boolean | null): string {
  if (v === null) return 'NULL';
  if (typeof v === 'string') return v.includes('"') || v.includes('\\') ? `"${v.replace(ARRAY_ELEMENT_ESCAPES, '\\$&')}"` : `"${v}"`;
  if (typeof v === 'boolean') return v ? 't' : 'f';
  return String(v);
}

/**
 * A column no row of the batch sets, as NULL: unnest pads a missing array with NULLs, so PostgreSQL parses nothing
 * for it (most batches leave most optional columns empty).
 */
function optionalArray(values: readonly (string | number | null)[]): string | null {
  return values.some((v) => v !== null) ? arrayLiteral(values) : null;
}

function optionalJson(values: readonly unknown[]): string | null {
  return values.some((v) => v !== null) ? JSON.stringify(values) : null;
}

/**
 * Values that most tasks of a batch share (backoff policies, tags), sent once each: `ref` gives a value's index in
 * `json()`, a JSON array. Values are told apart by their text; the one asked for last is known by identity too
 * (defaults are shared objects: a batch's tasks mostly hold the same one).
 */
export class DistinctJson {
  readonly #byText = new Map<string, number>();
  readonly #texts: string[] = [];
  #last: unknown;
  #lastRef = -1;

  ref(value: unknown): number {
    if (this.#lastRef >= 0 && value === this.#last) return this.#lastRef;
    const text = JSON.stringify(value ?? null);
    let ref = this.#byText.get(text);
    if (ref === undefined) {
      ref = this.#texts.length;
      this.#texts.push(text);
      this.#byText.set(text, ref);
    }
    this.#last = value;
    this.#lastRef = ref;
    return ref;
  }

  json(): string {
    return `[${this.#texts.join(',')}]`;
  }
}

/**
 * The parameters of createTasks (sql/tasks.ts): one array per column, JSON for payloads, shared values once. One pass
 * over the tasks fills every column (a pass per column, each through its own closure, cost twice as much).
 */
export function newTaskParams(tasks: readonly NewTask[]): unknown[] {
  const n = tasks.length;
  const ids = new Array<string>(n);
  const queues = new Array<string>(n);
  const types = new Array<string>(n);
  const statuses = new Array<string>(n);
  const priorities = new Array<number>(n);
  const runAts = new Array<number>(n);
  const maxAttempts = new Array<number>(n);
  const timeouts = new Array<number | null>(n);
  const idempotencyKeys = new Array<string | null>(n);
  const owners = new Array<string | null>(n);
  const parentIds = new Array<string | null>(n);
  const concurrencyKeys = new Array<string | null>(n);
  const traceparents = new Array<string | null>(n);
  const createdAts = new Array<number>(n);
  const payloads = new Array<Json>(n);
  const backoffs = new DistinctJson();
  const backoffRefs = new Array<number | null>(n);
  const tags = new DistinctJson();
  const tagsRefs = new Array<number>(n);
  const softTimeouts = new Array<number | null>(n);
  const debounces = new Array<NewTask['debounce']>(n);
  const debounceKeys = new Array<string | null>(n);
  const singletons = new Array<NewTask['singleton']>(n);
  const singletonKeys = new Array<string | null>(n);
  const throttleKeys = new Array<string | null>(n);
  const throttleLimits = new Array<number | null>(n);
  const throttlePeriods = new Array<number | null>(n);
  const costs = new Array<number | null>(n);
  for (let i = 0; i < n; i++) {
    const t = tasks[i];
    ids[i] = t.id;
    queues[i] = t.queue;
    types[i] = t.type;
    statuses[i] = t.status;
    priorities[i] = t.priority;
    runAts[i] = t.runAt;
    maxAttempts[i] = t.maxAttempts;
    timeouts[i] = t.timeoutMs;
    idempotencyKeys[i] = t.idempotencyKey;
    owners[i] = t.owner;
    parentIds[i] = t.parentId;
    concurrencyKeys[i] = t.concurrencyKey;
    traceparents[i] = t.traceparent;
    createdAts[i] = t.createdAt;
    payloads[i] = t.payload ?? null;
    backoffRefs[i] = isDefaultBackoff(t.backoff) ? null : backoffs.ref(t.backoff);
    tagsRefs[i] = tags.ref(t.tags);
    softTimeouts[i] = t.softTimeoutMs;
    debounces[i] = t.debounce;
    debounceKeys[i] = t.debounce?.key ?? null;
    singletons[i] = t.singleton;
    singletonKeys[i] = t.singleton?.key ?? null;
    throttleKeys[i] = t.throttle?.key ?? null;
    throttleLimits[i] = t.throttle?.limit ?? null;
    throttlePeriods[i] = t.throttle?.periodMs ?? null;
    costs[i] = t.cost;
  }
  return [
    arrayLiteral(ids),
    arrayLiteral(queues),
    arrayLiteral(types),
    arrayLiteral(statuses),
    arrayLiteral(priorities),
    arrayLiteral(runAts),
    arrayLiteral(maxAttempts),
    optionalArray(timeouts),
    optionalArray(idempotencyKeys),
    optionalArray(owners),
    optionalArray(parentIds),
    optionalArray(concurrencyKeys),
    optionalArray(traceparents),
    arrayLiteral(createdAts),
    JSON.stringify(payloads),
    backoffs.json(),
    optionalArray(backoffRefs),
    tags.json(),
    arrayLiteral(tagsRefs),
    optionalArray(softTimeouts),
    optionalJson(debounces),
    optionalArray(debounceKeys),
    optionalJson(singletons),
    optionalArray(singletonKeys),
    optionalArray(throttleKeys),
    optionalArray(throttleLimits),
    optionalArray(throttlePeriods),
    optionalArray(costs),
  ];
}

/** The parameters of finish (sql/attempts.ts), as parallel arrays. */
export function finishParams(requests: readonly FinishRequest[], now: number): unknown[] {
  const n = requests.length;
  const ids = new Array<string>(n);
  const tokens = new Array<string>(n);
  const outcomes = new Array<AttemptOutcome['status']>(n);
  const retryAts = new Array<number | null>(n);
  /** Each request's result (completed) or error (the others). */
  const values = new Array<Json>(n);
  const refunds = new Array<boolean>(n);
  const onlyIfExpired = new Array<boolean>(n);
  for (let i = 0; i < n; i++) {
    const { ref, outcome, onlyIfLeaseExpired } = requests[i];
    ids[i] = ref.taskId;
    tokens[i] = ref.attemptToken;
    outcomes[i] = outcome.status;
    retryAts[i] = outcome.status === 'retry' ? outcome.runAt : null;
    values[i] = finishValue(outcome);
    refunds[i] = outcome.status === 'retry' && outcome.refundAttempt === true;
    onlyIfExpired[i] = onlyIfLeaseExpired === true;
  }
  const params = [
    arrayLiteral(ids),
    now,
    arrayLiteral(tokens),
    arrayLiteral(outcomes),
    arrayLiteral(retryAts),
    JSON.stringify(values),
    arrayLiteral(refunds),
    arrayLiteral(onlyIfExpired),
  ];
  // Only batches with a reported cost (flow control) take $9, with the statements made for it (finishWithCosts).
  if (requests.some((r) => r.reportedCost !== undefined)) params.push(arrayLiteral(requests.map((r) => r.reportedCost ?? null)));
  return params;
}

/**
 * The parameters of completeMany (sql/attempts.ts) for the requests at `places` (plain completions, see
 * ../plain-completions.ts): $1 task ids, $2 now, $3 attempt tokens, $4 a JSON array of the results.
 */
export function completeManyParams(requests: readonly FinishRequest[], places: readonly number[], now: number): unknown[] {
  const n = places.length;
  const ids = new Array<string>(n);
  const tokens = new Array<string>(n);
  const results = new Array<Json>(n);
  for (let i = 0; i < n; i++) {
    const { ref, outcome } = requests[places[i]];
    ids[i] = ref.taskId;
    tokens[i] = ref.attemptToken;
    results[i] = finishValue(outcome);
  }
  return [arrayLiteral(ids), now, arrayLiteral(tokens), JSON.stringify(results)];
}

/** The parameters of appendAttemptEvents (sql/attempts.ts): per attempt, then per event, as parallel arrays. */
export function appendParams(groups: readonly AttemptEventGroup[], inputs: readonly AttemptEventInput[], now: number): unknown[] {
  const ids: string[] = [];
  const tokens: string[] = [];
  const counts: number[] = [];
  const progress: (string | null)[] = [];
  const eventGroups: number[] = [];
  const places: number[] = [];
  const kinds: string[] = [];
  const data: string[] = [];
  for (const [g, group] of groups.entries()) {
    ids.push(group.ref.taskId);
    tokens.push(group.ref.attemptToken);
    counts.push(group.inputs.length);
    progress.push(group.lastProgress === null ? null : JSON.stringify(group.lastProgress));
    for (const [k, place] of group.inputs.entries()) {
      const input = inputs[place];
      eventGroups.push(g + 1);
      places.push(k + 1);
      kinds.push('progress' in input ? 'progress' : 'output');
      data.push('progress' in input ? JSON.stringify(input.progress) : JSON.stringify({ chunk: input.chunk }));
    }
  }
  return [now, arrayLiteral(ids), arrayLiteral(tokens), arrayLiteral(counts), arrayLiteral(progress),
    arrayLiteral(eventGroups), arrayLiteral(places), arrayLiteral(kinds), arrayLiteral(data)];
}
