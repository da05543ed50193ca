// WAL checkpoints off the event loop. SQLite's own (wal_autocheckpoint) run inside the commit that crosses the
// threshold: at 10,000 pages that commit took 38-66 ms instead of about 5 during a drain (docs/benchmarks.md), and
// every request, SSE stream and heartbeat of the process waited for it. Once a connection has stayed open a moment
// or committed enough to be worth a thread, a thread with a connection of its own (checkpoint-thread.ts) copies the
// frames, and this connection stops checkpointing; if the thread fails, the connection checkpoints by itself again.
import { statSync } from 'node:fs';
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';

/** Slots of the Int32Array the two threads share. */
export const CHECKPOINT_SLOTS = {
  /** 1 once a commit added frames that no checkpoint has copied yet; the thread sleeps on it. */
  DIRTY: 0,
  /** 1 once close asked the thread to end. */
  STOP: 1,
  /** 1 once the thread found the WAL past restartAtFrames: the connection copies the rest after its next commit. */
  WAL_FULL: 2,
  /** Checkpoints the thread ran, and copies the connection made so that the WAL could start over (for tests, figures). */
  CHECKPOINTS: 3,
  CATCH_UPS: 4,
} as const;

export interface CheckpointThreadData {
  path: string;
  busyTimeoutMs: number;
  state: Int32Array;
  batchMs: number;
  restartAtFrames: number;
}

export const checkpointPlan = {
  /**
   * The WAL's size (bytes) at which the thread starts, looked at every `sizeCheckEvery` commits, if startAfterMs has
   * not started it yet: a busy store has it long before its first inline checkpoint.
   */
  startAtWalBytes: 4 * 1024 * 1024,
  /**
   * How long after the connection opened the thread starts anyway, unless it has already (ms). A process's first
   * worker thread holds its event loop for a few milliseconds while it boots (3-4 ms here, docs/benchmarks.md): paid
   * soon after open, not by whichever request happens to be in flight when the WAL reaches startAtWalBytes. A store
   * closed sooner (a CLI command) never starts it.
   */
  startAfterMs: 200,
  sizeCheckEvery: 16,
  /** How long the thread lets commits gather after the first one that dirtied the WAL, in ms. */
  batchMs: 50,
  /**
   * WAL frames (64 MiB of 4 KiB pages) past which the connection itself copies the frames the thread has not, right
   * after a commit. A writer starts the WAL over only once every frame has been copied, which the frames committed
   * during each of the thread's copies prevent while writes never pause (the thread's checkpoint cannot hold the
   * writers back either: it would wait for a gap between them that a busy loop may never leave). The thread has
   * copied all but the last few frames by then, so that copy is short.
   */
  restartAtFrames: 16_000,
  /**
   * The connection's own threshold while no thread checkpoints for it, in pages (SQLite's default is 1,000): a page
   * that many commits rewrite between two checkpoints is copied into the database once, which cut streaming's commit
   * time by a quarter (docs/benchmarks.md). The WAL file grows to about 40 MiB before it is reused.
   */
  inlineFrames: 10_000,
};

export interface CheckpointTarget {
  path: string;
  busyTimeoutMs: number;
  /** Sets the connection's wal_autocheckpoint (0: never checkpoint inside a commit). */
  setAutocheckpoint(frames: number): void;
  /** A passive checkpoint on the connection: whether every frame of the WAL is now in the database file. */
  checkpointAll(): boolean;
}

/** The thread's module beside this one, .ts in the repository and .js in the published package. */
const THREAD_URL = new URL(`./checkpoint-thread${extname(fileURLToPath(import.meta.url))}`, import.meta.url);

export class Checkpointer {
  readonly #target: CheckpointTarget;
  readonly #state = new Int32Array(new SharedArrayBuffer(4 * Object.keys(CHECKPOINT_SLOTS).length));
  #thread: Worker | null = null;
  #commits = 0;
  /** The thread failed (or could not start): the connection checkpoints inline for the rest of its life. */
  #failed = false;

  /** Starts the thread startAfterMs after open (cleared by close or an earlier start). */
  readonly #startLater: NodeJS.Timeout;

  constructor(target: CheckpointTarget) {
    this.#target = target;
    this.#startLater = setTimeout(() => this.#startOnce(), checkpointPlan.startAfterMs).unref();
  }

  #startOnce(): void {
    if (this.#thread !== null || this.#failed) return;
    try {
      this.#start();
    } catch {
      // A thread that cannot start leaves the connection checkpointing inline, as before.
      this.#failed = true;
    }
  }

  /**
   * After each commit: wakes the thread (starting it once the WAL has grown enough to need it). Never throws: the
   * commit it follows stands, whatever happens here.
   */
  committed(): void {
    try {
      if (this.#thread === null) {
        if (!this.#failed && ++this.#commits % checkpointPlan.sizeCheckEvery === 0 && this.#walBytes() >= checkpointPlan.startAtWalBytes) this.#start();
        return;
      }
      this.#wake();
    } catch {
      // A failed size check or catch-up copy is tried again after a later commit.
    }
  }

  #wake(): void {
    const { DIRTY, WAL_FULL, CATCH_UPS } = CHECKPOINT_SLOTS;
    // Passive: it never waits. Busy (the thread is copying) or blocked by a reader, it is tried after the next commit.
    if (Atomics.load(this.#state, WAL_FULL) === 1 && this.#target.checkpointAll()) {
      Atomics.store(this.#state, WAL_FULL, 0);
      Atomics.add(this.#state, CATCH_UPS, 1);
    }
    // Only the first commit after a checkpoint needs to wake the thread: the rest find the slot set already.
    if (Atomics.load(this.#state, DIRTY) === 0) {
      Atomics.store(this.#state, DIRTY, 1);
      Atomics.notify(this.#state, DIRTY);
    }
  }

  /** Checkpoints the thread has run so far, and the copies the connection made to let the WAL start over. */
  get stats(): { running: boolean; checkpoints: number; catchUps: number } {
    const { CHECKPOINTS, CATCH_UPS } = CHECKPOINT_SLOTS;
    return { running: this.#thread !== null, checkpoints: Atomics.load(this.#state, CHECKPOINTS), catchUps: Atomics.load(this.#state, CATCH_UPS) };
  }

  /** Ends the thread (after its current copy, if any); the connection may then close and checkpoint the rest. */
  async close(): Promise<void> {
    clearTimeout(this.#startLater);
    const thread = this.#thread;
    if (!thread) return;
    this.#thread = null;
    this.#failed = true;
    const { STOP, DIRTY } = CHECKPOINT_SLOTS;
    const exited = new Promise<void>((resolve) => thread.once('exit', () => resolve()));
    // Referenced again while it winds down: the wait below must keep the process alive until the thread is gone.
    thread.ref();
    Atomics.store(this.#state, STOP, 1);
    Atomics.notify(this.#state, DIRTY);
    await exited;
  }

  #walBytes(): number {
    return statSync(`${this.#target.path}-wal`, { throwIfNoEntry: false })?.size ?? 0;
  }

  #start(): void {
    clearTimeout(this.#startLater);
    const { path, busyTimeoutMs } = this.#target;
    const { batchMs, restartAtFrames } = checkpointPlan;
    const data: CheckpointThreadData = { path, busyTimeoutMs, state: this.#state, batchMs, restartAtFrames };
    const thread = new Worker(THREAD_URL, { workerData: data });
    // A thread must not keep the process alive: an unclosed store's WAL is recovered at the next open.
    thread.unref();
    thread.once('error', () => this.#fallBack(thread));
    thread.once('exit', () => this.#fallBack(thread));
    this.#thread = thread;
    this.#target.setAutocheckpoint(0);
    Atomics.store(this.#state, CHECKPOINT_SLOTS.DIRTY, 1);
  }

  /** The thread ended without close asking: commits checkpoint inline again, as before it started. */
  #fallBack(thread: Worker): void {
    if (this.#thread !== thread) return;
    this.#thread = null;
    this.#failed = true;
    this.#target.setAutocheckpoint(checkpointPlan.inlineFrames);
  }
}
