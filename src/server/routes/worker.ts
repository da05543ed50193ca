// The worker protocol over HTTP: a worker in any language claims tasks (long-polling), heartbeats their leases,
// reports progress and output, and ends each attempt. Every call names its attempt by the claim's token; a token that
// is not current (the lease expired and the task moved on, or it finished) answers 409 and changes nothing, so a slow
// worker can never overwrite the attempt that replaced it. The calls are the very ones the in-process worker makes
// (hub.attempts, the engine's WorkerGateway), with the same rules; this file only carries them over HTTP.
import type { FastifyReply } from 'fastify';
import { StaleAttemptError, TaskNotFoundError } from '../../core/errors.ts';
import type { TaskError } from '../../core/task.ts';
import { checkName } from '../../core/validate.ts';
import { WORKER_REPORT_MS } from '../../engine/attempt-service.ts';
import type { AttemptRef, Claim, WorkerInfo } from '../../store/store.ts';
import type { RouteContext, RoutePlugin } from '../context.ts';
import { requireScope } from '../principal.ts';
import { jsonResponse, Problem, problemResponses } from '../schemas/common.ts';
import type { BodyOf } from '../schemas/provider.ts';
import { TaskEvent, TaskIdParams } from '../schemas/tasks.ts';
import {
  AttemptRequest,
  ClaimRequest,
  ClaimResponse,
  CompleteRequest,
  FailRequest,
  FinishedTask,
  LeaseState,
  OutputRequest,
  ProgressRequest,
  ReleaseRequest,
  WorkerIdRequest,
  WorkerInfo as WorkerInfoSchema,
  WorkerList,
  WorkerRegistration,
} from '../schemas/worker.ts';

/** Longest long-poll of a claim, ms. */
export const MAX_CLAIM_WAIT_MS = 30_000;

export const STALE_ANSWER = {
  description: 'The attempt token is stale or unknown (the lease expired and the task moved on, it finished or it suspended): nothing was changed; stop working on this attempt.',
  content: { 'application/problem+json': { schema: Problem } },
};

/** Route `response` entries shared by the per-attempt calls. */
export const attemptAnswers = (ok: object, description: string) => ({
  200: jsonResponse(ok, description),
  ...problemResponses(400, 401, 403),
  409: STALE_ANSWER,
  ...problemResponses(503),
});

function checkNames(field: string, values: readonly string[]): void {
  for (const [i, value] of values.entries()) checkName(`${field}[${i}]`, value);
}

/**
 * Runs an attempt call. For a worker, a task that does not exist is no different from an attempt that is not current
 * (it may have finished and been deleted by retention): either way there is nothing to report to, so both are 409.
 */
export async function onAttempt<T>(taskId: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    if (error instanceof TaskNotFoundError) throw new StaleAttemptError(taskId, 'no such task, so no attempt of it is current');
    throw error;
  }
}

/** Claims whose worker never got them go back to their queues at once (release: the attempt is not counted). */
function giveBack(attempts: RouteContext['hub']['attempts'], claims: readonly Claim[]): Promise<unknown> {
  return Promise.all(
    claims.map((c) => attempts.release({ taskId: c.task.id, attemptToken: c.attemptToken }, 'worker went away during its claim').catch(() => {})),
  );
}

/**
 * The long-polls under way, by worker id: /worker/unregister ends a stopping worker's polls with an answer (what they
 * claimed, or nothing), so that the worker need not cut them. A cut request can lose an answer the server has already
 * written: its tasks would stay running, claimed by a worker that is gone, until their leases expire.
 */
type PollEnds = Map<string, Set<() => void>>;

function endPolls(polls: PollEnds, workerId: string): void {
  for (const end of polls.get(workerId) ?? []) end();
}

/**
 * Claims, and when nothing is claimable waits for a ready notice (a submit in any process, a retry coming due) until
 * `waitMs` runs out, then claims again. Ends early, empty-handed, when the client goes away, the worker unregisters
 * or the server closes; a claim that lands just as the client goes away is given back at once instead of waiting for
 * its lease to expire.
 */
async function claimWaiting(context: RouteContext, reply: FastifyReply, body: BodyOf<typeof ClaimRequest>, polls: PollEnds): Promise<Claim[]> {
  const { attempts } = context.hub;
  const queues = body.queues ?? null;
  const options = { workerId: body.workerId, types: body.types, queues, max: body.max ?? 1 };
  const waitMs = Math.min(body.waitMs ?? 0, MAX_CLAIM_WAIT_MS);
  const deadline = performance.now() + waitMs;
  const stop = new AbortController();
  let clientGone = false;
  const onClose = () => {
    clientGone = true;
    stop.abort();
  };
  reply.raw.once('close', onClose);
  const untrack = context.connections.track(() => stop.abort());
  const end = () => stop.abort();
  const ends = polls.get(body.workerId) ?? new Set();
  polls.set(body.workerId, ends.add(end));
  try {
    let claimNow = true;
    let seen = 0;
    for (;;) {
      if (claimNow) {
        seen = attempts.readyVersion;
        const claims = await attempts.claim(options);
        if (claims.length > 0) {
          // A client that left while the claim ran is only seen gone once the event loop has read its socket.
          await new Promise((resolve) => setImmediate(resolve));
          if (clientGone) {
            await giveBack(attempts, claims);
            return [];
          }
          // Gone later, before the answer was written out: nobody has these tasks.
          reply.raw.once('close', () => {
            if (!reply.raw.writableFinished) void giveBack(attempts, claims);
          });
          return claims;
        }
      } else attempts.stillClaiming(options);
      const left = deadline - performance.now();
      if (left <= 0 || stop.signal.aborted) return [];
      // In slices of the report interval, so a worker that never registers stays on the list; a slice that ran its
      // full length with no wake-up (no notice, nothing came due) needs no new claim, only that mark.
      const slice = Math.min(left, WORKER_REPORT_MS);
      const sliceStart = performance.now();
      await attempts.waitForWork(seen, queues, slice, stop.signal);
      // Ended (client gone, worker unregistered, server closing): no last claim, which would list the worker again.
      if (stop.signal.aborted) return [];
      claimNow = attempts.readyVersion !== seen || performance.now() - sliceStart < slice - 1 || slice === left;
    }
  } finally {
    reply.raw.off('close', onClose);
    untrack();
    ends.delete(end);
    if (ends.size === 0) polls.delete(body.workerId);
  }
}

export const workerRoutes: RoutePlugin = async (app, context) => {
  const { attempts } = context.hub;
  const polls: PollEnds = new Map();

  app.post(
    '/worker/claim',
    {
      schema: {
        summary: 'Claim tasks to run (long-poll)',
        description:
          'Takes up to `max` claimable tasks of `types` (from `queues`, or every queue): each becomes `running` with ' +
          'a lease until `leaseExpiresAt` and an `attemptToken` for every later call about it. When none is ' +
          'claimable, waits up to `waitMs` (at most 30000) and answers as soon as one arrives; an empty `claims` ' +
          'list means nothing came. Requires the `worker` scope.',
        tags: ['worker'],
        body: ClaimRequest,
        response: { 200: ClaimResponse, ...problemResponses(400, 401, 403, 503) },
      },
    },
    async (request, reply) => {
      requireScope(request.principal, 'worker');
      const body = request.body;
      checkName('workerId', body.workerId);
      checkNames('types', body.types);
      if (body.queues) checkNames('queues', body.queues);
      const claims = await claimWaiting(context, reply, body, polls);
      // The protocol's name for the checkpoint to resume from; null rather than absent, so clients need not guess.
      return { claims: claims.map((c) => ({ task: c.task, attemptToken: c.attemptToken, leaseExpiresAt: c.leaseExpiresAt, checkpoint: c.resumeCheckpoint ?? null })) };
    },
  );

  app.post(
    '/worker/tasks/:id/heartbeat',
    {
      schema: {
        summary: 'Extend the lease of an attempt',
        description:
          'Renews the lease (the server\'s lease length from now) and says whether someone asked to cancel the task: ' +
          'when `cancelRequested` is true, stop the handler and call /fail; the task then ends `cancelled`.',
        tags: ['worker'],
        params: TaskIdParams,
        body: AttemptRequest,
        response: attemptAnswers(LeaseState, 'The renewed lease.'),
      },
    },
    async (request) => {
      requireScope(request.principal, 'worker');
      const ref: AttemptRef = { taskId: request.params.id, attemptToken: request.body.attemptToken };
      return onAttempt(ref.taskId, () => attempts.heartbeat(ref));
    },
  );

  app.post(
    '/worker/tasks/:id/progress',
    {
      schema: {
        summary: 'Report progress',
        description: 'Records `{ percent, message?, phase?, data? }` as the task\'s progress and appends a `progress` event.',
        tags: ['worker'],
        params: TaskIdParams,
        body: ProgressRequest,
        response: attemptAnswers(TaskEvent, 'The `progress` event.'),
      },
    },
    async (request) => {
      requireScope(request.principal, 'worker');
      const { attemptToken, ...progress } = request.body;
      const ref: AttemptRef = { taskId: request.params.id, attemptToken };
      return onAttempt(ref.taskId, () => attempts.progress(ref, progress));
    },
  );

  app.post(
    '/worker/tasks/:id/output',
    {
      schema: {
        summary: 'Stream a piece of partial output',
        description: 'Appends an `output` event (generated text, a log line) that followers receive live.',
        tags: ['worker'],
        params: TaskIdParams,
        body: OutputRequest,
        response: attemptAnswers(TaskEvent, 'The `output` event.'),
      },
    },
    async (request) => {
      requireScope(request.principal, 'worker');
      const ref: AttemptRef = { taskId: request.params.id, attemptToken: request.body.attemptToken };
      return onAttempt(ref.taskId, () => attempts.output(ref, request.body.chunk));
    },
  );

  app.post(
    '/worker/tasks/:id/complete',
    {
      schema: {
        summary: 'Complete an attempt with its result',
        tags: ['worker'],
        params: TaskIdParams,
        body: CompleteRequest,
        response: attemptAnswers(FinishedTask, 'Completed.'),
      },
    },
    async (request) => {
      requireScope(request.principal, 'worker');
      const ref: AttemptRef = { taskId: request.params.id, attemptToken: request.body.attemptToken };
      const { reportedCost } = request.body;
      return onAttempt(ref.taskId, () => attempts.complete(ref, request.body.result ?? null, { reportedCost }));
    },
  );

  app.post(
    '/worker/tasks/:id/fail',
    {
      schema: {
        summary: 'Fail an attempt',
        description:
          'A retryable error (the default) is retried with the task\'s backoff while attempts remain; otherwise, or ' +
          'with `retryable: false`, the task fails for good (the dead-letter set). If the task was asked to cancel, ' +
          'it ends `cancelled` instead: this is how a worker acknowledges a cancel request.',
        tags: ['worker'],
        params: TaskIdParams,
        body: FailRequest,
        response: attemptAnswers(FinishedTask, 'The task as the failure left it: `scheduled` for a retry, `failed`, or `cancelled`.'),
      },
    },
    async (request) => {
      requireScope(request.principal, 'worker');
      const { attemptToken, error, reportedCost } = request.body;
      const ref: AttemptRef = { taskId: request.params.id, attemptToken };
      const taskError: TaskError = { ...error, retryable: error.retryable ?? true };
      // A fail while a cancel is requested ends `cancelled`: the engine's rule, shared with in-process workers.
      return onAttempt(ref.taskId, () => attempts.fail(ref, taskError, { reportedCost }));
    },
  );

  app.post(
    '/worker/tasks/:id/release',
    {
      schema: {
        summary: 'Give a task back without counting the attempt',
        description:
          'For a worker shutting down: the task returns to its queue at once, its attempt refunded, and another ' +
          'worker picks it up. (Beyond the v1 table of DESIGN.md; a worker that never calls it loses nothing but ' +
          'time: the lease expires and the task comes back, counting the attempt.)',
        tags: ['worker'],
        params: TaskIdParams,
        body: ReleaseRequest,
        response: attemptAnswers(FinishedTask, 'Back in its queue.'),
      },
    },
    async (request) => {
      requireScope(request.principal, 'worker');
      const ref: AttemptRef = { taskId: request.params.id, attemptToken: request.body.attemptToken };
      return onAttempt(ref.taskId, () => attempts.release(ref, request.body.reason));
    },
  );

  app.post(
    '/worker/register',
    {
      schema: {
        summary: 'Announce a worker (repeat every few seconds)',
        description:
          'Puts the worker on `GET /api/v1/workers`, or refreshes it there. A worker that stays silent for 15 s drops ' +
          'off the list; send this every 5 s or so while running, with the current `running` count. Ignored for 2 s ' +
          'after the worker unregisters (a report overtaken by the unregister).',
        tags: ['worker'],
        body: WorkerRegistration,
        response: { 200: jsonResponse(WorkerInfoSchema, 'As listed.'), ...problemResponses(400, 401, 403, 503) },
      },
    },
    async (request) => {
      requireScope(request.principal, 'worker');
      const body = request.body;
      checkName('workerId', body.workerId);
      checkNames('types', body.types);
      if (body.queues) checkNames('queues', body.queues);
      const now = attempts.now();
      const info: WorkerInfo = {
        id: body.workerId,
        host: body.host ?? null,
        pid: body.pid ?? null,
        types: body.types,
        queues: body.queues ?? null,
        concurrency: body.concurrency ?? 1,
        running: body.running ?? 0,
        startedAt: body.startedAt ?? now,
        // The server's clock, not the worker's: the list compares it with the server's now.
        lastSeenAt: now,
      };
      await attempts.reportWorker(info);
      return info;
    },
  );

  app.post(
    '/worker/unregister',
    {
      schema: {
        summary: 'Take a stopping worker off the workers list',
        description:
          'Also ends the worker\'s long-polls under way (POST /worker/claim with `waitMs`): each answers at once with ' +
          'what it claimed, or nothing. A stopping worker calls this before it cuts a poll, and gives back what the ' +
          'answers bring.',
        tags: ['worker'],
        body: WorkerIdRequest,
        response: { 204: { description: 'Gone from the list (or was never on it).', type: 'null' }, ...problemResponses(400, 401, 403, 503) },
      },
    },
    async (request, reply) => {
      requireScope(request.principal, 'worker');
      endPolls(polls, request.body.workerId);
      await attempts.forgetWorker(request.body.workerId);
      return reply.code(204).send();
    },
  );

  app.get(
    '/workers',
    {
      schema: {
        summary: 'Live workers, local and remote',
        description: 'Every worker that reported within the last 15 s, in any process sharing the store. Requires the `admin` scope.',
        tags: ['worker'],
        response: { 200: WorkerList, ...problemResponses(401, 403, 503) },
      },
    },
    async (request) => {
      requireScope(request.principal, 'admin');
      return { workers: await attempts.listWorkers() };
    },
  );
};
