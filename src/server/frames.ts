// Wire encodings of task events. The event hub hands the same event object to every follower of a task, so with
// thousands of followers each event is serialized once here and the bytes are shared, instead of JSON.stringify
// running once per connection. History read from the store is a fresh object per reader and simply misses the cache.
import type { TaskEvent } from '../core/task.ts';

/**
 * The frames of the last events encoded, by event object, up to a count and a size in bytes. Followers of one task
 * read the same few live events at about the same time, so a small window finds them; a WeakMap keyed by every event
 * made each young-generation GC walk its entries (ephemerons: 2-3 % of the streaming benchmark's serving thread).
 */
class FrameCache<F extends { length: number }> {
  readonly #frames = new Map<TaskEvent, F>();
  #bytes = 0;

  get(event: TaskEvent, encode: (event: TaskEvent) => F): F {
    let frame = this.#frames.get(event);
    if (frame === undefined) {
      frame = encode(event);
      this.#frames.set(event, frame);
      this.#bytes += frame.length;
      for (const [oldest, old] of this.#frames) {
        if (this.#frames.size <= CACHED_FRAMES && this.#bytes <= CACHED_BYTES) break;
        this.#frames.delete(oldest);
        this.#bytes -= old.length;
      }
    }
    return frame;
  }
}

/** About two commits of streaming output to hundreds of followers; large frames (a 64 KiB chunk) by the hundred. */
const CACHED_FRAMES = 4096;
const CACHED_BYTES = 8 * 1024 * 1024;
const sseFrames = new FrameCache<Buffer>();
const wsFrames = new FrameCache<string>();

/** `id: <seq>\nevent: <kind>\ndata: <json>\n\n` (JSON has no raw newlines, so one data line always suffices). */
export function sseFrame(event: TaskEvent): Buffer {
  return sseFrames.get(event, encodeSse);
}

function encodeSse(event: TaskEvent): Buffer {
  return Buffer.from(`id: ${event.seq}\nevent: ${event.kind}\ndata: ${JSON.stringify(event)}\n\n`);
}

export const SSE_PING = Buffer.from(': ping\n\n');

/**
 * How far a live reader may fall behind before it is disconnected: a WebSocket's unsent bytes; an SSE stream's live
 * events waiting in the event hub (the hub's per-follower bound, DEFAULT_MAX_BUFFERED_BYTES, is the same 8 MiB).
 */
export const SLOW_READER_MAX_BYTES = 8 * 1024 * 1024;

/** A disconnected slow SSE reader has this long to take what its socket holds before the socket is dropped. */
export const SLOW_READER_GRACE_MS = 10_000;

/** The WebSocket `event` message; `queue` is fixed per task, so it can be part of the cached text. */
export function wsEventFrame(event: TaskEvent, queue: string): string {
  return wsFrames.get(event, (e) => JSON.stringify({ type: 'event', taskId: e.taskId, queue, event: e }));
}
