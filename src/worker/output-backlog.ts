// How many of ctx.output's chunks may be sent and not yet stored before output() waits (worker/context.ts), for all
// the attempts of one process that write through one backend.
//
// The count bounds memory and, over the pace at which the store takes chunks, the wait of each between ctx.output and
// its followers (Little's law: the chunks waiting over the chunks stored per second). A fixed count lets that wait
// grow whenever the store slows down: in a fresh process's first half second, or on a busy host, 600 chunks kept
// chunks 100-175 ms from their followers while the same count kept 50-100 ms later on (docs/benchmarks.md,
// twenty-fourth session). So a backend that names a delay (`outputDelayMs`, from its store) gets a count that follows
// it: every SAMPLE_EVERY-th chunk's wait is measured; one longer than the delay shrinks the count in proportion, one
// within it lets the count grow by a quarter if the senders were using at least half of it (a count nobody fills
// says nothing about a larger one). The count starts low and grows while the store keeps up, as a TCP window does,
// since a cold process is when the store is slowest. A backend that names none keeps FIXED_BACKLOG.

/** The bound of a backend without a delay. */
const FIXED_BACKLOG = 600;
/** The bound of a backend with one: where it starts, and between which counts it moves. */
const START_BACKLOG = 300;
const MIN_BACKLOG = 100;
const MAX_BACKLOG = 1000;
/** One chunk in this many has its wait measured: the rest cost one shared callback each. */
const SAMPLE_EVERY = 16;
/**
 * Waits measured closer together than this (a batch's chunks are stored at once) count once: the count then moves
 * about once per batch, not once per sample of a batch.
 */
const ADJUST_EVERY_MS = 5;
/** A long wait shrinks the count to no less than half at once, so one stall does not empty it. */
const MIN_SHRINK_FACTOR = 0.5;
/** How much a wait within the delay grows the count. */
const GROWTH = 1.25;

export class OutputBacklog {
  readonly #delayMs: number | null;
  readonly #now: () => number;
  #unstored = 0;
  #limit: number;
  /** Chunks sent so far, to pick every SAMPLE_EVERY-th. */
  #sentCount = 0;
  #adjustedAt = Number.NEGATIVE_INFINITY;
  readonly #stored = (): void => {
    this.#unstored--;
  };

  /** `delayMs`: the wait a chunk should not exceed, or null for FIXED_BACKLOG; `now` in milliseconds. */
  constructor(delayMs: number | null, now: () => number = () => performance.now()) {
    this.#delayMs = delayMs;
    this.#now = now;
    this.#limit = delayMs === null ? FIXED_BACKLOG : START_BACKLOG;
  }

  /** How many chunks may be unstored before output() waits. */
  get limit(): number {
    return this.#limit;
  }

  /** Chunks sent and neither stored nor refused yet. */
  get unstored(): number {
    return this.#unstored;
  }

  /** Whether more chunks are unstored than the bound allows: the sender then waits for its own to be stored. */
  get full(): boolean {
    return this.#unstored > this.#limit;
  }

  /** A chunk was sent: returns what to call once it is stored (refused() if it is refused). */
  sent(): () => void {
    this.#unstored++;
    const delayMs = this.#delayMs;
    if (delayMs === null || ++this.#sentCount % SAMPLE_EVERY !== 0) return this.#stored;
    const sentAt = this.#now();
    const used = this.#unstored * 2 >= this.#limit;
    return () => {
      this.#unstored--;
      this.#observe(this.#now() - sentAt, delayMs, used);
    };
  }

  /** A chunk sent was refused: it is no longer unstored. */
  refused(): void {
    this.#unstored--;
  }

  /** A sampled chunk was stored `waitedMs` after it was sent; `used`: at least half the count was unstored then. */
  #observe(waitedMs: number, delayMs: number, used: boolean): void {
    const at = this.#now();
    if (at - this.#adjustedAt < ADJUST_EVERY_MS) return;
    if (waitedMs > delayMs) {
      this.#limit = Math.max(MIN_BACKLOG, Math.floor(this.#limit * Math.max(MIN_SHRINK_FACTOR, delayMs / waitedMs)));
    } else if (used) {
      this.#limit = Math.min(MAX_BACKLOG, Math.ceil(this.#limit * GROWTH));
    } else {
      return;
    }
    this.#adjustedAt = at;
  }
}
