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
export class Coalescer<In, Out> {
  readonly #run: (items: In[]) => Promise<Out[]>;
  readonly #maxBatch: number;
  #items: In[] = [];
  #waiters: Waiter<Out>[] = [];
  #scheduled = false;

  constructor(run: (items: In[]) => Promise<Out[]>, maxBatch = 1000) {
    this.#run = run;
    this.#maxBatch = maxBatch;
  }

  submit(item: In): Promise<Out> {
    return new Promise<Out>((resolve, reject) => {
      this.#items.push(item);
      this.#waiters.push({ resolve, reject });
      if (this.#items.length >= this.#maxBatch) this.#flush();
      else if (!this.#scheduled) {
        this.#scheduled = true;
        setImmediate(() => this.#flush());
      }
    });
  }

  #flush(): void {
    this.#scheduled = false;
    if (this.#items.length === 0) return;
    const items = this.#items;
    const waiters = this.#waiters;
    this.#items = [];
    this.#waiters = [];
    this.#runBatch(items, waiters);
  }

  #runBatch(items: In[], waiters: Waiter<Out>[]): void {
    this.#run(items).then(
      (results) => {
        for (const [i, result] of results.entries()) waiters[i].resolve(result);
      },
      (error: unknown) => {
        if (items.length === 1 || !(error instanceof ValidationError)) {
          for (const waiter of waiters) waiter.reject(error);
          return;
        }
        const half = items.length >> 1;
        this.#runBatch(items.slice(0, half), waiters.slice(0, half));
        this.#runBatch(items.slice(half), waiters.slice(half));
      },
    );
  }
}

interface Waiter<Out> {
  resolve: (value: Out) => void;
  reject: (error: unknown) => void;
}
