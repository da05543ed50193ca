// Server-Sent Events: one task's history, then its live events, ending after the terminal one. `id:` is the event
// seq, so a client that reconnects with Last-Event-ID (EventSource does so by itself) resumes exactly where it was.
import type { ServerResponse } from 'node:http';
import { isTerminal } from '../../core/task.ts';
import type { RoutePlugin } from '../context.ts';
import { SSE_PING, sseFrame } from '../frames.ts';
import { visibleTask } from '../principal.ts';
import { problemResponses } from '../schemas/common.ts';
import { StreamHeaders, StreamQuery, TaskIdParams } from '../schemas/tasks.ts';

const SSE_HEADERS = {
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-cache',
  // nginx buffers proxied responses by default, which would hold events back.
  'x-accel-buffering': 'no',
} as const;

/** Resolves when the socket can take more, or when the stream is being stopped. */
function drained(res: ServerResponse, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done);
      signal.removeEventListener('abort', done);
      resolve();
    };
    res.on('drain', done);
    signal.addEventListener('abort', done);
    if (signal.aborted) done();
  });
}

export const streamRoutes: RoutePlugin = async (app, { hub, connections, heartbeatMs }) => {
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
      const heartbeat = setInterval(() => res.write(SSE_PING), heartbeatMs);
      try {
        for await (const event of hub.follow(task.id, { afterSeq, signal: stop.signal })) {
          if (!res.write(sseFrame(event))) await drained(res, stop.signal);
          if (stop.signal.aborted) break;
        }
      } catch (error) {
        // The client resumes from its Last-Event-ID on a new connection; nothing is lost by ending this one.
        if (!stop.signal.aborted) request.log.warn({ err: error, taskId: task.id, queue: task.queue, type: task.type, attempt: task.attempts }, 'SSE stream failed');
      } finally {
        clearInterval(heartbeat);
        res.off('close', onClose);
        release();
        if (!res.writableEnded) res.end();
      }
      return reply;
    },
  );
};
