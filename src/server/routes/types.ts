// Per-type settings over HTTP: defaults (maxAttempts, backoff, timeoutMs, softTimeoutMs, queue) applied at submit to
// tasks of the type that do not say, a JSON Schema their payloads must match, and a rate limit the claim enforces.
// Shared configuration: `admin` scope.
import { checkName } from '../../core/validate.ts';
import type { RoutePlugin } from '../context.ts';
import { HttpProblem } from '../http-problem.ts';
import { requireScope } from '../principal.ts';
import { jsonResponse, problemResponses } from '../schemas/common.ts';
import { TypeParams, TypeSettings, TypeSettingsInput, TypeSettingsList } from '../schemas/types.ts';
import { notFoundAnswer } from './admin-common.ts';

const notFound = (type: string) => new HttpProblem(404, 'NOT_FOUND', `task type ${JSON.stringify(type)} has no settings`);

export const typeRoutes: RoutePlugin = async (app, { hub }) => {
  const types = hub.types;
  const find = async (type: string) => (await types.list()).find((t) => t.type === type);

  app.get(
    '/types',
    {
      schema: {
        summary: 'Every task type with settings',
        tags: ['types'],
        response: { 200: TypeSettingsList, ...problemResponses(401, 403, 503) },
      },
    },
    async (request) => {
      requireScope(request.principal, 'admin');
      return { types: await types.list() };
    },
  );

  app.get(
    '/types/:type',
    {
      schema: {
        summary: 'Settings of a task type',
        tags: ['types'],
        params: TypeParams,
        response: { 200: TypeSettings, ...problemResponses(400, 401, 403), 404: notFoundAnswer('task type settings'), ...problemResponses(503) },
      },
    },
    async (request) => {
      requireScope(request.principal, 'admin');
      const settings = await find(request.params.type);
      if (!settings) throw notFound(request.params.type);
      return settings;
    },
  );

  app.put(
    '/types/:type',
    {
      schema: {
        summary: 'Set the defaults, payload schema and rate limit of a task type',
        description:
          'Replaces the type\'s settings as a whole. Submits of this type whose payload does not match ' +
          '`payloadSchema` get a 400 naming the field. Every process applies new defaults within a second; a ' +
          '`rateLimit` holds from the next claim, across every queue and process. 201 when the type had none, 200 ' +
          'when replaced.',
        tags: ['types'],
        params: TypeParams,
        body: TypeSettingsInput,
        response: {
          200: jsonResponse(TypeSettings, 'Replaced.'),
          201: jsonResponse(TypeSettings, 'Created.'),
          ...problemResponses(400, 401, 403, 503),
        },
      },
    },
    async (request, reply) => {
      requireScope(request.principal, 'admin');
      const queue = request.body.defaults?.queue;
      if (queue !== undefined) checkName('defaults.queue', queue);
      const existed = (await find(request.params.type)) !== undefined;
      const settings = await types.put(request.params.type, request.body);
      return reply.code(existed ? 200 : 201).send(settings);
    },
  );

  app.delete(
    '/types/:type',
    {
      schema: {
        summary: 'Remove the settings of a task type',
        description: 'Its tasks get the server defaults again and any payload is accepted.',
        tags: ['types'],
        params: TypeParams,
        response: {
          204: { description: 'Removed.', type: 'null' },
          ...problemResponses(400, 401, 403),
          404: notFoundAnswer('task type settings'),
          ...problemResponses(503),
        },
      },
    },
    async (request, reply) => {
      requireScope(request.principal, 'admin');
      if (!(await types.delete(request.params.type))) throw notFound(request.params.type);
      return reply.code(204).send();
    },
  );
};
