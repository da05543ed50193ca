/**
 * A version counter that workers wait on: bumped whenever tasks may have become claimable. A worker reads the version
 * before it claims and waits for a newer one, so a wake-up that lands between an empty claim and the wait is not lost.
 */
export class ReadySignal {
  #version = 0;
  #waiters = new Set<() => void>();

  get version(): number {
    return this.#version;
  }

  bump(): void {
    this.#version++;
    // Bumped once per task a batch makes ready: most bumps find nobody waiting, and need no new set.
    if (this.#waiters.size === 0) return;
    const waiters = this.#waiters;
    this.#waiters = new Set();
    for (const wake of waiters) wake();
  }

  /** Resolves when the version passes `seen`, after `timeoutMs`, or when `signal` aborts, whichever comes first. */
  wait(seen: number, timeoutMs: number, signal?: AbortSignal): Promise<void> {
    if (this.#version !== seen || signal?.aborted || timeoutMs <= 0) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', done);
        this.#waiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      signal?.addEventListener('abort', done);
      this.#waiters.add(done);
    });
  }
}
