// One attempt a worker runs (Execution): from its claim until its outcome is reported, it is given back, or it
// suspends. It holds what the attempt's handler reads through its ctx (signals, log, reported cost), its time
// limits and run span, and its concurrency slot; worker.ts decides when each of those moves.
import type { Span } from '@opentelemetry/api';
import type { Logger } from 'pino';
import type { WaitingFor } from '../core/task.ts';
import type { FinishExtras } from '../engine/attempt-service.ts';
import { endRunSpan, traceIdOf } from '../observability/tracing.ts';
import type { AttemptRef, Claim } from '../store/store.ts';
import type { AttemptHost } from './context.ts';
import { TaskSuspendedError } from './durable.ts';

export const RESOLVED = Promise.resolve();

/** How an attempt's run span ends: with the handler's error, stopped (cancelled, timed out …), or fine. */
export type SpanOutcome = { error?: unknown; aborted?: string };

/** The concurrency slots of one handler type: an attempt takes one when it starts and frees it once. */
export interface Slots {
  running: number;
}

/** One attempt this worker runs: from its claim until its outcome is reported (or it is given back, or suspends). */
export class Execution<S extends Slots = Slots> implements AttemptHost {
  readonly claim: Claim;
  readonly ref: AttemptRef;
  /** Set once the attempt's outcome is decided, so it is reported once. */
  settled = false;
  done: Promise<void> = RESOLVED;
  /** Why the attempt was aborted, once it was. */
  abortReason: Error | undefined;
  /** Set when the task suspended (a durable wait): the store ended the attempt, so nothing is reported for it. */
  suspension: TaskSuspendedError | undefined;
  /** What ctx.reportCost set: sent with the outcome. */
  reportedCost: number | undefined;
  readonly #slots: S;
  readonly #onSlotFreed: (slots: S) => void;
  readonly #rootLog: Logger;
  #slotHeld = true;
  #controller: AbortController | undefined;
  #softController: AbortController | undefined;
  /** Set once the soft time limit has passed (by the local timer or a heartbeat answer). */
  softReason: Error | undefined;
  #onAbort: (() => void) | undefined;
  #aborted: Promise<void> | undefined;
  #log: Logger | undefined;
  /** When the soft time limit passes (epoch ms, this worker's clock); null without one. Set by startClock. */
  softDeadline: number | null = null;
  #timeout: NodeJS.Timeout | undefined;
  #softTimeout: NodeJS.Timeout | undefined;
  /** The attempt's run span (tracing.ts), ended with it. */
  span: Span | undefined;

  constructor(slots: S, claim: Claim, rootLog: Logger, onSlotFreed: (slots: S) => void) {
    this.claim = claim;
    this.ref = { taskId: claim.task.id, attemptToken: claim.attemptToken, claimed: claim.task };
    this.reportedCost = undefined;
    this.#slots = slots;
    this.#rootLog = rootLog;
    this.#onSlotFreed = onSlotFreed;
    slots.running++;
  }

  /** The handler's ctx.signal, made on first use: most handlers of short tasks never look at it. */
  get signal(): AbortSignal {
    if (!this.#controller) {
      this.#controller = new AbortController();
      if (this.abortReason) this.#controller.abort(this.abortReason);
    }
    return this.#controller.signal;
  }

  /** The handler's ctx.softSignal, made on first use like `signal`. */
  get softSignal(): AbortSignal {
    if (!this.#softController) {
      this.#softController = new AbortController();
      if (this.softReason) this.#softController.abort(this.softReason);
    }
    return this.#softController.signal;
  }

  /** The soft time limit passed: tells the handler (ctx.softSignal), which may still return its result. Once. */
  softLimit(): void {
    if (this.softReason || this.settled) return;
    const reason = new Error(`task soft time limit (${this.claim.task.softTimeoutMs} ms) exceeded`);
    reason.name = 'SoftTimeLimitExceeded';
    this.softReason = reason;
    this.#softController?.abort(reason);
  }

  /** Aborts the attempt: ctx.signal, and the wait for the handler's outcome. Once. */
  abort(reason: Error): void {
    if (this.abortReason) return;
    this.abortReason = reason;
    this.#controller?.abort(reason);
    this.#onAbort?.();
  }

  /**
   * The store suspended the task: the attempt is over. Settled (no complete/fail, no heartbeat, no release on
   * shutdown) and aborted (ctx.signal, and the wait for the handler, which frees the slot once it returns).
   */
  suspend(waitingFor: WaitingFor): TaskSuspendedError {
    if (this.suspension) return this.suspension;
    this.suspension = new TaskSuspendedError(this.ref.taskId, waitingFor);
    this.settled = true;
    this.abort(this.suspension);
    return this.suspension;
  }

  /** Resolves when the attempt is aborted (made on first use: only handlers that return a promise are raced). */
  aborted(): Promise<void> {
    this.#aborted ??= this.abortReason ? RESOLVED : new Promise<void>((resolve) => (this.#onAbort = resolve));
    return this.#aborted;
  }

  /** The outcome's extras: the cost the handler reported, if it did (most handlers do not: nothing then). */
  get extras(): FinishExtras | undefined {
    return this.reportedCost === undefined ? undefined : { reportedCost: this.reportedCost };
  }

  /** Made on first use: most attempts of short tasks never log. */
  get log(): Logger {
    if (!this.#log) {
      const { task } = this.claim;
      const traceId = traceIdOf(task.traceparent);
      this.#log = this.#rootLog.child({ taskId: task.id, queue: task.queue, type: task.type, attempt: task.attempts, ...(traceId ? { traceId } : {}) });
    }
    return this.#log;
  }

  /**
   * Starts the attempt's time limits, timed from the claim's arrival on this worker's clock (a heartbeat answer
   * saying the server's soft deadline passed fires the soft one too). `(?? null)`: a claim from a server older than
   * soft limits has no such field.
   */
  startClock(onTimeout: (execution: Execution<S>) => void): void {
    const { timeoutMs, softTimeoutMs } = this.claim.task;
    if (timeoutMs !== null) this.#timeout = setTimeout(onTimeout, timeoutMs, this);
    const softMs = softTimeoutMs ?? null;
    if (softMs === null) return;
    this.#softTimeout = setTimeout(() => this.softLimit(), softMs);
    this.softDeadline = Date.now() + softMs;
  }

  /** The attempt is over on this worker: its timers stop, its span ends, its slot is given back. */
  end(spanOutcome: SpanOutcome): void {
    clearTimeout(this.#timeout);
    clearTimeout(this.#softTimeout);
    if (this.span) endRunSpan(this.span, spanOutcome);
    this.freeSlot();
  }

  /** Gives the concurrency slot back once (when the handler returns, before its outcome is saved). */
  freeSlot(): void {
    if (!this.#slotHeld) return;
    this.#slotHeld = false;
    this.#slots.running--;
    this.#onSlotFreed(this.#slots);
  }
}
