// Durable execution over the worker protocol (docs/durable.md, docs/workers.md): checkpoints, steps and suspend, for
// `taskhub worker --url`, the Python client and any other worker. Like the other attempt calls (routes/worker.ts) each
// is guarded by the claim's attemptToken (409 when stale) and is the very WorkerGateway call the in-process worker
// makes, so the size limit, the children's validation and owner, and every store rule are shared.
import type { Json } from '../../core/task.ts';
import type { ChildSpec, WorkerWait } from '../../engine/attempt-service.ts';
import type { AttemptRef } from '../../store/store.ts';
import type { RoutePlugin } from '../context.ts';
import { requireScope } from '../principal.ts';
import { jsonResponse, Problem, problemResponses } from '../schemas/common.ts';
import type { BodyOf } from '../schemas/provider.ts';
import { TaskIdParams } from '../schemas/tasks.ts';
import { CheckpointInfo } from '../schemas/durable.ts';
import { onAttempt, STALE_ANSWER } from './worker.ts';
import { CheckpointRequest, StepList, StepParams, StepRecord, StepRequest, SuspendRequest, SuspendResponse } from '../schemas/worker.ts';

const problemOnly = (description: string) => ({ description, content: { 'application/problem+json': { schema: Problem } } });

/** The request's wait as the gateway takes it (the schema has checked its shape). */
function waitOf(body: BodyOf<typeof SuspendRequest>['wait']): WorkerWait {
  switch (body.kind) {
    case 'children':
      return { kind: 'children', name: body.name, tasks: body.tasks as readonly ChildSpec[] };
    case 'sleep':
      return { kind: 'sleep', name: body.name, until: body.until };
    case 'signal':
      return { kind: 'signal', name: body.name, timeoutAt: body.timeoutAt };
  }
}

export const workerDurableRoutes: RoutePlugin = async (app, context) => {
  const { attempts } = context.hub;

  app.post(
    '/worker/tasks/:id/checkpoints',
    {
      schema: {
        summary: 'Save a checkpoint of the task\'s state',
        description:
          'Stores the next version (1, 2, …) of the task\'s state and appends a `checkpoint` event. Every later attempt ' +
          '(a retry, a recover, a run after a suspension) gets the latest in its claim\'s `checkpoint`. A state larger ' +
          'than the server\'s limit (bytes of JSON, default 1 MiB) answers 413 `CHECKPOINT_TOO_LARGE` and stores nothing.',
        tags: ['worker'],
        params: TaskIdParams,
        body: CheckpointRequest,
        response: {
          200: jsonResponse(CheckpointInfo, 'The version saved.'),
          ...problemResponses(400, 401, 403),
          409: STALE_ANSWER,
          413: problemOnly('`CHECKPOINT_TOO_LARGE`: the state is over the limit; nothing was stored.'),
          ...problemResponses(503),
        },
      },
    },
    async (request) => {
      requireScope(request.principal, 'worker');
      const { attemptToken, state, label } = request.body;
      const ref: AttemptRef = { taskId: request.params.id, attemptToken };
      return onAttempt(ref.taskId, () => attempts.checkpoint(ref, (state ?? null) as Json, label ?? null));
    },
  );

  app.get(
    '/worker/tasks/:id/steps',
    {
      schema: {
        summary: 'The task\'s stored step results',
        description: 'Every step that ran to success in any attempt, with its result: a handler returns these instead of running the step again.',
        tags: ['worker'],
        params: TaskIdParams,
        response: { 200: jsonResponse(StepList, 'Oldest first.'), ...problemResponses(400, 401, 403, 404, 503) },
      },
    },
    async (request) => {
      requireScope(request.principal, 'worker');
      return { steps: await attempts.steps(request.params.id) };
    },
  );

  app.put(
    '/worker/tasks/:id/steps/:name',
    {
      schema: {
        summary: 'Store a step\'s result',
        description:
          'Stores the result of the step `name` once per task. 409 `STEP_EXISTS` when it is stored already (the first ' +
          'result stands: read it from GET …/steps); 409 `STALE_ATTEMPT` when the token is not current.',
        tags: ['worker'],
        params: StepParams,
        body: StepRequest,
        response: {
          200: jsonResponse(StepRecord, 'Stored.'),
          ...problemResponses(400, 401, 403),
          409: { ...STALE_ANSWER, description: `${STALE_ANSWER.description} Or \`STEP_EXISTS\`: the step is stored already.` },
          ...problemResponses(503),
        },
      },
    },
    async (request) => {
      requireScope(request.principal, 'worker');
      const ref: AttemptRef = { taskId: request.params.id, attemptToken: request.body.attemptToken };
      return onAttempt(ref.taskId, () => attempts.saveStep(ref, request.params.name, (request.body.result ?? null) as Json));
    },
  );

  app.post(
    '/worker/tasks/:id/suspend',
    {
      schema: {
        summary: 'Wait for children, a time or a signal, without holding the worker',
        description:
          'Ends the attempt by suspending the task (status `waiting`: no lease, not counted as an attempt) unless the ' +
          'wait holds already. `children`: creates the tasks (validated like `POST /tasks`, owned by the parent\'s ' +
          'owner, `parentId` the task) unless this wait has children already; `sleep`: until `until`; `signal`: until ' +
          'a signal `name` (one sent before counts) or `timeoutAt`. When the wait ends the task is queued again and ' +
          'its handler runs from the top: the same call then answers `suspended: false` with the outcome.',
        tags: ['worker'],
        params: TaskIdParams,
        body: SuspendRequest,
        response: { 200: jsonResponse(SuspendResponse, 'Suspended, or the outcome.'), ...problemResponses(400, 401, 403), 409: STALE_ANSWER, ...problemResponses(503) },
      },
    },
    async (request) => {
      requireScope(request.principal, 'worker');
      const ref: AttemptRef = { taskId: request.params.id, attemptToken: request.body.attemptToken };
      return onAttempt(ref.taskId, () => attempts.suspend(ref, waitOf(request.body.wait)));
    },
  );
};
