// Live task events for followers (SSE, WebSocket, result waiters): one store listener fans each event out to every
// follower of its task or queue. Followers replay history first, then go live with nothing missed or repeated:
// every event passes through a per-follower cursor, and a gap in seq is filled from the store.
import { TERMINAL_EVENT_KINDS, type TaskEvent } from '../core/task.ts';
import type { Store, StoreNotice } from '../store/store.ts';

export interface QueueEvent {
  queue: string;
  owner: string | null;
  event: TaskEvent;
}

type Wake = () => void;

interface Follower {
  buffer: TaskEvent[];
  wake: Wake | null;
}

const PAGE = 500;

export class TaskEventHub {
  readonly #store: Store;
  readonly #followers = new Map<string, Set<Follower>>();
  readonly #queueWatchers = new Set<(event: QueueEvent) => void>();

  constructor(store: Store) {
    this.#store = store;
  }

  /** Feed for the store listener. */
  onNotice(notice: StoreNotice): void {
    if (notice.kind !== 'event') return;
    const followers = this.#followers.get(notice.event.taskId);
    if (followers) {
      for (const follower of followers) {
        follower.buffer.push(notice.event);
        follower.wake?.();
      }
    }
    for (const watcher of this.#queueWatchers) watcher(notice);
  }

  get followerCount(): number {
    let n = 0;
    for (const set of this.#followers.values()) n += set.size;
    return n;
  }

  /** Every event of every task as it happens (deduping is the watcher's job); returns the function that stops it. */
  watchAll(watcher: (event: QueueEvent) => void): () => void {
    this.#queueWatchers.add(watcher);
    return () => this.#queueWatchers.delete(watcher);
  }

  /**
   * Events of one task with seq > afterSeq: history, then live, ending after the terminal event or when `signal`
   * aborts. Throws TaskNotFoundError for an unknown task.
   */
  async *follow(taskId: string, afterSeq = 0, signal?: AbortSignal): AsyncGenerator<TaskEvent> {
    const follower: Follower = { buffer: [], wake: null };
    let set = this.#followers.get(taskId);
    if (!set) this.#followers.set(taskId, (set = new Set()));
    set.add(follower);
    const onAbort = () => follower.wake?.();
    signal?.addEventListener('abort', onAbort);
    let last = afterSeq;
    try {
      // History, page by page; live events that arrive meanwhile wait in the buffer. A terminal event ends the
      // history only if it is the newest: a failed task that was retried by hand has more events after it.
      let lastKind: TaskEvent['kind'] | undefined;
      for (;;) {
        const page = await this.#store.listEvents(taskId, last, PAGE);
        for (const event of page) {
          yield event;
          last = event.seq;
          lastKind = event.kind;
        }
        if (page.length < PAGE) break;
      }
      if (lastKind && TERMINAL_EVENT_KINDS.has(lastKind)) return;
      while (!signal?.aborted) {
        if (follower.buffer.length === 0) {
          await new Promise<void>((resolve) => {
            follower.wake = resolve;
          });
          follower.wake = null;
          continue;
        }
        const batch = follower.buffer.sort((a, b) => a.seq - b.seq);
        follower.buffer = [];
        for (const event of batch) {
          if (event.seq <= last) continue;
          if (event.seq > last + 1) {
            // A notice was lost or reordered: read what lies between from the store.
            for (const missed of await this.#store.listEvents(taskId, last, event.seq - last - 1)) {
              yield missed;
              last = missed.seq;
              if (TERMINAL_EVENT_KINDS.has(missed.kind)) return;
            }
          }
          yield event;
          last = event.seq;
          if (TERMINAL_EVENT_KINDS.has(event.kind)) return;
        }
      }
    } finally {
      signal?.removeEventListener('abort', onAbort);
      set.delete(follower);
      if (set.size === 0) this.#followers.delete(taskId);
    }
  }
}
