// Parameters as PostgreSQL reads them fastest: array literals built in one pass, and values many rows share sent once.
import type { Json } from '../../core/task.ts';
import type { NewTask } from '../../core/validate.ts';
import type { AttemptEventGroup } from '../attempt-events.ts';
import type { AttemptEventInput, AttemptOutcome, FinishRequest } from '../store.ts';
import { finishValue } from '../transitions.ts';

const ARRAY_ELEMENT_ESCAPES = /[\\"]/g;

/**
 * An array parameter as PostgreSQL's array literal (`{"a","b",NULL}`, `{t,f}`, `{1,NULL}`), built in one pass: pg's
 * own encoding of a JavaScript array concatenates and escapes element by element, which allocated more than
 * anything else per finished task.
 */
export function arrayLiteral(values: readonly (string | number | boolean | null)[]): string {
  const parts = new Array<string>(values.length);
  // Runs of one value (a batch's queue, type, status, run time) are encoded once.
  let last: string | number | boolean | null = null;
  let text = 'NULL';
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v !== last) {
      last = v;
      if (v === null) text = 'NULL';
      else if (typeof v === 'string') text = v.includes('"') || v.includes('\\') ? `"${v.replace(ARRAY_ELEMENT_ESCAPES, '\\$&')}"` : `"${v}"`;
      else if (typeof v === 'boolean') text = v ? 't' : 'f';
      else text = String(v);
    }
    parts[i] = text;
  }
  return `{${parts.join(',')}}`;
}

/**
 * Values that most tasks of a batch share (backoff policies, tags), sent once each: `ref` gives a value's index in
 * `json()`, a JSON array. Values are told apart by identity first (defaults are shared objects), then by their text.
 */
export class DistinctJson {
  readonly #byObject = new Map<unknown, number>();
  readonly #byText = new Map<string, number>();
  readonly #texts: string[] = [];

  ref(value: unknown): number {
    let ref = this.#byObject.get(value);
    if (ref === undefined) {
      const text = JSON.stringify(value ?? null);
      ref = this.#byText.get(text);
      if (ref === undefined) {
        ref = this.#texts.length;
        this.#texts.push(text);
        this.#byText.set(text, ref);
      }
      this.#byObject.set(value, ref);
    }
    return ref;
  }

  json(): string {
    return `[${this.#texts.join(',')}]`;
  }
}

/** The parameters of createTasks (sql/tasks.ts): one array per column, JSON for payloads, shared values once. */
export function newTaskParams(tasks: readonly NewTask[]): unknown[] {
  const n = tasks.length;
  const column = <T extends string | number | null>(of: (t: NewTask) => T): string => {
    const values = new Array<T>(n);
    for (let i = 0; i < n; i++) values[i] = of(tasks[i]);
    return arrayLiteral(values);
  };
  const backoffs = new DistinctJson();
  const tags = new DistinctJson();
  const backoffRefs = new Array<number>(n);
  const tagsRefs = new Array<number>(n);
  const payloads = new Array<Json>(n);
  for (let i = 0; i < n; i++) {
    const t = tasks[i];
    backoffRefs[i] = backoffs.ref(t.backoff);
    tagsRefs[i] = tags.ref(t.tags);
    payloads[i] = t.payload ?? null;
  }
  return [
    column((t) => t.id),
    column((t) => t.queue),
    column((t) => t.type),
    column((t) => t.status),
    column((t) => t.priority),
    column((t) => t.runAt),
    column((t) => t.maxAttempts),
    column((t) => t.timeoutMs),
    column((t) => t.idempotencyKey),
    column((t) => t.owner),
    column((t) => t.parentId),
    column((t) => t.concurrencyKey),
    column((t) => t.traceparent),
    column((t) => t.createdAt),
    JSON.stringify(payloads),
    backoffs.json(),
    arrayLiteral(backoffRefs),
    tags.json(),
    arrayLiteral(tagsRefs),
    column((t) => t.softTimeoutMs),
    JSON.stringify(tasks.map((t) => t.debounce)),
    column((t) => t.debounce?.key ?? null),
    JSON.stringify(tasks.map((t) => t.singleton)),
    column((t) => t.singleton?.key ?? null),
    column((t) => t.throttle?.key ?? null),
    column((t) => t.throttle?.limit ?? null),
    column((t) => t.throttle?.periodMs ?? null),
    column((t) => t.cost),
  ];
}

/**
 * The parameters of finish (sql/attempts.ts), as parallel arrays, and each request's finishValue (its result or
 * error), which is also the core of its event's data.
 */
export function finishParams(requests: readonly FinishRequest[], now: number): { params: unknown[]; values: Json[] } {
  const n = requests.length;
  const ids = new Array<string>(n);
  const tokens = new Array<string>(n);
  const outcomes = new Array<AttemptOutcome['status']>(n);
  const retryAts = new Array<number | null>(n);
  /** Each request's result (completed) or error (the others): also its event's data. */
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
  return { params, values };
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
