// The embedded API and the one front door: every caller (the application, the server's routes, the CLI, metrics)
// goes through a Taskhub. The engine and the store behind it are internal: their shapes may change in any release.
import pino, { type Logger } from 'pino';
import type { Json, Task, TaskEvent, TaskSpec, EnqueueOptions } from './core/task.ts';
import type { TaskDefaults } from './core/validate.ts';
import { TaskhubError } from './core/errors.ts';
import type { WorkerGateway } from './engine/attempt-service.ts';
import { Engine } from './engine/engine.ts';
import type { QueueEvent } from './engine/event-hub.ts';
import type { QueueLimits } from './engine/queue-controls.ts';
import type { RetentionOptions } from './engine/retention.ts';
import type { Scheduler, ScheduleInput, SchedulerOptions } from './engine/scheduler.ts';
import type { DeriveSpec, FollowOptions } from './engine/task-service.ts';
import type { PublishOptions, PublishResult, Topics } from './engine/topics.ts';
import type { TypeRegistry, TypeSettingsInput } from './engine/type-settings.ts';
import { openStore, DEFAULT_STORE_URL } from './store/open.ts';
import {
  type Checkpoint,
  type CheckpointInfo,
  type CreatedTask,
  type HeldBack,
  type SendSignalResult,
  type QueueCounts,
  type QueueSettings,
  type Schedule,
  type Store,
  type Subscription,
  supportsTransactionalEnqueue,
  type TaskPage,
  type TaskQuery,
  type TransactionClient,
  type TypeSettings,
  type WorkerInfo,
} from './store/store.ts';
import type { Handler } from './worker/context.ts';
import { logAttempts } from './observability/attempt-log.ts';
import { type MetricsOptions, TaskMetrics } from './observability/metrics.ts';
import { activeTraceparent } from './observability/tracing.ts';
import { type HandlerOptions, type PoolStats, Worker, type WorkerOptions } from './worker/worker.ts';

export type { TransactionClient } from './store/store.ts';
export type { DeriveSpec, FollowOptions } from './engine/task-service.ts';

export interface TaskhubOptions {
  /** `sqlite:PATH` (default `sqlite:./taskhub.db`), `postgres://...`, or a Store instance. */
  store?: string | Store;
  /** Defaults for tasks that do not say: queue, maxAttempts (3), backoff, timeoutMs (none). */
  taskDefaults?: Partial<TaskDefaults>;
  /** Lease of a claimed task without heartbeat, ms. Default 30000. */
  leaseMs?: number;
  /** Expired-lease sweep interval, ms. Default 1000. */
  sweepIntervalMs?: number;
  /** Options of the in-process worker that runs handlers registered with `handle`. */
  worker?: Omit<WorkerOptions, 'logger'>;
  /** Start the in-process worker as soon as a handler is registered. Default true. */
  autoStart?: boolean;
  /** Cron schedule ticking: interval and what counts as a missed slot. */
  scheduler?: SchedulerOptions;
  /** Delete finished tasks after an age per status; default keep forever. */
  retention?: RetentionOptions;
  /** Default: pino at TASKHUB_LOG_LEVEL or `info`. */
  logger?: Logger;
  /** Prometheus metrics (`hub.metrics`): how queue gauges count. */
  metrics?: MetricsOptions;
  /** Largest state `ctx.checkpoint` may save, bytes of its JSON (UTF-8); larger ones fail with CHECKPOINT_TOO_LARGE. Default 1 MiB. */
  checkpointMaxBytes?: number;
}

export interface SubscribeOptions {
  /** Queue the copies go to. Default `default`. */
  queue?: string;
  /** Task type of the copies. Default: the subscription name. */
  type?: string;
  concurrency?: number;
}

export interface ListOptions extends Partial<Omit<TaskQuery, 'limit'>> {
  limit?: number;
}

/** Topic subscriptions and publishing, as the HTTP API and the CLI manage them (`hub.subscribe` also runs a handler). */
export type TopicsApi = Pick<Topics, 'publish' | 'subscribe' | 'unsubscribe' | 'list' | 'get' | 'unmatchedPublishes'>;
/** Schedules (cron or fixed interval). `tick` fires every due slot now (the engine also ticks on its own). */
export type SchedulesApi = Pick<Scheduler, 'put' | 'get' | 'list' | 'delete' | 'tick'>;
/** Per-type defaults and payload schemas. */
export type TypesApi = Pick<TypeRegistry, 'put' | 'delete' | 'list'>;
/** API keys and shared secrets, as the store keeps them (hashes only), for the server's auth and `taskhub keys`. */
export type KeysApi = Pick<Store, 'createApiKey' | 'findApiKey' | 'listApiKeys' | 'revokeApiKey' | 'secret'>;

export class Taskhub {
  readonly #engine: Engine;
  /** The in-process worker that runs the handlers registered with `handle`. */
  readonly worker: Worker;
  readonly logger: Logger;
  /** Prometheus metrics of this process (GET /metrics serves them). */
  readonly metrics: TaskMetrics;
  /** Topic subscriptions and publishing. */
  readonly topics: TopicsApi;
  /** Cron schedules. */
  readonly schedules: SchedulesApi;
  /** Per-type defaults and payload schemas. */
  readonly types: TypesApi;
  /** API keys and shared secrets (for the server's auth and `taskhub keys`). */
  readonly keys: KeysApi;
  /**
   * The worker protocol (claim, heartbeat, progress, output, complete, fail, release, the workers list), for the
   * server's worker routes and tests. Applications register handlers with `handle` instead.
   */
  readonly attempts: WorkerGateway;
  readonly #autoStart: boolean;
  readonly #unlogAttempts: () => void;

  private constructor(engine: Engine, options: TaskhubOptions, logger: Logger) {
    this.#engine = engine;
    this.logger = logger;
    this.#autoStart = options.autoStart ?? true;
    this.topics = engine.topics;
    this.schedules = engine.scheduler;
    this.types = engine.types;
    const store = engine.store;
    this.keys = {
      createApiKey: (key, secretHash) => store.createApiKey(key, secretHash),
      findApiKey: (id) => store.findApiKey(id),
      listApiKeys: () => store.listApiKeys(),
      revokeApiKey: (id, now) => store.revokeApiKey(id, now),
      secret: (name) => store.secret(name),
    };
    this.attempts = engine.attempts;
    this.worker = new Worker(engine.attempts, { ...options.worker, logger });
    this.metrics = new TaskMetrics(
      {
        store: engine.store,
        queueSettings: () => engine.queues.settings(),
        unmatchedPublishes: () => engine.topics.unmatchedPublishes,
        observeAttempts: (observer) => engine.observeAttempts(observer),
      },
      { ...options.metrics, pool: () => this.worker.stats },
    );
    this.#unlogAttempts = logAttempts((observer) => engine.observeAttempts(observer), logger);
  }

  static async open(options: TaskhubOptions = {}): Promise<Taskhub> {
    const logger = options.logger ?? pino({ level: process.env.TASKHUB_LOG_LEVEL ?? 'info' });
    const store = typeof options.store === 'object' ? options.store : await openStore(options.store ?? DEFAULT_STORE_URL);
    const engine = new Engine(store, {
      ...(options.taskDefaults ? { taskDefaults: options.taskDefaults } : {}),
      ...(options.leaseMs ? { leaseMs: options.leaseMs } : {}),
      ...(options.sweepIntervalMs ? { sweepIntervalMs: options.sweepIntervalMs } : {}),
      ...(options.scheduler ? { scheduler: options.scheduler } : {}),
      ...(options.retention ? { retention: options.retention } : {}),
      ...(options.checkpointMaxBytes !== undefined ? { checkpointMaxBytes: options.checkpointMaxBytes } : {}),
    });
    engine.start();
    return new Taskhub(engine, options, logger);
  }

  /** `sqlite` or `postgres`. */
  get backend(): string {
    return this.#engine.store.backend;
  }

  /** Resolves when the store answers; rejects with StoreUnavailableError otherwise. */
  ping(): Promise<void> {
    return this.#engine.store.ping();
  }

  /** Registers the handler of a task type; the in-process worker starts with the first one unless autoStart is false. */
  handle<P = Json>(type: string, handler: Handler<P, unknown>, options?: HandlerOptions): this {
    this.worker.handle(type, handler, options);
    if (this.#autoStart) this.worker.start();
    return this;
  }

  /** Starts the in-process worker. */
  start(): this {
    this.worker.start();
    return this;
  }

  // ---- tasks ----

  /** Stores a task (202-durable when this resolves). With an idempotency key already used, resolves to that task. */
  async enqueue(type: string, payload: Json = null, options: EnqueueOptions = {}): Promise<Task> {
    // Called inside a span (with an OpenTelemetry SDK), the task's handler runs in that trace.
    const traceparent = options.traceparent ?? activeTraceparent();
    return (await this.#engine.tasks.enqueue({ ...options, type, payload, ...(traceparent ? { traceparent } : {}) })).task;
  }

  /** Stores many tasks in one transaction: all or none. */
  async enqueueMany(tasks: readonly TaskSpec[]): Promise<Task[]> {
    return (await this.#engine.tasks.enqueueMany(tasks)).map((r) => r.task);
  }

  /**
   * Stores a task from a full spec (owner, idempotency key and all) and says whether it is new: `created` is false
   * when the idempotency key was used already and `task` is the existing one. What `POST /tasks` does.
   */
  submit(spec: TaskSpec): Promise<CreatedTask> {
    return this.#engine.tasks.enqueue(spec);
  }

  /** `submit` for many, in one transaction: all or none. */
  submitMany(specs: readonly TaskSpec[]): Promise<CreatedTask[]> {
    return this.#engine.tasks.enqueueMany(specs);
  }

  /**
   * Stores a task inside a transaction your application controls (PostgreSQL only): pass the pg client on which you
   * ran BEGIN; the task exists if and only if your transaction commits.
   */
  async enqueueIn(client: TransactionClient, type: string, payload: Json = null, options: EnqueueOptions = {}): Promise<Task> {
    const store = this.#engine.store;
    if (!supportsTransactionalEnqueue(store)) throw new TaskhubError('UNSUPPORTED', `enqueueIn needs the PostgreSQL store; this one is ${store.backend}`);
    const [created] = await store.createTasksIn(client, [await this.#engine.tasks.prepare({ ...options, type, payload })]);
    return created.task;
  }

  get(id: string): Promise<Task> {
    return this.#engine.tasks.get(id);
  }

  list(options: ListOptions = {}): Promise<TaskPage> {
    return this.#engine.tasks.list({ ...options, limit: options.limit ?? 50 });
  }

  /** The task's history after `afterSeq`, at most `limit` events. */
  events(id: string, afterSeq = 0, limit = 1000): Promise<TaskEvent[]> {
    return this.#engine.tasks.events(id, afterSeq, limit);
  }

  /** History, then live events, ending after the terminal one. */
  follow(id: string, options?: FollowOptions): AsyncGenerator<TaskEvent> {
    return this.#engine.tasks.follow(id, options);
  }

  /** Every event of every task as it happens, from every process (deduping is the watcher's job); returns the stopper. */
  watchAll(watcher: (event: QueueEvent) => void): () => void {
    return this.#engine.tasks.watchAll(watcher);
  }

  /** Followers (`follow`, SSE streams, WebSocket subscriptions) of single tasks open in this process. */
  get followerCount(): number {
    return this.#engine.tasks.followerCount;
  }

  /** Waits for the task to finish (or the timeout) and returns it as it is then. */
  wait(id: string, timeoutMs = 60_000): Promise<Task> {
    return this.#engine.tasks.waitUntilFinished(id, timeoutMs);
  }

  cancel(id: string, reason?: string): Promise<Task> {
    return this.#engine.tasks.cancel(id, reason);
  }

  retry(id: string): Promise<Task> {
    return this.#engine.tasks.retry(id);
  }

  // ---- durable execution (docs/durable.md) ----

  /**
   * Puts a failed or cancelled task back in its queue, resuming from its latest checkpoint or from `fromVersion`
   * (saved again as the latest: the checkpoint history is kept).
   */
  recover(id: string, options: { fromVersion?: number } = {}): Promise<Task> {
    return this.#engine.tasks.recover(id, options);
  }

  /**
   * A new task made from task `id` (parentId = id): the original's settings and payload, with `spec`'s changes
   * (payload shallow-merged); with `fromCheckpoint`, it starts from that checkpoint of the original.
   */
  derive(id: string, spec: DeriveSpec = {}): Promise<Task> {
    return this.#engine.tasks.derive(id, spec);
  }

  /** The task's checkpoint versions (version, label, size, createdAt), oldest first. */
  checkpoints(id: string): Promise<CheckpointInfo[]> {
    return this.#engine.tasks.checkpoints(id);
  }

  /** One checkpoint with its state (or the latest); null when there is none. */
  checkpoint(id: string, version: number | 'latest'): Promise<Checkpoint | null> {
    return this.#engine.tasks.checkpoint(id, version);
  }

  /** Sends a signal: wakes the task when it waits for `name`, else it is kept for its wait. */
  signal(id: string, name: string, data: Json = null): Promise<SendSignalResult> {
    return this.#engine.tasks.signal(id, name, data);
  }

  /** Dead-letter redrive: puts every failed task of the queue back in it; answers how many. */
  async redrive(queue: string): Promise<number> {
    const n = await this.#engine.tasks.redrive(queue);
    this.metrics.counts.invalidate();
    return n;
  }

  /** Deletes a task that is not running (cancel it first), with its history. */
  async deleteTask(id: string): Promise<void> {
    await this.#engine.tasks.deleteTask(id);
    this.metrics.counts.invalidate();
  }

  // ---- queues ----

  /** Task counts by queue and status; with `owner`, that owner's tasks only. */
  queues(owner?: string): Promise<QueueCounts[]> {
    return this.#engine.queues.counts(owner);
  }

  /** What each key holds back in a queue, by reason: `debounce`, `singleton`, `throttled`, `over-budget` (docs/queues.md). */
  heldBack(queue: string): Promise<HeldBack[]> {
    return this.#engine.queues.heldBack(queue);
  }

  /** Every queue that has settings (paused, limits). */
  queueSettings(): Promise<QueueSettings[]> {
    return this.#engine.queues.settings();
  }

  pauseQueue(name: string): Promise<QueueSettings> {
    return this.#engine.queues.setPaused(name, true);
  }

  resumeQueue(name: string): Promise<QueueSettings> {
    return this.#engine.queues.setPaused(name, false);
  }

  /**
   * Limits of a queue, enforced across every process: a global concurrency cap, a rate limit, and fair sharing
   * (`maxPerKey`: at most N running per concurrencyKey, which defaults to the task's owner, taken round-robin).
   */
  setQueueLimits(name: string, limits: QueueLimits): Promise<QueueSettings> {
    return this.#engine.queues.setLimits(name, limits);
  }

  // ---- topics, schedules, types, workers ----

  /** Publishes to a topic: one task per matching subscription, created atomically. */
  publish(topic: string, payload: Json = null, options?: PublishOptions): Promise<PublishResult> {
    return this.topics.publish(topic, payload, options);
  }

  /**
   * A durable subscription named `name` to topics matching `pattern`, run by `handler` here: each publish makes a
   * task of type `name` (or options.type) in options.queue, which retries and dead-letters on its own.
   */
  async subscribe<P = Json>(pattern: string, name: string, handler: Handler<P, unknown>, options: SubscribeOptions = {}): Promise<Subscription> {
    const type = options.type ?? name;
    const { subscription } = await this.topics.subscribe(name, pattern, { type, ...(options.queue ? { queue: options.queue } : {}) });
    this.handle(type, handler, options.concurrency ? { concurrency: options.concurrency } : {});
    return subscription;
  }

  unsubscribe(name: string): Promise<boolean> {
    return this.topics.unsubscribe(name);
  }

  /** Creates or replaces a schedule: `cron: '0 3 * * *'` or a fixed interval, `every: '30s'` (exactly one). */
  async schedule(name: string, input: ScheduleInput): Promise<Schedule> {
    return (await this.schedules.put(name, input)).schedule;
  }

  unschedule(name: string): Promise<boolean> {
    return this.schedules.delete(name);
  }

  /** Defaults, a payload JSON Schema and a rate limit for a task type, shared by every process (replaces them all). */
  setTypeSettings(type: string, settings: TypeSettingsInput): Promise<TypeSettings> {
    return this.types.put(type, settings);
  }

  /** Live workers in every process sharing this store (local and remote). */
  workers(): Promise<WorkerInfo[]> {
    return this.attempts.listWorkers();
  }

  get stats(): PoolStats {
    return this.worker.stats;
  }

  /** Stops the worker gracefully (see WorkerOptions.shutdownGraceMs), then closes the store. */
  async close(options: { graceMs?: number } = {}): Promise<void> {
    await this.worker.stop(options.graceMs);
    this.#unlogAttempts();
    this.metrics.close();
    await this.#engine.close();
  }
}
