// Schedules (cron or fixed interval) over HTTP: stored in the database, fired exactly once per slot by whichever process ticks first.
// Schedules are shared configuration: every route needs the `admin` scope.
import type { RoutePlugin } from '../context.ts';
import { HttpProblem } from '../http-problem.ts';
import { requireScope } from '../principal.ts';
import { jsonResponse, NameParams, problemResponses } from '../schemas/common.ts';
import { Schedule, ScheduleInput, ScheduleList } from '../schemas/schedules.ts';
import { notFoundAnswer } from './admin-common.ts';

const notFound = (name: string) => new HttpProblem(404, 'NOT_FOUND', `schedule ${JSON.stringify(name)} does not exist`);

export const scheduleRoutes: RoutePlugin = async (app, { hub }) => {
  const scheduler = hub.schedules;

  app.get(
    '/schedules',
    {
      schema: {
        summary: 'Every cron schedule',
        tags: ['schedules'],
        response: { 200: ScheduleList, ...problemResponses(401, 403, 503) },
      },
    },
    async (request) => {
      requireScope(request.principal, 'admin');
      return { schedules: await scheduler.list() };
    },
  );

  app.get(
    '/schedules/:name',
    {
      schema: {
        summary: 'One cron schedule, with its next and last run',
        tags: ['schedules'],
        params: NameParams,
        response: { 200: Schedule, ...problemResponses(400, 401, 403), 404: notFoundAnswer('schedule'), ...problemResponses(503) },
      },
    },
    async (request) => {
      requireScope(request.principal, 'admin');
      const schedule = await scheduler.get(request.params.name);
      if (!schedule) throw notFound(request.params.name);
      return schedule;
    },
  );

  app.put(
    '/schedules/:name',
    {
      schema: {
        summary: 'Create or replace a schedule (cron or fixed interval)',
        description:
          'Each slot of `cron` in `timezone` (default UTC), or every `every` (`30s`, `5m`, `1h`, or ms; exactly one of ' +
          'the two), creates `task` once, however many processes run. Slots ' +
          'missed while nothing ran follow `missedPolicy`: `skip` (default) or `run-once`. 201 when created, 200 ' +
          'when replaced; the answer carries `nextRunAt`.',
        tags: ['schedules'],
        params: NameParams,
        body: ScheduleInput,
        response: {
          200: jsonResponse(Schedule, 'Replaced.'),
          201: jsonResponse(Schedule, 'Created.'),
          ...problemResponses(400, 401, 403, 503),
        },
      },
    },
    async (request, reply) => {
      requireScope(request.principal, 'admin');
      const { schedule, created } = await scheduler.put(request.params.name, request.body);
      return reply.code(created ? 201 : 200).send(schedule);
    },
  );

  app.delete(
    '/schedules/:name',
    {
      schema: {
        summary: 'Delete a cron schedule',
        description: 'No further slots fire; tasks it already created stay.',
        tags: ['schedules'],
        params: NameParams,
        response: {
          204: { description: 'Deleted.', type: 'null' },
          ...problemResponses(400, 401, 403),
          404: notFoundAnswer('schedule'),
          ...problemResponses(503),
        },
      },
    },
    async (request, reply) => {
      requireScope(request.principal, 'admin');
      if (!(await scheduler.delete(request.params.name))) throw notFound(request.params.name);
      return reply.code(204).send();
    },
  );
};
