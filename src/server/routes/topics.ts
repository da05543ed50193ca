// Topic pub/sub over HTTP: publish an event (one task per matching durable subscription, all created in one
// transaction) and manage the subscriptions. Publishing needs `tasks:write` and stamps the caller's owner on every
// copy; subscriptions are shared configuration and need `admin`.
import { ValidationError } from '../../core/errors.ts';
import { topicMatches } from '../../core/topic.ts';
import type { RoutePlugin } from '../context.ts';
import { HttpProblem } from '../http-problem.ts';
import { requireScope } from '../principal.ts';
import { IdempotencyHeaders, jsonResponse, NameParams, problemResponses } from '../schemas/common.ts';
import { PublishRequest, PublishResponse, Subscription, SubscriptionInput, SubscriptionList } from '../schemas/topics.ts';
import { notFoundAnswer, traceparentOf } from './admin-common.ts';

/** A copy refused by its type's payload schema names the payload field, not the internal batch index. */
function publishError(error: unknown, subscriptions: readonly string[]): unknown {
  if (!(error instanceof ValidationError)) return error;
  const match = /^tasks\[(\d+)\]\.(.*)$/s.exec(error.message);
  if (!match) return error;
  const field = error.field?.replace(/^tasks\[\d+\]\./, '');
  const name = subscriptions[Number(match[1])];
  return new ValidationError(`${match[2]} (for subscription ${name ?? '?'})`, field || undefined);
}

export const topicRoutes: RoutePlugin = async (app, { hub }) => {
  const topics = hub.topics;

  app.post(
    '/events',
    {
      schema: {
        summary: 'Publish an event to a topic',
        description:
          'Creates one task per subscription whose pattern matches the topic, all in one transaction (every ' +
          'subscriber gets its copy or none does), and answers 202 with them. A topic nobody subscribes to is not an ' +
          'error: the list is empty. With an idempotency key used before, the same copies come back and none is ' +
          'created. Requires `tasks:write`; the copies belong to the caller.',
        tags: ['topics'],
        headers: IdempotencyHeaders,
        body: PublishRequest,
        response: { 202: jsonResponse(PublishResponse, 'Published.'), ...problemResponses(400, 401, 403, 413, 503) },
      },
    },
    async (request, reply) => {
      requireScope(request.principal, 'tasks:write');
      const { topic, payload, idempotencyKey: bodyKey } = request.body;
      const headerKey = request.headers['idempotency-key'];
      if (headerKey !== undefined && bodyKey !== undefined && headerKey !== bodyKey) {
        throw new ValidationError('idempotencyKey: differs from the Idempotency-Key header; give one or the other', 'idempotencyKey');
      }
      const idempotencyKey = headerKey ?? bodyKey;
      const owner = request.principal.owner;
      const traceparent = traceparentOf(request.headers.traceparent);
      try {
        const result = await topics.publish(topic, payload ?? null, {
          ...(owner !== null ? { owner } : {}),
          ...(idempotencyKey !== undefined ? { idempotencyKey } : {}),
          ...(traceparent ? { traceparent } : {}),
        });
        return reply.code(202).send(result);
      } catch (error) {
        // The copies are made in the order of the matching subscriptions as the store lists them.
        const matching = error instanceof ValidationError ? (await topics.list()).filter((s) => topicMatches(s.pattern, topic)) : [];
        throw publishError(error, matching.map((s) => s.name));
      }
    },
  );

  app.get(
    '/subscriptions',
    {
      schema: {
        summary: 'Every topic subscription',
        tags: ['topics'],
        response: { 200: SubscriptionList, ...problemResponses(401, 403, 503) },
      },
    },
    async (request) => {
      requireScope(request.principal, 'admin');
      return { subscriptions: await topics.list() };
    },
  );

  app.get(
    '/subscriptions/:name',
    {
      schema: {
        summary: 'One topic subscription',
        tags: ['topics'],
        params: NameParams,
        response: { 200: Subscription, ...problemResponses(400, 401, 403), 404: notFoundAnswer('subscription'), ...problemResponses(503) },
      },
    },
    async (request) => {
      requireScope(request.principal, 'admin');
      const subscription = await topics.get(request.params.name);
      if (!subscription) throw notFound(request.params.name);
      return subscription;
    },
  );

  app.put(
    '/subscriptions/:name',
    {
      schema: {
        summary: 'Create or replace a topic subscription',
        description:
          'Every later publish whose topic matches `pattern` creates a task of `type` (default: the subscription ' +
          'name) in `queue` (default `default`). 201 when created, 200 when replaced.',
        tags: ['topics'],
        params: NameParams,
        body: SubscriptionInput,
        response: {
          200: jsonResponse(Subscription, 'Replaced.'),
          201: jsonResponse(Subscription, 'Created.'),
          ...problemResponses(400, 401, 403, 503),
        },
      },
    },
    async (request, reply) => {
      requireScope(request.principal, 'admin');
      const { name } = request.params;
      const { pattern, queue, type } = request.body;
      const { subscription, created } = await topics.subscribe(name, pattern, { type: type ?? name, ...(queue !== undefined ? { queue } : {}) });
      return reply.code(created ? 201 : 200).send(subscription);
    },
  );

  app.delete(
    '/subscriptions/:name',
    {
      schema: {
        summary: 'Delete a topic subscription',
        description: 'Later publishes no longer reach it; tasks it already received stay.',
        tags: ['topics'],
        params: NameParams,
        response: {
          204: { description: 'Deleted.', type: 'null' },
          ...problemResponses(400, 401, 403),
          404: notFoundAnswer('subscription'),
          ...problemResponses(503),
        },
      },
    },
    async (request, reply) => {
      requireScope(request.principal, 'admin');
      if (!(await topics.unsubscribe(request.params.name))) throw notFound(request.params.name);
      return reply.code(204).send();
    },
  );
};

const notFound = (name: string) => new HttpProblem(404, 'NOT_FOUND', `subscription ${JSON.stringify(name)} does not exist`);
