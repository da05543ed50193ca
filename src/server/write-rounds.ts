// When SSE streams write what they gathered. A stream gathers the frames of one turn and writes them together; the
// writes of all streams go out in rounds. While few streams are writing, a round runs at the end of the turn, as soon
// as possible. Once a round has written to many streams (a server streaming to hundreds of followers at once), the
// next round waits up to GATHER_MS, so each stream's frames of several commits go out in one write: at 500 followers
// of 500 tasks writing output, that took the serving thread's CPU per chunk down by about a tenth and raised the
// chunks stored per second by 10-15 % (docs/benchmarks.md, sixteenth session), for at most GATHER_MS more latency.
// A server stays busy while its rounds write to many streams; the first frame after a busy spell waits one round.

/** Streams written in one round from which the next round waits to gather more. */
export const BUSY_ROUND = 64;
/** How long a busy server's round waits, at most, from its first frame. */
export const GATHER_MS = 8;

export class WriteRounds {
  readonly #onError: (error: unknown) => void;
  readonly #due = new Set<() => void>();
  #scheduled = false;
  #busy = false;
  readonly #run = (): void => {
    this.#scheduled = false;
    const due = [...this.#due];
    this.#due.clear();
    this.#busy = due.length >= BUSY_ROUND;
    for (const write of due) {
      try {
        write();
      } catch (error) {
        // One stream's failure must not leave the others' frames unwritten.
        this.#onError(error);
      }
    }
  };

  /** `onError`: where a write that threw goes (the round's other writes go on). */
  constructor(onError: (error: unknown) => void) {
    this.#onError = onError;
  }

  /** `write` runs in the next round (once, however often it is asked for before then). */
  add(write: () => void): void {
    this.#due.add(write);
    if (this.#scheduled) return;
    this.#scheduled = true;
    if (this.#busy) setTimeout(this.#run, GATHER_MS);
    else process.nextTick(this.#run);
  }

  /** `write` will not run in the next round (its stream wrote and ended, or is ending). */
  remove(write: () => void): void {
    this.#due.delete(write);
  }
}
