/**
 * Gathers calls made in the same turn of the event loop into one batch call, so many concurrent submits or
 * completions share one transaction and one fsync. Results go back to each caller in order.
 */
export class Coalescer<In, Out> {
  readonly #run: (items: In[]) => Promise<Out[]>;
  readonly #maxBatch: number;
  #items: In[] = [];
  #waiters: { resolve: (value: Out) => void; reject: (error: unknown) => void }[] = [];
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
    this.#run(items).then(
      (results) => {
        for (const [i, result] of results.entries()) waiters[i].resolve(result);
      },
      (error: unknown) => {
        for (const waiter of waiters) waiter.reject(error);
      },
    );
  }
}
