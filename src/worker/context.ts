import type { Logger } from 'pino';
import { ValidationError } from '../core/errors.ts';
import { checkInteger } from '../core/input-rules.ts';
import type { Json, Progress, Task } from '../core/task.ts';
import { MAX_COST } from '../core/validate.ts';
import type { ChildSpec } from '../engine/attempt-service.ts';
import type { AttemptRef, Checkpoint, CheckpointInfo, ChildOutcome, Claim } from '../store/store.ts';
import type { WorkerBackend } from './backend.ts';
import { type ChildrenOptions, DurableRun, type SuspensionHost } from './durable.ts';
import { OutputBacklog } from './output-backlog.ts';

export type { ChildSpec } from '../engine/attempt-service.ts';
export type { ChildrenOptions } from './durable.ts';

/** What a handler gets besides its payload. */
export interface TaskContext {
  readonly task: Task;
  readonly taskId: string;
  /** 1 on the first run, 2 on the first retry, … (a run after a suspension keeps the number of the run before it). */
  readonly attempt: number;
  /**
   * Aborts when the task is cancelled, times out (its hard limit, timeoutMs: the attempt has failed with TIMEOUT),
   * loses its lease, suspends, or the worker shuts down; `reason` says which.
   */
  readonly signal: AbortSignal;
  /**
   * Aborts when the soft time limit (softTimeoutMs) passes, with a `SoftTimeLimitExceeded` error as its reason: wrap
   * up and return. Unlike `signal`, nothing has failed: what the handler returns after it is the task's result. Never
   * aborts for a task without a soft limit.
   */
  readonly softSignal: AbortSignal;
  /** When the soft limit passes, epoch ms on this worker's clock; null without one. */
  readonly softDeadline: number | null;
  /** A logger with taskId, queue, type and attempt bound. */
  readonly log: Logger;
  /**
   * Reports what the attempt actually cost (a non-negative integer, in the units of its cost limit: tokens, say). Sent
   * with the attempt's outcome; it replaces the declared cost in the cost windows, so the next starts reflect what
   * was used (docs/queues.md, "Cost limits"). The last call counts.
   */
  reportCost(units: number): void;
  /** Reports progress: `progress(30, 'calling the model')` or `progress({ percent, message, phase, data })`. */
  progress(percent: number | Progress, message?: string, data?: Json): Promise<void>;
  /**
   * Streams a piece of partial output (generated text, a log line) to followers. Returns as soon as the chunk is on
   * its way while few of this attempt's chunks are unstored (else once the oldest is stored); chunks are stored and
   * delivered in the order sent, all of them before the attempt's outcome. A chunk the store refused (the attempt
   * lost its lease) makes the next call throw; one refused after the handler's last call fails the attempt.
   */
  output(chunk: string): Promise<void>;

  // ---- durable execution (docs/durable.md, "Handler API") ----
  /** The checkpoint this attempt resumes from (the latest when it was claimed); null on a task without one. */
  readonly lastCheckpoint: Checkpoint | null;
  /** Saves the next version of the task's state (CHECKPOINT_TOO_LARGE over the limit, nothing stored). */
  checkpoint(state: Json, options?: { label?: string }): Promise<CheckpointInfo>;
  /**
   * Runs `fn` once to success per task: its result (as JSON) is stored, and on a later run the stored result is
   * returned without running `fn`. Names are unique within a task and must be the same on every run.
   */
  step<T>(name: string, fn: () => T | Promise<T>): Promise<T>;
  /**
   * Makes these children (owned like the parent, parentId set) and suspends until all finished, then returns their
   * results in order; a child that did not complete throws ChildTaskFailedError (CHILD_FAILED), unless `settle`.
   */
  children<R = Json>(specs: readonly ChildSpec[], options?: ChildrenOptions & { settle?: false }): Promise<R[]>;
  children(specs: readonly ChildSpec[], options: ChildrenOptions & { settle: true }): Promise<ChildOutcome[]>;
  /** Suspends for `ms` without holding a slot (the end time is stored the first time). */
  sleep(name: string, ms: number): Promise<void>;
  /**
   * Suspends until signal `name` arrives (one sent earlier counts) and returns its data; SignalTimeoutError
   * (SIGNAL_TIMEOUT) once `timeoutMs` (counted from the first time this wait ran) passes without one.
   */
  waitForSignal<T = Json>(name: string, options?: { timeoutMs?: number }): Promise<T>;
}

export type Handler<P = Json, R = unknown> = (payload: P, ctx: TaskContext) => R | Promise<R>;

function toProgress(percent: number | Progress, message?: string, data?: Json): Progress {
  const p: Progress = typeof percent === 'number' ? { percent, ...(message === undefined ? {} : { message }), ...(data === undefined ? {} : { data }) } : percent;
  if (typeof p.percent !== 'number' || !(p.percent >= 0 && p.percent <= 100)) {
    throw new ValidationError('progress.percent: must be a number from 0 to 100', 'percent');
  }
  return p;
}

/** What a context reads of its attempt (the worker's Execution): `signal` and `log` made on first use. */
export interface AttemptHost extends SuspensionHost {
  /** The cost ctx.reportCost set, sent with the outcome. */
  reportedCost: number | undefined;
  readonly signal: AbortSignal;
  readonly softSignal: AbortSignal;
  readonly log: Logger;
}

/**
 * ctx.output returns before its chunk is stored while fewer than OUTPUT_WINDOW of the attempt's chunks are unstored,
 * and the backend's backlog (output-backlog.ts) is not full (else once the attempt's oldest, or with the backlog full
 * all of its chunks, are stored): a streaming handler's chunks share commits with each other as well as with other
 * tasks', and the wait between a chunk's ctx.output and its followers stays bounded however many tasks stream. The
 * backend stores them in the order sent; the attempt's outcome, and any durable call, waits until all are stored.
 */
const OUTPUT_WINDOW = 8;
/** The backlog of each backend's chunks in this process, made at its first chunk. */
const backlogs = new WeakMap<WorkerBackend, OutputBacklog>();

/** The backlog of `backend`'s chunks in this process (exported for tests, which read its count). */
export function backlogOf(backend: WorkerBackend): OutputBacklog {
  let backlog = backlogs.get(backend);
  if (!backlog) backlogs.set(backend, (backlog = new OutputBacklog(backend.outputDelayMs)));
  return backlog;
}

/** The context as the worker runtime holds it: also how it waits for the attempt's output to be stored. */
export interface WorkerTaskContext extends TaskContext {
  /** Resolves once every chunk sent through output() is stored or refused; null when none is in flight. */
  unstoredOutput(): Promise<void> | null;
  /** Whether some chunk sent through output() may not be stored yet. */
  hasUnstoredOutput(): boolean;
  /**
   * The refusal of a chunk that no call threw to the handler (it came after the handler's last call), once
   * unstoredOutput resolved: the attempt must not complete without that chunk. Null when there is none.
   */
  untoldOutputRefusal(): { error: unknown } | null;
}

/**
 * A handler's ctx. A class, so an attempt costs one object and no closures: most handlers of short tasks use neither
 * `signal` nor `log` nor any durable call, and those are made on first use.
 */
class AttemptContext implements WorkerTaskContext {
  readonly task: Task;
  readonly taskId: string;
  readonly attempt: number;
  readonly lastCheckpoint: Checkpoint | null;
  readonly softDeadline: number | null;
  readonly #backend: WorkerBackend;
  readonly #ref: AttemptRef;
  readonly #host: AttemptHost;
  #durable: DurableRun | undefined;
  /** Output chunks sent and perhaps not yet stored, oldest first (see OUTPUT_WINDOW). */
  readonly #unstored: Promise<void>[] = [];
  /** Why the store refused a chunk (the attempt lost its lease, the store is down): the next call throws it. */
  #outputFailure: unknown;
  /** Whether a call threw #outputFailure to the handler, which then decided what the attempt does about it. */
  #outputFailureTold = false;
  /** What a refused chunk does: made at the attempt's first output, so attempts that send none make no closure. */
  #outputRefused: ((error: unknown) => void) | undefined;
  /** This backend's backlog, kept from the first output on: one WeakMap lookup per attempt, not per chunk. */
  #backlog: OutputBacklog | undefined;

  constructor(backend: WorkerBackend, claim: Claim, ref: AttemptRef, host: AttemptHost, softDeadline: number | null) {
    this.task = claim.task;
    this.taskId = claim.task.id;
    this.attempt = claim.task.attempts;
    this.lastCheckpoint = claim.resumeCheckpoint ?? null;
    this.softDeadline = softDeadline;
    this.#backend = backend;
    this.#ref = ref;
    this.#host = host;
  }

  get signal(): AbortSignal {
    return this.#host.signal;
  }

  get softSignal(): AbortSignal {
    return this.#host.softSignal;
  }

  get log(): Logger {
    return this.#host.log;
  }

  reportCost(units: number): void {
    this.#host.reportedCost = checkInteger('reportCost', units, 0, MAX_COST);
  }

  async progress(percent: number | Progress, message?: string, data?: Json): Promise<void> {
    await this.#backend.progress(this.#ref, toProgress(percent, message, data));
  }

  async output(chunk: string): Promise<void> {
    if (typeof chunk !== 'string') throw new ValidationError('output: chunk must be a string', 'chunk');
    this.#throwOutputFailure();
    const backlog = (this.#backlog ??= backlogOf(this.#backend));
    this.#outputRefused ??= (error: unknown) => {
      backlog.refused();
      this.#outputFailure ??= error;
    };
    // backlog.sent() runs only once output() returned a promise: a backend that throws leaves no chunk counted.
    const stored = this.#backend.output(this.#ref, chunk).then(backlog.sent(), this.#outputRefused);
    this.#unstored.push(stored);
    if (backlog.full) await this.unstoredOutput();
    else if (this.#unstored.length > OUTPUT_WINDOW) await this.#unstored.shift();
    this.#throwOutputFailure();
  }

  #throwOutputFailure(): void {
    if (this.#outputFailure === undefined) return;
    this.#outputFailureTold = true;
    throw this.#outputFailure;
  }

  /** Every chunk sent is stored, or the refusal of one is thrown, as the next output() would. */
  async #outputStored(): Promise<void> {
    await this.unstoredOutput();
    this.#throwOutputFailure();
  }

  untoldOutputRefusal(): { error: unknown } | null {
    return this.#outputFailure === undefined || this.#outputFailureTold ? null : { error: this.#outputFailure };
  }

  hasUnstoredOutput(): boolean {
    return this.#unstored.length > 0;
  }

  unstoredOutput(): Promise<void> | null {
    return this.#unstored.length === 0 ? null : Promise.all(this.#unstored.splice(0)).then(() => {});
  }

  async checkpoint(state: Json, options: { label?: string } = {}): Promise<CheckpointInfo> {
    if (this.#host.suspension) throw this.#host.suspension;
    await this.#outputStored();
    return this.#backend.checkpoint(this.#ref, state, options.label ?? null);
  }

  get #run(): DurableRun {
    this.#durable ??= new DurableRun(this.#backend, this.#ref, this.#host);
    return this.#durable;
  }

  // Durable calls first let the output sent before them be stored, so the task's history keeps the handler's order;
  // a chunk refused meanwhile is thrown, as the next output() would.
  async step<T>(name: string, fn: () => T | Promise<T>): Promise<T> {
    await this.#outputStored();
    return this.#run.step(name, fn);
  }

  children<R = Json>(specs: readonly ChildSpec[], options?: ChildrenOptions & { settle?: false }): Promise<R[]>;
  children(specs: readonly ChildSpec[], options: ChildrenOptions & { settle: true }): Promise<ChildOutcome[]>;
  async children(specs: readonly ChildSpec[], options?: ChildrenOptions): Promise<unknown[]> {
    await this.#outputStored();
    return this.#run.children(specs, options);
  }

  async sleep(name: string, ms: number): Promise<void> {
    await this.#outputStored();
    return this.#run.sleep(name, ms);
  }

  async waitForSignal<T = Json>(name: string, options: { timeoutMs?: number } = {}): Promise<T> {
    await this.#outputStored();
    return (await this.#run.waitForSignal(name, options.timeoutMs)) as T;
  }
}

export function createContext(backend: WorkerBackend, claim: Claim, ref: AttemptRef, host: AttemptHost, softDeadline: number | null): WorkerTaskContext {
  return new AttemptContext(backend, claim, ref, host, softDeadline);
}
