// Liveness (the process answers) and readiness (and its store answers too), for load balancers and orchestrators.
import type { FastifyPluginAsync } from 'fastify';
import type { RouteContext } from '../context.ts';
import { instanceOf, problem, sendProblem } from '../errors.ts';
import { HealthStatus, problemResponses } from '../schemas/common.ts';

export const healthRoutes: FastifyPluginAsync<RouteContext> = async (app, { hub }) => {
  app.get(
    '/healthz',
    { schema: { summary: 'Liveness', tags: ['health'], response: { 200: HealthStatus } } },
    async () => ({ status: 'ok' }),
  );

  app.get(
    '/readyz',
    {
      schema: {
        summary: 'Readiness: the store answers',
        tags: ['health'],
        response: { 200: HealthStatus, ...problemResponses(503) },
      },
    },
    async (request, reply) => {
      try {
        await hub.ping();
        return { status: 'ready' };
      } catch (error) {
        request.log.warn({ err: error }, 'store unreachable');
        const detail = `the store (${hub.backend}) is not answering: ${(error as Error).message}`;
        return sendProblem(reply, { ...problem(503, 'STORE_UNAVAILABLE', detail), instance: instanceOf(request) });
      }
    },
  );
};
