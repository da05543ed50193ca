// Where attempts end: every finish (a worker's outcome, a lease the sweeper expired) goes to the store through here,
// so the attempt observers (metrics, logs) hear of each one, and concurrent finishes share one transaction.
import type { Claim, FinishedTask, FinishRequest, FinishResult, Store } from '../store/store.ts';
import { Coalescer } from './coalescer.ts';

/** An attempt this process ended: what was asked, and the task as the finish left it. */
export interface FinishedAttempt {
  request: FinishRequest;
  task: FinishedTask;
}

/**
 * Told of every attempt this process starts (claims) or ends (finishes, lease sweeps). Each attempt is started by one
 * claim and ended by one successful finish somewhere in the cluster, so observers that count here count each attempt
 * once however many processes share the store. Called synchronously after the store answered; must not throw.
 */
export interface AttemptObserver {
  onTaskStarted?(claims: readonly Claim[], now: number): void;
  onAttemptFinished?(attempts: readonly FinishedAttempt[], now: number): void;
}

export interface FinisherDeps {
  store: Pick<Store, 'finish'>;
  now: () => number;
}

export class Finisher {
  readonly #store: FinisherDeps['store'];
  readonly #now: () => number;
  readonly #observers = new Set<AttemptObserver>();
  readonly #finishes: Coalescer<FinishRequest, FinishResult>;

  constructor(deps: FinisherDeps) {
    this.#store = deps.store;
    this.#now = deps.now;
    this.#finishes = new Coalescer((requests) => this.finishMany(requests));
  }

  /** Adds an observer of the attempts this process starts and ends; returns the function that removes it. */
  observe(observer: AttemptObserver): () => void {
    this.#observers.add(observer);
    return () => this.#observers.delete(observer);
  }

  /** Tells the observers of attempts a claim started. */
  started(claims: readonly Claim[], now: number): void {
    if (claims.length > 0) for (const observer of this.#observers) tell(() => observer.onTaskStarted?.(claims, now));
  }

  /** Ends one attempt; concurrent calls share one store call. Rejects with the store's refusal (a stale attempt). */
  finish(request: FinishRequest): Promise<FinishedTask> {
    return this.#finishes.submit(request).then(finishedTask);
  }

  /** Ends many attempts in one store call; a refused request does not abort the others. */
  async finishMany(requests: FinishRequest[]): Promise<FinishResult[]> {
    const now = this.#now();
    const results = await this.#store.finish(requests, now);
    if (this.#observers.size > 0) {
      const finished: FinishedAttempt[] = [];
      for (let i = 0; i < results.length; i++) {
        const result = results[i];
        if (result.ok) finished.push({ request: requests[i], task: result.task });
      }
      if (finished.length > 0) for (const observer of this.#observers) tell(() => observer.onAttemptFinished?.(finished, now));
    }
    return results;
  }
}

function finishedTask(result: FinishResult): FinishedTask {
  if (!result.ok) throw result.error;
  return result.task;
}

/** An observer's mistake must not fail the claim or the finish it is told about. */
function tell(call: () => void): void {
  try {
    call();
  } catch {
    // ignored: observers are metrics and logs
  }
}
