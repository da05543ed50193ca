// Queue controls over HTTP, enforced inside the store's claim in every process: pause and resume, a global
// concurrency cap and a rate limit. Shared configuration: every route needs the `admin` scope. (The task counts of a
// queue are in queues.ts.)
import { ValidationError } from '../../core/errors.ts';
import type { RoutePlugin } from '../context.ts';
import { requireScope } from '../principal.ts';
import { problemResponses } from '../schemas/common.ts';
import { QueueLimits, QueueNameParams, QueueSettings, RedriveResult } from '../schemas/queues.ts';

export const queueControlRoutes: RoutePlugin = async (app, { hub }) => {
  const answers = { 200: QueueSettings, ...problemResponses(400, 401, 403, 503) };

  app.post(
    '/queues/:name/pause',
    {
      schema: {
        summary: 'Pause a queue',
        description: 'No worker, in any process, claims from it until it is resumed; running tasks go on. Idempotent.',
        tags: ['queues'],
        params: QueueNameParams,
        response: answers,
      },
    },
    async (request) => {
      requireScope(request.principal, 'admin');
      return hub.pauseQueue(request.params.name);
    },
  );

  app.post(
    '/queues/:name/resume',
    {
      schema: {
        summary: 'Resume a paused queue',
        description: 'Workers claim from it again at once. Idempotent.',
        tags: ['queues'],
        params: QueueNameParams,
        response: answers,
      },
    },
    async (request) => {
      requireScope(request.principal, 'admin');
      return hub.resumeQueue(request.params.name);
    },
  );

  app.post(
    '/queues/:name/redrive',
    {
      schema: {
        summary: 'Retry every failed task of a queue (dead-letter redrive)',
        description:
          'Puts every task of the queue that has failed by now back in it, with its attempts reset, as a retry of ' +
          'each would; answers how many. Tasks that fail again meanwhile are not taken twice.',
        tags: ['queues'],
        params: QueueNameParams,
        response: { 200: RedriveResult, ...problemResponses(400, 401, 403, 503) },
      },
    },
    async (request) => {
      requireScope(request.principal, 'admin');
      return { queue: request.params.name, retried: await hub.redrive(request.params.name) };
    },
  );

  app.put(
    '/queues/:name/limits',
    {
      schema: {
        summary: 'Set the concurrency cap, rate limit and cost limit of a queue',
        description:
          '`maxConcurrency`: at most this many tasks of the queue running at once, anywhere. `rateLimit`: at most ' +
          '`count` starts in any window of `intervalMs`. `costLimit`: a task starts only when its cost fits the ' +
          "window's budget (docs/queues.md). null removes a limit; an absent field leaves it unchanged.",
        tags: ['queues'],
        params: QueueNameParams,
        body: QueueLimits,
        response: answers,
      },
    },
    async (request) => {
      requireScope(request.principal, 'admin');
      const { maxConcurrency, rateLimit, costLimit } = request.body;
      if (maxConcurrency === undefined && rateLimit === undefined && costLimit === undefined) {
        throw new ValidationError('the request body must give maxConcurrency, rateLimit or costLimit', 'maxConcurrency');
      }
      return hub.setQueueLimits(request.params.name, {
        ...(maxConcurrency !== undefined ? { maxConcurrency } : {}),
        ...(rateLimit !== undefined ? { rateLimit } : {}),
        ...(costLimit !== undefined ? { costLimit } : {}),
      });
    },
  );
};
