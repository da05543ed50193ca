// The embedded API: one object that stores tasks, runs handlers and answers questions about them.
import pino, { type Logger } from 'pino';
import type { Json, Task, TaskEvent, TaskSpec, EnqueueOptions } from './core/task.ts';
import type { NewTask, TaskDefaults } from './core/validate.ts';
import { TaskhubError } from './core/errors.ts';
import { Engine, type FollowOptions } from './engine/engine.ts';
import { openStore, DEFAULT_STORE_URL } from './store/open.ts';
import type { RetentionOptions } from './engine/retention.ts';
import type { ScheduleInput, SchedulerOptions } from './engine/scheduler.ts';
import type { PublishOptions, PublishResult } from './engine/topics.ts';
import type { CreatedTask, QueueCounts, QueueSettings, Schedule, Store, Subscription, TaskPage, TaskQuery, TypeSettings, WorkerInfo } from './store/store.ts';
import type { Handler } from './worker/context.ts';
import { logAttempts } from './observability/attempt-log.ts';
import { type MetricsOptions, TaskMetrics } from './observability/metrics.ts';
import { activeTraceparent } from './observability/tracing.ts';
import { type HandlerOptions, type PoolStats, Worker, type WorkerOptions } from './worker/worker.ts';

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
}

/** A connection that can run queries: `pg.Client` or `pg.PoolClient`, inside your BEGIN … COMMIT. */
export interface TransactionClient {
  query(...args: never[]): unknown;
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

export class Taskhub {
  readonly engine: Engine;
  readonly worker: Worker;
  readonly logger: Logger;
  /** Prometheus metrics of this process (GET /metrics serves them). */
  readonly metrics: TaskMetrics;
  readonly #autoStart: boolean;
  readonly #unlogAttempts: () => void;

  private constructor(engine: Engine, options: TaskhubOptions, logger: Logger) {
    this.engine = engine;
    this.logger = logger;
    this.#autoStart = options.autoStart ?? true;
    this.worker = new Worker(engine, { ...options.worker, logger });
    this.metrics = new TaskMetrics(engine, { ...options.metrics, pool: () => this.worker.stats });
    this.#unlogAttempts = logAttempts(engine, logger);
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
    });
    engine.start();
    return new Taskhub(engine, options, logger);
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

  /** Stores a task (202-durable when this resolves). With an idempotency key already used, resolves to that task. */
  async enqueue(type: string, payload: Json = null, options: EnqueueOptions = {}): Promise<Task> {
    // Called inside a span (with an OpenTelemetry SDK), the task's handler runs in that trace.
    const traceparent = options.traceparent ?? activeTraceparent();
    return (await this.engine.enqueue({ ...options, type, payload, ...(traceparent ? { traceparent } : {}) })).task;
  }

  /** Stores many tasks in one transaction: all or none. */
  async enqueueMany(tasks: readonly TaskSpec[]): Promise<Task[]> {
    return (await this.engine.enqueueMany(tasks)).map((r) => r.task);
  }

  /**
   * Stores a task inside a transaction your application controls (PostgreSQL only): pass the pg client on which you
   * ran BEGIN; the task exists if and only if your transaction commits.
   */
  async enqueueIn(client: TransactionClient, type: string, payload: Json = null, options: EnqueueOptions = {}): Promise<Task> {
    const store = this.engine.store as Store & { createTasksIn?: (client: TransactionClient, tasks: NewTask[]) => Promise<CreatedTask[]> };
    if (!store.createTasksIn) throw new TaskhubError('UNSUPPORTED', `enqueueIn needs the PostgreSQL store; this one is ${store.backend}`);
    const [created] = await store.createTasksIn(client, [await this.engine.prepare({ ...options, type, payload })]);
    return created.task;
  }

  get(id: string): Promise<Task> {
    return this.engine.get(id);
  }

  list(options: ListOptions = {}): Promise<TaskPage> {
    return this.engine.list({ ...options, limit: options.limit ?? 50 });
  }

  events(id: string, afterSeq = 0): Promise<TaskEvent[]> {
    return this.engine.events(id, afterSeq);
  }

  /** History, then live events, ending after the terminal one. */
  follow(id: string, options?: FollowOptions): AsyncGenerator<TaskEvent> {
    return this.engine.follow(id, options);
  }

  /** Waits for the task to finish (or the timeout) and returns it as it is then. */
  wait(id: string, timeoutMs = 60_000): Promise<Task> {
    return this.engine.waitUntilFinished(id, timeoutMs);
  }

  cancel(id: string, reason?: string): Promise<Task> {
    return this.engine.cancel(id, reason);
  }

  retry(id: string): Promise<Task> {
    return this.engine.retry(id);
  }

  /** Dead-letter redrive: puts every failed task of the queue back in it; answers how many. */
  async redrive(queue: string): Promise<number> {
    const n = await this.engine.redrive(queue);
    this.metrics.counts.invalidate();
    return n;
  }

  /** Deletes a task that is not running (cancel it first), with its history. */
  async deleteTask(id: string): Promise<void> {
    await this.engine.deleteTask(id);
    this.metrics.counts.invalidate();
  }

  queues(owner?: string): Promise<QueueCounts[]> {
    return this.engine.queues(owner);
  }

  /** Publishes to a topic: one task per matching subscription, created atomically. */
  publish(topic: string, payload: Json = null, options?: PublishOptions): Promise<PublishResult> {
    return this.engine.topics.publish(topic, payload, options);
  }

  /**
   * A durable subscription named `name` to topics matching `pattern`, run by `handler` here: each publish makes a
   * task of type `name` (or options.type) in options.queue, which retries and dead-letters on its own.
   */
  async subscribe<P = Json>(pattern: string, name: string, handler: Handler<P, unknown>, options: SubscribeOptions = {}): Promise<Subscription> {
    const type = options.type ?? name;
    const { subscription } = await this.engine.topics.subscribe(name, pattern, { type, ...(options.queue ? { queue: options.queue } : {}) });
    this.handle(type, handler, options.concurrency ? { concurrency: options.concurrency } : {});
    return subscription;
  }

  unsubscribe(name: string): Promise<boolean> {
    return this.engine.topics.unsubscribe(name);
  }

  /** Creates or replaces a cron schedule. */
  async schedule(name: string, input: ScheduleInput): Promise<Schedule> {
    return (await this.engine.scheduler.put(name, input)).schedule;
  }

  unschedule(name: string): Promise<boolean> {
    return this.engine.scheduler.delete(name);
  }

  pauseQueue(name: string): Promise<QueueSettings> {
    return this.engine.setQueuePaused(name, true);
  }

  resumeQueue(name: string): Promise<QueueSettings> {
    return this.engine.setQueuePaused(name, false);
  }

  /**
   * Limits of a queue, enforced across every process: a global concurrency cap, a rate limit, and fair sharing
   * (`maxPerKey`: at most N running per concurrencyKey, which defaults to the task's owner, taken round-robin).
   */
  setQueueLimits(
    name: string,
    limits: { maxConcurrency?: number | null; rateLimit?: { count: number; intervalMs: number } | null; maxPerKey?: number | null },
  ): Promise<QueueSettings> {
    return this.engine.setQueueLimits(name, limits);
  }

  /** Defaults and a payload JSON Schema for a task type, shared by every process. */
  setTypeSettings(type: string, settings: { defaults?: TypeSettings['defaults']; payloadSchema?: Json | null }): Promise<TypeSettings> {
    return this.engine.types.put(type, settings);
  }

  /** Live workers in every process sharing this store (local and remote). */
  workers(): Promise<WorkerInfo[]> {
    return this.engine.listWorkers();
  }

  get stats(): PoolStats {
    return this.worker.stats;
  }

  /** Stops the worker gracefully (see WorkerOptions.shutdownGraceMs), then closes the store. */
  async close(options: { graceMs?: number } = {}): Promise<void> {
    await this.worker.stop(options.graceMs);
    this.#unlogAttempts();
    this.metrics.close();
    await this.engine.close();
  }
}
