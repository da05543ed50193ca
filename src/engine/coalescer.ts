import { ValidationError } from '../core/errors.ts';

/**
 * Gathers calls made in the same turn of the event loop into one batch call, so many concurrent submits or
 * completions share one transaction and one fsync. Results go back to each caller in order.
 *
 * Nothing one caller sends may fail another's call: when a batch fails because the store refused a value in it (a
 * ValidationError: PostgreSQL's data errors are translated to it), the batch is split in halves and each half run
 * again, down to the one item at fault, whose caller alone gets the error. A batch call must therefore be all or
 * nothing (one transaction), as createTasks and finish are. Any other failure (the store is down) fails every caller
 * of the batch: splitting would only ask again.
 */
export interface CoalescerOptions {
  /** Most items in one batch. Default 1000. */
  maxBatch?: number;
  /**
   * One batch at a time: items that arrive while a batch runs wait for it and go together in the next (a group
   * commit), so batches reach the store in the order their items were submitted. Default false (batches overlap).
   */
  serial?: boolean;
}

export class Coalescer<In, Out> {
  readonly #run: (items: In[]) => Promise<Out[]>;
  readonly #maxBatch: number;
  readonly #serial: boolean;
  #items: In[] = [];
  #waiters: Waiter<Out>[] = [];
  #scheduled = false;
  #running = false;

  constructor(run: (items: In[]) => Promise<Out[]>, options: CoalescerOptions = {}) {
    this.#run = run;
    this.#maxBatch = options.maxBatch ?? 1000;
    this.#serial = options.serial ?? false;
  }

  submit(item: In): Promise<Out> {
    return new Promise<Out>((resolve, reject) => {
      this.#items.push(item);
      this.#waiters.push({ resolve, reject });
      if (this.#serial && this.#running) return;
      if (this.#items.length >= this.#maxBatch) this.#flush();
      else if (!this.#scheduled) {
        this.#scheduled = true;
        setImmediate(() => this.#flush());
      }
    });
  }

  #flush(): void {
    this.#scheduled = false;
    if (this.#items.length === 0 || (this.#serial && this.#running)) return;
    const items = this.#items.splice(0, this.#maxBatch);
    const waiters = this.#waiters.splice(0, this.#maxBatch);
    if (!this.#serial) {
      void this.#runBatch(items, waiters);
      return;
    }
    this.#running = true;
    void this.#runBatch(items, waiters).finally(() => {
      this.#running = false;
      this.#flush();
    });
  }

  async #runBatch(items: In[], waiters: Waiter<Out>[]): Promise<void> {
    let results: Out[];
    try {
      results = await this.#run(items);
    } catch (error) {
      if (items.length === 1 || !(error instanceof ValidationError)) {
        for (const waiter of waiters) waiter.reject(error);
        return;
      }
      // Halves one after the other, so that a serial coalescer keeps its order.
      const half = items.length >> 1;
      await this.#runBatch(items.slice(0, half), waiters.slice(0, half));
      await this.#runBatch(items.slice(half), waiters.slice(half));
      return;
    }
    for (let i = 0; i < results.length; i++) waiters[i].resolve(results[i]);
  }
}

interface Waiter<Out> {
  resolve: (value: Out) => void;
  reject: (error: unknown) => void;
}
