// Puts back tasks whose worker stopped heartbeating (crashed, hung, cut off). Every process runs one; the store's
// `onlyIfLeaseExpired` guard makes two sweepers, or a sweeper and a late heartbeat, safe together.
import type { Engine } from './engine.ts';

const LEASE_EXPIRED = { message: 'lease expired: the worker stopped heartbeating', code: 'LEASE_EXPIRED', retryable: true };
const BATCH = 200;
/** Workers silent this long leave the registry for good (the workers list already hides them after 15 s). */
const FORGET_WORKERS_AFTER_MS = 3_600_000;

export class LeaseSweeper {
  readonly #engine: Engine;
  readonly #intervalMs: number;
  #timer: NodeJS.Timeout | undefined;
  #running = false;

  constructor(engine: Engine, intervalMs: number) {
    this.#engine = engine;
    this.#intervalMs = intervalMs;
  }

  start(): void {
    this.#timer ??= setInterval(() => void this.sweep(), this.#intervalMs).unref();
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** One pass; returns how many attempts it ended. Errors (store unreachable) wait for the next pass. */
  async sweep(): Promise<number> {
    if (this.#running) return 0;
    this.#running = true;
    let swept = 0;
    try {
      for (;;) {
        const now = this.#engine.now();
        const expired = await this.#engine.store.expiredLeases(now, BATCH);
        if (expired.length === 0) break;
        const results = await this.#engine.finishMany(
          expired.map(({ task, attemptToken }) => ({
            ref: { taskId: task.id, attemptToken },
            outcome: task.cancelRequested
              ? { status: 'cancelled' as const, reason: 'cancelled by request (worker lost)' }
              : this.#engine.outcomeOfFailure(task, LEASE_EXPIRED),
            onlyIfLeaseExpired: true,
          })),
        );
        swept += results.filter((r) => r.ok).length;
        if (expired.length < BATCH) break;
      }
      await this.#engine.store.removeWorkers(this.#engine.now() - FORGET_WORKERS_AFTER_MS);
    } catch {
      // The store is unreachable or busy; the next pass retries.
    } finally {
      this.#running = false;
    }
    return swept;
  }
}
