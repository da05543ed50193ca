// When each commit is on the disk, and when its notices may go out (docs/architecture.md, "Commits flushed off the
// event loop"). Most commits flush the WAL themselves (synchronous=FULL: the fsync runs inside COMMIT). A few do not
// wait for the disk at all (a claim: lost in a power failure, its tasks are simply claimed again). And a commit whose
// result may be acted on before it is durable (a hand-off starts a task at once) commits without the fsync, which
// then runs on libuv's thread pool while the event loop goes on: its caller's answer waits for it, the handler
// it started does not.
//
// Notices go out in commit order: a commit's once the disk has it (when it waits for the disk), and never before an
// earlier commit's, so no reader hears of what a power loss could still undo, nor of a task's events out of order.
import { closeSync, fdatasync, fsyncSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import { StoreUnavailableError } from '../../core/errors.ts';

/** How a commit reaches the disk: its own fsync, none it waits for, or one run off the event loop after it. */
export type CommitDurability = 'flushed' | 'lazy' | 'flushLater';

interface Commit {
  no: number;
  /** Delivered only once a flush covers it. */
  needsFlush: boolean;
  deliver: () => void;
  resolve: () => void;
  reject: (error: Error) => void;
}

export class Flusher {
  /** The WAL file to flush; null for an in-memory database, whose commits are as durable as they get at once. */
  readonly #walPath: string | null;
  #fd: number | null = null;
  /** Commits numbered in the order they were made, and the newest one the disk is known to hold. */
  #committed = 0;
  #flushed = 0;
  #flushing: Promise<void> | null = null;
  /** Commits whose notices have not gone out yet, oldest first. */
  readonly #waiting: Commit[] = [];
  /** Set once a flush failed: what the disk holds is unknown, so no later write can be promised durable. */
  #failure: StoreUnavailableError | null = null;

  constructor(databasePath: string) {
    this.#walPath = databasePath === ':memory:' ? null : `${databasePath}-wal`;
  }

  /**
   * Called right after a COMMIT. `deliver` (the commit's notices) runs in commit order, a `flushLater` commit's once
   * a flush covers it; its promise resolves then (and rejects if the flush fails). The others resolve at once. (A
   * `flushed` commit is not taken to cover the ones before it: one that changed nothing wrote and flushed nothing.)
   */
  committed(durability: CommitDurability, deliver: () => void): Promise<void> {
    if (this.#failure) return Promise.reject(this.#failure);
    const no = ++this.#committed;
    const needsFlush = durability === 'flushLater' && this.#walPath !== null;
    return new Promise((resolve, reject) => {
      if (!needsFlush) resolve();
      this.#waiting.push({ no, needsFlush, deliver, resolve, reject });
      if (needsFlush) this.#flushing ??= this.#flush();
      else this.#deliver();
    });
  }

  /** Waits for the flushes under way (and those they lead to), then lets go of the WAL file. */
  async close(): Promise<void> {
    while (this.#flushing) await this.#flushing;
    if (this.#fd !== null) closeSync(this.#fd);
    this.#fd = null;
  }

  /** Flushes until no commit waits for one; each round covers every commit made before it began. */
  async #flush(): Promise<void> {
    try {
      while (this.#waiting.some((c) => c.needsFlush && c.no > this.#flushed)) {
        const upTo = this.#committed;
        await new Promise<void>((resolve, reject) => fdatasync(this.#walFd(), (error) => (error ? reject(error) : resolve())));
        this.#flushed = upTo;
        this.#deliver();
      }
    } catch (error) {
      this.#failure = new StoreUnavailableError(`cannot flush the SQLite WAL to the disk: ${(error as Error).message}`, { cause: error });
      for (const commit of this.#waiting.splice(0)) commit.reject(this.#failure);
    } finally {
      this.#flushing = null;
    }
  }

  /** The WAL file, opened at the first flush (a commit made it exist); its directory entry is made durable once. */
  #walFd(): number {
    if (this.#fd === null) {
      const walPath = this.#walPath as string;
      this.#fd = openSync(walPath, 'r');
      const dir = openSync(dirname(walPath), 'r');
      try {
        fsyncSync(dir);
      } finally {
        closeSync(dir);
      }
    }
    return this.#fd;
  }

  /** Lets out, in order, every waiting commit that needs no flush or is covered by one. */
  #deliver(): void {
    while (this.#waiting.length > 0) {
      const commit = this.#waiting[0];
      if (commit.needsFlush && commit.no > this.#flushed) return;
      this.#waiting.shift();
      commit.deliver();
      commit.resolve();
    }
  }
}
