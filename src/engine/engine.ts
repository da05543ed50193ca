// Where the engine is assembled: queue semantics over a Store, written once for every backend. Each part gets only
// what it uses (a slice of the store, the clock, the enqueue or finish it needs), never the engine itself, so no part
// imports another's owner and each can be built alone in a test. Callers reach the parts through `Taskhub`.
import type { TaskDefaults } from '../core/validate.ts';
import { DEFAULT_TASK_DEFAULTS } from '../core/validate.ts';
import { canResync } from '../store/notifier/notifier.ts';
import { type Store, supportsHandoff } from '../store/store.ts';
import { AttemptService } from './attempt-service.ts';
import { CancelSignal } from './cancel-signal.ts';
import { TaskEventHub } from './event-hub.ts';
import { type AttemptObserver, Finisher } from './finisher.ts';
import { Handoffs } from './handoff.ts';
import { QueueControls } from './queue-controls.ts';
import { ReadySignal } from './ready-signal.ts';
import { Retention, type RetentionOptions } from './retention.ts';
import { Scheduler, type SchedulerOptions } from './scheduler.ts';
import { LeaseSweeper } from './sweeper.ts';
import { TaskService } from './task-service.ts';
import { Topics } from './topics.ts';
import { TypeRegistry } from './type-settings.ts';
import { WakeTimer } from './wake-timer.ts';

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
  /** Largest checkpoint state, bytes of its JSON. Default 1 MiB. */
  checkpointMaxBytes?: number;
}

/** The assembled engine: its parts, and the store listener and background passes that run under them. */
export class Engine {
  readonly store: Store;
  /** Submits, reads, cancel, retry, redrive, live events. */
  readonly tasks: TaskService;
  /** The worker protocol: claim, heartbeat, progress, output, complete, fail, release, the workers list. */
  readonly attempts: AttemptService;
  readonly queues: QueueControls;
  readonly topics: Topics;
  readonly scheduler: Scheduler;
  readonly types: TypeRegistry;
  readonly retention: Retention;
  readonly sweeper: LeaseSweeper;
  readonly #finisher: Finisher;
  readonly #events: TaskEventHub;
  readonly #ready = new ReadySignal();
  readonly #cancels = new CancelSignal();
  /** Bumps #ready when a scheduled task comes due, so waiting claimers start it on time. */
  readonly #wakeTimer: WakeTimer;
  #unlisten: (() => void) | undefined;
  #unresync: (() => void) | undefined;

  constructor(store: Store, options: EngineOptions = {}) {
    const now = options.now ?? Date.now;
    this.store = store;
    this.#events = new TaskEventHub(store);
    this.#finisher = new Finisher({ store, now });
    this.types = new TypeRegistry(store, now);
    const leaseMs = options.leaseMs ?? 30_000;
    // Only a store that can start a task in its submit's transaction takes offers (SQLite).
    const starter = supportsHandoff(store) ? store : null;
    const handoffs = starter ? new Handoffs() : undefined;
    this.tasks = new TaskService({
      store,
      now,
      defaults: { ...DEFAULT_TASK_DEFAULTS, ...options.taskDefaults },
      types: this.types,
      events: this.#events,
      cancels: this.#cancels,
      ...(starter && handoffs ? { handoff: { offers: handoffs, createAndStart: (...args) => starter.createAndStart(...args), leaseMs } } : {}),
    });
    const tasks = this.tasks;
    this.attempts = new AttemptService({
      store,
      now,
      leaseMs,
      ready: this.#ready,
      cancels: this.#cancels,
      finisher: this.#finisher,
      ...(handoffs ? { handoffs } : {}),
      prepare: (spec) => tasks.prepare(spec),
      ...(options.checkpointMaxBytes !== undefined ? { checkpointMaxBytes: options.checkpointMaxBytes } : {}),
    });
    this.queues = new QueueControls({ store, now });
    this.topics = new Topics({ store, now, enqueueMany: (specs) => tasks.enqueueMany(specs) });
    this.scheduler = new Scheduler({ store, now, enqueue: (spec) => tasks.enqueue(spec) }, options.scheduler);
    this.retention = new Retention({ store, now }, options.retention ?? {});
    const finisher = this.#finisher;
    this.sweeper = new LeaseSweeper({ store, now, finishMany: (requests) => finisher.finishMany(requests) }, options.sweepIntervalMs ?? 1000);
    const ready = this.#ready;
    this.#wakeTimer = new WakeTimer({ nextScheduledAt: () => store.nextScheduledAt(null), now, wake: () => ready.bump() });
  }

  /** Starts listening for changes, sweeping leases, firing schedules and cleaning up. Idempotent. */
  start(): void {
    if (this.#unlisten) return;
    this.#wakeTimer.start();
    // Start and completion events matter here only to followers and queue watchers (the wake timer reads due times,
    // which those events do not carry): without them, a drain's two notices per task are not even built.
    const events = this.#events;
    this.#unlisten = this.store.listen(
      (notice) => {
        if (notice.kind === 'event') {
          events.onNotice(notice);
          this.#wakeTimer.onNotice(notice);
        } else if (notice.kind === 'ready') this.#ready.bump();
        else this.#cancels.emit(notice.taskId);
      },
      { wantsStartsAndCompletions: () => events.wantsStartsAndCompletions },
    );
    // Notices sent while the listener was away are gone: followers and queue watchers re-read what they may have
    // missed (a task that ended meanwhile sends nothing more that would reveal the gap), and the wake timer asks the
    // store for the earliest scheduled task again.
    if (canResync(this.store)) {
      this.#unresync = this.store.onResync(({ since }) => {
        void events.resync(since);
        void this.#wakeTimer.refresh();
      });
    }
    this.sweeper.start();
    this.scheduler.start();
    this.retention.start();
  }

  async close(): Promise<void> {
    this.sweeper.stop();
    this.scheduler.stop();
    this.retention.stop();
    this.#wakeTimer.stop();
    this.#unlisten?.();
    this.#unlisten = undefined;
    this.#unresync?.();
    this.#unresync = undefined;
    await this.store.close();
  }

  /** Adds an observer of the attempts this process starts and ends (metrics, logs); returns the function that removes it. */
  observeAttempts(observer: AttemptObserver): () => void {
    return this.#finisher.observe(observer);
  }
}
