// Durable execution, the public side (docs/durable.md, "HTTP API"): recover a failed task from a checkpoint, derive a
// new task from one, read checkpoints, send signals. Owner checks as for GET /tasks/{id}: another owner's task is
// reported as one that does not exist. The worker side (saving checkpoints, steps, suspending) is in worker.ts.
import type { RoutePlugin } from '../context.ts';
import { HttpProblem } from '../http-problem.ts';
import { mayTaskSignal, visibleTask } from '../principal.ts';
import { jsonResponse, problemResponses } from '../schemas/common.ts';
import {
  Checkpoint,
  CheckpointList,
  CheckpointParams,
  DeriveRequest,
  RecoverRequest,
  SignalParams,
  SignalRequest,
  SignalResult,
} from '../schemas/durable.ts';
import { Task as TaskSchema, TaskIdParams } from '../schemas/tasks.ts';
import { taskPath } from './tasks.ts';

const noCheckpoint = (id: string, version: number | 'latest') =>
  new HttpProblem(404, 'NOT_FOUND', version === 'latest' ? `task ${id} has no checkpoint` : `task ${id} has no checkpoint version ${version}`);

export const durableRoutes: RoutePlugin = async (app, context) => {
  const { hub } = context;

  app.post(
    '/tasks/:id/recover',
    {
      schema: {
        summary: 'Recover a failed or cancelled task from a checkpoint',
        description:
          'Puts the task back in its queue with its attempts reset (as retry), resuming from its latest checkpoint or ' +
          'from `fromVersion`, which is saved again as the new latest (label `recover:N`): the history is kept. A ' +
          'task in any other state: 409. A version the task does not have: 400 (`field` fromVersion).',
        tags: ['durable'],
        params: TaskIdParams,
        body: RecoverRequest,
        response: { 200: TaskSchema, ...problemResponses(400, 404, 409, 503) },
      },
      // The body is optional: a bare POST resumes from the latest checkpoint.
      preValidation: async (request) => {
        request.body ??= {};
      },
    },
    async (request) => {
      await visibleTask(hub, request.principal, request.params.id);
      const { fromVersion } = request.body;
      return hub.recover(request.params.id, fromVersion === undefined ? {} : { fromVersion });
    },
  );

  app.post(
    '/tasks/:id/derive',
    {
      schema: {
        summary: 'Create a task derived from this one',
        description:
          "A new task whose `parentId` is this one, with the original's settings and payload, changed by the body " +
          "(`payload` shallow-merged into the original's). With `fromCheckpoint` it starts from that checkpoint as " +
          'its version 1, atomically with its creation. Listed by `GET /tasks?parentId=`.',
        tags: ['durable'],
        params: TaskIdParams,
        body: DeriveRequest,
        response: { 202: jsonResponse(TaskSchema, 'Created.'), ...problemResponses(400, 404, 503) },
      },
      preValidation: async (request) => {
        request.body ??= {};
      },
    },
    async (request, reply) => {
      await visibleTask(hub, request.principal, request.params.id);
      // The body's derived type is the engine's DeriveSpec (test/schemas.test.ts holds them together).
      const task = await hub.derive(request.params.id, request.body);
      return reply.code(202).header('location', taskPath(task.id)).send(task);
    },
  );

  app.get(
    '/tasks/:id/checkpoints',
    {
      schema: {
        summary: "List a task's checkpoints",
        description: 'Every saved version (version, label, size, createdAt), oldest first, without the states.',
        tags: ['durable'],
        params: TaskIdParams,
        response: { 200: CheckpointList, ...problemResponses(404, 503) },
      },
    },
    async (request) => {
      await visibleTask(hub, request.principal, request.params.id);
      return { checkpoints: await hub.checkpoints(request.params.id) };
    },
  );

  app.get(
    '/tasks/:id/checkpoints/latest',
    {
      schema: {
        summary: "Get a task's latest checkpoint",
        description: 'The latest version with its state; 404 when the task has none.',
        tags: ['durable'],
        params: TaskIdParams,
        response: { 200: Checkpoint, ...problemResponses(404, 503) },
      },
    },
    async (request) => {
      const { id } = request.params;
      await visibleTask(hub, request.principal, id);
      const checkpoint = await hub.checkpoint(id, 'latest');
      if (!checkpoint) throw noCheckpoint(id, 'latest');
      return checkpoint;
    },
  );

  app.get(
    '/tasks/:id/checkpoints/:version',
    {
      schema: {
        summary: 'Get one checkpoint of a task',
        description: 'That version with its state; 404 when the task has no such version.',
        tags: ['durable'],
        params: CheckpointParams,
        response: { 200: Checkpoint, ...problemResponses(400, 404, 503) },
      },
    },
    async (request) => {
      const { id, version } = request.params;
      await visibleTask(hub, request.principal, id);
      const checkpoint = await hub.checkpoint(id, version);
      if (!checkpoint) throw noCheckpoint(id, version);
      return checkpoint;
    },
  );

  app.post(
    '/tasks/:id/signals/:name',
    {
      schema: {
        summary: 'Send a signal to a task',
        description:
          'A task waiting for this signal (`waitingFor.kind` signal) is queued again and its handler receives `data` ' +
          '(`resumed` true); otherwise the signal is kept for a later wait (`resumed` false). A finished task: 409. ' +
          'Needs `tasks:write`, or a follow token issued with this signal in `signals` (else 403).',
        tags: ['durable'],
        params: SignalParams,
        body: SignalRequest,
        response: { 202: jsonResponse(SignalResult, 'Sent.'), ...problemResponses(400, 401, 403, 404, 409, 503) },
      },
      preValidation: async (request) => {
        request.body ??= {};
      },
    },
    async (request, reply) => {
      const { id, name } = request.params;
      await visibleTask(hub, request.principal, id);
      mayTaskSignal(request.principal, name);
      const sent = await hub.signal(id, name, request.body.data ?? null);
      hub.metrics.countSignal(sent.resumed);
      return reply.code(202).send(sent);
    },
  );
};
