// The live feed (GET /api/v1/feed): every task's lifecycle events, batched by the server. Read with fetch rather
// than EventSource, which cannot send the Authorization header; reconnects on its own, and after a reconnect (or
// when the server says it dropped events) the views reload what they show, since the feed has no history.
import { authHeaders } from './api.ts';
import { readSse } from './sdk.ts';
import type { TaskEventKind } from '../core/task.ts';

export interface FeedEvent {
  taskId: string;
  queue: string;
  kind: TaskEventKind;
  seq: number;
  at: number;
  data?: Record<string, unknown>;
}

export interface FeedBatch {
  events: FeedEvent[];
  /** Events the server left out: reload. */
  dropped: number;
  /** True for the empty batch sent after (re)connecting: reload, something may have been missed. */
  resync?: boolean;
}

export type FeedState = 'connecting' | 'live' | 'reconnecting' | 'unauthorized';

export function connectFeed(onBatch: (batch: FeedBatch) => void, onState: (state: FeedState) => void): () => void {
  const stop = new AbortController();
  void (async () => {
    let failures = 0;
    let connectedBefore = false;
    while (!stop.signal.aborted) {
      try {
        const response = await fetch('/api/v1/feed', { headers: { accept: 'text/event-stream', ...authHeaders() }, signal: stop.signal, cache: 'no-store' });
        if (response.status === 401 || response.status === 403) {
          onState('unauthorized');
          return;
        }
        if (!response.ok || !response.body) throw new Error(`feed answered ${response.status}`);
        for await (const message of readSse(response.body)) {
          if (message.event === 'hello') {
            failures = 0;
            onState('live');
            if (connectedBefore) onBatch({ events: [], dropped: 0, resync: true });
            connectedBefore = true;
          } else if (message.event === 'tasks') onBatch(JSON.parse(message.data) as FeedBatch);
        }
      } catch {
        if (stop.signal.aborted) return;
      }
      failures++;
      onState('reconnecting');
      await new Promise((resolve) => setTimeout(resolve, Math.min(500 * 2 ** failures, 8000)));
    }
  })();
  return () => stop.abort();
}
