// Store conformance, part 6: histories with more than one attempt, or attempts that end otherwise than by
// completing, read back exactly as announced (a backend may keep the started event of an attempt in its task row:
// docs/postgres.md).
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import type { TaskEvent } from '../../core/task.ts';
import type { AttemptRef, Claim, Store, StoreNotice } from '../store.ts';
import { claimOne, expectHistoryAsAnnounced, finishOne, LEASE, newTask, type Suite, T0 } from './helpers.ts';

const refOf = (claim: Claim): AttemptRef => ({ taskId: claim.task.id, attemptToken: claim.attemptToken });
const started = (events: TaskEvent[]) => events.filter((e) => e.kind === 'started').map((e) => [e.seq, e.data, e.at]);

export function historyTests(suite: Suite): void {
  let store: Store;
  const heard: StoreNotice[] = [];
  let stop = () => {};
  before(() => {
    store = suite.store();
    stop = store.listen((n) => heard.push(n));
  });
  after(() => stop());
  const { freshType } = suite;

  it('reads back the started event of each attempt: retried, refunded, then completed', async () => {
    const type = freshType();
    const [{ task }] = await store.createTasks([newTask({ type, maxAttempts: 3 })]);
    const error = { message: 'boom', retryable: true };
    const first = await claimOne(store, { types: [type], workerId: 'w1', now: T0 + 1 });
    await finishOne(store, { ref: refOf(first), outcome: { status: 'retry', error, runAt: T0 + 2 } }, T0 + 2);
    const second = await claimOne(store, { types: [type], workerId: 'w2', now: T0 + 3 });
    // A refunded attempt keeps its number in its started event, and the next attempt takes the same number.
    await finishOne(store, { ref: refOf(second), outcome: { status: 'retry', error, runAt: T0 + 4, refundAttempt: true } }, T0 + 4);
    const third = await claimOne(store, { types: [type], workerId: 'w3', now: T0 + 5 });
    await finishOne(store, { ref: refOf(third), outcome: { status: 'completed', result: 'ok' } }, T0 + 6);
    const events = await expectHistoryAsAnnounced(store, heard, task.id);
    assert.deepEqual(
      events.map((e) => e.kind),
      ['created', 'started', 'retrying', 'started', 'retrying', 'started', 'completed'],
    );
    assert.deepEqual(started(events), [
      [2, { attempt: 1, workerId: 'w1' }, T0 + 1],
      [4, { attempt: 2, workerId: 'w2' }, T0 + 3],
      [6, { attempt: 2, workerId: 'w3' }, T0 + 5],
    ]);
  });

  it('reads back the started event of an attempt whose lease expired, and of the next one', async () => {
    const type = freshType();
    const [{ task }] = await store.createTasks([newTask({ type, maxAttempts: 2 })]);
    const first = await claimOne(store, { types: [type], workerId: 'w1', now: T0 + 1 });
    const expired = { message: 'lease expired', retryable: true };
    const [swept] = await store.finish(
      [{ ref: refOf(first), outcome: { status: 'retry', error: expired, runAt: T0 + LEASE + 2 }, onlyIfLeaseExpired: true }],
      T0 + LEASE + 2,
    );
    assert.ok(swept.ok);
    const second = await claimOne(store, { types: [type], workerId: 'w2', now: T0 + LEASE + 3 });
    await store.finish(
      [{ ref: refOf(second), outcome: { status: 'failed', error: { message: 'lease expired', retryable: false } }, onlyIfLeaseExpired: true }],
      T0 + 2 * LEASE + 4,
    );
    const events = await expectHistoryAsAnnounced(store, heard, task.id);
    assert.deepEqual(
      events.map((e) => e.kind),
      ['created', 'started', 'retrying', 'started', 'failed'],
    );
    assert.deepEqual(started(events), [
      [2, { attempt: 1, workerId: 'w1' }, T0 + 1],
      [4, { attempt: 2, workerId: 'w2' }, T0 + LEASE + 3],
    ]);
  });

  it('reads back the started event of a running task cancelled, and of a retry by hand', async () => {
    const type = freshType();
    const [{ task }] = await store.createTasks([newTask({ type })]);
    const first = await claimOne(store, { types: [type], workerId: 'w1', now: T0 + 1 });
    assert.equal((await store.cancel(task.id, 'stop', T0 + 2)).cancelRequested, true);
    await finishOne(store, { ref: refOf(first), outcome: { status: 'cancelled', reason: 'stop' } }, T0 + 3);
    await store.retry(task.id, T0 + 4);
    const second = await claimOne(store, { types: [type], workerId: 'w2', now: T0 + 5 });
    await finishOne(store, { ref: refOf(second), outcome: { status: 'completed', result: null } }, T0 + 6);
    const events = await expectHistoryAsAnnounced(store, heard, task.id);
    assert.deepEqual(
      events.map((e) => e.kind),
      ['created', 'started', 'cancelled', 'retrying', 'started', 'completed'],
    );
    assert.deepEqual(started(events), [
      [2, { attempt: 1, workerId: 'w1' }, T0 + 1],
      [5, { attempt: 1, workerId: 'w2' }, T0 + 5],
    ]);
  });

  it('reads back the started events around durable waits: a sleep claimed as it ends, a signal that resumes', async () => {
    const type = freshType();
    const [{ task }] = await store.createTasks([newTask({ type })]);
    const first = await claimOne(store, { types: [type], workerId: 'w1', now: T0 + 1 });
    const slept = await store.suspend(refOf(first), { kind: 'sleep', name: 'nap', until: T0 + 100 }, T0 + 2);
    assert.ok(slept.suspended);
    // Claimed at once as its sleep ends: resumed, then started, in one claim.
    const second = await claimOne(store, { types: [type], workerId: 'w2', now: T0 + 100 });
    const waiting = await store.suspend(refOf(second), { kind: 'signal', name: 'go', timeoutAt: null }, T0 + 101);
    assert.ok(waiting.suspended);
    assert.equal((await store.sendSignal(task.id, 'go', 1, T0 + 102)).resumed, true);
    const third = await claimOne(store, { types: [type], workerId: 'w3', now: T0 + 103 });
    await finishOne(store, { ref: refOf(third), outcome: { status: 'completed', result: 'done' } }, T0 + 104);
    const events = await expectHistoryAsAnnounced(store, heard, task.id);
    assert.deepEqual(
      events.map((e) => e.kind),
      ['created', 'started', 'waiting', 'resumed', 'started', 'waiting', 'signal', 'resumed', 'started', 'completed'],
    );
    // A suspended attempt is given back, so each re-run is attempt 1 again.
    assert.deepEqual(started(events), [
      [2, { attempt: 1, workerId: 'w1' }, T0 + 1],
      [5, { attempt: 1, workerId: 'w2' }, T0 + 100],
      [9, { attempt: 1, workerId: 'w3' }, T0 + 103],
    ]);
  });
}
