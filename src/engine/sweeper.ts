// Puts back tasks whose worker stopped heartbeating (crashed, hung, cut off). Every process runs one; the store's
// `onlyIfLeaseExpired` guard makes two sweepers, or a sweeper and a late heartbeat, safe together.
import type { FinishRequest, FinishResult, Store } from '../store/store.ts';
import { outcomeOfFailure } from './attempts.ts';
import { Periodic } from './periodic.ts';

const LEASE_EXPIRED = { message: 'lease expired: the worker stopped heartbeating', code: 'LEASE_EXPIRED', retryable: true };
const BATCH = 200;
/** Workers silent this long leave the registry for good (the workers list already hides them after 15 s). */
const FORGET_WORKERS_AFTER_MS = 3_600_000;

/** What the sweeper uses: the store's lease and worker tables, a clock, and the engine's batch finish (observed). */
export interface SweeperDeps {
  store: Pick<Store, 'expiredLeases' | 'removeWorkers'>;
  now: () => number;
  finishMany: (requests: FinishRequest[]) => Promise<FinishResult[]>;
}

export class LeaseSweeper {
  readonly #deps: SweeperDeps;
  readonly #periodic: Periodic<number>;

  constructor(deps: SweeperDeps, intervalMs: number) {
    this.#deps = deps;
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
    const { store, now, finishMany } = this.#deps;
    let swept = 0;
    try {
      for (;;) {
        const at = now();
        const expired = await store.expiredLeases(at, BATCH);
        if (expired.length === 0) break;
        const results = await finishMany(
          expired.map(({ task, attemptToken }) => ({
            ref: { taskId: task.id, attemptToken },
            // A worker that died with a cancel pending: the task ends cancelled, not retried.
            outcome: outcomeOfFailure(task, LEASE_EXPIRED, at, { cancelReason: 'cancelled by request (worker lost)' }),
            onlyIfLeaseExpired: true,
          })),
        );
        swept += results.filter((r) => r.ok).length;
        if (expired.length < BATCH) break;
      }
      await store.removeWorkers(now() - FORGET_WORKERS_AFTER_MS);
    } catch {
      // The store is unreachable or busy; the next pass retries.
    }
    return swept;
  }
}
