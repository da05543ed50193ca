// Queues: task counts by status. Queues exist implicitly (a task names its queue), so an unknown name is simply an
// empty queue rather than a 404: dashboards can watch a queue before its first task arrives.
import { TASK_STATUSES, type TaskStatus } from '../../core/task.ts';
import type { QueueCounts as Counts } from '../../store/store.ts';
import type { RoutePlugin } from '../context.ts';
import { ownerFilter } from '../principal.ts';
import { problemResponses } from '../schemas/common.ts';
import { QueueList, QueueNameParams, QueueView } from '../schemas/queues.ts';

const emptyCounts = (queue: string): Counts => ({
  queue,
  counts: Object.fromEntries(TASK_STATUSES.map((s) => [s, 0])) as Record<TaskStatus, number>,
});

// Counts cover the caller's own tasks (every owner's for admin): a tenant learns nothing of the others' work.
export const queueRoutes: RoutePlugin = async (app, { hub }) => {
  app.get(
    '/queues',
    {
      schema: {
        summary: 'Every queue with its task counts by status',
        tags: ['queues'],
        response: { 200: QueueList, ...problemResponses(503) },
      },
    },
    async (request) => ({ queues: await hub.queues(ownerFilter(request.principal)) }),
  );

  app.get(
    '/queues/:name',
    {
      schema: {
        summary: 'One queue with its task counts by status, and what its keys hold back',
        description:
          'A queue without tasks answers with zero counts. `heldBack` lists, per key, tasks held in a debounce window, ' +
          'behind a running singleton of their key, by a throttle or over a cost budget (docs/queues.md). Admin ' +
          'callers only (or without auth): its keys span tenants, so a tenant gets an empty list.',
        tags: ['queues'],
        params: QueueNameParams,
        response: { 200: QueueView, ...problemResponses(400, 503) },
      },
    },
    async (request) => {
      const { name } = request.params;
      const owner = ownerFilter(request.principal);
      const counts = (await hub.queues(owner)).find((q) => q.queue === name) ?? emptyCounts(name);
      // Keys are every owner's: only a caller who sees every owner's tasks sees them.
      return { ...counts, heldBack: owner === undefined ? await hub.heldBack(name) : [] };
    },
  );
};
