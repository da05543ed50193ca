// What the dashboard watches: a feed of every task's lifecycle events (SSE, batched), and one answer with everything
// its overview shows (queue counts at a bounded cost, queue controls, the last hour minute by minute).
import type { FastifyPluginAsync } from 'fastify';
import type { Json, TaskEvent } from '../../core/task.ts';
import type { QueueEvent } from '../../engine/event-hub.ts';
import { ActivityTracker } from '../../observability/activity.ts';
import type { RouteContext } from '../context.ts';
import { SSE_PING } from '../frames.ts';
import { canSee } from '../principal.ts';
import { problemResponses } from '../schemas/common.ts';

/** A feed message is sent at most this often, carrying everything since the previous one. */
const FEED_INTERVAL_MS = 250;
/** Events per message; beyond, they are counted as `dropped` and the client reloads what it shows instead. */
const MAX_EVENTS_PER_MESSAGE = 1000;

export interface FeedEvent {
  taskId: string;
  queue: string;
  kind: TaskEvent['kind'];
  seq: number;
  at: number;
  /** A small part of the event's data: never results or output (read the task for those). */
  data?: Json;
}

function pick(data: Record<string, unknown>, keys: readonly string[]): { [key: string]: Json } {
  const out: { [key: string]: Json } = {};
  for (const key of keys) if (data[key] !== undefined) out[key] = data[key] as Json;
  return out;
}

/** The event as the feed carries it, or null for kinds the feed leaves out (output chunks). */
export function feedEvent(notice: QueueEvent): FeedEvent | null {
  const { event, queue } = notice;
  if (event.kind === 'output') return null;
  const base: FeedEvent = { taskId: event.taskId, queue, kind: event.kind, seq: event.seq, at: event.at };
  const data = (event.data ?? {}) as Record<string, unknown>;
  switch (event.kind) {
    case 'created':
      return { ...base, data: pick(data, ['status', 'runAt']) };
    case 'started':
      return { ...base, data: pick(data, ['attempt', 'workerId']) };
    case 'progress':
      return { ...base, data: pick(data, ['percent', 'message', 'phase']) };
    case 'retrying': {
      const error = (data.error ?? null) as { message?: unknown } | null;
      return { ...base, data: { ...pick(data, ['attempt', 'runAt', 'manual']), ...(error && typeof error.message === 'string' ? { error: error.message } : {}) } };
    }
    case 'failed':
    case 'cancelled': {
      const error = (data.error ?? null) as { message?: unknown; code?: unknown } | null;
      return { ...base, data: error && typeof error.message === 'string' ? { error: error.message } : {} };
    }
    // Durable execution: enough for a list to show what a task waits for, never checkpoint states or signal data.
    case 'waiting':
      return { ...base, data: pick(data, ['waitingFor']) };
    case 'resumed':
      return { ...base, data: pick(data, ['reason', 'name']) };
    case 'signal':
      return { ...base, data: pick(data, ['name']) };
    case 'checkpoint':
      return { ...base, data: pick(data, ['version', 'label', 'size']) };
    case 'child-finished':
      return { ...base, data: pick(data, ['childId', 'status', 'pending']) };
    default:
      return base;
  }
}

const SSE_HEADERS = {
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-cache',
  'x-accel-buffering': 'no',
} as const;

export const feedRoutes: FastifyPluginAsync<RouteContext> = async (app, { hub, connections, heartbeatMs }) => {
  // The last hour, from this server's start: fed by every process's events through the hub.
  const activity = new ActivityTracker();
  const unwatch = hub.watchAll(activity.onEvent);
  app.addHook('onClose', async () => {
    unwatch();
  });

  app.get(
    '/feed',
    {
      config: { access: 'tasks:read' },
      exposeHeadRoute: false,
      // The dashboard polls and streams these all day: their request logs would drown everything else.
      logLevel: 'warn',
      schema: {
        summary: 'Every task event as it happens (Server-Sent Events, batched)',
        description:
          'Lifecycle events of every task the caller may see (all of them for admin): `event: tasks`, `data: ' +
          '{ events: [{ taskId, queue, kind, seq, at, data? }], dropped }`, at most every 250 ms. Output chunks are ' +
          'left out and only the latest progress of a task in a message is kept; results travel with the task, not ' +
          'here. `dropped` > 0 means events were left out (a burst, or a slow reader): reload what you show. The ' +
          'feed starts live (no history) with `event: hello`.',
        tags: ['live'],
        response: {
          200: { description: 'The event stream.', content: { 'text/event-stream': { schema: { type: 'string' } } } },
          ...problemResponses(401, 403),
        },
      },
    },
    async (request, reply) => {
      const { principal } = request;
      reply.hijack();
      const res = reply.raw;
      const headers: Record<string, string | number | string[]> = {};
      for (const [name, value] of Object.entries(reply.getHeaders())) if (value !== undefined) headers[name] = value;
      res.writeHead(200, { ...headers, ...SSE_HEADERS });
      res.write(`event: hello\ndata: ${JSON.stringify({ at: Date.now() })}\n\n`);

      let pending: FeedEvent[] = [];
      /** Index in `pending` of each task's progress event, so a newer one replaces it. */
      let progressAt = new Map<string, number>();
      let dropped = 0;
      let blocked = false;
      const unwatchFeed = hub.watchAll((notice) => {
        if (!canSee(principal, notice.owner)) return;
        const event = feedEvent(notice);
        if (!event) return;
        if (blocked || pending.length >= MAX_EVENTS_PER_MESSAGE) {
          dropped++;
          return;
        }
        if (event.kind === 'progress') {
          const at = progressAt.get(event.taskId);
          if (at !== undefined && pending[at].seq < event.seq) {
            pending[at] = event;
            return;
          }
          progressAt.set(event.taskId, pending.length);
        }
        pending.push(event);
      });
      const flush = () => {
        if (blocked || (pending.length === 0 && dropped === 0)) return;
        const message = `event: tasks\ndata: ${JSON.stringify({ events: pending, dropped })}\n\n`;
        pending = [];
        progressAt = new Map();
        dropped = 0;
        if (!res.write(message)) {
          // A slow reader: count what comes until it has drained rather than buffering without bound.
          blocked = true;
          res.once('drain', () => {
            blocked = false;
          });
        }
      };
      const ticker = setInterval(flush, FEED_INTERVAL_MS);
      const heartbeat = setInterval(() => {
        if (!blocked) res.write(SSE_PING);
      }, heartbeatMs);
      const stop = () => {
        clearInterval(ticker);
        clearInterval(heartbeat);
        unwatchFeed();
        release();
        if (!res.writableEnded) res.end();
      };
      const release = connections.opened('sse', stop);
      res.once('close', stop);
    },
  );

  app.get(
    '/stats',
    {
      logLevel: 'warn',
      schema: {
        summary: 'What the dashboard overview shows',
        description:
          'Task counts by queue and status (at most `cap` tasks of each status are counted: a status in `capped` has ' +
          'more, and its figures are lower bounds; counts are shared for a few seconds), queue controls, this ' +
          'server\'s open streams, and the last hour minute by minute since this server started (attempts started, ' +
          'completed, failed, retried, cancelled; enqueue-to-start percentiles), and what flow control holds back in ' +
          'each queue with queued tasks (`heldBack`: per queue, key and reason). Requires the `admin` scope.',
        tags: ['queues'],
        response: { ...problemResponses(401, 403, 503) },
      },
    },
    async () => {
      const [counts, settings] = await Promise.all([hub.metrics.counts.get(), hub.queueSettings()]);
      // What keys hold back (docs/queues.md): only queues with scheduled or queued tasks can hold any.
      const holding = counts.queues.filter((q) => q.counts.scheduled > 0 || q.counts.queued > 0).map((q) => q.queue);
      const heldBack = (await Promise.all(holding.map(async (queue) => (await hub.heldBack(queue)).map((h) => ({ queue, ...h }))))).flat();
      return {
        counts: { queues: counts.queues, capped: counts.capped, cap: counts.cap, countedAt: counts.countedAt },
        queues: settings.map((q) => ({ name: q.name, paused: q.paused, maxConcurrency: q.maxConcurrency, rateLimit: q.rateLimit, costLimit: q.costLimit ?? null })),
        heldBack,
        activity: activity.snapshot(),
        streams: connections.snapshot(),
        now: Date.now(),
      };
    },
  );
};
