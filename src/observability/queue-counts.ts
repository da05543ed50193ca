// Queue counts for /metrics and the dashboard, at a bounded cost whatever the size of the tasks table: the store reads
// at most `cap` tasks of each status along that status's index (Store.countTasks), and the answer is shared for a few
// seconds, so any number of scrapes and dashboards cost one count per interval. docs/observability.md says why.
import type { TaskStatus } from '../core/task.ts';
import type { QueueCounts, Store } from '../store/store.ts';

export interface QueueCountOptions {
  /** Count at most this many tasks of each status. Default 10000. */
  cap?: number;
  /** Reuse a count for this long, ms. Default 2000. */
  ttlMs?: number;
  now?: () => number;
}

export interface QueueCountSnapshot {
  queues: QueueCounts[];
  /** Statuses that reached the cap: their counts are lower bounds. */
  capped: TaskStatus[];
  cap: number;
  /** When the count was taken, epoch ms. */
  countedAt: number;
  /** How long it took, ms. */
  durationMs: number;
}

export const DEFAULT_COUNT_CAP = 10_000;

export class QueueCountCache {
  readonly cap: number;
  readonly #store: Pick<Store, 'countTasks'>;
  readonly #ttlMs: number;
  readonly #now: () => number;
  #last: QueueCountSnapshot | null = null;
  #pending: Promise<QueueCountSnapshot> | null = null;

  constructor(store: Pick<Store, 'countTasks'>, options: QueueCountOptions = {}) {
    this.#store = store;
    this.cap = options.cap ?? DEFAULT_COUNT_CAP;
    this.#ttlMs = options.ttlMs ?? 2000;
    this.#now = options.now ?? Date.now;
  }

  /**
   * The latest count if it is fresh, else a new one (one at a time: concurrent callers share it). A count that took
   * long is kept proportionally longer (ten times its duration), so counting never takes more than a tenth of the time.
   * When the store fails and an older count exists, that one is answered.
   */
  get(): Promise<QueueCountSnapshot> {
    const last = this.#last;
    if (last && this.#now() - last.countedAt < Math.max(this.#ttlMs, 10 * last.durationMs)) return Promise.resolve(last);
    this.#pending ??= this.#count().finally(() => {
      this.#pending = null;
    });
    return this.#pending;
  }

  /** Forgets the cached count: the next `get` counts again (after an action that changed counts, for example). */
  invalidate(): void {
    this.#last = null;
  }

  async #count(): Promise<QueueCountSnapshot> {
    const started = this.#now();
    const t0 = performance.now();
    try {
      const { queues, capped } = await this.#store.countTasks(this.cap);
      this.#last = { queues, capped, cap: this.cap, countedAt: started, durationMs: performance.now() - t0 };
      return this.#last;
    } catch (error) {
      if (this.#last) return this.#last;
      throw error;
    }
  }
}
