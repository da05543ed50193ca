// Wire encodings of task events. The event hub hands the same event object to every follower of a task, so with
// thousands of followers each event is serialized once here and the bytes are shared, instead of JSON.stringify
// running once per connection. History read from the store is a fresh object per reader and simply misses the cache.
import type { TaskEvent } from '../core/task.ts';

/**
 * An event's encodings live on the event itself, under symbols no one else sees, as long as some follower holds the
 * event. A WeakMap keyed by every event did the same but made each young-generation GC walk its entries (ephemerons:
 * 2-3 % of the streaming benchmark's serving thread). Not enumerable: the event still compares and prints as before.
 */
const SSE_FRAME = Symbol('sseFrame');
const WS_FRAME = Symbol('wsFrame');
type Framed = TaskEvent & { [SSE_FRAME]?: Buffer; [WS_FRAME]?: string };

function keep<F>(event: Framed, key: typeof SSE_FRAME | typeof WS_FRAME, frame: F): F {
  Object.defineProperty(event, key, { value: frame });
  return frame;
}

/** `id: <seq>\nevent: <kind>\ndata: <json>\n\n` (JSON has no raw newlines, so one data line always suffices). */
export function sseFrame(event: Framed): Buffer {
  return event[SSE_FRAME] ?? keep(event, SSE_FRAME, Buffer.from(`id: ${event.seq}\nevent: ${event.kind}\ndata: ${JSON.stringify(event)}\n\n`));
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
export function wsEventFrame(event: Framed, queue: string): string {
  return event[WS_FRAME] ?? keep(event, WS_FRAME, JSON.stringify({ type: 'event', taskId: event.taskId, queue, event }));
}
