// GET /metrics: Prometheus text of this process (hub.metrics), with Node's process metrics and this server's open
// streams. Requires the `admin` scope when auth is configured (give the scraper an API key with it).
import type { FastifyPluginAsync } from 'fastify';
import type { RouteContext } from '../context.ts';
import { problemResponses } from '../schemas/common.ts';

export const metricsRoutes: FastifyPluginAsync<RouteContext> = async (app, { hub, connections }) => {
  hub.metrics.enableProcessMetrics();
  const remove = hub.metrics.addStreamConnections(() => connections.snapshot());
  app.addHook('onClose', async () => {
    remove();
  });

  app.get(
    '/metrics',
    {
      // Scraped every few seconds: no request log line each time (errors still log).
      logLevel: 'warn',
      schema: {
        summary: 'Prometheus metrics',
        description:
          'taskhub_queue_tasks{queue,status}, taskhub_task_runs_total{queue,type,outcome}, ' +
          'taskhub_task_duration_seconds{queue,type}, taskhub_task_wait_seconds{queue}, ' +
          'taskhub_stream_connections{kind} and more, plus Node.js process metrics. Runs are counted by the process ' +
          'that ends the attempt: scrape every process (servers, and workers with --metrics-port) and sum.',
        tags: ['health'],
        response: {
          200: { description: 'Prometheus text exposition format.', content: { 'text/plain': { schema: { type: 'string' } } } },
          ...problemResponses(401, 403, 503),
        },
      },
    },
    async (_request, reply) => {
      const { text, contentType } = await hub.metrics.exposition();
      return reply.type(contentType).send(text);
    },
  );
};
