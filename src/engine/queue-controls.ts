// Queue counts and controls: pause and resume, and the limits `claim` enforces in every process.
import { checkCostLimit, checkInt32, checkName, checkRateLimit } from '../core/validate.ts';
import type { HeldBack, QueueCounts, QueueSettings, QueueSettingsPatch, Store } from '../store/store.ts';

export type QueueLimits = Pick<QueueSettingsPatch, 'maxConcurrency' | 'rateLimit' | 'maxPerKey'> & {
  /** `perKey` may be left out (false). */
  costLimit?: { budget: number; periodMs: number; perKey?: boolean } | null;
};

export interface QueueControlsDeps {
  store: Pick<Store, 'countByQueue' | 'updateQueueSettings' | 'listQueueSettings' | 'heldBack'>;
  now: () => number;
}

export class QueueControls {
  readonly #store: QueueControlsDeps['store'];
  readonly #now: () => number;

  constructor(deps: QueueControlsDeps) {
    this.#store = deps.store;
    this.#now = deps.now;
  }

  /** Task counts by queue and status; with `owner`, that owner's tasks only. */
  counts(owner?: string): Promise<QueueCounts[]> {
    return this.#store.countByQueue(owner);
  }

  /** Stops (or restarts) claiming from a queue, in every process. */
  setPaused(name: string, paused: boolean): Promise<QueueSettings> {
    return this.#store.updateQueueSettings(checkName('queue', name), { paused }, this.#now());
  }

  /** Global concurrency cap, rate limit and fair-sharing limit per key of a queue; null removes one. */
  setLimits(name: string, limits: QueueLimits): Promise<QueueSettings> {
    const patch: QueueSettingsPatch = {};
    if (limits.maxPerKey !== undefined) {
      const perKey = limits.maxPerKey;
      if (perKey !== null) checkInt32('maxPerKey', perKey);
      patch.maxPerKey = perKey;
    }
    if (limits.maxConcurrency !== undefined) {
      const cap = limits.maxConcurrency;
      if (cap !== null) checkInt32('maxConcurrency', cap);
      patch.maxConcurrency = cap;
    }
    if (limits.rateLimit !== undefined) patch.rateLimit = checkRateLimit('rateLimit', limits.rateLimit);
    if (limits.costLimit !== undefined) patch.costLimit = checkCostLimit('costLimit', limits.costLimit);
    return this.#store.updateQueueSettings(checkName('queue', name), patch, this.#now());
  }

  /** What each key holds back in a queue, by reason (debounce, singleton, throttled, over-budget; docs/queues.md). */
  heldBack(name: string): Promise<HeldBack[]> {
    return this.#store.heldBack(checkName('queue', name));
  }

  settings(): Promise<QueueSettings[]> {
    return this.#store.listQueueSettings();
  }
}
