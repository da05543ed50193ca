// Puts back tasks whose worker stopped heartbeating (crashed, hung, cut off). Every process runs one; the store's
// `onlyIfLeaseExpired` guard makes two sweepers, or a sweeper and a late heartbeat, safe together.
import type { Engine } from './engine.ts';
import { Periodic } from './periodic.ts';

const LEASE_EXPIRED = { message: 'lease expired: the worker stopped heartbeating', code: 'LEASE_EXPIRED', retryable: true };
const BATCH = 200;
/** Workers silent this long leave the registry for good (the workers list already hides them after 15 s). */
const FORGET_WORKERS_AFTER_MS = 3_600_000;

export class LeaseSweeper {
  readonly #engine: Engine;
  readonly #periodic: Periodic<number>;

  constructor(engine: Engine, intervalMs: number) {
    this.#engine = engine;
    this.#periodic = new Periodic(intervalMs, () => this.#pass(), 0);
  }

  start(): void {
    this.#periodic.start();
  }

  stop(): void {
    this.#periodic.stop();
  }

  /** One pass; returns how many attempts it ended. Errors (store unreachable) wait for the next pass. */
  sweep(): Promise<number> {
    return this.#periodic.run();
  }

  async #pass(): Promise<number> {
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
    }
    return swept;
  }
}
