// The worker runtime: claims tasks for its registered handlers within each handler's concurrency, runs them with
// heartbeats, time limits and cancellation, and reports how each attempt ended. A handler's exception fails only
// its attempt; nothing a handler does can take the process down.
import { hostname } from 'node:os';
import { setTimeout as delay } from 'node:timers/promises';
import pino, { type Logger } from 'pino';
import { StaleAttemptError, ValidationError } from '../core/errors.ts';
import { checkName } from '../core/validate.ts';
import type { Json } from '../core/task.ts';
import { offerOf } from '../engine/handoff.ts';
import type { Claim, WorkerInfo } from '../store/store.ts';
import { toTaskError } from '../engine/attempts.ts';
import { startRunSpan, withContext } from '../observability/tracing.ts';
import type { WorkerBackend } from './backend.ts';
import { claimAheadFor } from './claim-ahead.ts';
import { createContext, type Handler, type WorkerTaskContext } from './context.ts';
import { toJson } from './durable.ts';
import { Execution, RESOLVED, type SpanOutcome } from './execution.ts';

export interface WorkerOptions {
  /** Shown in `started` events and the workers list. Default `host-pid-random`. */
  id?: string;
  /** Queues to take tasks from; null (default) means all. */
  queues?: readonly string[] | null;
  /** Longest sleep when no wake-up arrives (new tasks in this process or a store notice wake it at once), ms. Default 1000. */
  pollIntervalMs?: number;
  /** Default leaseMs / 3. */
  heartbeatIntervalMs?: number;
  /** How often the worker announces itself in the workers list, ms. Default 5000. */
  reportIntervalMs?: number;
  /** On stop, how long running handlers may take to finish before they are aborted and released, ms. Default 10000. */
  shutdownGraceMs?: number;
  logger?: Logger;
}

export interface HandlerOptions {
  /** Tasks of this type run at once in this worker. Default 10. */
  concurrency?: number;
}

export interface PoolStats {
  /** Handlers running now. */
  running: number;
  /** Free slots. */
  idle: number;
  /** Tasks claimed and not yet handed to a handler. */
  waiting: number;
  /** Slots in all. */
  capacity: number;
}

interface Registration {
  type: string;
  handler: Handler<never, unknown>;
  concurrency: number;
  running: number;
  /** Claimed ahead, waiting for a slot (claim-ahead; see #claimAhead). */
  buffer: Buffered[];
  /** Recent run time of this type's handlers, ms (exponentially weighted); null before the first. */
  recentRunMs: number | null;
  /** When its last handler returned (performance.now()): claim-ahead.ts reads both. */
  lastRunEndAt: number;
}

interface Buffered {
  claim: Claim;
  at: number;
}

/**
 * Claim-ahead (how many: claim-ahead.ts): tasks claimed beyond the free slots wait in a local buffer and start the
 * moment slots free. Buffered tasks are already `running` in the store (claimed, with a lease); one that waited
 * BUFFER_TTL_MS without a slot is given back (release, the attempt not counted), as are all of them on shutdown.
 */
const BUFFER_TTL_MS = 1000;

type StopReason = 'cancelled' | 'timed out' | 'lease lost' | 'shutdown';

/** What the handler did: returned a value, or threw (or rejected with) an error. */
type Outcome = { value: unknown } | { error: unknown };
const SPAN_OK: SpanOutcome = {};

/** A handler returned: its type's recent run time, which claim-ahead.ts reads, takes it in. */
function ranFor(registration: Registration, startedAt: number): void {
  registration.lastRunEndAt = performance.now();
  const ranMs = registration.lastRunEndAt - startedAt;
  registration.recentRunMs = registration.recentRunMs === null ? ranMs : 0.9 * registration.recentRunMs + 0.1 * ranMs;
}

export class Worker {
  readonly id: string;
  readonly #backend: WorkerBackend;
  readonly #queues: readonly string[] | null;
  readonly #pollIntervalMs: number;
  readonly #heartbeatIntervalMs: number;
  readonly #shutdownGraceMs: number;
  readonly #log: Logger;
  readonly #handlers = new Map<string, Registration>();
  readonly #active = new Map<string, Execution<Registration>>();
  #loop: Promise<void> | undefined;
  #stopping = false;
  #wake = new AbortController();
  #unlistenCancel: (() => void) | undefined;
  #heartbeats: NodeJS.Timeout | undefined;
  #announcer: NodeJS.Timeout | undefined;
  /** The report on its way, if any: unregistering waits for it, or it could land after and list this worker again. */
  #announcing: Promise<void> = Promise.resolve();
  #announceQueued = false;
  /** Gives back buffered tasks that waited too long; runs only while some buffer holds tasks. */
  #bufferSweep: NodeJS.Timeout | undefined;
  /** How long a task claimed ahead may wait for a slot: well within its lease, which nothing renews meanwhile. */
  readonly #bufferTtlMs: number;
  #startedAt = 0;
  readonly #reportIntervalMs: number;

  constructor(backend: WorkerBackend, options: WorkerOptions = {}) {
    this.#backend = backend;
    this.id = options.id ?? `${hostname()}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
    this.#queues = options.queues ?? null;
    this.#pollIntervalMs = options.pollIntervalMs ?? 1000;
    this.#heartbeatIntervalMs = options.heartbeatIntervalMs ?? Math.max(10, Math.floor(backend.leaseMs / 3));
    this.#shutdownGraceMs = options.shutdownGraceMs ?? 10_000;
    this.#reportIntervalMs = options.reportIntervalMs ?? 5000;
    this.#bufferTtlMs = Math.max(1, Math.min(BUFFER_TTL_MS, Math.floor(backend.leaseMs / 3)));
    this.#log = options.logger ?? pino({ level: 'silent' });
  }

  handle<P = Json>(type: string, handler: Handler<P, unknown>, options: HandlerOptions = {}): this {
    checkName('type', type);
    const concurrency = options.concurrency ?? 10;
    if (!Number.isInteger(concurrency) || concurrency < 1) {
      throw new ValidationError('concurrency: must be a positive integer', 'concurrency');
    }
    if (typeof handler !== 'function') throw new ValidationError(`handler for ${type}: must be a function`, 'handler');
    this.#handlers.set(type, { type, handler: handler as Handler<never, unknown>, concurrency, running: 0, buffer: [], recentRunMs: null, lastRunEndAt: 0 });
    if (this.#loop) void this.#announce();
    this.#nudge();
    return this;
  }

  get types(): string[] {
    return [...this.#handlers.keys()];
  }

  get queues(): readonly string[] | null {
    return this.#queues;
  }

  get stats(): PoolStats {
    let capacity = 0;
    for (const r of this.#handlers.values()) capacity += r.concurrency;
    let running = 0;
    let waiting = 0;
    for (const r of this.#handlers.values()) {
      running += r.running;
      waiting += r.buffer.length;
    }
    return { running, idle: Math.max(0, capacity - running), waiting, capacity };
  }

  get running(): boolean {
    return this.#loop !== undefined && !this.#stopping;
  }

  /** Starts claiming. Idempotent. */
  start(): void {
    if (this.#loop) return;
    this.#stopping = false;
    this.#unlistenCancel = this.#backend.onCancelRequested((taskId) =>
      this.#active.has(taskId) ? this.#abort(taskId, 'cancelled') : this.#cancelBuffered(taskId),
    );
    // One timer for every running attempt, rather than one per attempt.
    this.#heartbeats = setInterval(() => {
      for (const execution of this.#active.values()) void this.#heartbeat(execution);
    }, this.#heartbeatIntervalMs);
    this.#startedAt = Date.now();
    void this.#announce();
    this.#announcer = setInterval(() => void this.#announce(), this.#reportIntervalMs);
    this.#loop = this.#claimLoop();
  }

  /**
   * Stops claiming, lets running handlers finish within the grace period, then aborts the rest and gives their
   * tasks back (without counting the attempt), so another worker picks them up at once.
   */
  async stop(graceMs = this.#shutdownGraceMs): Promise<void> {
    if (!this.#loop) return;
    this.#stopping = true;
    this.#nudge();
    await this.#loop;
    await this.#releaseBuffered(() => true);
    const all = Promise.all([...this.#active.values()].map((e) => e.done));
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([all, new Promise((resolve) => (timer = setTimeout(resolve, graceMs)))]);
    clearTimeout(timer);
    await Promise.all(
      [...this.#active.keys()].map(async (taskId) => {
        const execution = this.#active.get(taskId);
        if (!execution || execution.settled) return;
        execution.settled = true;
        execution.abort(new Error('worker shutting down'));
        await this.#backend.release(execution.ref).catch((error: unknown) => execution.log.warn({ err: error }, 'release failed'));
        this.#active.delete(taskId);
      }),
    );
    this.#unlistenCancel?.();
    clearInterval(this.#heartbeats);
    clearInterval(this.#announcer);
    await this.#announcing;
    await this.#backend.forgetWorker(this.id).catch(() => {});
    this.#loop = undefined;
  }

  /** What the workers list shows of this worker. */
  get info(): WorkerInfo {
    return {
      id: this.id,
      host: hostname(),
      pid: process.pid,
      types: this.types,
      queues: this.#queues ? [...this.#queues] : null,
      concurrency: this.stats.capacity,
      running: this.stats.running,
      startedAt: this.#startedAt,
      lastSeenAt: Date.now(),
    };
  }

  /** One report at a time, so the last one sent is the last one stored; one waiting its turn carries the latest info. */
  #announce(): Promise<void> {
    if (this.#announceQueued) return this.#announcing;
    this.#announceQueued = true;
    this.#announcing = this.#announcing.then(() => {
      this.#announceQueued = false;
      return this.#backend.reportWorker(this.info).catch((error: unknown) => this.#log.warn({ err: error }, 'could not report this worker'));
    });
    return this.#announcing;
  }

  readonly #slotFreed = (registration: Registration): void => {
    if (registration.buffer.length > 0) queueMicrotask(() => this.#startBuffered(registration));
    this.#nudge();
  };

  readonly #timedOut = (execution: Execution<Registration>): void => this.#abort(execution.ref.taskId, 'timed out');

  #nudge(): void {
    // A fixed reason: abort() without one builds a DOMException on every call, and this runs once per task.
    this.#wake.abort(NUDGE);
  }

  async #claimLoop(): Promise<void> {
    let failures = 0;
    while (!this.#stopping) {
      if (this.#wake.signal.aborted) this.#wake = new AbortController();
      const seen = this.#backend.readyVersion;
      let claimed = 0;
      let free = 0;
      try {
        for (const registration of this.#handlers.values()) {
          const slots = registration.concurrency - registration.running + this.#claimAhead(registration) - registration.buffer.length;
          if (slots <= 0 || this.#stopping) continue;
          free += slots;
          const claims = await this.#backend.claim({ workerId: this.id, types: [registration.type], queues: this.#queues, max: slots });
          claimed += claims.length;
          // An index loop: in this async function's resumed body a for-of made an iterator result per claimed task.
          for (let i = 0; i < claims.length; i++) this.#take(registration, claims[i]);
        }
        failures = 0;
      } catch (error) {
        failures++;
        this.#log.error({ err: error }, 'claim failed; retrying');
        await sleep(Math.min(100 * 2 ** failures, 5000), this.#wake.signal);
        continue;
      }
      if (this.#stopping) break;
      if (claimed > 0 && claimed === free) continue;
      if (free === 0) {
        // Every slot is busy: wait for one to free (a completion nudges), then let the rest of that batch land.
        await sleep(this.#pollIntervalMs, this.#wake.signal);
        await new Promise((resolve) => setImmediate(resolve));
        continue;
      }
      if (claimed > 0) continue;
      const handed = await this.#backend.waitForWork(seen, this.#queues, this.#pollIntervalMs, this.#wake.signal, offerOf(this.id, this.#queues, this.#handlers.values()));
      for (const claim of handed) this.#takeHanded(claim);
    }
  }

  /** A task handed over while waiting runs like a claimed one; one that arrives as the worker stops goes back. */
  #takeHanded(claim: Claim): void {
    const registration = this.#handlers.get(claim.task.type);
    if (registration && !this.#stopping) {
      this.#take(registration, claim);
      return;
    }
    void this.#giveBack(claim);
  }

  /** A claimed task that never started goes back to its queue (release: the attempt is not counted). */
  #giveBack(claim: Claim): Promise<unknown> {
    return this.#backend.release({ taskId: claim.task.id, attemptToken: claim.attemptToken }, 'not started: given back by a worker').catch((error: unknown) =>
      this.#log.warn({ err: error, taskId: claim.task.id }, 'could not give back a task it never started; its lease will expire'),
    );
  }

  /** How many tasks this type may claim beyond its free slots. */
  #claimAhead(registration: Registration): number {
    return this.#stopping ? 0 : claimAheadFor(registration, performance.now(), this.#backend.maxClaimAhead);
  }

  /** A claimed task starts now if a slot is free, else waits in the type's buffer. */
  #take(registration: Registration, claim: Claim): void {
    if (registration.running < registration.concurrency) this.#start(registration, claim);
    else {
      registration.buffer.push({ claim, at: Date.now() });
      this.#bufferSweep ??= setInterval(() => void this.#releaseBuffered((b) => Date.now() - b.at > this.#bufferTtlMs), this.#bufferTtlMs / 4);
    }
  }

  /** A slot freed: the oldest buffered task of its type takes it. */
  #startBuffered(registration: Registration): void {
    while (registration.running < registration.concurrency && registration.buffer.length > 0) {
      this.#start(registration, (registration.buffer.shift() as Buffered).claim);
    }
  }

  /** A cancel request for a task still in a buffer: it never starts, and ends as cancelled. */
  #cancelBuffered(taskId: string): void {
    for (const registration of this.#handlers.values()) {
      const place = registration.buffer.findIndex((b) => b.claim.task.id === taskId);
      if (place < 0) continue;
      const [{ claim }] = registration.buffer.splice(place, 1);
      void this.#backend.cancelled({ taskId, attemptToken: claim.attemptToken }).catch((error: unknown) =>
        this.#log.warn({ err: error, taskId }, 'could not report a buffered task cancelled; its lease will expire'),
      );
    }
  }

  /** Gives buffered tasks back to the store (not counting the attempt), so that another worker may take them now. */
  async #releaseBuffered(which: (buffered: Buffered) => boolean): Promise<void> {
    const released: Claim[] = [];
    let left = 0;
    for (const registration of this.#handlers.values()) {
      const keep: Buffered[] = [];
      for (const b of registration.buffer) {
        if (which(b)) released.push(b.claim);
        else keep.push(b);
      }
      registration.buffer = keep;
      left += keep.length;
    }
    if (left === 0 && this.#bufferSweep) {
      clearInterval(this.#bufferSweep);
      this.#bufferSweep = undefined;
    }
    await Promise.all(released.map((claim) => this.#giveBack(claim)));
  }

  #start(registration: Registration, claim: Claim): void {
    const execution = new Execution(registration, claim, this.#log, this.#slotFreed);
    this.#active.set(claim.task.id, execution);
    execution.done = this.#execute(registration, execution);
  }

  /**
   * Runs the handler and reports how it ended. Not async: a handler that returns at once (no promise, no output left
   * to store), as most short tasks' do, is reported without the frames and promises of waiting (#settleLater).
   */
  #execute(registration: Registration, execution: Execution<Registration>): Promise<void> {
    const { task } = execution.claim;
    execution.startClock(this.#timedOut);
    // The handler runs in a span whose parent is the trace the task was submitted in (a no-op without an SDK).
    const { span, context: traceContext } = startRunSpan(task);
    execution.span = span;
    const context = createContext(this.#backend, execution.claim, execution.ref, execution, execution.softDeadline);
    const startedAt = performance.now();
    let outcome: Outcome;
    try {
      outcome = { value: withContext(traceContext, () => registration.handler(task.payload as never, context)) };
    } catch (error) {
      outcome = { error };
    }
    if (('value' in outcome && isThenable(outcome.value)) || context.hasUnstoredOutput()) {
      return this.#settleLater(registration, execution, context, outcome, startedAt);
    }
    ranFor(registration, startedAt);
    return this.#settle(execution, outcome);
  }

  /**
   * Waits for what the handler returned, racing the attempt's abort (an aborted attempt is reported at once by #abort;
   * its handler keeps its slot until it returns), and for the output it sent: the outcome's event comes after every
   * chunk the handler sent, however it ended.
   */
  async #settleLater(registration: Registration, execution: Execution<Registration>, context: WorkerTaskContext, returned: Outcome, startedAt: number): Promise<void> {
    let outcome = returned;
    if ('value' in returned && isThenable(returned.value)) {
      const run = Promise.resolve(returned.value);
      const raced = await Promise.race([run.then((value) => ({ value }), (error: unknown) => ({ error })), execution.aborted().then(() => null)]);
      if (raced === null) {
        const reason = execution.abortReason;
        await run.catch(() => {});
        this.#ended(execution, { aborted: reason ? reason.message.replace(/^task /, '') : 'aborted' });
        return;
      }
      outcome = raced;
    }
    ranFor(registration, startedAt);
    await context.unstoredOutput();
    // A chunk refused after the handler's last call (output() returns before its chunk is stored): completing would
    // leave the task's history without it, so the attempt fails with the refusal, as if a next call had thrown it.
    const refusal = context.untoldOutputRefusal();
    if (refusal && 'value' in outcome) outcome = { error: refusal.error };
    return this.#settle(execution, outcome);
  }

  /** Reports the outcome, unless the attempt was settled meanwhile (aborted, suspended, lost), then ends the attempt. */
  #settle(execution: Execution<Registration>, outcome: Outcome): Promise<void> {
    const spanOutcome = 'error' in outcome ? outcome : SPAN_OK;
    if (execution.settled) {
      this.#ended(execution, spanOutcome);
      return RESOLVED;
    }
    execution.settled = true;
    // The next claim can overlap with saving this outcome (on PostgreSQL they use different connections; on
    // SQLite they share the next transaction's turn).
    execution.freeSlot();
    if (!('error' in outcome)) return this.#reportValue(execution, outcome.value);
    return this.#reportFailure(execution, outcome.error).then(() => this.#ended(execution, outcome));
  }

  /** The attempt is over here: its timers stop, its span ends, its slot is free. */
  #ended(execution: Execution<Registration>, spanOutcome: SpanOutcome): void {
    execution.end(spanOutcome);
    const { taskId } = execution.ref;
    if (this.#active.get(taskId) === execution) this.#active.delete(taskId);
  }

  /**
   * Reports a result, then ends the attempt (one reaction to the completion: this runs once per task). A result the
   * store cannot take (not JSON, refused by the input rules) fails the attempt for good.
   */
  #reportValue(execution: Execution<Registration>, value: unknown): Promise<void> {
    let completed: Promise<unknown>;
    try {
      let result: Json;
      try {
        result = toJson(value);
      } catch (error) {
        throw new ValidationError(`result: must be JSON (${(error as Error).message})`, 'result');
      }
      completed = this.#backend.complete(execution.ref, result, execution.extras);
    } catch (error) {
      completed = Promise.reject(error);
    }
    return completed.then(
      () => this.#ended(execution, SPAN_OK),
      (error: unknown) => {
        // A result the input rules refuse (U+0000, too deep …) would be refused again on every retry: fail for good.
        if (isValidationError(error)) return this.#reportInvalidResult(execution, error).then(() => this.#ended(execution, SPAN_OK));
        this.#unreported(execution, error);
        this.#ended(execution, SPAN_OK);
      },
    );
  }

  #reportInvalidResult(execution: Execution<Registration>, error: unknown): Promise<void> {
    execution.log.warn({ err: error }, 'the handler returned a result that cannot be stored');
    const message = `the handler's result cannot be stored: ${(error as Error).message}`;
    return this.#report(() => this.#backend.fail(execution.ref, { message, code: 'INVALID_RESULT', retryable: false }, execution.extras), execution);
  }

  #reportFailure(execution: Execution<Registration>, thrown: unknown): Promise<void> {
    const error = toTaskError(thrown);
    execution.log.warn({ err: thrown }, 'task attempt failed');
    return this.#report(() => this.#backend.fail(execution.ref, error, execution.extras), execution);
  }

  /** Aborts a running attempt and reports how it ended: cancelled, or failed as timed out. */
  #abort(taskId: string, reason: StopReason): void {
    const execution = this.#active.get(taskId);
    if (!execution || execution.settled) return;
    execution.settled = true;
    const { ref, claim } = execution;
    const error = new Error(`task ${reason}`);
    error.name = reason === 'timed out' ? 'TimeoutError' : 'AbortError';
    execution.abort(error);
    if (reason === 'cancelled') void this.#report(() => this.#backend.cancelled(ref, undefined, execution.extras), execution);
    if (reason === 'timed out') {
      const timeoutError = { message: `attempt timed out after ${claim.task.timeoutMs} ms`, code: 'TIMEOUT', retryable: true };
      void this.#report(() => this.#backend.fail(ref, timeoutError, execution.extras), execution);
    }
  }

  async #heartbeat(execution: Execution<Registration>): Promise<void> {
    if (execution.settled) return;
    try {
      const lease = await this.#backend.heartbeat(execution.ref);
      if (lease.cancelRequested) this.#abort(execution.ref.taskId, 'cancelled');
      else if (lease.softTimeLimitExceeded) execution.softLimit();
    } catch (error) {
      // An outcome reported while this heartbeat was in flight also makes its token stale: nothing was lost then.
      if (execution.settled) return;
      if (error instanceof StaleAttemptError || (error as { code?: string }).code === 'STALE_ATTEMPT') {
        execution.log.warn('lease lost: another attempt owns this task now; aborting this one');
        execution.settled = true;
        execution.abort(new Error('task lease lost'));
      } else {
        execution.log.warn({ err: error }, 'heartbeat failed; will retry');
      }
    }
  }

  /** Reports an outcome; a refusal (stale attempt) or a store error is logged, never thrown into the loop. */
  async #report(call: () => Promise<unknown>, execution: Execution<Registration>): Promise<void> {
    try {
      await call();
    } catch (error) {
      this.#unreported(execution, error);
    }
  }

  #unreported(execution: Execution<Registration>, error: unknown): void {
    execution.log.warn({ err: error }, 'could not report the outcome; the lease will expire and the sweeper will decide');
  }
}

const NUDGE = Symbol('nudge');

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (typeof value === 'object' || typeof value === 'function') && value !== null && typeof (value as PromiseLike<unknown>).then === 'function';
}

function isValidationError(error: unknown): boolean {
  return error instanceof ValidationError || (error as { code?: unknown } | null)?.code === 'VALIDATION';
}

/** Resolves after `ms`, or at once when `signal` aborts (a wake-up), never rejecting. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return delay(ms, undefined, { signal }).catch(() => {});
}
