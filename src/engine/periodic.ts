/**
 * A background pass run every `intervalMs` (without keeping the process alive), never two at once: a call made
 * while a pass runs answers `idle` at once. Sweeper, scheduler and retention each own one.
 */
export class Periodic<T> {
  readonly #intervalMs: number;
  readonly #pass: () => Promise<T>;
  readonly #idle: T;
  #timer: NodeJS.Timeout | undefined;
  #running = false;

  constructor(intervalMs: number, pass: () => Promise<T>, idle: T) {
    this.#intervalMs = intervalMs;
    this.#pass = pass;
    this.#idle = idle;
  }

  start(): void {
    // A failed pass (store unreachable) is simply tried again at the next interval.
    this.#timer ??= setInterval(() => void this.run().catch(() => {}), this.#intervalMs).unref();
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  async run(): Promise<T> {
    if (this.#running) return this.#idle;
    this.#running = true;
    try {
      return await this.#pass();
    } finally {
      this.#running = false;
    }
  }
}
