// Durable execution inside a handler (docs/durable.md, "Handler API"): steps, children, sleeps and signal waits of one
// attempt, on top of the backend's checkpoint / steps / saveStep / suspend. Made only when a handler first calls one
// of them, so a handler that uses none pays nothing for it. A run that suspends is over: the store has ended the
// attempt, and the runtime reports nothing for it (worker.ts).
import { ChildTaskFailedError, SignalTimeoutError, StepExistsError, ValidationError } from '../core/errors.ts';
import type { Json, WaitingFor } from '../core/task.ts';
import type { ChildSpec, WorkerWait } from '../engine/attempt-service.ts';
import type { AttemptRef, ChildOutcome, StepRecord, WaitOutcome } from '../store/store.ts';
import type { WorkerBackend } from './backend.ts';

/**
 * Thrown by a ctx call that suspended the task (children to wait for, a sleep, a signal): the attempt is over. Let it
 * propagate; whatever the handler returns or throws after it is ignored. ctx.signal aborts with it as the reason.
 */
export class TaskSuspendedError extends Error {
  readonly taskId: string;
  readonly waitingFor: WaitingFor;
  constructor(taskId: string, waitingFor: WaitingFor) {
    // "task suspended", as the runtime's other stop reasons read ("task cancelled", "task timed out").
    super('task suspended');
    this.name = 'TaskSuspendedError';
    this.taskId = taskId;
    this.waitingFor = waitingFor;
  }
}

/** What the run needs of the attempt that hosts it (the worker's Execution). */
export interface SuspensionHost {
  /** Set once the attempt suspended: every later durable call throws it again. */
  readonly suspension: TaskSuspendedError | undefined;
  /** Marks the attempt suspended (ends it without an outcome, aborts ctx.signal) and gives the error to throw. */
  suspend(waitingFor: WaitingFor): TaskSuspendedError;
}

export interface ChildrenOptions {
  /** The wait's name: stable across re-runs and unique in the task. Default `children:<n>`, n counting children calls in this run. */
  name?: string;
  /** true: return every child's outcome instead of throwing ChildTaskFailedError when some did not complete. */
  settle?: boolean;
}

/** Turns a value into the JSON value it stores as (undefined: null). */
export function toJson(value: unknown): Json {
  if (value === undefined) return null;
  const text = JSON.stringify(value);
  return text === undefined ? null : (JSON.parse(text) as Json);
}

/**
 * Names are 1 to 200 characters, as the store keeps them; a sleep's or signal wait's name at most 185, so the step
 * that stores its time (`signal-timeout:<name>`) fits too.
 */
function checkWaitName(what: string, name: unknown, max = 200): asserts name is string {
  if (typeof name !== 'string' || name.length === 0 || name.length > max) throw new ValidationError(`${what}: a name of 1 to ${max} characters is required`, 'name');
}

function isStepExists(error: unknown): boolean {
  return error instanceof StepExistsError || (error as { code?: unknown } | null)?.code === 'STEP_EXISTS';
}

/** The durable calls of one run of a handler (one attempt, up to its end or suspension). */
export class DurableRun {
  readonly #backend: WorkerBackend;
  readonly #ref: AttemptRef;
  readonly #host: SuspensionHost;
  /** Steps stored so far, read once per attempt on first use (shared by concurrent first calls). */
  #steps: Promise<Map<string, StepRecord>> | undefined;
  /** Names used in this run, by kind: a repeat would replay the first's result, which is never what was meant. */
  readonly #used = new Set<string>();
  #childrenCalls = 0;

  constructor(backend: WorkerBackend, ref: AttemptRef, host: SuspensionHost) {
    this.#backend = backend;
    this.#ref = ref;
    this.#host = host;
  }

  #use(kind: string, name: string): void {
    if (this.#host.suspension) throw this.#host.suspension;
    const key = `${kind}\u0000${name}`;
    if (this.#used.has(key)) throw new ValidationError(`${kind} "${name}" is used twice in one run: ${kind} names must be unique within a task`, 'name');
    this.#used.add(key);
  }

  async step<T>(name: string, fn: () => T | Promise<T>): Promise<T> {
    checkWaitName('ctx.step', name);
    if (typeof fn !== 'function') throw new ValidationError(`ctx.step "${name}": the second argument must be a function`, 'fn');
    this.#use('step', name);
    this.#steps ??= this.#backend.steps(this.#ref.taskId).then((list) => new Map(list.map((s) => [s.name, s])));
    const stored = (await this.#steps).get(name);
    if (stored) return stored.result as T;
    const result = toJson(await fn());
    try {
      await this.#backend.saveStep(this.#ref, name, result);
    } catch (error) {
      // Another run of this task stored it first (a lease that expired under a slow step): its result stands.
      if (!isStepExists(error)) throw error;
      const first = (await this.#backend.steps(this.#ref.taskId)).find((s) => s.name === name);
      if (first) return first.result as T;
      throw error;
    }
    // The JSON value, as a re-run would read it back: both runs see the same thing.
    return result as T;
  }

  async children(specs: readonly ChildSpec[], options: ChildrenOptions = {}): Promise<Json[] | ChildOutcome[]> {
    this.#childrenCalls++;
    const name = options.name ?? `children:${this.#childrenCalls}`;
    checkWaitName('ctx.children', name);
    if (!Array.isArray(specs)) throw new ValidationError('ctx.children: an array of task specs is required', 'tasks');
    this.#use('children', name);
    const outcome = await this.#wait({ kind: 'children', name, tasks: specs });
    const children = outcome.kind === 'children' ? outcome.children : [];
    if (options.settle) return children;
    const failed = children.filter((c) => c.status !== 'completed');
    if (failed.length > 0) throw new ChildTaskFailedError(this.#ref.taskId, name, failed, children.length);
    return children.map((c) => c.result);
  }

  async sleep(name: string, ms: number): Promise<void> {
    checkWaitName('ctx.sleep', name, 185);
    if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0) throw new ValidationError(`ctx.sleep "${name}": ms must be a number >= 0`, 'ms');
    this.#use('sleep', name);
    // The end time is a step: every re-run (after the wake-up, after a retry) waits for the same moment.
    const until = await this.step(`sleep:${name}`, () => Date.now() + ms);
    await this.#wait({ kind: 'sleep', name, until });
  }

  async waitForSignal(name: string, timeoutMs: number | undefined): Promise<Json> {
    checkWaitName('ctx.waitForSignal', name, 185);
    if (timeoutMs !== undefined && (typeof timeoutMs !== 'number' || !Number.isFinite(timeoutMs) || timeoutMs < 0)) {
      throw new ValidationError(`ctx.waitForSignal "${name}": timeoutMs must be a number >= 0`, 'timeoutMs');
    }
    this.#use('signal', name);
    const timeoutAt = timeoutMs === undefined ? null : await this.step(`signal-timeout:${name}`, () => Date.now() + timeoutMs);
    const outcome = await this.#wait({ kind: 'signal', name, timeoutAt });
    if (outcome.kind === 'signal') return outcome.signal.data;
    throw new SignalTimeoutError(this.#ref.taskId, name, timeoutAt);
  }

  /** Suspends unless the wait holds already; a suspension ends the run by throwing TaskSuspendedError. */
  async #wait(wait: WorkerWait): Promise<WaitOutcome> {
    const answer = await this.#backend.suspend(this.#ref, wait);
    if (answer.suspended) throw this.#host.suspend(answer.waitingFor);
    return answer.outcome;
  }
}
