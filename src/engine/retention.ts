// Deletes finished tasks (and their events) once they are older than the configured age for their status. Small
// batches with a yield between them, so a large cleanup never holds the store's write lock for long.
import type { Store } from '../store/store.ts';
import { Periodic } from './periodic.ts';

export interface RetentionOptions {
  /** Age after which finished tasks are deleted, ms, per status; absent: kept forever. */
  completedMs?: number;
  failedMs?: number;
  cancelledMs?: number;
  /** How often to clean up, ms. Default 60000. */
  intervalMs?: number;
  /** Tasks per batch. Default 500. */
  batchSize?: number;
}

export interface RetentionDeps {
  store: Pick<Store, 'deleteFinishedTasks'>;
  now: () => number;
}

export class Retention {
  readonly #deps: RetentionDeps;
  readonly #options: RetentionOptions;
  readonly #periodic: Periodic<number>;

  constructor(deps: RetentionDeps, options: RetentionOptions) {
    this.#deps = deps;
    this.#options = options;
    this.#periodic = new Periodic(options.intervalMs ?? 60_000, () => this.#pass(), 0);
  }

  get enabled(): boolean {
    return this.#options.completedMs !== undefined || this.#options.failedMs !== undefined || this.#options.cancelledMs !== undefined;
  }

  start(): void {
    if (this.enabled) this.#periodic.start();
  }

  stop(): void {
    this.#periodic.stop();
  }

  /** One cleanup pass; returns how many tasks it deleted. */
  sweep(): Promise<number> {
    return this.#periodic.run();
  }

  async #pass(): Promise<number> {
    let deleted = 0;
    const batch = this.#options.batchSize ?? 500;
    const ages = { completed: this.#options.completedMs, failed: this.#options.failedMs, cancelled: this.#options.cancelledMs };
    for (const [status, age] of Object.entries(ages) as ['completed' | 'failed' | 'cancelled', number | undefined][]) {
      if (age === undefined) continue;
      const before = this.#deps.now() - age;
      for (;;) {
        const n = await this.#deps.store.deleteFinishedTasks(status, before, batch);
        deleted += n;
        if (n < batch) break;
        await new Promise((resolve) => setImmediate(resolve));
      }
    }
    return deleted;
  }
}
