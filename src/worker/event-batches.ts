// A remote worker's progress and output, sent in batches (POST /worker/events): what its handlers write while one
// batch is on its way goes in the next, so a worker streaming many tasks makes one request per round trip instead of
// one per chunk. One batch at a time keeps every attempt's events in the order its handler wrote them.
import { MAX_WORKER_EVENTS } from '../core/validate.ts';
import type { Progress, TaskEvent } from '../core/task.ts';

/** One output chunk or one progress report of an attempt. */
export interface EventEntry {
  taskId: string;
  attemptToken: string;
  chunk?: string;
  progress?: Progress;
}

/** What became of one entry: its stored event, or the error that refused it. */
export type EntryResult = { ok: true; event: TaskEvent } | { ok: false; error: Error };

/**
 * Characters of chunks and messages one batch gathers before it is sent (an entry larger goes alone): well under the
 * server's default body limit of 1 MiB.
 */
const MAX_BATCH_CHARS = 256 * 1024;

interface Pending {
  entry: EventEntry;
  chars: number;
  resolve: (event: TaskEvent) => void;
  reject: (error: unknown) => void;
}

export class EventBatches {
  readonly #send: (entries: EventEntry[]) => Promise<EntryResult[]>;
  #queue: Pending[] = [];
  #sending = false;

  /** `send` stores a batch, answering one result per entry in order; if it throws, every entry of the batch fails. */
  constructor(send: (entries: EventEntry[]) => Promise<EntryResult[]>) {
    this.#send = send;
  }

  add(entry: EventEntry): Promise<TaskEvent> {
    return new Promise((resolve, reject) => {
      const chars = (entry.chunk?.length ?? 0) + (entry.progress ? JSON.stringify(entry.progress).length : 0);
      this.#queue.push({ entry, chars, resolve, reject });
      if (!this.#sending) {
        this.#sending = true;
        void this.#run();
      }
    });
  }

  async #run(): Promise<void> {
    while (this.#queue.length > 0) {
      // One turn first: the handlers whose last events were just answered write their next ones into this batch.
      await new Promise((resolve) => setImmediate(resolve));
      const batch = this.#take();
      let results: EntryResult[];
      try {
        results = await this.#send(batch.map((p) => p.entry));
        if (results.length !== batch.length) throw new Error(`${batch.length} events sent, ${results.length} results answered`);
      } catch (error) {
        for (const p of batch) p.reject(error);
        continue;
      }
      for (const [i, p] of batch.entries()) {
        const result = results[i];
        if (result.ok) p.resolve(result.event);
        else p.reject(result.error);
      }
    }
    this.#sending = false;
  }

  /** The oldest entries, up to the batch limits. */
  #take(): Pending[] {
    let chars = 0;
    let n = 0;
    while (n < this.#queue.length && n < MAX_WORKER_EVENTS && (n === 0 || chars + this.#queue[n].chars <= MAX_BATCH_CHARS)) {
      chars += this.#queue[n].chars;
      n++;
    }
    return this.#queue.splice(0, n);
  }
}
