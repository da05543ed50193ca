// Prometheus metrics of one process (names and labels fixed by DESIGN.md, "Observability"). Runs are counted where
// their attempt ends: the engine tells its attempt observers of every claim and finish this process makes, and each
// attempt is claimed once and finished once in the whole cluster, so summing every process's counters counts each
// attempt exactly once. Queue gauges come from QueueCountCache (bounded cost, shared for a few seconds).
import { Counter, collectDefaultMetrics, Gauge, Registry } from 'prom-client';
import { TASK_STATUSES } from '../core/task.ts';
import type { AttemptObserver, FinishedAttempt } from '../engine/finisher.ts';
import type { Claim, FinishRequest, HeldBack, QueueSettings, Store } from '../store/store.ts';
import { BoundHistogram, type HistogramSeries } from './histogram.ts';
import { QueueCountCache, type QueueCountOptions } from './queue-counts.ts';

export type RunOutcome = 'completed' | 'failed' | 'retried' | 'cancelled' | 'timed_out';
export type StreamKind = 'sse' | 'ws';

export interface MetricsOptions {
  /** Queue gauges: count at most this many tasks of each status (default 10000), reused for ttlMs (default 2000). */
  queueCounts?: QueueCountOptions;
}

/** Worker pool figures of this process (see Worker.stats). */
export interface PoolFigures {
  running: number;
  idle: number;
  waiting: number;
  capacity: number;
}

/** Run time buckets, seconds: from quick jobs to hour-long generations. */
const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600];
/** Enqueue-to-start buckets, seconds: milliseconds when workers keep up, minutes in a backlog. */
const HELD_BACK_REASONS: readonly HeldBack['reason'][] = ['debounce', 'singleton', 'throttled', 'over-budget'];

const WAIT_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600];

/** How an attempt ended, as the `outcome` label says it. */
export function runOutcome(request: FinishRequest): RunOutcome {
  const { outcome } = request;
  if (outcome.status === 'completed') return 'completed';
  if (outcome.status === 'cancelled') return 'cancelled';
  if (outcome.error.code === 'TIMEOUT') return 'timed_out';
  // A retry, including a lease that expired with attempts left and a task given back at shutdown.
  return outcome.status === 'retry' ? 'retried' : 'failed';
}

/** What the metrics read: queue counts from the store, queue settings, topic figures, and the attempts as they run. */
export interface MetricsSources {
  store: Pick<Store, 'countTasks' | 'heldBack'>;
  queueSettings(): Promise<QueueSettings[]>;
  unmatchedPublishes(): number;
  observeAttempts(observer: AttemptObserver): () => void;
}

/** The per-attempt series of one queue and type: its run time, and its runs by outcome with those not yet added. */
interface TypeSeries {
  duration: HistogramSeries;
  runs: Partial<Record<RunOutcome, { child: { inc(value: number): void }; uncounted: number }>>;
}

export class TaskMetrics {
  readonly registry = new Registry();
  readonly counts: QueueCountCache;
  readonly #runs: Counter<'queue' | 'type' | 'outcome'>;
  readonly #duration: BoundHistogram<'queue' | 'type'>;
  readonly #wait: BoundHistogram<'queue'>;
  readonly #signals: Counter<'resumed'>;
  readonly #streams = new Set<() => Record<StreamKind, number>>();
  /** Label-bound children by queue, then type: no label object or key string is made per attempt. */
  readonly #ofQueue = new Map<string, Map<string, TypeSeries>>();
  readonly #waitChildren = new Map<string, HistogramSeries>();
  readonly #unobserve: () => void;
  #processMetrics = false;

  constructor(sources: MetricsSources, options: MetricsOptions & { pool?: () => PoolFigures } = {}) {
    const registers = [this.registry];
    this.counts = new QueueCountCache(sources.store, options.queueCounts);
    const counts = this.counts;
    const ofQueue = this.#ofQueue;
    this.#runs = new Counter({
      name: 'taskhub_task_runs_total',
      help: 'Attempts ended in this process, by how they ended (completed, failed, retried, cancelled, timed_out)',
      labelNames: ['queue', 'type', 'outcome'],
      registers,
      // Attempts are counted locally and added here, when read: prom-client's inc hashes the labels on every call.
      collect() {
        for (const byType of ofQueue.values()) {
          for (const series of byType.values()) {
            for (const run of Object.values(series.runs)) {
              if (run.uncounted === 0) continue;
              run.child.inc(run.uncounted);
              run.uncounted = 0;
            }
          }
        }
      },
    });
    this.#duration = new BoundHistogram({
      name: 'taskhub_task_duration_seconds',
      help: 'Run time of attempts ended in this process, from claim to outcome',
      labelNames: ['queue', 'type'],
      buckets: DURATION_BUCKETS,
      registers,
    });
    this.#wait = new BoundHistogram({
      name: 'taskhub_task_wait_seconds',
      help: 'Enqueue to start of attempts claimed in this process: from the time a task became ready (runAt) to its claim',
      labelNames: ['queue'],
      buckets: WAIT_BUCKETS,
      registers,
    });
    this.#signals = new Counter({
      name: 'taskhub_signals_total',
      help: 'Signals sent to tasks through this process (HTTP API), by whether they woke a waiting task (resumed) or were kept for a later wait',
      labelNames: ['resumed'],
      registers,
    });
    new Gauge({
      name: 'taskhub_queue_tasks',
      help: 'Tasks by queue and status, counting at most taskhub_queue_tasks_cap of each status (see taskhub_queue_tasks_capped)',
      labelNames: ['queue', 'status'],
      registers,
      async collect() {
        const snapshot = await counts.get();
        this.reset();
        for (const q of snapshot.queues) for (const status of TASK_STATUSES) this.set({ queue: q.queue, status }, q.counts[status]);
      },
    });
    new Gauge({
      name: 'taskhub_queue_tasks_capped',
      help: '1 for a status with at least taskhub_queue_tasks_cap tasks: its taskhub_queue_tasks values are lower bounds',
      labelNames: ['status'],
      registers,
      async collect() {
        const snapshot = await counts.get();
        for (const status of TASK_STATUSES) this.set({ status }, snapshot.capped.includes(status) ? 1 : 0);
      },
    });
    new Gauge({
      name: 'taskhub_queue_tasks_cap',
      help: 'Most tasks of one status that taskhub_queue_tasks counts',
      registers,
      collect() {
        this.set(counts.cap);
      },
    });
    new Gauge({
      name: 'taskhub_queue_tasks_age_seconds',
      help: 'Age of the count behind taskhub_queue_tasks (counts are shared for a few seconds)',
      registers,
      async collect() {
        this.set((Date.now() - (await counts.get()).countedAt) / 1000);
      },
    });
    const store = sources.store;
    new Gauge({
      name: 'taskhub_tasks_held_back',
      help: 'Queued tasks flow control holds back now, by queue and reason (throttled, over-budget, debounce, singleton)',
      labelNames: ['queue', 'reason'],
      registers,
      async collect() {
        // Only queues with scheduled (debounce) or queued tasks can hold anything back: one heldBack call each.
        const queues = (await counts.get()).queues.filter((q) => q.counts.scheduled > 0 || q.counts.queued > 0).map((q) => q.queue);
        const held = await Promise.all(queues.map(async (queue) => ({ queue, held: await store.heldBack(queue) })));
        this.reset();
        for (const { queue, held: entries } of held) {
          const byReason = new Map<string, number>(HELD_BACK_REASONS.map((reason) => [reason, 0]));
          for (const h of entries) byReason.set(h.reason, (byReason.get(h.reason) ?? 0) + h.tasks);
          for (const [reason, n] of byReason) this.set({ queue, reason }, n);
        }
      },
    });
    new Gauge({
      name: 'taskhub_queue_paused',
      help: '1 for a paused queue (it hands out no tasks)',
      labelNames: ['queue'],
      registers,
      async collect() {
        this.reset();
        for (const q of await sources.queueSettings()) this.set({ queue: q.name }, q.paused ? 1 : 0);
      },
    });
    const streams = this.#streams;
    new Gauge({
      name: 'taskhub_stream_connections',
      help: 'Open live connections of this process: sse (task streams and the feed) and ws',
      labelNames: ['kind'],
      registers,
      collect() {
        const total: Record<StreamKind, number> = { sse: 0, ws: 0 };
        for (const read of streams) {
          const open = read();
          total.sse += open.sse;
          total.ws += open.ws;
        }
        this.set({ kind: 'sse' }, total.sse);
        this.set({ kind: 'ws' }, total.ws);
      },
    });
    let reportedUnmatched = 0;
    new Counter({
      name: 'taskhub_publishes_unmatched_total',
      help: 'Events published in this process that matched no subscription (no task was made)',
      registers,
      collect() {
        const now = sources.unmatchedPublishes();
        if (now > reportedUnmatched) this.inc(now - reportedUnmatched);
        reportedUnmatched = now;
      },
    });
    const pool = options.pool;
    if (pool) {
      new Gauge({
        name: 'taskhub_worker_slots',
        help: "This process's worker pool: running handlers, idle slots, claimed tasks waiting for a slot, and capacity",
        labelNames: ['state'],
        registers,
        collect() {
          const figures = pool();
          for (const state of ['running', 'idle', 'waiting', 'capacity'] as const) this.set({ state }, figures[state]);
        },
      });
    }

    const observer: AttemptObserver = {
      onTaskStarted: (claims, now) => this.#started(claims, now),
      onAttemptFinished: (attempts, now) => this.#finished(attempts, now),
    };
    this.#unobserve = sources.observeAttempts(observer);
  }

  /** A signal was sent through this process; `resumed`: it woke its waiting task. */
  countSignal(resumed: boolean): void {
    this.#signals.labels(resumed ? 'true' : 'false').inc();
  }

  // Index loops here: these run once per claim and finish batch, too rarely to be optimized before their loops have
  // made an iterator result per attempt.
  #started(claims: readonly Claim[], now: number): void {
    for (let i = 0; i < claims.length; i++) {
      const { task } = claims[i];
      let wait = this.#waitChildren.get(task.queue);
      if (!wait) this.#waitChildren.set(task.queue, (wait = this.#wait.labels(task.queue)));
      wait.observe(Math.max(0, now - task.runAt) / 1000);
    }
  }

  #finished(attempts: readonly FinishedAttempt[], now: number): void {
    for (let i = 0; i < attempts.length; i++) {
      const { request, task } = attempts[i];
      const series = this.#series(task.queue, task.type);
      const outcome = runOutcome(request);
      const run = (series.runs[outcome] ??= { child: this.#runs.labels(task.queue, task.type, outcome), uncounted: 0 });
      run.uncounted++;
      if (task.startedAt !== null) series.duration.observe(Math.max(0, now - task.startedAt) / 1000);
    }
  }

  #series(queue: string, type: string): TypeSeries {
    let byType = this.#ofQueue.get(queue);
    if (!byType) this.#ofQueue.set(queue, (byType = new Map()));
    let series = byType.get(type);
    // A child makes no series until it is observed or incremented.
    if (!series) byType.set(type, (series = { duration: this.#duration.labels(queue, type), runs: {} }));
    return series;
  }

  /** Adds the Node.js process metrics (CPU, memory, event loop lag, GC, handles); once, when something serves them. */
  enableProcessMetrics(): void {
    if (this.#processMetrics) return;
    this.#processMetrics = true;
    collectDefaultMetrics({ register: this.registry });
  }

  /** Counts the live connections `read` reports (one server's) in taskhub_stream_connections; returns the remover. */
  addStreamConnections(read: () => Record<StreamKind, number>): () => void {
    this.#streams.add(read);
    return () => this.#streams.delete(read);
  }

  /** The exposition text, and its content type. */
  async exposition(): Promise<{ text: string; contentType: string }> {
    return { text: await this.registry.metrics(), contentType: this.registry.contentType };
  }

  /** Stops observing the attempts. */
  close(): void {
    this.#unobserve();
  }
}
