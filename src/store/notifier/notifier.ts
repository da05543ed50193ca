// The backend-neutral half of notices: fan-out to this process's listeners, ordered delivery of other processes'
// notices, and keeping the backend's Listener connected (reconnect with backoff, then resync). Each backend feeds it
// through a small Listener (listener.ts): PostgreSQL's LISTEN/NOTIFY connection, SQLite's data_version poller.
//
// After a gap (a lost connection, or one that could not be opened), notices sent meanwhile are gone. Once listening
// again the notifier emits `{kind: 'ready', queue: null}` (waiting workers re-check), then what the listener can tell
// was missed (PostgreSQL: pending cancel requests), then calls every resync listener: the hook for upper layers that
// must bring their own state up to date (followers re-reading events they may have missed).
import type { ListenOptions, NoticeListener, StoreNotice } from '../store.ts';
import type { Listener, ListenerSink } from './listener.ts';
import { NoticeHub } from './notice-hub.ts';

/** What a resync listener learns: notices may have been lost between `since` and `at` (epoch ms). */
export interface Resync {
  since: number;
  at: number;
}

export type ResyncListener = (resync: Resync) => void;

/**
 * A store that tells when its notices may have had a gap (both built-in backends): a capability beside the Store
 * contract, found with `canResync`.
 */
export interface ResyncSource {
  /** Calls `listener` each time listening resumed after a gap; returns the function that removes it. */
  onResync(listener: ResyncListener): () => void;
}

export function canResync(store: object): store is ResyncSource {
  return typeof (store as Partial<ResyncSource>).onResync === 'function';
}

export interface NotifierOptions {
  /** Keep the listener connected with no one listening (PostgreSQL: others see this process listen). Default true. */
  listenWhileIdle?: boolean;
  /** First reconnect delay, doubling up to maxDelayMs, with jitter (half to all of it). Defaults 100 and 5000. */
  minDelayMs?: number;
  maxDelayMs?: number;
  /** Injectable for tests. */
  random?: () => number;
  now?: () => number;
}

type Item = StoreNotice | (() => Promise<StoreNotice | null>);

export class Notifier {
  readonly #listener: Listener;
  readonly #hub = new NoticeHub();
  readonly #resyncListeners = new Set<ResyncListener>();
  readonly #listenWhileIdle: boolean;
  readonly #minDelayMs: number;
  readonly #maxDelayMs: number;
  readonly #random: () => number;
  readonly #now: () => number;
  #closed = false;
  /** Whether the listener listens now. */
  #listening = false;
  /** The connection attempt under way, or done; null while there is none (lost, waiting to reconnect, stopped). */
  #starting: Promise<void> | null = null;
  /** Counts connections: a sink of an earlier one is ignored. */
  #generation = 0;
  #reconnectTimer: NodeJS.Timeout | undefined;
  #reconnectAttempts = 0;
  /** Since when notices may have been missed (listener down), or null: the next LISTEN resyncs when set. */
  #gapSince: number | null = null;
  /** Delivery of other processes' notices while one of them is being read; null while none is. */
  #chain: Promise<void> | null = null;

  constructor(listener: Listener, options: NotifierOptions = {}) {
    this.#listener = listener;
    this.#listenWhileIdle = options.listenWhileIdle ?? true;
    this.#minDelayMs = options.minDelayMs ?? 100;
    this.#maxDelayMs = options.maxDelayMs ?? 5_000;
    this.#random = options.random ?? Math.random;
    this.#now = options.now ?? Date.now;
  }

  /** How many listeners this process has. */
  get size(): number {
    return this.#hub.size;
  }

  /** Whether the backend's listener is connected now. */
  get listening(): boolean {
    return this.#listening;
  }

  /** Delivers a notice of this process to its listeners at once. */
  emit(notice: StoreNotice): void {
    this.#hub.emit(notice);
  }

  /** Whether a listener of this process wants the notices of attempts starting and completing now (ListenOptions). */
  wantsStartsAndCompletions(): boolean {
    return this.#hub.wantsStartsAndCompletions();
  }

  /** Registers a listener and makes sure the backend listens; returns the function that removes it. */
  listen(listener: NoticeListener, options?: ListenOptions): () => void {
    const remove = this.#hub.add(listener, options);
    void this.start();
    return () => {
      remove();
      if (!this.#listenWhileIdle && this.#hub.size === 0) this.stop();
    };
  }

  onResync(listener: ResyncListener): () => void {
    this.#resyncListeners.add(listener);
    return () => this.#resyncListeners.delete(listener);
  }

  /** Connects the listener unless it is connected or connecting. Never rejects: a failure schedules a retry. */
  start(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#starting ??= this.#connect().catch(() => {
      this.#starting = null;
      this.#gapSince ??= this.#now();
      this.#scheduleReconnect();
    });
    return this.#starting;
  }

  /** Disconnects without a gap: for a backend that needs no listening while nobody listens (SQLite's poller). */
  stop(): void {
    clearTimeout(this.#reconnectTimer);
    this.#reconnectTimer = undefined;
    this.#generation++;
    this.#starting = null;
    this.#listening = false;
    void this.#listener.close().catch(() => {});
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#reconnectTimer);
    this.#reconnectTimer = undefined;
    await this.#starting;
    this.#generation++;
    this.#listening = false;
    await this.#listener.close().catch(() => {});
    await this.#chain;
  }

  async #connect(): Promise<void> {
    const generation = ++this.#generation;
    let lostEarly = false;
    const current = () => generation === this.#generation && !this.#closed;
    const sink: ListenerSink = {
      notice: (notice) => {
        if (current()) this.#deliver(notice);
      },
      noticeLater: (read) => {
        if (current()) this.#deliver(read);
      },
      lost: () => {
        if (!current()) return;
        if (this.#listening) this.#onLost();
        else lostEarly = true;
      },
    };
    await this.#listener.connect(sink);
    if (!current()) {
      // Closed or stopped while connecting.
      await this.#listener.close().catch(() => {});
      return;
    }
    if (lostEarly) throw new Error('the listener connection was lost while connecting');
    this.#listening = true;
    this.#reconnectAttempts = 0;
    if (this.#gapSince !== null) {
      const since = this.#gapSince;
      this.#gapSince = null;
      this.#resync(since);
    }
  }

  #onLost(): void {
    this.#generation++;
    this.#listening = false;
    this.#starting = null;
    this.#gapSince ??= this.#now();
    this.#scheduleReconnect();
  }

  #scheduleReconnect(): void {
    if (this.#closed || this.#reconnectTimer) return;
    const ceiling = Math.min(this.#maxDelayMs, this.#minDelayMs * 2 ** this.#reconnectAttempts++);
    const delay = ceiling / 2 + (this.#random() * ceiling) / 2;
    this.#reconnectTimer = setTimeout(() => {
      this.#reconnectTimer = undefined;
      void this.start();
    }, delay);
    // The timer alone must not keep a process alive that has nothing else to do.
    this.#reconnectTimer.unref();
  }

  /**
   * Listening again after a gap: waiters re-check for work, what the listener can tell was missed is delivered, and
   * resync listeners bring the rest up to date (followers of task events fill gaps from the store).
   */
  #resync(since: number): void {
    this.#hub.emit({ kind: 'ready', queue: null });
    const at = this.#now();
    this.#chain = this.#ordered(async () => {
      try {
        for (const notice of await this.#listener.missed()) this.#hub.emit(notice);
      } catch {
        // Unreachable again: the next reconnect repeats this.
      }
      for (const listener of this.#resyncListeners) {
        try {
          listener({ since, at });
        } catch (error) {
          queueMicrotask(() => {
            throw error;
          });
        }
      }
    });
  }

  /** Other processes' notices, one after another in arrival order, even when one must be read first. */
  #deliver(item: Item): void {
    if (this.#hub.size === 0) return;
    if (this.#chain === null && typeof item !== 'function') {
      this.#hub.emit(item);
      return;
    }
    this.#chain = this.#ordered(async () => {
      const notice = typeof item === 'function' ? await item().catch(() => null) : item;
      if (notice) this.#hub.emit(notice);
    });
  }

  /** Runs `step` after everything delivered before it; the chain empties (null) once nothing waits. */
  #ordered(step: () => Promise<void>): Promise<void> {
    const next = (this.#chain ?? Promise.resolve()).then(step);
    void next.then(() => {
      if (this.#chain === next) this.#chain = null;
    });
    return next;
  }
}
