// The worker side of the engine: the local implementation of the worker protocol (claim, heartbeat, progress,
// output, complete, fail, release, the workers list, and durable execution's checkpoint, steps and suspend). The
// in-process worker runtime uses it directly; the server's worker routes carry the same calls over HTTP, so both
// share every rule (retries, a fail during a cancel request, the checkpoint size limit, how children are made).
import { CheckpointTooLargeError, TaskNotFoundError, ValidationError } from '../core/errors.ts';
import type { Json, Progress, TaskError, TaskEvent, TaskSpec, WaitingFor } from '../core/task.ts';
import type { NewTask } from '../core/validate.ts';
import type {
  AppendResult,
  AttemptEventInput,
  AttemptRef,
  CheckpointInfo,
  Claim,
  FinishedTask,
  FinishRequest,
  LeaseState,
  StepRecord,
  Store,
  WaitOutcome,
  WaitRequest,
  WorkerInfo,
} from '../store/store.ts';
import { checkEpochMs, checkText } from '../core/input-rules.ts';
import { checkCost, checkDurableName, checkInt32, checkJson, checkOutputChunk, checkProgress, checkTaskError } from '../core/validate.ts';
import { outcomeOfFailure } from './attempts.ts';
import { Coalescer } from './coalescer.ts';
import type { CancelSignal } from './cancel-signal.ts';
import type { Finisher } from './finisher.ts';
import type { Handoffs, WorkOffer } from './handoff.ts';
import type { ReadySignal } from './ready-signal.ts';

/** Workers report every 5 s; one silent for three reports has stopped or lost its way to the store. */
export const WORKER_REPORT_MS = 5000;
export const WORKER_STALE_MS = 3 * WORKER_REPORT_MS;
/** How long after unregistering a worker's claims are not taken as a sign of life. */
const FORGOTTEN_MS = 2000;

/** Default limit of one checkpoint's state: bytes of its JSON (UTF-8). */
export const DEFAULT_CHECKPOINT_MAX_BYTES = 1024 * 1024;
/** Most children one `ctx.children` call may make (as many as one batch submit). */
export const MAX_CHILDREN = 10_000;

/**
 * A child as a handler describes it: a submit's spec without what the parent decides. Its owner is the parent's, its
 * parentId the parent, and it takes no idempotencyKey (children are keyed by the wait's name and their position).
 */
/** What a worker says beside an attempt's outcome. */
export interface FinishExtras {
  /** The cost the handler reported (ctx.reportCost): replaces the declared cost in the cost windows (docs/queues.md). */
  reportedCost?: number;
}

/** The reported cost, checked, as a FinishRequest field: undefined when none was reported (one shape for all). */
function checkedCost(extras: FinishExtras | undefined): number | undefined {
  return extras === undefined ? undefined : (checkCost('reportedCost', extras.reportedCost) ?? undefined);
}

export type ChildSpec = Omit<TaskSpec, 'owner' | 'parentId' | 'idempotencyKey' | 'concurrencyKey'>;

/** What a worker suspends for (docs/durable.md); times are absolute, made deterministic by the caller (a step). */
export type WorkerWait =
  | { kind: 'children'; name: string; tasks: readonly ChildSpec[] }
  | { kind: 'sleep'; name: string; until: number }
  | { kind: 'signal'; name: string; timeoutAt: number | null };

/** A suspend's answer: the attempt is over (the task waits), or the wait holds already and the attempt goes on. */
export type SuspendAnswer = { suspended: true; waitingFor: WaitingFor } | { suspended: false; outcome: WaitOutcome };

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
  /** The most a worker should claim beyond its free slots (worker/claim-ahead.ts): the store's choice. */
  readonly maxClaimAhead: number;
  /** How long a chunk of ctx.output should wait to be stored, at most (worker/output-backlog.ts): the store's choice. */
  readonly outputDelayMs: number | null;
  now(): number;
  claim(options: ClaimOptions): Promise<Claim[]>;
  /**
   * Keeps a worker that is waiting in a long-poll claim on the workers list without claiming again (a claim already
   * records its worker; this is for the quiet stretches between claims).
   */
  stillClaiming(options: ClaimOptions): void;
  /**
   * Sleeps until tasks may be claimable: a ready notice, the next scheduled task's time, or `maxWaitMs`. With an
   * `offer` (a worker of this process), a task submitted meanwhile may start at once for it (engine/handoff.ts): the
   * claims returned are the worker's to run, as if it had claimed them.
   */
  waitForWork(seenVersion: number, queues: readonly string[] | null, maxWaitMs: number, signal?: AbortSignal, offer?: WorkOffer): Promise<Claim[]>;
  /** Called with the id of every running task someone asked to cancel (this process or another). */
  onCancelRequested(listener: (taskId: string) => void): () => void;
  heartbeat(ref: AttemptRef): Promise<LeaseState>;
  progress(ref: AttemptRef, progress: Progress): Promise<TaskEvent>;
  output(ref: AttemptRef, chunk: string): Promise<TaskEvent>;
  complete(ref: AttemptRef, result: Json, extras?: FinishExtras): Promise<FinishedTask>;
  /** Retried with backoff while attempts remain and the error is retryable, else dead-lettered; cancelled if a cancel is pending. */
  fail(ref: AttemptRef, error: TaskError, extras?: FinishExtras): Promise<FinishedTask>;
  /** Ends the attempt as cancelled (the worker stopped it on request). */
  cancelled(ref: AttemptRef, reason?: string, extras?: FinishExtras): Promise<FinishedTask>;
  /** Gives the task back without counting the attempt (worker shutting down). */
  release(ref: AttemptRef, reason?: string): Promise<FinishedTask>;
  /** A worker's periodic announcement of itself, for the workers list. */
  reportWorker(info: WorkerInfo): Promise<void>;
  forgetWorker(id: string): Promise<void>;
  /** Workers (in any process) that reported within the last `WORKER_STALE_MS`. */
  listWorkers(): Promise<WorkerInfo[]>;

  // ---- durable execution (docs/durable.md) ----
  /** Saves the next version of the task's state; CheckpointTooLargeError (nothing stored) over `checkpointMaxBytes`. */
  checkpoint(ref: AttemptRef, state: Json, label?: string | null): Promise<CheckpointInfo>;
  /** The task's stored step results, oldest first. */
  steps(taskId: string): Promise<StepRecord[]>;
  /** Stores a step's result; StepExistsError when the name is stored already (the first result stands). */
  saveStep(ref: AttemptRef, name: string, result: Json): Promise<StepRecord>;
  /**
   * Ends the attempt by suspending the task, unless the wait holds already. Children are validated like submits
   * (type settings and payload schemas included) and get the parent's owner, whatever the caller says.
   */
  suspend(ref: AttemptRef, wait: WorkerWait): Promise<SuspendAnswer>;
}

export interface AttemptServiceDeps {
  store: Pick<
    Store,
    | 'claim' | 'nextScheduledAt' | 'heartbeat' | 'appendAttemptEvents' | 'getTask' | 'registerWorker' | 'sawWorker' | 'removeWorkers' | 'listWorkers'
    | 'saveCheckpoint' | 'listSteps' | 'saveStep' | 'suspend' | 'maxClaimAhead' | 'outputDelayMs' | 'warmUp'
  >;
  now: () => number;
  leaseMs: number;
  /** Largest checkpoint state, bytes of JSON. Default DEFAULT_CHECKPOINT_MAX_BYTES. */
  checkpointMaxBytes?: number;
  /** Validation and defaults of a submit (TaskService.prepare): children are checked exactly like submitted tasks. */
  prepare: (spec: TaskSpec) => Promise<NewTask>;
  ready: ReadySignal;
  cancels: CancelSignal;
  finisher: Finisher;
  /** Offers of idle workers, where the store can start a submitted task for one (engine/handoff.ts). */
  handoffs?: Handoffs;
}

/** What this process last told the store about a claimer, so it writes at most once per report interval. */
interface Claimer {
  types: Set<string>;
  queues: readonly string[] | null;
  max: number;
  firstSeenAt: number;
  writtenAt: number;
}

/** The event a progress report or output chunk was stored as, or the store's refusal of it, thrown. */
function appendedEvent(result: AppendResult): TaskEvent {
  if (!result.ok) throw result.error;
  return result.event;
}

export class AttemptService implements WorkerGateway {
  readonly leaseMs: number;
  readonly #store: AttemptServiceDeps['store'];
  readonly #now: () => number;
  readonly #ready: ReadySignal;
  readonly #cancels: CancelSignal;
  readonly #finisher: Finisher;
  readonly #handoffs: Handoffs | undefined;
  readonly #checkpointMaxBytes: number;
  readonly #prepare: AttemptServiceDeps['prepare'];
  /**
   * Workers that claimed through this process. A worker that claims but never registers (one written from
   * docs/workers.md) is still listed, with what its claims say; one that registers is only kept alive by them.
   */
  readonly #claimers = new Map<string, Claimer>();
  /** Workers that just unregistered: a claim of theirs still in flight (a long-poll being cut) must not list them again. */
  readonly #forgotten = new Map<string, number>();
  /**
   * Progress and output of every attempt in this process (in-process handlers and HTTP workers alike), gathered
   * while the previous batch commits: hundreds of streaming tasks share one transaction instead of one commit per
   * chunk. Serial, so an attempt's events are stored in the order it sent them even when it does not wait for each.
   */
  readonly #events: Coalescer<AttemptEventInput, AppendResult>;

  constructor(deps: AttemptServiceDeps) {
    this.#events = new Coalescer((inputs) => this.#store.appendAttemptEvents(inputs, this.#now()), { serial: true, maxBatch: 10_000 });
    this.#checkpointMaxBytes = deps.checkpointMaxBytes ?? DEFAULT_CHECKPOINT_MAX_BYTES;
    this.#prepare = deps.prepare;
    this.#store = deps.store;
    this.#now = deps.now;
    this.leaseMs = deps.leaseMs;
    this.#ready = deps.ready;
    this.#cancels = deps.cancels;
    this.#finisher = deps.finisher;
    this.#handoffs = deps.handoffs;
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

  stillClaiming(options: ClaimOptions): void {
    this.#sawClaimer(options, this.#now());
  }

  /** Records a claim's worker in the workers list, at most once per report interval per worker; never fails a claim. */
  #sawClaimer(options: ClaimOptions, now: number): void {
    if (this.#forgottenJustNow(options.workerId, now)) return;
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

  /** True within FORGOTTEN_MS of the worker's unregistering: a claim or report of its that was on its way lists it no more. */
  #forgottenJustNow(workerId: string, now: number): boolean {
    const forgottenAt = this.#forgotten.get(workerId);
    if (forgottenAt === undefined) return false;
    if (now - forgottenAt < FORGOTTEN_MS) return true;
    this.#forgotten.delete(workerId);
    return false;
  }

  #forgetStaleClaimers(now: number): void {
    for (const [id, claimer] of this.#claimers) if (now - claimer.writtenAt > WORKER_STALE_MS) this.#claimers.delete(id);
  }

  get readyVersion(): number {
    return this.#ready.version;
  }

  get maxClaimAhead(): number {
    return this.#store.maxClaimAhead;
  }

  get outputDelayMs(): number | null {
    return this.#store.outputDelayMs;
  }

  async waitForWork(seenVersion: number, queues: readonly string[] | null, maxWaitMs: number, signal?: AbortSignal, offer?: WorkOffer): Promise<Claim[]> {
    // A worker with nothing to do spends the wait preparing the store for its first tasks; one that starts with a
    // backlog never waits, and a process without workers never prepares.
    void this.#store.warmUp?.();
    const open = offer && this.#handoffs ? this.#handoffs.open(offer) : null;
    let failure: { error: unknown } | null = null;
    try {
      const next = await this.#store.nextScheduledAt(queues);
      const untilScheduled = next === null ? maxWaitMs : Math.max(0, next - this.#now());
      // A hand-off wakes only its worker (the store sends no ready notice for a task it started).
      let until = signal;
      if (open) {
        const handed = new AbortController();
        void open.claims.then(() => handed.abort());
        until = signal ? AbortSignal.any([signal, handed.signal]) : handed.signal;
      }
      await this.#ready.wait(seenVersion, Math.min(maxWaitMs, untilScheduled), until);
    } catch (error) {
      failure = { error };
    } finally {
      open?.withdraw();
    }
    // Tasks handed over are this worker's whatever else went wrong: returned, they run; dropped, they would wait out
    // their lease.
    if (open?.taken) {
      const claims = await open.claims;
      this.#finisher.started(claims, this.#now());
      return claims;
    }
    if (failure) throw failure.error;
    return [];
  }

  onCancelRequested(listener: (taskId: string) => void): () => void {
    return this.#cancels.on(listener);
  }

  /** The renewed lease; the soft limit fields always present (null and false for a task without one). */
  async heartbeat(ref: AttemptRef): Promise<LeaseState> {
    const lease = await this.#store.heartbeat(checkRef(ref), this.leaseMs, this.#now());
    return { softDeadline: null, softTimeLimitExceeded: false, ...lease };
  }

  // Not async, like complete: a streaming task calls output once per chunk, and each async layer added a promise and
  // a turn to every chunk.
  progress(ref: AttemptRef, progress: Progress): Promise<TaskEvent> {
    try {
      return this.#events.submit({ ref: checkRef(ref), progress: checkProgress(progress) }).then(appendedEvent);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  output(ref: AttemptRef, chunk: string): Promise<TaskEvent> {
    try {
      return this.#events.submit({ ref: checkRef(ref), chunk: checkOutputChunk(chunk) }).then(appendedEvent);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** Not async: this runs once per finished task, and an async wrapper would add a promise and a turn to each. */
  complete(ref: AttemptRef, result: Json, extras?: FinishExtras): Promise<FinishedTask> {
    let request: FinishRequest;
    try {
      request = { ref: checkRef(ref), outcome: { status: 'completed', result: checkJson('result', result) }, reportedCost: checkedCost(extras) };
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#finisher.finish(request);
  }

  /** Reads the task as it is now: whether a cancel is pending decides between `cancelled` and a retry or failure. */
  async fail(ref: AttemptRef, error: TaskError, extras?: FinishExtras): Promise<FinishedTask> {
    checkRef(ref);
    checkTaskError(error);
    const reportedCost = checkedCost(extras);
    const task = await this.#store.getTask(ref.taskId);
    if (!task) throw new TaskNotFoundError(ref.taskId);
    return this.#finisher.finish({ ref, outcome: outcomeOfFailure(task, error, this.#now()), reportedCost });
  }

  async cancelled(ref: AttemptRef, reason = 'cancelled by request', extras?: FinishExtras): Promise<FinishedTask> {
    return this.#finisher.finish({ ref: checkRef(ref), outcome: { status: 'cancelled', reason }, reportedCost: checkedCost(extras) });
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
    const now = this.#now();
    // A report sent just before the worker unregistered can arrive after it (another connection).
    if (this.#forgottenJustNow(info.id, now)) return;
    // A registered worker's report refreshes its row: its claims need not, until the next interval.
    const claimer = this.#claimers.get(info.id);
    if (claimer) claimer.writtenAt = now;
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

  // ---- durable execution ----

  async checkpoint(ref: AttemptRef, state: Json, label: string | null = null): Promise<CheckpointInfo> {
    checkRef(ref);
    // The input rules as for a result: no U+0000 or unpaired surrogate, finite numbers, nesting at most 64.
    const text = JSON.stringify(checkJson('state', state));
    const size = Buffer.byteLength(text, 'utf8');
    if (size > this.#checkpointMaxBytes) throw new CheckpointTooLargeError(ref.taskId, size, this.#checkpointMaxBytes);
    if (label !== null) {
      if (typeof label !== 'string' || label.length === 0 || label.length > 200) throw new ValidationError('checkpoint label: 1 to 200 characters', 'label');
      checkText('label', label);
    }
    // What is stored is the JSON text's value (undefined members dropped, dates as strings): what a resume reads.
    return this.#store.saveCheckpoint(ref, JSON.parse(text) as Json, { label, size }, this.#now());
  }

  async steps(taskId: string): Promise<StepRecord[]> {
    return this.#store.listSteps(checkText('id', taskId));
  }

  async saveStep(ref: AttemptRef, name: string, result: Json): Promise<StepRecord> {
    checkRef(ref);
    checkDurableName('step', name);
    return this.#store.saveStep(ref, name, checkJson('result', result), this.#now());
  }

  async suspend(ref: AttemptRef, wait: WorkerWait): Promise<SuspendAnswer> {
    checkRef(ref);
    checkWorkerWait(wait);
    const request = wait.kind === 'children' ? { kind: wait.kind, name: wait.name, tasks: await this.#children(ref, wait.tasks) } : wait;
    const answer = await this.#store.suspend(ref, request satisfies WaitRequest, this.#now());
    return answer.suspended ? { suspended: true, waitingFor: answer.waitingFor } : answer;
  }

  /** The children as submits would make them, owned by the parent's owner and in its trace; parentId is the parent. */
  async #children(ref: AttemptRef, specs: readonly ChildSpec[]): Promise<NewTask[]> {
    if (!Array.isArray(specs)) throw new ValidationError('children: must be an array of task specs', 'tasks');
    if (specs.length > MAX_CHILDREN) throw new ValidationError(`children: at most ${MAX_CHILDREN} per call`, 'tasks');
    if (specs.length === 0) return [];
    const parent = await this.#store.getTask(ref.taskId);
    if (!parent) throw new TaskNotFoundError(ref.taskId);
    const tasks: NewTask[] = [];
    for (const [i, spec] of specs.entries()) {
      if (typeof spec !== 'object' || spec === null) throw new ValidationError(`tasks[${i}]: must be an object`, `tasks[${i}]`);
      const given = spec as TaskSpec;
      if (given.idempotencyKey !== undefined) throw new ValidationError(`tasks[${i}].idempotencyKey: children take none (they are keyed by the wait and their place)`, `tasks[${i}].idempotencyKey`);
      // Owner and parent are the parent's to decide, never the request's: a worker cannot make tasks for another tenant.
      const { owner: _owner, parentId: _parentId, concurrencyKey: _key, ...rest } = given;
      const traceparent = rest.traceparent ?? parent.traceparent ?? undefined;
      try {
        tasks.push(
          await this.#prepare({
            ...rest,
            parentId: parent.id,
            ...(parent.owner !== null ? { owner: parent.owner } : {}),
            ...(traceparent ? { traceparent } : {}),
          }),
        );
      } catch (error) {
        if (error instanceof ValidationError) throw new ValidationError(`tasks[${i}].${error.message}`, `tasks[${i}].${error.field ?? ''}`);
        throw error;
      }
    }
    return tasks;
  }
}

/** A wait's kind, name and times under the input rules; its children are checked as submits (#children). */
function checkWorkerWait(wait: WorkerWait): void {
  if (typeof wait !== 'object' || wait === null) throw new ValidationError('wait: must be an object', 'wait');
  checkDurableName('wait', wait.name);
  switch (wait.kind) {
    case 'children':
      return;
    case 'sleep':
      checkEpochMs('until', wait.until);
      return;
    case 'signal':
      if (wait.timeoutAt !== null) checkEpochMs('timeoutAt', wait.timeoutAt);
      return;
    default:
      throw new ValidationError('wait.kind: must be children, sleep or signal', 'kind');
  }
}

/** An attempt's task id and token as the store can look them up (PostgreSQL text cannot hold U+0000). */
function checkRef(ref: AttemptRef): AttemptRef {
  checkText('id', ref.taskId);
  checkText('attemptToken', ref.attemptToken);
  return ref;
}
