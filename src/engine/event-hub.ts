// Live task events for followers (SSE, WebSocket, result waiters): one store listener fans each event out to every
// follower of its task or queue. Followers replay history first, then go live with nothing missed or repeated:
// every event passes through a per-follower cursor, and a gap in seq is filled from the store.
//
// Two things keep this bounded and whole. A follower that does not take its events (a stalled network reader) buffers
// at most `maxBufferedBytes` / `maxBufferedEvents`: beyond, its buffer is dropped and it reads from the store by
// cursor when it next pulls, so memory never holds a task's whole output. And notices can be lost (the store's
// listener connection dropped): `resync()` then re-reads every followed task after its followers' cursors, one store
// read per distinct task, so a follower whose task ended meanwhile still learns of the end; queue watchers also get
// the tasks created during the gap (read newest first by id, which is time-ordered, back to the gap's start).
import { TERMINAL_EVENT_KINDS, type TaskEvent } from '../core/task.ts';
import type { Store, StoreNotice } from '../store/store.ts';

export interface QueueEvent {
  queue: string;
  owner: string | null;
  event: TaskEvent;
}

export interface HubFollowOptions {
  /** Events with seq > afterSeq. Default 0: the whole history. */
  afterSeq?: number;
  signal?: AbortSignal;
  /**
   * Called when live events arrived faster than this follower took them and its buffer was dropped (they will be
   * read from the store, in order, when the follower next pulls). A reader that cannot wait, such as a network client
   * that stopped reading, may end the follow here instead.
   */
  onOverflow?: () => void;
}

export interface EventHubOptions {
  /** Live events one follower may have waiting, by size (JSON text, approximately). Default 8 MiB. */
  maxBufferedBytes?: number;
  /** … and by count. Default 10000. */
  maxBufferedEvents?: number;
  /** Unfinished tasks remembered for queue watchers, to re-read after a gap in notices. Default 10000. */
  maxWatchedTasks?: number;
}

export const DEFAULT_MAX_BUFFERED_BYTES = 8 * 1024 * 1024;
const DEFAULT_MAX_BUFFERED_EVENTS = 10_000;
const DEFAULT_MAX_WATCHED_TASKS = 10_000;
/**
 * Events per store read: a read starts with FIRST_PAGE (sizes are unknown until read: output chunks may be large),
 * then takes as many as hold about READ_BYTES, at most PAGE. A reader replaying a long stream holds one read.
 */
const PAGE = 500;
const FIRST_PAGE = 16;
const READ_BYTES = 256 * 1024;
/** Tasks created during a gap that a resync reads for queue watchers, at most (newer ones first). */
const MAX_GAP_TASKS = 5_000;
/** How far before the reported gap a resync looks for created tasks: clocks of processes differ a little. */
const GAP_SLACK_MS = 2_000;
/** Store reads in flight during a resync: enough to be quick, few enough to leave the pool to everyone else. */
const RESYNC_CONCURRENCY = 8;

type Wake = () => void;

interface Follower {
  buffer: TaskEvent[];
  bufferedBytes: number;
  /** The store may hold events the buffer lacks (it overflowed): read from `last` before taking the buffer. */
  refill: boolean;
  /** Seq of the last event yielded. */
  last: number;
  wake: Wake | null;
  onOverflow: (() => void) | undefined;
}

/** An unfinished task whose events queue watchers have seen, and the newest seq they saw. */
interface Watched {
  queue: string;
  owner: string | null;
  seq: number;
}

/** Size of a JSON value as text, roughly; iterative, so no nesting depth can overflow the stack. */
export function approxJsonBytes(value: unknown): number {
  let bytes = 0;
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const v = stack.pop();
    if (typeof v === 'string') bytes += v.length + 2;
    else if (v === null || typeof v !== 'object') bytes += 8;
    else if (Array.isArray(v)) {
      bytes += 2 + v.length;
      for (const item of v) stack.push(item);
    } else {
      for (const [key, item] of Object.entries(v)) {
        bytes += key.length + 4;
        stack.push(item);
      }
    }
  }
  return bytes;
}

/**
 * An output chunk's data is `{ chunk }`, whose size approxJsonBytes gives as the chunk's length and 11: counted without
 * its walk, which cost 0.4 µs per event (it allocates), once per event a streaming task writes.
 */
export function eventBytes(event: TaskEvent): number {
  const chunk = event.kind === 'output' ? (event.data as { chunk?: unknown } | null)?.chunk : undefined;
  return 80 + (typeof chunk === 'string' ? chunk.length + 11 : approxJsonBytes(event.data));
}

/** Runs `work` on every item, at most `limit` at once. */
async function eachLimited<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < items.length) await work(items[next++]);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
}

export class TaskEventHub {
  readonly #store: Pick<Store, 'listEvents' | 'listTasks'>;
  readonly #maxBufferedBytes: number;
  readonly #maxBufferedEvents: number;
  readonly #maxWatchedTasks: number;
  readonly #followers = new Map<string, Set<Follower>>();
  readonly #queueWatchers = new Set<(event: QueueEvent) => void>();
  readonly #watched = new Map<string, Watched>();
  /** The resync under way, and whether another gap was reported while it ran. */
  #resyncing: Promise<void> | null = null;
  #resyncAgain = false;
  #gapSince: number | undefined;

  constructor(store: Pick<Store, 'listEvents' | 'listTasks'>, options: EventHubOptions = {}) {
    this.#store = store;
    this.#maxBufferedBytes = options.maxBufferedBytes ?? DEFAULT_MAX_BUFFERED_BYTES;
    this.#maxBufferedEvents = options.maxBufferedEvents ?? DEFAULT_MAX_BUFFERED_EVENTS;
    this.#maxWatchedTasks = options.maxWatchedTasks ?? DEFAULT_MAX_WATCHED_TASKS;
  }

  /** Feed for the store listener. */
  onNotice(notice: StoreNotice): void {
    if (notice.kind !== 'event') return;
    // Most processes follow nothing: no lookup (hashing a new id string) per event then.
    const followers = this.#followers.size === 0 ? undefined : this.#followers.get(notice.event.taskId);
    if (followers) {
      const bytes = eventBytes(notice.event);
      for (const follower of followers) this.#push(follower, notice.event, bytes);
    }
    if (this.#queueWatchers.size > 0) {
      this.#remember(notice);
      this.#emitToWatchers(notice);
    }
  }

  /** Whether anything here reads the events of attempts starting and completing: a follower or a queue watcher. */
  get wantsStartsAndCompletions(): boolean {
    return this.#followers.size > 0 || this.#queueWatchers.size > 0;
  }

  get followerCount(): number {
    let n = 0;
    for (const set of this.#followers.values()) n += set.size;
    return n;
  }

  /** Every event of every task as it happens (deduping is the watcher's job); returns the function that stops it. */
  watchAll(watcher: (event: QueueEvent) => void): () => void {
    this.#queueWatchers.add(watcher);
    return () => {
      this.#queueWatchers.delete(watcher);
      if (this.#queueWatchers.size === 0) this.#watched.clear();
    };
  }

  /**
   * Events of one task with seq > afterSeq: history, then live, ending after the terminal event or when `signal`
   * aborts. Throws TaskNotFoundError for an unknown task.
   */
  async *follow(taskId: string, options: HubFollowOptions = {}): AsyncGenerator<TaskEvent> {
    const { signal } = options;
    // The history is a refill from afterSeq: the same paged store read that catches up after an overflow.
    const follower: Follower = { buffer: [], bufferedBytes: 0, refill: true, last: options.afterSeq ?? 0, wake: null, onOverflow: options.onOverflow };
    let set = this.#followers.get(taskId);
    if (!set) this.#followers.set(taskId, (set = new Set()));
    set.add(follower);
    const onAbort = () => follower.wake?.();
    signal?.addEventListener('abort', onAbort);
    try {
      while (!signal?.aborted) {
        if (follower.refill) {
          follower.refill = false;
          // A terminal event ends the stream only if it is the newest: a failed task that was retried by hand has
          // more events after it.
          const newest = yield* this.#read(taskId, follower, Number.POSITIVE_INFINITY, signal);
          if (newest && TERMINAL_EVENT_KINDS.has(newest)) return;
          continue;
        }
        if (follower.buffer.length === 0) {
          await new Promise<void>((resolve) => {
            follower.wake = resolve;
          });
          follower.wake = null;
          continue;
        }
        const batch = follower.buffer.sort((a, b) => a.seq - b.seq);
        follower.buffer = [];
        follower.bufferedBytes = 0;
        for (const event of batch) {
          if (event.seq <= follower.last) continue;
          if (event.seq > follower.last + 1) {
            // A notice was lost or reordered: read what lies between from the store.
            const missed = yield* this.#read(taskId, follower, event.seq - 1, signal, true);
            if (missed && TERMINAL_EVENT_KINDS.has(missed)) return;
            if (event.seq <= follower.last) continue;
          }
          yield event;
          follower.last = event.seq;
          if (TERMINAL_EVENT_KINDS.has(event.kind)) return;
        }
      }
    } finally {
      signal?.removeEventListener('abort', onAbort);
      set.delete(follower);
      if (set.size === 0 && this.#followers.get(taskId) === set) this.#followers.delete(taskId);
    }
  }

  /**
   * After notices may have been lost (the store's listener reconnected): every followed task, and every unfinished
   * task queue watchers have seen, is read from the store after the lowest cursor of its followers, once per task,
   * and what was missed is delivered as if it had been noticed. With `since` (epoch ms: when notices may have started
   * to be lost) queue watchers also get the events of tasks created since then, which no notice told them of.
   * Resolves when done; a resync asked for while one runs runs again after it (from the earliest `since`).
   */
  resync(since?: number): Promise<void> {
    if (since !== undefined) this.#gapSince = Math.min(this.#gapSince ?? since, since);
    if (this.#resyncing) {
      this.#resyncAgain = true;
      return this.#resyncing;
    }
    const run = async () => {
      try {
        do {
          this.#resyncAgain = false;
          const gapSince = this.#gapSince;
          this.#gapSince = undefined;
          await this.#resyncOnce(gapSince);
        } while (this.#resyncAgain);
      } finally {
        this.#resyncing = null;
      }
    };
    this.#resyncing = run();
    return this.#resyncing;
  }

  async #resyncOnce(gapSince: number | undefined): Promise<void> {
    if (gapSince !== undefined && this.#queueWatchers.size > 0) await this.#watchCreatedSince(gapSince - GAP_SLACK_MS);
    const cursors = new Map<string, number>();
    for (const [taskId, set] of this.#followers) {
      for (const follower of set) cursors.set(taskId, Math.min(cursors.get(taskId) ?? follower.last, follower.last));
    }
    for (const [taskId, watched] of this.#watched) cursors.set(taskId, Math.min(cursors.get(taskId) ?? watched.seq, watched.seq));
    await eachLimited([...cursors], RESYNC_CONCURRENCY, async ([taskId, after]) => {
      let events: TaskEvent[];
      try {
        events = await this.#store.listEvents(taskId, after, PAGE);
      } catch {
        // The store is unreachable again: the listener will lose its connection too, and the next resync repeats this.
        return;
      }
      for (const follower of this.#followers.get(taskId) ?? []) {
        // More than a page was missed: the follower reads the rest itself, by its own cursor.
        if (events.length === PAGE) {
          follower.refill = true;
          follower.wake?.();
        } else for (const event of events) this.#push(follower, event, eventBytes(event));
      }
      const watched = this.#watched.get(taskId);
      if (watched) {
        for (const event of events) {
          // Events the watchers already saw live (meanwhile, too) are not sent again.
          if (event.seq <= watched.seq || this.#watched.get(taskId) !== watched) continue;
          const notice = { kind: 'event' as const, queue: watched.queue, owner: watched.owner, event };
          this.#remember(notice);
          this.#emitToWatchers(notice);
        }
      }
    });
  }

  /** Makes queue watchers remember the tasks created since `since` (seq 0: none of their events seen yet). */
  async #watchCreatedSince(since: number): Promise<void> {
    let cursor: string | undefined;
    let seen = 0;
    try {
      do {
        const page = await this.#store.listTasks({ limit: 500, ...(cursor ? { cursor } : {}) });
        for (const task of page.tasks) {
          if (task.createdAt < since) return;
          if (!this.#watched.has(task.id) && ++seen <= MAX_GAP_TASKS) {
            this.#watched.set(task.id, { queue: task.queue, owner: task.owner, seq: 0 });
          }
        }
        cursor = page.nextCursor ?? undefined;
      } while (cursor && seen < MAX_GAP_TASKS);
    } catch {
      // The store is unreachable again: the next resync repeats this.
    }
  }

  /** Buffers a live event for a follower, or drops its buffer when it is too far behind (it refills from the store). */
  #push(follower: Follower, event: TaskEvent, bytes: number): void {
    if (event.seq <= follower.last) return;
    if (follower.refill) {
      // It reads the store before the buffer anyway; what it reads will include this.
      follower.wake?.();
      return;
    }
    if (follower.buffer.length >= this.#maxBufferedEvents || follower.bufferedBytes + bytes > this.#maxBufferedBytes) {
      follower.buffer = [];
      follower.bufferedBytes = 0;
      follower.refill = true;
      follower.wake?.();
      follower.onOverflow?.();
      return;
    }
    follower.buffer.push(event);
    follower.bufferedBytes += bytes;
    follower.wake?.();
  }

  /**
   * Reads the store from the follower's cursor up to `until` (inclusive), page by page, yielding each new event;
   * answers the kind of the last event read, or of the first terminal one when `stopAtTerminal`.
   */
  async *#read(taskId: string, follower: Follower, until: number, signal: AbortSignal | undefined, stopAtTerminal = false): AsyncGenerator<TaskEvent, TaskEvent['kind'] | undefined> {
    let limit = FIRST_PAGE;
    let newest: TaskEvent['kind'] | undefined;
    while (follower.last < until && !signal?.aborted) {
      const want = Math.min(limit, until - follower.last);
      const page: (TaskEvent | undefined)[] = await this.#store.listEvents(taskId, follower.last, want);
      const got = page.length;
      if (got > 0) {
        let bytes = 0;
        for (const event of page) if (event) bytes += eventBytes(event);
        limit = Math.max(1, Math.min(PAGE, Math.floor((READ_BYTES * got) / bytes)));
      }
      for (let i = 0; i < got; i++) {
        const event = page[i];
        // Let go of each event once yielded: a stalled reader keeps only what it has not taken yet.
        page[i] = undefined;
        if (!event || event.seq <= follower.last) continue;
        yield event;
        follower.last = event.seq;
        newest = event.kind;
        if (stopAtTerminal && TERMINAL_EVENT_KINDS.has(event.kind)) return newest;
      }
      if (got < want) break;
    }
    return newest;
  }

  /** Remembers an unfinished task queue watchers have seen (the oldest is forgotten beyond the bound). */
  #remember(notice: QueueEvent): void {
    const { event } = notice;
    if (TERMINAL_EVENT_KINDS.has(event.kind)) {
      this.#watched.delete(event.taskId);
      return;
    }
    const watched = this.#watched.get(event.taskId);
    if (watched) watched.seq = Math.max(watched.seq, event.seq);
    else {
      this.#watched.set(event.taskId, { queue: notice.queue, owner: notice.owner, seq: event.seq });
      if (this.#watched.size > this.#maxWatchedTasks) this.#watched.delete(this.#watched.keys().next().value as string);
    }
  }

  #emitToWatchers(notice: QueueEvent): void {
    for (const watcher of this.#queueWatchers) watcher(notice);
  }
}
