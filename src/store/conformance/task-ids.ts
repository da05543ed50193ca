// Store conformance, part 7: strings that are no task id of the form Taskhub writes (core/ids.ts) name no task, on
// every call that takes one, and never fail a batch they share with other callers' requests: what a backend that
// stored ids in a narrower type than text (as bench/pg-id-type.ts measures) would have to keep.
import assert from 'node:assert/strict';
import { before, it } from 'node:test';
import { TaskNotFoundError } from '../../core/errors.ts';
import type { Store } from '../store.ts';
import { claimRequest, LEASE, newTask, type Suite, T0 } from './helpers.ts';

/** Not task ids: arbitrary text, a uuid in capitals or without hyphens, one character short. */
const NOT_IDS = ['nope', '', "x' OR '1'='1", 'A'.repeat(8) + '-0000-7000-8000-000000000000', '0'.repeat(32), '0'.repeat(35)];

export function taskIdTests(suite: Suite): void {
  let store: Store;
  before(() => {
    store = suite.store();
  });
  const { freshType } = suite;

  it('finds no task by a string that is not a task id, on each call that takes one', async () => {
    for (const id of NOT_IDS) {
      assert.equal(await store.getTask(id), null, id);
      await assert.rejects(store.listEvents(id, 0, 10), TaskNotFoundError, id);
      await assert.rejects(store.heartbeat({ taskId: id, attemptToken: 'x' }, LEASE, T0), TaskNotFoundError, id);
      await assert.rejects(store.cancel(id, 'because', T0), TaskNotFoundError, id);
      await assert.rejects(store.retry(id, T0), TaskNotFoundError, id);
      assert.equal(await store.deleteTask(id), false, id);
      assert.deepEqual((await store.listTasks({ parentId: id, limit: 10 })).tasks, [], id);
    }
  });

  it('finds no task by the capitalized form of a real id', async () => {
    const [{ task }] = await store.createTasks([newTask({ type: freshType() })]);
    assert.equal(await store.getTask(task.id.toUpperCase()), null);
    assert.equal((await store.getTask(task.id))?.id, task.id);
  });

  it('refuses only the requests of a batch that name no task id; the others are applied', async () => {
    const type = freshType();
    await store.createTasks([newTask({ type }), newTask({ type })]);
    const [a, b] = await store.claim(claimRequest({ types: [type], max: 2 }));
    const appended = await store.appendAttemptEvents(
      [
        { ref: { taskId: 'nope', attemptToken: a.attemptToken }, chunk: 'lost' },
        { ref: { taskId: a.task.id, attemptToken: a.attemptToken }, chunk: 'kept' },
      ],
      T0 + 1,
    );
    assert.ok(!appended[0].ok && appended[0].error instanceof TaskNotFoundError);
    assert.ok(appended[1].ok && appended[1].event.kind === 'output');
    const finished = await store.finish(
      [
        { ref: { taskId: a.task.id, attemptToken: a.attemptToken }, outcome: { status: 'completed', result: 'a' } },
        { ref: { taskId: 'not-an-id', attemptToken: b.attemptToken }, outcome: { status: 'completed', result: 'x' } },
        { ref: { taskId: b.task.id, attemptToken: b.attemptToken }, outcome: { status: 'completed', result: 'b' } },
      ],
      T0 + 2,
    );
    assert.ok(finished[0].ok && finished[0].task.id === a.task.id);
    assert.ok(!finished[1].ok && finished[1].error instanceof TaskNotFoundError);
    assert.ok(finished[2].ok && finished[2].task.id === b.task.id);
    assert.equal((await store.getTask(a.task.id))?.result, 'a');
    assert.equal((await store.getTask(b.task.id))?.result, 'b');
  });
}
