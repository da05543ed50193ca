// Wakes waiting claimers when a scheduled task (a retry's backoff, a delayed submit) comes due. A waiter reads
// nextScheduledAt when its wait begins; a task scheduled after that (its own failed attempt, another process's submit)
// would otherwise start only when the wait ends: a full poll interval or long-poll later. So the engine keeps one timer
// for the earliest future runAt it knows of, learned from event notices (every event that schedules a task carries
// `runAt` in its data: `created` of a delayed task, `retrying` after a failure or an expired lease; other processes'
// events arrive through the store's notices, so no notice kind of its own is needed) and from the store
// (nextScheduledAt) at start and after a gap in notices. When it fires it bumps the ready signal: the in-process worker
// and every HTTP long-poll of this process claim at once (a claim promotes due tasks).
import type { StoreNotice } from '../store/store.ts';

/** Future times remembered at most; beyond that the latest are dropped and the store is asked again later. */
const MAX_PENDING = 256;

export interface WakeTimerDeps {
  nextScheduledAt: () => Promise<number | null>;
  now: () => number;
  /** What a due time does: bump the ready signal. */
  wake: () => void;
}

export class WakeTimer {
  readonly #deps: WakeTimerDeps;
  /** Distinct future due times, ascending; the timer is armed for the first. */
  #pending: number[] = [];
  /** Some times were dropped (MAX_PENDING): once the list runs dry, ask the store. */
  #truncated = false;
  #timer: NodeJS.Timeout | undefined;
  #armedFor: number | null = null;
  #running = false;

  constructor(deps: WakeTimerDeps) {
    this.#deps = deps;
  }

  start(): void {
    this.#running = true;
    void this.refresh();
  }

  stop(): void {
    this.#running = false;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#armedFor = null;
    this.#pending = [];
  }

  /** Reads the event of a notice: a task scheduled for later (from any process) is a time to wake at. */
  onNotice(notice: StoreNotice): void {
    if (notice.kind !== 'event') return;
    const data = notice.event.data;
    if (typeof data !== 'object' || data === null || Array.isArray(data)) return;
    const runAt = data.runAt;
    if (typeof runAt === 'number') this.note(runAt);
  }

  /** Remembers a time a task comes due; a past one needs nothing (its writer sent a ready notice). */
  note(at: number): void {
    if (!this.#running || !Number.isFinite(at) || at <= this.#deps.now()) return;
    const pending = this.#pending;
    let i = pending.length;
    while (i > 0 && pending[i - 1] > at) i--;
    if (pending[i - 1] === at) return;
    pending.splice(i, 0, at);
    if (pending.length > MAX_PENDING) {
      pending.pop();
      this.#truncated = true;
    }
    this.#arm();
  }

  /** Asks the store for the earliest scheduled task (at start, after a gap in notices, when the list ran dry). */
  async refresh(): Promise<void> {
    try {
      const next = await this.#deps.nextScheduledAt();
      if (next !== null) this.note(next);
    } catch {
      // The store is unreachable: waiters still wake at their own poll interval; the next gap's resync asks again.
    }
  }

  #arm(): void {
    const first = this.#pending[0];
    if (first === undefined || first === this.#armedFor) return;
    clearTimeout(this.#timer);
    this.#armedFor = first;
    // +1: a claim promotes tasks with runAt <= now, so waking in the very millisecond would find nothing.
    this.#timer = setTimeout(() => this.#fire(), Math.max(0, first - this.#deps.now() + 1)).unref();
  }

  #fire(): void {
    this.#timer = undefined;
    this.#armedFor = null;
    const now = this.#deps.now();
    while (this.#pending.length > 0 && this.#pending[0] <= now) this.#pending.shift();
    this.#deps.wake();
    if (this.#pending.length > 0) this.#arm();
    else if (this.#truncated) {
      this.#truncated = false;
      void this.refresh();
    }
  }
}
