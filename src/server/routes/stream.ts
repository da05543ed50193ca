// Server-Sent Events: one task's history, then its live events, ending after the terminal one. `id:` is the event
// seq, so a client that reconnects with Last-Event-ID (EventSource does so by itself) resumes exactly where it was.
//
// Slow readers: events are pulled from the hub only as fast as the socket takes them (a write that answers false
// waits for 'drain'), so the server holds about one event per reader beyond the socket's own buffer. Meanwhile the hub
// buffers the reader's live events up to a bound (8 MiB, as far as a WebSocket may fall behind); beyond, it drops them
// and the reader catches up from the store by seq when it reads again, so a slow reader costs no memory and loses
// nothing. A reader that fell that far behind and then takes nothing for two heartbeat intervals is disconnected: it
// resumes from the store with its Last-Event-ID (EventSource reconnects by itself).
import type { ServerResponse } from 'node:http';
import { isTerminal } from '../../core/task.ts';
import type { RoutePlugin } from '../context.ts';
import { SLOW_READER_GRACE_MS, SSE_PING, sseFrame } from '../frames.ts';
import { visibleTask } from '../principal.ts';
import { problemResponses } from '../schemas/common.ts';
import { StreamHeaders, StreamQuery, TaskIdParams } from '../schemas/tasks.ts';
import { WriteRounds } from '../write-rounds.ts';

const SSE_HEADERS = {
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-cache',
  // nginx buffers proxied responses by default, which would hold events back.
  'x-accel-buffering': 'no',
} as const;

/** Resolves true when the socket can take more or the stream is being stopped, false after `ms` without either. */
/** Small frames of one turn go out as one chunk of at most about this many bytes. */
const MAX_JOINED_BYTES = 64 * 1024;

function drained(res: ServerResponse, signal: AbortSignal, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const done = (outcome: boolean) => {
      clearTimeout(timer);
      res.off('drain', onDrain);
      signal.removeEventListener('abort', onDrain);
      resolve(outcome);
    };
    const onDrain = () => done(true);
    const timer = setTimeout(() => done(false), ms);
    res.on('drain', onDrain);
    signal.addEventListener('abort', onDrain);
    if (signal.aborted) done(true);
  });
}

/**
 * Ends the response of a reader that fell behind: what the socket already holds is delivered if it reads again soon
 * (then the stream ends cleanly and it reconnects with Last-Event-ID); one that does not is dropped, so a client that
 * never reads again costs nothing more.
 */
function cutOff(res: ServerResponse): void {
  const timer = setTimeout(() => res.destroy(), SLOW_READER_GRACE_MS);
  timer.unref();
  res.once('close', () => clearTimeout(timer));
  if (!res.writableEnded) res.end();
}

export const streamRoutes: RoutePlugin = async (app, { hub, connections, heartbeatMs }) => {
  const rounds = new WriteRounds((error) => app.log.error({ err: error }, 'SSE write failed'));
  app.get(
    '/tasks/:id/stream',
    {
      schema: {
        summary: 'Follow a task live (Server-Sent Events)',
        description:
          'History after `Last-Event-ID` (or `after`), then live events, as `id: <seq>`, `event: <kind>`, ' +
          '`data: <TaskEvent JSON>`. The stream ends after the terminal event (completed, failed, cancelled). ' +
          'Comment lines `: ping` keep idle connections open. When nothing more will come (the task has finished ' +
          'and the client has seen its terminal event) the answer is 204, which tells EventSource to stop reconnecting.',
        tags: ['tasks'],
        params: TaskIdParams,
        querystring: StreamQuery,
        headers: StreamHeaders,
        response: {
          200: {
            description: 'The event stream.',
            content: { 'text/event-stream': { schema: { type: 'string' } } },
          },
          204: { description: 'The task has finished and every event was seen.', type: 'null' },
          ...problemResponses(400, 404, 503),
        },
      },
      // A HEAD would open a stream that sends nothing and never ends.
      exposeHeadRoute: false,
    },
    async (request, reply) => {
      const task = await visibleTask(hub, request.principal, request.params.id);
      const header = request.headers['last-event-id'];
      const afterSeq = header !== undefined ? Number(header) : (request.query.after ?? 0);
      if (isTerminal(task.status) && afterSeq >= task.lastEventSeq) return reply.code(204).send();

      // From here on the response is written by hand: Fastify's reply would buffer and end it.
      reply.hijack();
      const res = reply.raw;
      const headers: Record<string, string | number | string[]> = {};
      for (const [name, value] of Object.entries(reply.getHeaders())) if (value !== undefined) headers[name] = value;
      res.writeHead(200, { ...headers, ...SSE_HEADERS });
      res.flushHeaders();

      const stop = new AbortController();
      const release = connections.opened('sse', () => stop.abort());
      const onClose = () => stop.abort();
      res.once('close', onClose);
      /** Waiting for the socket to drain: the reader is not taking what it was sent. */
      let blocked = false;
      /** The hub had to drop live events for this reader: it fell more than its bound behind. */
      let overflowed = false;
      let behind = false;
      const stalledMs = 2 * heartbeatMs;
      /** Frames of this turn, written together by flush. */
      let frames: Buffer[] = [];
      let framesBytes = 0;
      const flush = () => {
        if (frames.length === 0 || res.writableEnded) return;
        const batch = frames;
        const bytes = framesBytes;
        frames = [];
        framesBytes = 0;
        res.write(batch.length === 1 ? batch[0] : Buffer.concat(batch, bytes));
      };
      // A ping on a blocked socket would only queue up behind what it cannot take.
      const heartbeat = setInterval(() => blocked || res.write(SSE_PING), heartbeatMs);
      try {
        const follow = hub.follow(task.id, { afterSeq, signal: stop.signal, onOverflow: () => (overflowed = true) });
        for await (const event of follow) {
          // The events one commit brings go out in one write (one chunk, one packet), not one each; on a busy server,
          // those of several commits (write-rounds.ts).
          // Large frames go at once: each is one buffer shared by every follower of the task (a copy per follower
          // would multiply it), and a replay of history must not gather a page of them before writing.
          const frame = sseFrame(event);
          if (frame.length > MAX_JOINED_BYTES) {
            flush();
            res.write(frame);
          } else {
            if (frames.length === 0) rounds.add(flush);
            frames.push(frame);
            framesBytes += frame.length;
            if (framesBytes > MAX_JOINED_BYTES) flush();
          }
          // The socket took the last write only into its buffer: wait for it to drain before taking more.
          if (res.writableNeedDrain) {
            blocked = true;
            // A reader that is reading, however slowly, keeps its stream; one far behind that stopped is let go.
            while (!(await drained(res, stop.signal, stalledMs))) {
              if (overflowed) {
                behind = true;
                stop.abort();
              }
            }
            blocked = false;
          }
          if (stop.signal.aborted) break;
        }
      } catch (error) {
        // The client resumes from its Last-Event-ID on a new connection; nothing is lost by ending this one.
        if (!stop.signal.aborted) request.log.warn({ err: error, taskId: task.id, queue: task.queue, type: task.type, attempt: task.attempts }, 'SSE stream failed');
      } finally {
        clearInterval(heartbeat);
        rounds.remove(flush);
        if (!behind) flush();
        res.off('close', onClose);
        release();
        if (behind) cutOff(res);
        else if (!res.writableEnded) res.end();
      }
      if (behind) request.log.info({ taskId: task.id }, 'SSE reader fell too far behind; disconnected (it resumes with Last-Event-ID)');
      return reply;
    },
  );
};
