// Wire encodings of task events. The event hub hands the same event object to every follower of a task, so with
// thousands of followers each event is serialized once here and the bytes are shared, instead of JSON.stringify
// running once per connection. History read from the store is a fresh object per reader and simply misses the cache.
import type { TaskEvent } from '../core/task.ts';

const sseFrames = new WeakMap<TaskEvent, Buffer>();
const wsFrames = new WeakMap<TaskEvent, string>();

/** `id: <seq>\nevent: <kind>\ndata: <json>\n\n` (JSON has no raw newlines, so one data line always suffices). */
export function sseFrame(event: TaskEvent): Buffer {
  let frame = sseFrames.get(event);
  if (!frame) {
    frame = Buffer.from(`id: ${event.seq}\nevent: ${event.kind}\ndata: ${JSON.stringify(event)}\n\n`);
    sseFrames.set(event, frame);
  }
  return frame;
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
  let frame = wsFrames.get(event);
  if (!frame) {
    frame = JSON.stringify({ type: 'event', taskId: event.taskId, queue, event });
    wsFrames.set(event, frame);
  }
  return frame;
}
