// Queue semantics over a Store, written once for every backend: validation and defaults, group commit of submits
// and completions, retry decisions, lease sweeping, wake-ups for workers, and live events for followers.
import { TaskNotFoundError, ValidationError } from '../core/errors.ts';
import { uuidv7 } from '../core/ids.ts';
import { isTerminal, type Json, type Progress, type Task, type TaskError, type TaskEvent, type TaskSpec } from '../core/task.ts';
import { checkName, DEFAULT_TASK_DEFAULTS, type NewTask, normalizeTaskSpec, type TaskDefaults } from '../core/validate.ts';
import type {
  AttemptOutcome,
  AttemptRef,
  Claim,
  CreatedTask,
  FinishedTask,
  FinishRequest,
  FinishResult,
  LeaseState,
  QueueCounts,
  QueueSettings,
  QueueSettingsPatch,
  Store,
  TaskPage,
  TaskQuery,
  WorkerInfo,
} from '../store/store.ts';
import { outcomeOfFailure } from './attempts.ts';
import { Coalescer } from './coalescer.ts';
import { type QueueEvent, TaskEventHub } from './event-hub.ts';
import { ReadySignal } from './ready-signal.ts';
import { Retention, type RetentionOptions } from './retention.ts';
import { Scheduler, type SchedulerOptions } from './scheduler.ts';
import { LeaseSweeper } from './sweeper.ts';
import { Topics } from './topics.ts';
import { TypeRegistry } from './type-settings.ts';

/** Workers report every 5 s; one silent for three reports has stopped or lost its way to the store. */
export const WORKER_REPORT_MS = 5000;
export const WORKER_STALE_MS = 3 * WORKER_REPORT_MS;

export interface EngineOptions {
  /** Defaults for tasks that do not say. */
  taskDefaults?: Partial<TaskDefaults>;
  /** How long a claim holds a task without a heartbeat, ms. Default 30000. */
  leaseMs?: number;
  /** How often to look for expired leases, ms. Default 1000. */
  sweepIntervalMs?: number;
  /** Clock, injectable for tests. */
  now?: () => number;
  scheduler?: SchedulerOptions;
  retention?: RetentionOptions;
}

export interface ClaimOptions {
  workerId: string;
  types: readonly string[];
  queues?: readonly string[] | null;
  max: number;
}

/** An attempt this process ended: what was asked, and the task as the finish left it. */
export interface FinishedAttempt {
  request: FinishRequest;
  task: FinishedTask;
}

/**
 * Told of every attempt this process starts (claims) or ends (finishes, lease sweeps). Each attempt is started by one
 * claim and ended by one successful finish somewhere in the cluster, so observers that count here count each attempt
 * once however many processes share the store. Called synchronously after the store answered; must not throw.
 */
export interface AttemptObserver {
  onTaskStarted?(claims: readonly Claim[], now: number): void;
  onAttemptFinished?(attempts: readonly FinishedAttempt[], now: number): void;
}

export interface FollowOptions {
  afterSeq?: number;
  signal?: AbortSignal;
}

export class Engine {
  readonly store: Store;
  readonly leaseMs: number;
  readonly #defaults: TaskDefaults;
  readonly #now: () => number;
  readonly #events: TaskEventHub;
  readonly #ready = new ReadySignal();
  readonly #cancelListeners = new Set<(taskId: string) => void>();
  readonly #observers = new Set<AttemptObserver>();
  readonly #sweeper: LeaseSweeper;
  readonly topics: Topics;
  readonly scheduler: Scheduler;
  readonly types: TypeRegistry;
  readonly retention: Retention;
  readonly #creates: Coalescer<NewTask, CreatedTask>;
  readonly #finishes: Coalescer<FinishRequest, FinishResult>;
  #unlisten: (() => void) | undefined;

  constructor(store: Store, options: EngineOptions = {}) {
    this.store = store;
    this.leaseMs = options.leaseMs ?? 30_000;
    this.#now = options.now ?? Date.now;
    this.#defaults = { ...DEFAULT_TASK_DEFAULTS, ...options.taskDefaults };
    this.#events = new TaskEventHub(store);
    this.#creates = new Coalescer((tasks) => store.createTasks(tasks));
    this.#finishes = new Coalescer((requests) => this.#finishBatch(requests));
    this.#sweeper = new LeaseSweeper(this, options.sweepIntervalMs ?? 1000);
    this.topics = new Topics(this);
    this.scheduler = new Scheduler(this, options.scheduler);
    this.types = new TypeRegistry(store, this.#now);
    this.retention = new Retention(this, options.retention ?? {});
  }

  /** Starts listening for changes and sweeping leases. Idempotent. */
  start(): void {
    if (this.#unlisten) return;
    this.#unlisten = this.store.listen((notice) => {
      if (notice.kind === 'event') this.#events.onNotice(notice);
      else if (notice.kind === 'ready') this.#ready.bump();
      else for (const listener of this.#cancelListeners) listener(notice.taskId);
    });
    this.#sweeper.start();
    this.scheduler.start();
    this.retention.start();
  }

  async close(): Promise<void> {
    this.#sweeper.stop();
    this.scheduler.stop();
    this.retention.stop();
    this.#unlisten?.();
    this.#unlisten = undefined;
    await this.store.close();
  }

  now(): number {
    return this.#now();
  }

  // ---- producing and reading ----

  /** Validates (type settings and payload schema included) and fills in defaults: a task ready for any store call. */
  prepare(spec: TaskSpec): Promise<NewTask> {
    return this.#prepare(spec, this.#now());
  }

  async #prepare(spec: TaskSpec, now: number): Promise<NewTask> {
    if (typeof spec !== 'object' || spec === null) throw new ValidationError('task must be an object');
    checkName('type', spec.type);
    const defaults = await this.types.prepare(spec.type, spec.payload, this.#defaults);
    return normalizeTaskSpec(spec, defaults, now, () => uuidv7(now));
  }

  /** Validates and stores one task. Concurrent calls share one transaction. */
  async enqueue(spec: TaskSpec): Promise<CreatedTask> {
    return this.#creates.submit(await this.#prepare(spec, this.#now()));
  }

  /** All or nothing: one invalid spec rejects the whole batch before anything is stored. */
  async enqueueMany(specs: readonly TaskSpec[]): Promise<CreatedTask[]> {
    if (!Array.isArray(specs)) throw new ValidationError('tasks: must be an array', 'tasks');
    if (specs.length > 10_000) throw new ValidationError('tasks: at most 10000 tasks per batch', 'tasks');
    const now = this.#now();
    const tasks: NewTask[] = [];
    for (const [i, spec] of specs.entries()) {
      try {
        tasks.push(await this.#prepare(spec, now));
      } catch (error) {
        if (error instanceof ValidationError) {
          throw new ValidationError(`tasks[${i}].${error.message}`, `tasks[${i}].${error.field ?? ''}`);
        }
        throw error;
      }
    }
    return tasks.length ? this.store.createTasks(tasks) : [];
  }

  async get(id: string): Promise<Task> {
    const task = await this.store.getTask(id);
    if (!task) throw new TaskNotFoundError(id);
    return task;
  }

  list(query: TaskQuery): Promise<TaskPage> {
    return this.store.listTasks(query);
  }

  events(taskId: string, afterSeq = 0, limit = 1000): Promise<TaskEvent[]> {
    return this.store.listEvents(taskId, afterSeq, limit);
  }

  /** Task counts by queue and status; with `owner`, that owner's tasks only. */
  queues(owner?: string): Promise<QueueCounts[]> {
    return this.store.countByQueue(owner);
  }

  async cancel(id: string, reason = 'cancelled by request'): Promise<Task> {
    const task = await this.store.cancel(id, reason, this.#now());
    if (task.status === 'running') for (const listener of this.#cancelListeners) listener(id);
    return task;
  }

  retry(id: string): Promise<Task> {
    return this.store.retry(id, this.#now());
  }

  /** Dead-letter redrive: puts every task of the queue that has failed by now back in it, in batches; how many. */
  async redrive(queue: string, batchSize = 500): Promise<number> {
    checkName('queue', queue);
    const now = this.#now();
    let total = 0;
    for (;;) {
      const n = await this.store.retryFailed(queue, batchSize, now);
      total += n;
      if (n < batchSize) return total;
    }
  }

  /** Deletes a task that is not running, with its history. */
  async deleteTask(id: string): Promise<void> {
    if (!(await this.store.deleteTask(id))) throw new TaskNotFoundError(id);
  }

  /** Stops (or restarts) claiming from a queue, in every process. */
  async setQueuePaused(name: string, paused: boolean): Promise<QueueSettings> {
    return this.store.updateQueueSettings(checkName('queue', name), { paused }, this.#now());
  }

  /** Global concurrency cap, rate limit and fair-sharing limit per key of a queue; null removes one. */
  async setQueueLimits(name: string, limits: Pick<QueueSettingsPatch, 'maxConcurrency' | 'rateLimit' | 'maxPerKey'>): Promise<QueueSettings> {
    const patch: QueueSettingsPatch = {};
    if (limits.maxPerKey !== undefined) {
      const perKey = limits.maxPerKey;
      if (perKey !== null && (!Number.isInteger(perKey) || perKey < 1)) throw new ValidationError('maxPerKey: must be a positive integer or null', 'maxPerKey');
      patch.maxPerKey = perKey;
    }
    if (limits.maxConcurrency !== undefined) {
      const cap = limits.maxConcurrency;
      if (cap !== null && (!Number.isInteger(cap) || cap < 1)) throw new ValidationError('maxConcurrency: must be a positive integer or null', 'maxConcurrency');
      patch.maxConcurrency = cap;
    }
    if (limits.rateLimit !== undefined) {
      const rate = limits.rateLimit;
      if (rate !== null && (typeof rate !== 'object' || !Number.isInteger(rate.count) || rate.count < 1 || !Number.isInteger(rate.intervalMs) || rate.intervalMs < 1)) {
        throw new ValidationError('rateLimit: must be { count: positive integer, intervalMs: positive integer } or null', 'rateLimit');
      }
      patch.rateLimit = rate === null ? null : { count: rate.count, intervalMs: rate.intervalMs };
    }
    return this.store.updateQueueSettings(checkName('queue', name), patch, this.#now());
  }

  queueSettings(): Promise<QueueSettings[]> {
    return this.store.listQueueSettings();
  }

  /** History then live events of one task, ending after its terminal event. */
  follow(taskId: string, options: FollowOptions = {}): AsyncGenerator<TaskEvent> {
    return this.#events.follow(taskId, options.afterSeq ?? 0, options.signal);
  }

  watchAll(watcher: (event: QueueEvent) => void): () => void {
    return this.#events.watchAll(watcher);
  }

  get followerCount(): number {
    return this.#events.followerCount;
  }

  /** The task once it is finished, or as it is when `timeoutMs` runs out. */
  async waitUntilFinished(id: string, timeoutMs: number): Promise<Task> {
    const task = await this.get(id);
    if (isTerminal(task.status) || timeoutMs <= 0) return task;
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), timeoutMs);
    try {
      for await (const event of this.follow(id, { afterSeq: task.lastEventSeq, signal: abort.signal })) {
        if (event.kind === 'completed' || event.kind === 'failed' || event.kind === 'cancelled') break;
      }
    } finally {
      clearTimeout(timer);
      abort.abort();
    }
    return this.get(id);
  }

  // ---- the worker side (the local implementation of the worker protocol) ----

  async claim(options: ClaimOptions): Promise<Claim[]> {
    const now = this.#now();
    const claims = await this.store.claim({
      workerId: options.workerId,
      types: options.types,
      queues: options.queues ?? null,
      max: options.max,
      leaseMs: this.leaseMs,
      now,
    });
    if (claims.length > 0) for (const observer of this.#observers) tell(() => observer.onTaskStarted?.(claims, now));
    return claims;
  }

  /** Adds an observer of the attempts this process starts and ends (metrics, logs); returns the function that removes it. */
  observeAttempts(observer: AttemptObserver): () => void {
    this.#observers.add(observer);
    return () => this.#observers.delete(observer);
  }

  /** The version to pass to waitForWork: read it before claiming. */
  get readyVersion(): number {
    return this.#ready.version;
  }

  /** Sleeps until tasks may be claimable: a ready notice, the next scheduled task's time, or `maxWaitMs`. */
  async waitForWork(seenVersion: number, queues: readonly string[] | null, maxWaitMs: number, signal?: AbortSignal): Promise<void> {
    const next = await this.store.nextScheduledAt(queues);
    const untilScheduled = next === null ? maxWaitMs : Math.max(0, next - this.#now());
    await this.#ready.wait(seenVersion, Math.min(maxWaitMs, untilScheduled), signal);
  }

  /** Called with the id of every running task someone asked to cancel (this process or another). */
  onCancelRequested(listener: (taskId: string) => void): () => void {
    this.#cancelListeners.add(listener);
    return () => this.#cancelListeners.delete(listener);
  }

  heartbeat(ref: AttemptRef): Promise<LeaseState> {
    return this.store.heartbeat(ref, this.leaseMs, this.#now());
  }

  progress(ref: AttemptRef, progress: Progress): Promise<TaskEvent> {
    return this.store.progress(ref, progress, this.#now());
  }

  output(ref: AttemptRef, chunk: string): Promise<TaskEvent> {
    return this.store.output(ref, chunk, this.#now());
  }

  complete(ref: AttemptRef, result: Json): Promise<FinishedTask> {
    return this.finish({ ref, outcome: { status: 'completed', result } });
  }

  /** Fails the attempt: retried with backoff while attempts remain and the error is retryable, else dead-lettered. */
  async fail(ref: AttemptRef, error: TaskError, task?: Task): Promise<FinishedTask> {
    const current = task ?? (await this.get(ref.taskId));
    return this.finish({ ref, outcome: outcomeOfFailure(current, error, this.#now()) });
  }

  /** Ends the attempt as cancelled (the worker stopped it on request). */
  cancelled(ref: AttemptRef, reason = 'cancelled by request'): Promise<FinishedTask> {
    return this.finish({ ref, outcome: { status: 'cancelled', reason } });
  }

  /** Gives the task back without counting the attempt (worker shutting down). */
  release(ref: AttemptRef, reason = 'worker shut down'): Promise<FinishedTask> {
    const error = { message: reason, code: 'RELEASED', retryable: true };
    return this.finish({ ref, outcome: { status: 'retry', error, runAt: this.#now(), refundAttempt: true } });
  }

  async finish(request: FinishRequest): Promise<FinishedTask> {
    const result = await this.#finishes.submit(request);
    if (!result.ok) throw result.error;
    return result.task;
  }

  /** For the sweeper: finishes many expired attempts in one transaction. */
  finishMany(requests: FinishRequest[]): Promise<FinishResult[]> {
    return this.#finishBatch(requests);
  }

  async #finishBatch(requests: FinishRequest[]): Promise<FinishResult[]> {
    const now = this.#now();
    const results = await this.store.finish(requests, now);
    if (this.#observers.size > 0) {
      const finished: FinishedAttempt[] = [];
      for (const [i, result] of results.entries()) if (result.ok) finished.push({ request: requests[i], task: result.task });
      if (finished.length > 0) for (const observer of this.#observers) tell(() => observer.onAttemptFinished?.(finished, now));
    }
    return results;
  }

  reportWorker(info: WorkerInfo): Promise<void> {
    return this.store.registerWorker(info);
  }

  async forgetWorker(id: string): Promise<void> {
    await this.store.removeWorkers(Number.NEGATIVE_INFINITY, id);
  }

  /** Workers (in any process) that reported within the last `WORKER_STALE_MS`. */
  listWorkers(): Promise<WorkerInfo[]> {
    return this.store.listWorkers(this.#now() - WORKER_STALE_MS);
  }

  outcomeOfFailure(task: Task, error: TaskError): AttemptOutcome {
    return outcomeOfFailure(task, error, this.#now());
  }
}

/** An observer's mistake must not fail the claim or the finish it is told about. */
function tell(call: () => void): void {
  try {
    call();
  } catch {
    // ignored: observers are metrics and logs
  }
}
