// Count aggregation and paging (store/counts.ts), shared by every backend.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Task } from '../src/core/task.ts';
import { cappedCounts, countsByQueue, pageOf } from '../src/store/counts.ts';

const zero = { scheduled: 0, queued: 0, running: 0, waiting: 0, completed: 0, failed: 0, cancelled: 0 };

describe('counts', () => {
  it('answers every status of every queue, queues by name', () => {
    assert.deepEqual(
      countsByQueue([
        { queue: 'b', status: 'queued', n: 2 },
        { queue: 'a', status: 'failed', n: 1 },
        { queue: 'b', status: 'running', n: 3 },
      ]),
      [
        { queue: 'a', counts: { ...zero, failed: 1 } },
        { queue: 'b', counts: { ...zero, queued: 2, running: 3 } },
      ],
    );
  });

  it('lists the statuses whose count across queues reached the cap', () => {
    const counts = cappedCounts(
      [
        { queue: 'a', status: 'queued', n: 6 },
        { queue: 'b', status: 'queued', n: 4 },
        { queue: 'a', status: 'running', n: 9 },
      ],
      10,
    );
    assert.deepEqual(counts.capped, ['queued']);
    assert.equal(counts.queues.length, 2);
  });

  it('pages: the row past the limit only says that a next page exists', () => {
    const rows = ['c', 'b', 'a'];
    const toTask = (id: string) => ({ id }) as Task;
    assert.deepEqual(pageOf(rows, 2, toTask), { tasks: [{ id: 'c' }, { id: 'b' }], nextCursor: 'b' });
    assert.deepEqual(pageOf(rows, 3, toTask), { tasks: [{ id: 'c' }, { id: 'b' }, { id: 'a' }], nextCursor: null });
  });
});
