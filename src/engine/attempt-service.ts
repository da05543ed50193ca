// The worker side of the engine: the local implementation of the worker protocol (claim, heartbeat, progress,
// output, complete, fail, release, the workers list). The in-process worker runtime uses it directly; the server's
// worker routes carry the same calls over HTTP, so both share every rule (retries, a fail during a cancel request).
import { TaskNotFoundError } from '../core/errors.ts';
import type { Json, Progress, TaskError, TaskEvent } from '../core/task.ts';
import type { AttemptRef, Claim, FinishedTask, LeaseState, Store, WorkerInfo } from '../store/store.ts';
import { outcomeOfFailure } from './attempts.ts';
import type { CancelSignal } from './cancel-signal.ts';
import type { Finisher } from './finisher.ts';
import type { ReadySignal } from './ready-signal.ts';

/** Workers report every 5 s; one silent for three reports has stopped or lost its way to the store. */
export const WORKER_REPORT_MS = 5000;
export const WORKER_STALE_MS = 3 * WORKER_REPORT_MS;
/** How long after unregistering a worker's claims are not taken as a sign of life. */
const FORGOTTEN_MS = 2000;

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
  store: Pick<Store, 'claim' | 'nextScheduledAt' | 'heartbeat' | 'progress' | 'output' | 'getTask' | 'registerWorker' | 'sawWorker' | 'removeWorkers' | 'listWorkers'>;
  now: () => number;
  leaseMs: number;
  ready: ReadySignal;
  cancels: CancelSignal;
  finisher: Finisher;
}

/** What this process last told the store about a claimer, so it writes at most once per report interval. */
interface Claimer {
  types: Set<string>;
  queues: readonly string[] | null;
  max: number;
  firstSeenAt: number;
  writtenAt: number;
}

export class AttemptService implements WorkerGateway {
  readonly leaseMs: number;
  readonly #store: AttemptServiceDeps['store'];
  readonly #now: () => number;
  readonly #ready: ReadySignal;
  readonly #cancels: CancelSignal;
  readonly #finisher: Finisher;
  /**
   * Workers that claimed through this process. A worker that claims but never registers (one written from
   * docs/workers.md) is still listed, with what its claims say; one that registers is only kept alive by them.
   */
  readonly #claimers = new Map<string, Claimer>();
  /** Workers that just unregistered: a claim of theirs still in flight (a long-poll being cut) must not list them again. */
  readonly #forgotten = new Map<string, number>();

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
    this.#sawClaimer(options, now);
    return claims;
  }

  /** Records a claim's worker in the workers list, at most once per report interval per worker; never fails a claim. */
  #sawClaimer(options: ClaimOptions, now: number): void {
    const forgottenAt = this.#forgotten.get(options.workerId);
    if (forgottenAt !== undefined) {
      if (now - forgottenAt < FORGOTTEN_MS) return;
      this.#forgotten.delete(options.workerId);
    }
    let claimer = this.#claimers.get(options.workerId);
    if (!claimer) {
      if (this.#claimers.size >= 10_000) this.#forgetStaleClaimers(now);
      claimer = { types: new Set(), queues: null, max: 0, firstSeenAt: now, writtenAt: Number.NEGATIVE_INFINITY };
      this.#claimers.set(options.workerId, claimer);
    }
    const before = claimer.types.size;
    for (const type of options.types) claimer.types.add(type);
    claimer.queues = options.queues ?? null;
    const grew = claimer.types.size > before || options.max > claimer.max;
    claimer.max = Math.max(claimer.max, options.max);
    if (!grew && now - claimer.writtenAt < WORKER_REPORT_MS) return;
    claimer.writtenAt = now;
    const info: WorkerInfo = {
      id: options.workerId,
      host: null,
      pid: null,
      types: [...claimer.types],
      queues: claimer.queues ? [...claimer.queues] : null,
      concurrency: claimer.max,
      running: 0,
      startedAt: claimer.firstSeenAt,
      lastSeenAt: now,
    };
    void this.#store.sawWorker(info).catch(() => {
      // The list is a view; the next claim tries again.
      claimer.writtenAt = Number.NEGATIVE_INFINITY;
    });
  }

  #forgetStaleClaimers(now: number): void {
    for (const [id, claimer] of this.#claimers) if (now - claimer.writtenAt > WORKER_STALE_MS) this.#claimers.delete(id);
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

  heartbeat(ref: AttemptRef): Promise<LeaseState> {
    return this.#store.heartbeat(ref, this.leaseMs, this.#now());
  }

  progress(ref: AttemptRef, progress: Progress): Promise<TaskEvent> {
    return this.#store.progress(ref, progress, this.#now());
  }

  output(ref: AttemptRef, chunk: string): Promise<TaskEvent> {
    return this.#store.output(ref, chunk, this.#now());
  }

  complete(ref: AttemptRef, result: Json): Promise<FinishedTask> {
    return this.#finisher.finish({ ref, outcome: { status: 'completed', result } });
  }

  /** Reads the task as it is now: whether a cancel is pending decides between `cancelled` and a retry or failure. */
  async fail(ref: AttemptRef, error: TaskError): Promise<FinishedTask> {
    const task = await this.#store.getTask(ref.taskId);
    if (!task) throw new TaskNotFoundError(ref.taskId);
    return this.#finisher.finish({ ref, outcome: outcomeOfFailure(task, error, this.#now()) });
  }

  cancelled(ref: AttemptRef, reason = 'cancelled by request'): Promise<FinishedTask> {
    return this.#finisher.finish({ ref, outcome: { status: 'cancelled', reason } });
  }

  release(ref: AttemptRef, reason = 'worker shut down'): Promise<FinishedTask> {
    const error = { message: reason, code: 'RELEASED', retryable: true };
    return this.#finisher.finish({ ref, outcome: { status: 'retry', error, runAt: this.#now(), refundAttempt: true } });
  }

  reportWorker(info: WorkerInfo): Promise<void> {
    // A registered worker's report refreshes its row: its claims need not, until the next interval.
    const claimer = this.#claimers.get(info.id);
    if (claimer) claimer.writtenAt = this.#now();
    return this.#store.registerWorker(info);
  }

  async forgetWorker(id: string): Promise<void> {
    this.#claimers.delete(id);
    const now = this.#now();
    for (const [other, at] of this.#forgotten) if (now - at >= FORGOTTEN_MS) this.#forgotten.delete(other);
    this.#forgotten.set(id, now);
    await this.#store.removeWorkers(Number.NEGATIVE_INFINITY, id);
  }

  listWorkers(): Promise<WorkerInfo[]> {
    return this.#store.listWorkers(this.#now() - WORKER_STALE_MS);
  }
}
