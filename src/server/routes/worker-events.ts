// The worker protocol's batch of progress and output (POST /worker/events): a remote worker streaming many tasks' output
// sends what its handlers wrote since its last request in one, instead of one request per chunk. The events of one
// request are handed to the engine in their order, in one turn, so they share the store's writes as an in-process
// worker's do, and each attempt's events are stored in the order sent. A malformed event refuses the whole request
// (400, nothing stored); an attempt that is not current refuses only its own events, in their results.
import { ValidationError } from '../../core/errors.ts';
import type { Progress, TaskEvent } from '../../core/task.ts';
import { checkOutputChunk, checkProgress } from '../../core/validate.ts';
import type { RoutePlugin } from '../context.ts';
import { toProblem } from '../errors.ts';
import { requireScope } from '../principal.ts';
import { jsonResponse, problemResponses } from '../schemas/common.ts';
import { WorkerEventsRequest, WorkerEventsResponse } from '../schemas/worker.ts';
import { onAttempt } from './worker.ts';

export const workerEventsRoutes: RoutePlugin = async (app, context) => {
  const { attempts } = context.hub;
  const bodyLimit = app.initialConfig.bodyLimit ?? 0;

  app.post(
    '/worker/events',
    {
      schema: {
        summary: 'Report progress and output of many attempts at once',
        description:
          'Each entry is one `chunk` of output or one `progress` report of an attempt, as /worker/tasks/{id}/output ' +
          'and /progress take them; each attempt\'s entries are stored in their order. Answers one result per entry: ' +
          'the stored event, or the problem that refused it (409 STALE_ATTEMPT: the attempt is not current). A ' +
          'malformed entry refuses the whole request with 400 and stores nothing. Requires the `worker` scope.',
        tags: ['worker'],
        body: WorkerEventsRequest,
        response: { 200: jsonResponse(WorkerEventsResponse, 'One result per entry, in order.'), ...problemResponses(400, 401, 403, 413, 503) },
      },
    },
    async (request) => {
      requireScope(request.principal, 'worker');
      const { events } = request.body;
      for (const [i, event] of events.entries()) checked(i, event.chunk, event.progress);
      const stored = await Promise.allSettled(
        events.map(({ taskId, attemptToken, chunk, progress }) =>
          onAttempt(taskId, (): Promise<TaskEvent> =>
            chunk !== undefined ? attempts.output({ taskId, attemptToken }, chunk) : attempts.progress({ taskId, attemptToken }, progress as Progress)),
        ),
      );
      return { results: stored.map((s) => (s.status === 'fulfilled' ? { event: s.value } : { error: toProblem(s.reason, bodyLimit) })) };
    },
  );
};

/** Entry `i` holds exactly one of a chunk and a progress report, and it is one the engine takes. */
function checked(i: number, chunk: string | undefined, progress: Progress | undefined): void {
  const at = `events[${i}]`;
  if ((chunk === undefined) === (progress === undefined)) throw new ValidationError(`${at}: give either chunk or progress`, at);
  try {
    if (chunk !== undefined) checkOutputChunk(chunk);
    else checkProgress(progress as Progress);
  } catch (error) {
    if (!(error instanceof ValidationError)) throw error;
    const field = `${at}.${chunk !== undefined ? 'chunk' : error.field ? `progress.${error.field}` : 'progress'}`;
    throw new ValidationError(`${field}: ${error.message}`, field);
  }
}
