// The worker side of the engine: the local implementation of the worker protocol (claim, heartbeat, progress,
// output, complete, fail, release, the workers list). The in-process worker runtime uses it directly; the server's
// worker routes carry the same calls over HTTP, so both share every rule (retries, a fail during a cancel request).
import { TaskNotFoundError } from '../core/errors.ts';
import type { Json, Progress, TaskError, TaskEvent } from '../core/task.ts';
import type { AttemptRef, Claim, FinishedTask, LeaseState, Store, WorkerInfo } from '../store/store.ts';
import { checkEpochMs, checkText } from '../core/input-rules.ts';
import { checkInt32, checkJson, checkOutputChunk, checkProgress, checkTaskError } from '../core/validate.ts';
import { outcomeOfFailure } from './attempts.ts';
import type { CancelSignal } from './cancel-signal.ts';
import type { Finisher } from './finisher.ts';
import type { ReadySignal } from './ready-signal.ts';

/** Workers report every 5 s; one silent for three reports has stopped or lost its way to the store. */
export const WORKER_REPORT_MS = 5000;
export const WORKER_STALE_MS = 3 * WORKER_REPORT_MS;

export interface ClaimOptions {
  workerId: string;
  types: readonly string[];
  queues?: readonly string[] | null;
  max: number;
}

/** What a worker (in this process, or over HTTP through the server) may do with the attempts it claims. */
export interface WorkerGateway {
  /** How long a claim holds a task without a heartbeat, ms. */
  readonly leaseMs: number;
  /** Read before claiming, pass to waitForWork, so a wake-up between the two is not lost. */
  readonly readyVersion: number;
  now(): number;
  claim(options: ClaimOptions): Promise<Claim[]>;
  /** Sleeps until tasks may be claimable: a ready notice, the next scheduled task's time, or `maxWaitMs`. */
  waitForWork(seenVersion: number, queues: readonly string[] | null, maxWaitMs: number, signal?: AbortSignal): Promise<void>;
  /** Called with the id of every running task someone asked to cancel (this process or another). */
  onCancelRequested(listener: (taskId: string) => void): () => void;
  heartbeat(ref: AttemptRef): Promise<LeaseState>;
  progress(ref: AttemptRef, progress: Progress): Promise<TaskEvent>;
  output(ref: AttemptRef, chunk: string): Promise<TaskEvent>;
  complete(ref: AttemptRef, result: Json): Promise<FinishedTask>;
  /** Retried with backoff while attempts remain and the error is retryable, else dead-lettered; cancelled if a cancel is pending. */
  fail(ref: AttemptRef, error: TaskError): Promise<FinishedTask>;
  /** Ends the attempt as cancelled (the worker stopped it on request). */
  cancelled(ref: AttemptRef, reason?: string): Promise<FinishedTask>;
  /** Gives the task back without counting the attempt (worker shutting down). */
  release(ref: AttemptRef, reason?: string): Promise<FinishedTask>;
  /** A worker's periodic announcement of itself, for the workers list. */
  reportWorker(info: WorkerInfo): Promise<void>;
  forgetWorker(id: string): Promise<void>;
  /** Workers (in any process) that reported within the last `WORKER_STALE_MS`. */
  listWorkers(): Promise<WorkerInfo[]>;
}

export interface AttemptServiceDeps {
  store: Pick<Store, 'claim' | 'nextScheduledAt' | 'heartbeat' | 'progress' | 'output' | 'getTask' | 'registerWorker' | 'removeWorkers' | 'listWorkers'>;
  now: () => number;
  leaseMs: number;
  ready: ReadySignal;
  cancels: CancelSignal;
  finisher: Finisher;
}

export class AttemptService implements WorkerGateway {
  readonly leaseMs: number;
  readonly #store: AttemptServiceDeps['store'];
  readonly #now: () => number;
  readonly #ready: ReadySignal;
  readonly #cancels: CancelSignal;
  readonly #finisher: Finisher;

  constructor(deps: AttemptServiceDeps) {
    this.#store = deps.store;
    this.#now = deps.now;
    this.leaseMs = deps.leaseMs;
    this.#ready = deps.ready;
    this.#cancels = deps.cancels;
    this.#finisher = deps.finisher;
  }

  now(): number {
    return this.#now();
  }

  async claim(options: ClaimOptions): Promise<Claim[]> {
    const now = this.#now();
    const claims = await this.#store.claim({
      workerId: options.workerId,
      types: options.types,
      queues: options.queues ?? null,
      max: options.max,
      leaseMs: this.leaseMs,
      now,
    });
    this.#finisher.started(claims, now);
    return claims;
  }

  get readyVersion(): number {
    return this.#ready.version;
  }

  async waitForWork(seenVersion: number, queues: readonly string[] | null, maxWaitMs: number, signal?: AbortSignal): Promise<void> {
    const next = await this.#store.nextScheduledAt(queues);
    const untilScheduled = next === null ? maxWaitMs : Math.max(0, next - this.#now());
    await this.#ready.wait(seenVersion, Math.min(maxWaitMs, untilScheduled), signal);
  }

  onCancelRequested(listener: (taskId: string) => void): () => void {
    return this.#cancels.on(listener);
  }

  /** The renewed lease; the soft limit fields always present (null and false for a task without one). */
  async heartbeat(ref: AttemptRef): Promise<LeaseState> {
    const lease = await this.#store.heartbeat(checkRef(ref), this.leaseMs, this.#now());
    return { softDeadline: null, softTimeLimitExceeded: false, ...lease };
  }

  async progress(ref: AttemptRef, progress: Progress): Promise<TaskEvent> {
    return this.#store.progress(checkRef(ref), checkProgress(progress), this.#now());
  }

  async output(ref: AttemptRef, chunk: string): Promise<TaskEvent> {
    return this.#store.output(checkRef(ref), checkOutputChunk(chunk), this.#now());
  }

  async complete(ref: AttemptRef, result: Json): Promise<FinishedTask> {
    return this.#finisher.finish({ ref: checkRef(ref), outcome: { status: 'completed', result: checkJson('result', result) } });
  }

  /** Reads the task as it is now: whether a cancel is pending decides between `cancelled` and a retry or failure. */
  async fail(ref: AttemptRef, error: TaskError): Promise<FinishedTask> {
    checkRef(ref);
    checkTaskError(error);
    const task = await this.#store.getTask(ref.taskId);
    if (!task) throw new TaskNotFoundError(ref.taskId);
    return this.#finisher.finish({ ref, outcome: outcomeOfFailure(task, error, this.#now()) });
  }

  async cancelled(ref: AttemptRef, reason = 'cancelled by request'): Promise<FinishedTask> {
    return this.#finisher.finish({ ref: checkRef(ref), outcome: { status: 'cancelled', reason } });
  }

  async release(ref: AttemptRef, reason = 'worker shut down'): Promise<FinishedTask> {
    checkRef(ref);
    checkText('reason', reason);
    const error = { message: reason, code: 'RELEASED', retryable: true };
    return this.#finisher.finish({ ref, outcome: { status: 'retry', error, runAt: this.#now(), refundAttempt: true } });
  }

  async reportWorker(info: WorkerInfo): Promise<void> {
    checkText('workerId', info.id);
    if (info.host !== null) checkText('host', info.host);
    if (info.pid !== null) checkInt32('pid', info.pid, 0);
    checkInt32('concurrency', info.concurrency, 0);
    checkInt32('running', info.running, 0);
    checkEpochMs('startedAt', info.startedAt);
    return this.#store.registerWorker(info);
  }

  async forgetWorker(id: string): Promise<void> {
    await this.#store.removeWorkers(Number.NEGATIVE_INFINITY, id);
  }

  listWorkers(): Promise<WorkerInfo[]> {
    return this.#store.listWorkers(this.#now() - WORKER_STALE_MS);
  }
}

/** An attempt's task id and token as the store can look them up (PostgreSQL text cannot hold U+0000). */
function checkRef(ref: AttemptRef): AttemptRef {
  checkText('id', ref.taskId);
  checkText('attemptToken', ref.attemptToken);
  return ref;
}
