// How many of ctx.output's chunks may be sent and not yet stored before output() waits (worker/context.ts), for all
// the attempts of one process that write through one backend.
//
// The count bounds memory and, over the pace at which the store takes chunks, the wait of each between ctx.output and
// its followers (Little's law: the chunks waiting over the chunks stored per second). A fixed count lets that wait
// grow whenever the store slows down: in a fresh process's first half second, or on a busy host, 600 chunks kept
// chunks 100-175 ms from their followers while the same count kept 50-90 ms later on (docs/benchmarks.md,
// twenty-fourth session). So a backend that names a delay (`outputDelayMs`, from its store) gets a count that follows
// it: every SAMPLE_EVERY-th chunk's wait is measured; one longer than the delay shrinks the count in proportion, one
// shorter lets it grow by a quarter. The count starts low and grows while the store keeps up, as a TCP window does,
// since a cold process is when the store is slowest. A backend that names none keeps FIXED_BACKLOG.

/** The bound of a backend without a delay. */
export const FIXED_BACKLOG = 600;
/** The bound of a backend with one: where it starts, and between which counts it moves. */
export const START_BACKLOG = 300;
export const MIN_BACKLOG = 100;
export const MAX_BACKLOG = 1000;
/** One chunk in this many has its wait measured: the rest cost one shared callback each. */
const SAMPLE_EVERY = 16;
/**
 * Waits measured closer together than this (a batch's chunks are stored at once) count once: the count then moves
 * about once per batch, not once per sample of a batch.
 */
const ADJUST_EVERY_MS = 5;
/** A long wait shrinks the count by at most half at once, so one stall does not empty it. */
const MAX_SHRINK = 0.5;
/** How much a wait within the delay grows the count. */
export const GROWTH = 1.25;

export class OutputBacklog {
  readonly #delayMs: number | null;
  readonly #now: () => number;
  #unstored = 0;
  #limit: number;
  #sent = 0;
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

  /** Whether more chunks are unstored than the bound allows: the sender then waits for its own to be stored. */
  get full(): boolean {
    return this.#unstored > this.#limit;
  }

  /** A chunk was sent: returns what to call once it is stored (refused() if it is refused). */
  sent(): () => void {
    this.#unstored++;
    if (this.#delayMs === null || ++this.#sent % SAMPLE_EVERY !== 0) return this.#stored;
    const sentAt = this.#now();
    return () => {
      this.#unstored--;
      this.#observe(this.#now() - sentAt);
    };
  }

  /** A chunk sent was refused: it is no longer unstored. */
  refused(): void {
    this.#unstored--;
  }

  #observe(waitedMs: number): void {
    const delayMs = this.#delayMs as number;
    const at = this.#now();
    if (at - this.#adjustedAt < ADJUST_EVERY_MS) return;
    this.#adjustedAt = at;
    this.#limit = waitedMs > delayMs
      ? Math.max(MIN_BACKLOG, Math.floor(this.#limit * Math.max(MAX_SHRINK, delayMs / waitedMs)))
      : Math.min(MAX_BACKLOG, Math.ceil(this.#limit * GROWTH));
  }
}
