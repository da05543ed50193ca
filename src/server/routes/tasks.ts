// Tasks: submit (one or a batch), read, list, history, result (long-poll), cancel, retry.
import type { FastifyReply } from 'fastify';
import { ValidationError } from '../../core/errors.ts';
import { isTerminal, TERMINAL_EVENT_KINDS, type Json, type Task, type TaskSpec as CoreTaskSpec } from '../../core/task.ts';
import type { RouteContext, RoutePlugin } from '../context.ts';
import { DEFAULT_FOLLOW_TTL_SECONDS } from '../auth.ts';
import { withSubmitSpan } from '../../observability/tracing.ts';
import { ownerFilter, type Principal, requireScope, visibleTask } from '../principal.ts';
import { IdempotencyHeaders, jsonResponse, problemResponses } from '../schemas/common.ts';
import {
  BatchRequest,
  BatchResponse,
  CancelRequest,
  EventList,
  EventsQuery,
  FollowToken,
  FollowTokenRequest,
  ListQuery,
  ResultQuery,
  Task as TaskSchema,
  TaskIdParams,
  TaskList,
  TaskResult,
  TaskSpec,
  type TaskSpecBody,
  TokenQuery,
} from '../schemas/tasks.ts';

/** Longest long-poll of GET /tasks/{id}/result, seconds. */
export const MAX_RESULT_WAIT_SECONDS = 60;

const TRACEPARENT_RE = /^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/;

export const taskPath = (id: string) => `/api/v1/tasks/${encodeURIComponent(id)}`;

/** The core spec of a validated request body; `prefix` names the element of a batch in errors. */
function toSpec(body: TaskSpecBody, principal: Principal, prefix = '', traceparent?: string): CoreTaskSpec {
  const { runAt, payload, ...rest } = body;
  const spec: CoreTaskSpec = { ...rest, payload: (payload ?? null) as Json };
  if (typeof runAt === 'string') {
    const at = Date.parse(runAt);
    if (Number.isNaN(at)) {
      throw new ValidationError(`${prefix}runAt: must be epoch milliseconds or an ISO 8601 date-time`, `${prefix}runAt`);
    }
    spec.runAt = at;
  } else if (runAt !== undefined) spec.runAt = runAt;
  if (principal.owner !== null) spec.owner = principal.owner;
  // The body's traceparent (validated by the core) wins over the header's.
  if (traceparent && spec.traceparent === undefined) spec.traceparent = traceparent;
  return spec;
}

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** A tracing header that does not parse is ignored rather than failing the submit: tracing must never cost a task. */
function traceparentOf(value: string | string[] | undefined): string | undefined {
  const header = headerValue(value);
  return header && TRACEPARENT_RE.test(header) ? header : undefined;
}

/**
 * The task once finished, or as it is when `waitMs` runs out, the client goes away (no one to wait for) or the server
 * closes.
 */
async function waitForFinish(context: RouteContext, reply: FastifyReply, task: Task, waitMs: number): Promise<Task> {
  const abort = new AbortController();
  const stop = () => abort.abort();
  const timer = setTimeout(stop, waitMs);
  reply.raw.once('close', stop);
  const untrack = context.connections.track(stop);
  try {
    for await (const event of context.hub.follow(task.id, { afterSeq: task.lastEventSeq, signal: abort.signal })) {
      if (TERMINAL_EVENT_KINDS.has(event.kind)) break;
    }
  } finally {
    clearTimeout(timer);
    reply.raw.off('close', stop);
    untrack();
    stop();
  }
  return context.hub.get(task.id);
}

const resultOf = (task: Task) => ({ status: task.status, result: task.result, error: task.error });

export const taskRoutes: RoutePlugin = async (app, context) => {
  const { hub } = context;
  app.post(
    '/tasks',
    {
      schema: {
        summary: 'Submit a task',
        description:
          'Stores the task durably and answers at once (202) with it and its `Location`. With an idempotency key ' +
          '(header `Idempotency-Key` or body `idempotencyKey`) already used, answers 200 with the task it created. ' +
          'With `debounce` or a singleton `queue-one`, the submit may be merged into an existing task (202, `merged`); ' +
          'a singleton `reject` while a task with its key is unfinished answers 409 naming it (`taskId`).',
        tags: ['tasks'],
        headers: IdempotencyHeaders,
        body: TaskSpec,
        response: {
          200: jsonResponse(TaskSchema, 'The idempotency key was used before: the task it created.'),
          202: jsonResponse(TaskSchema, 'Created, or merged into an existing task (`merged`: by its debounce key or a singleton `queue-one`).'),
          ...problemResponses(400, 409, 413, 503),
        },
      },
    },
    async (request, reply) => {
      const headerKey = request.headers['idempotency-key'];
      const body = request.body;
      if (headerKey !== undefined && body.idempotencyKey !== undefined && headerKey !== body.idempotencyKey) {
        throw new ValidationError(
          'idempotencyKey: differs from the Idempotency-Key header; give one or the other',
          'idempotencyKey',
        );
      }
      const spec = toSpec(body, request.principal, '', traceparentOf(request.headers.traceparent));
      if (headerKey !== undefined) spec.idempotencyKey = headerKey;
      // The task stores the submit span's context, so its handler's runs are children of this submit.
      const { task, created, merged } = await withSubmitSpan(spec, spec.traceparent, async (traceparent, span) => {
        if (traceparent) spec.traceparent = traceparent;
        const result = await hub.submit(spec);
        span.setAttribute('taskhub.task.id', result.task.id);
        return result;
      });
      // A merged submit (debounce, singleton queue-one) is accepted work like a new task: 202, saying how it merged.
      const answer = merged ? { ...task, merged, ...(merged === 'debounce' ? { debounced: true } : {}) } : task;
      return reply.code(created || merged ? 202 : 200).header('location', taskPath(task.id)).send(answer);
    },
  );

  app.post(
    '/tasks/batch',
    {
      schema: {
        summary: 'Submit many tasks in one transaction',
        description:
          'All or nothing: if any task is invalid the answer is 400 naming it (`tasks[i].field`) and none is stored. ' +
          'Idempotency keys go in each task; tasks whose key was used before come back unchanged.',
        tags: ['tasks'],
        body: BatchRequest,
        response: {
          200: jsonResponse(BatchResponse, 'Every task was a replay of an idempotency key: nothing new.'),
          202: jsonResponse(BatchResponse, 'Created (replays of idempotency keys included as they are).'),
          ...problemResponses(400, 409, 413, 503),
        },
      },
    },
    async (request, reply) => {
      if (request.headers['idempotency-key'] !== undefined) {
        throw new ValidationError(
          'Idempotency-Key: a batch has no key of its own; give idempotencyKey in each task',
          'Idempotency-Key',
        );
      }
      const specs = request.body.tasks.map((body, i) => toSpec(body, request.principal, `tasks[${i}].`));
      // One span for the batch; tasks that name no trace of their own join it.
      const what = { type: 'batch', count: specs.length };
      const results = await withSubmitSpan(what, traceparentOf(request.headers.traceparent), (traceparent) => {
        if (traceparent) for (const spec of specs) spec.traceparent ??= traceparent;
        return hub.submitMany(specs);
      });
      const anyCreated = results.some((r) => r.created || r.merged);
      const tasks = results.map((r) => (r.merged ? { ...r.task, merged: r.merged } : r.task));
      return reply.code(anyCreated ? 202 : 200).send({ tasks });
    },
  );

  app.get(
    '/tasks',
    {
      schema: {
        summary: 'List tasks, newest first',
        description: 'Filters combine with AND. Page with `cursor` = the `nextCursor` of the previous answer.',
        tags: ['tasks'],
        querystring: ListQuery,
        response: { 200: TaskList, ...problemResponses(400, 503) },
      },
    },
    async (request) => {
      const { tag, ...query } = request.query;
      const colon = tag?.indexOf(':') ?? -1;
      return hub.list({
        ...query,
        owner: ownerFilter(request.principal),
        ...(tag ? { tag: { key: tag.slice(0, colon), value: tag.slice(colon + 1) } } : {}),
      });
    },
  );

  app.get(
    '/tasks/:id',
    {
      schema: {
        summary: 'Get a task',
        description: 'Status, progress, attempts, result, error and timestamps.',
        tags: ['tasks'],
        params: TaskIdParams,
        querystring: TokenQuery,
        response: { 200: TaskSchema, ...problemResponses(404, 503) },
      },
    },
    (request) => visibleTask(hub, request.principal, request.params.id),
  );

  app.post(
    '/tasks/:id/token',
    {
      schema: {
        summary: 'Issue a follow token for a task',
        description:
          'A short-lived token that reads this one task (get, events, result, stream, WebSocket) and nothing else: ' +
          'for browsers and apps that must not hold an API key. Send it as `Authorization: Bearer` or, where headers ' +
          `cannot be set (EventSource), as \`?access_token=\`. Default lifetime ${DEFAULT_FOLLOW_TTL_SECONDS} s. Needs \`tasks:read\`; ` +
          'with `signals`, the token may also send those signals to the task (a browser approving), which needs `tasks:write`.',
        tags: ['tasks'],
        params: TaskIdParams,
        body: FollowTokenRequest,
        response: { 200: FollowToken, ...problemResponses(400, 403, 404, 503) },
      },
      // The body is optional: a bare POST takes the default lifetime.
      preValidation: async (request) => {
        request.body ??= {};
      },
    },
    async (request) => {
      const signals = request.body.signals ?? [];
      // Sending signals changes a task: a reader may not hand that right out.
      if (signals.length > 0) requireScope(request.principal, 'tasks:write');
      const task = await visibleTask(hub, request.principal, request.params.id);
      return context.followTokens.issue(task, request.principal, request.body.ttlSeconds ?? DEFAULT_FOLLOW_TTL_SECONDS, Date.now(), signals);
    },
  );

  app.get(
    '/tasks/:id/result',
    {
      schema: {
        summary: 'Get the result, waiting for it if asked',
        description:
          `Waits up to \`wait\` seconds (at most ${MAX_RESULT_WAIT_SECONDS}) for the task to finish. 200 once it has ` +
          'finished (completed, failed or cancelled: see `status`), 202 while it has not.',
        tags: ['tasks'],
        params: TaskIdParams,
        querystring: ResultQuery,
        response: {
          200: jsonResponse(TaskResult, 'Finished.'),
          202: jsonResponse(TaskResult, 'Not finished yet; ask again.'),
          ...problemResponses(404, 503),
        },
      },
    },
    async (request, reply) => {
      // Ajv lets `1e400` through as Infinity, whatever the maximum.
      if (!Number.isFinite(request.query.wait)) {
        throw new ValidationError('query parameter wait: must be a number of seconds from 0 to 2147483647', 'wait');
      }
      let task = await visibleTask(hub, request.principal, request.params.id);
      const waitMs = Math.min(request.query.wait, MAX_RESULT_WAIT_SECONDS) * 1000;
      if (!isTerminal(task.status) && waitMs > 0) task = await waitForFinish(context, reply, task, waitMs);
      return reply.code(isTerminal(task.status) ? 200 : 202).send(resultOf(task));
    },
  );

  app.get(
    '/tasks/:id/events',
    {
      schema: {
        summary: 'Task history',
        description: 'Events with seq > `after`, oldest first. For live events use /stream or the WebSocket.',
        tags: ['tasks'],
        params: TaskIdParams,
        querystring: EventsQuery,
        response: { 200: EventList, ...problemResponses(400, 404, 503) },
      },
    },
    async (request) => {
      await visibleTask(hub, request.principal, request.params.id);
      return { events: await hub.events(request.params.id, request.query.after, request.query.limit) };
    },
  );

  app.post(
    '/tasks/:id/cancel',
    {
      schema: {
        summary: 'Cancel a task',
        description:
          'A scheduled or queued task is cancelled at once (200). A running one is asked to stop (202, ' +
          '`cancelRequested` true): its handler is aborted and the task ends `cancelled`. A finished task: 409.',
        tags: ['tasks'],
        params: TaskIdParams,
        body: CancelRequest,
        response: {
          200: jsonResponse(TaskSchema, 'Cancelled.'),
          202: jsonResponse(TaskSchema, 'Running: asked to stop.'),
          ...problemResponses(400, 404, 409, 503),
        },
      },
      // The body is optional: a bare POST means "cancel, no reason given".
      preValidation: async (request) => {
        request.body ??= {};
      },
    },
    async (request, reply) => {
      await visibleTask(hub, request.principal, request.params.id);
      const task = await hub.cancel(request.params.id, request.body.reason);
      return reply.code(task.status === 'cancelled' ? 200 : 202).send(task);
    },
  );

  app.post(
    '/tasks/:id/retry',
    {
      schema: {
        summary: 'Retry a failed or cancelled task',
        description: 'Puts it back in its queue with its attempts reset. Any other state: 409.',
        tags: ['tasks'],
        params: TaskIdParams,
        response: { 200: TaskSchema, ...problemResponses(404, 409, 503) },
      },
    },
    async (request) => {
      await visibleTask(hub, request.principal, request.params.id);
      return hub.retry(request.params.id);
    },
  );

  app.delete(
    '/tasks/:id',
    {
      config: { access: 'tasks:write' },
      schema: {
        summary: 'Delete a task and its history',
        description: 'Any task that is not running (cancel a running one first: 409). Answers 204; an unknown task 404.',
        tags: ['tasks'],
        params: TaskIdParams,
        response: { 204: { description: 'Deleted.', type: 'null' }, ...problemResponses(401, 403, 404, 409, 503) },
      },
    },
    async (request, reply) => {
      await visibleTask(hub, request.principal, request.params.id);
      await hub.deleteTask(request.params.id);
      return reply.code(204).send();
    },
  );
};
