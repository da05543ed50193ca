// Store conformance, part 3: durable execution (docs/durable.md, "Store model"): checkpoints, recover, steps,
// suspend and wake-up (children, sleep, signals), cancel cascade, counts of waiting tasks, deletion.
import assert from 'node:assert/strict';
import { before, it } from 'node:test';
import { InvalidStateError, StaleAttemptError, StepExistsError, TaskNotFoundError, ValidationError } from '../../core/errors.ts';
import type { Task } from '../../core/task.ts';
import type { AttemptRef, Claim, Store, StoreNotice } from '../store.ts';
import { claimOne, claimRequest, finishOne, kinds, newTask, type Suite, T0, waitFor } from './helpers.ts';

const refOf = (claim: Claim): AttemptRef => ({ taskId: claim.task.id, attemptToken: claim.attemptToken });

export function durableTests(suite: Suite): void {
  let store: Store;
  before(() => {
    store = suite.store();
  });
  const { freshType } = suite;

  /** A running task of a fresh type, and its claim. */
  async function running(type = freshType(), spec: Parameters<typeof newTask>[0] = {}): Promise<Claim> {
    await store.createTasks([newTask({ type, ...spec })]);
    return claimOne(store, { types: [type] });
  }

  it('saves checkpoint versions under the attempt token, and the next claim resumes from the latest', async () => {
    const type = freshType();
    const claim = await running(type, { maxAttempts: 3 });
    assert.equal(claim.task.checkpointVersion, 0);
    assert.equal(claim.resumeCheckpoint, undefined, 'a task without checkpoints claims without one');
    const ref = refOf(claim);
    const big = { text: 'é'.repeat(100_000), n: [1, 2, 3] };
    const v1 = await store.saveCheckpoint(ref, { phase: 1 }, { label: 'one', size: 11 }, T0 + 1);
    const v2 = await store.saveCheckpoint(ref, big, { size: 200_020 }, T0 + 2);
    assert.deepEqual([v1.version, v1.label, v2.version, v2.label], [1, 'one', 2, null]);
    await assert.rejects(store.saveCheckpoint({ ...ref, attemptToken: 'stale' }, 1, { size: 1 }, T0), StaleAttemptError);
    await assert.rejects(store.saveCheckpoint({ taskId: 'nope', attemptToken: 'x' }, 1, { size: 1 }, T0), TaskNotFoundError);
    assert.equal((await store.getTask(ref.taskId))?.checkpointVersion, 2);
    assert.deepEqual(await store.listCheckpoints(ref.taskId), [
      { version: 1, label: 'one', size: 11, createdAt: T0 + 1 },
      { version: 2, label: null, size: 200_020, createdAt: T0 + 2 },
    ]);
    assert.deepEqual((await store.getCheckpoint(ref.taskId, 'latest'))?.state, big, 'the state is stored whole');
    assert.deepEqual((await store.getCheckpoint(ref.taskId, 1))?.state, { phase: 1 });
    assert.equal(await store.getCheckpoint(ref.taskId, 7), null);
    const events = (await store.listEvents(ref.taskId, 0, 100)).filter((e) => e.kind === 'checkpoint');
    assert.deepEqual(
      events.map((e) => e.data),
      [
        { version: 1, label: 'one', size: 11 },
        { version: 2, label: null, size: 200_020 },
      ],
    );
    await finishOne(store, { ref, outcome: { status: 'retry', error: { message: 'x', retryable: true }, runAt: T0 } });
    const again = await claimOne(store, { types: [type], now: T0 + 10 });
    assert.equal(again.resumeCheckpoint?.version, 2);
    assert.deepEqual(again.resumeCheckpoint?.state, big);
    // A checkpoint after the attempt ended is refused.
    await assert.rejects(store.saveCheckpoint(ref, 3, { size: 1 }, T0), StaleAttemptError);
  });

  it('recovers a failed task from the latest checkpoint or from an older version, keeping history', async () => {
    const type = freshType();
    const claim = await running(type, { maxAttempts: 1 });
    const ref = refOf(claim);
    for (const phase of [1, 2, 3]) await store.saveCheckpoint(ref, { phase }, { label: `p${phase}`, size: 10 }, T0);
    await assert.rejects(store.recover(ref.taskId, {}, T0), InvalidStateError, 'a running task is not recovered');
    await finishOne(store, { ref, outcome: { status: 'failed', error: { message: 'phase 4', retryable: false } } });

    const recovered = await store.recover(ref.taskId, {}, T0 + 1);
    assert.equal(recovered.status, 'queued');
    assert.equal(recovered.attempts, 0);
    assert.equal(recovered.checkpointVersion, 3);
    const first = await claimOne(store, { types: [type], now: T0 + 2 });
    assert.deepEqual(first.resumeCheckpoint?.state, { phase: 3 });
    await finishOne(store, { ref: refOf(first), outcome: { status: 'cancelled', reason: 'stop' } });

    await assert.rejects(store.recover(ref.taskId, { fromVersion: 9 }, T0), ValidationError);
    const fromOne = await store.recover(ref.taskId, { fromVersion: 1 }, T0 + 3);
    assert.equal(fromOne.checkpointVersion, 4, 'version 1 saved again as the latest');
    const latest = await store.getCheckpoint(ref.taskId, 'latest');
    assert.deepEqual([latest?.version, latest?.label, latest?.state], [4, 'recover:1', { phase: 1 }]);
    const second = await claimOne(store, { types: [type], now: T0 + 4 });
    assert.deepEqual(second.resumeCheckpoint?.state, { phase: 1 });
    const retrying = (await store.listEvents(ref.taskId, 0, 100)).filter((e) => e.kind === 'retrying').map((e) => e.data);
    assert.deepEqual(retrying, [
      { manual: true, recover: true, fromVersion: null },
      { manual: true, recover: true, fromVersion: 1 },
    ]);
    await assert.rejects(store.recover('unknown-task', {}, T0), TaskNotFoundError);
  });

  it('stores each step once per task, under the attempt token', async () => {
    const type = freshType();
    const claim = await running(type);
    const ref = refOf(claim);
    assert.deepEqual(await store.listSteps(ref.taskId), []);
    await store.saveStep(ref, 'fetch', { rows: 3 }, T0 + 1);
    await store.saveStep(ref, 'render', 'done', T0 + 2);
    await assert.rejects(store.saveStep(ref, 'fetch', { rows: 4 }, T0 + 3), StepExistsError);
    await assert.rejects(store.saveStep({ ...ref, attemptToken: 'stale' }, 'other', 1, T0), StaleAttemptError);
    await assert.rejects(store.listSteps('unknown-task'), TaskNotFoundError);
    // A later attempt reads the steps of the earlier one and adds its own.
    await finishOne(store, { ref, outcome: { status: 'retry', error: { message: 'x', retryable: true }, runAt: T0 } });
    const again = await claimOne(store, { types: [type], now: T0 + 10 });
    await store.saveStep(refOf(again), 'publish', null, T0 + 11);
    assert.deepEqual(await store.listSteps(ref.taskId), [
      { name: 'fetch', result: { rows: 3 }, createdAt: T0 + 1 },
      { name: 'render', result: 'done', createdAt: T0 + 2 },
      { name: 'publish', result: null, createdAt: T0 + 11 },
    ]);
  });

  it('suspends on children, wakes the parent once when the last finishes, and answers their outcomes on the re-run', async () => {
    const type = freshType();
    const childType = freshType();
    const parent = await running(type);
    const ref = refOf(parent);
    const specs = [0, 1, 2].map((i) => newTask({ type: childType, payload: { i }, timeoutMs: 5000, softTimeoutMs: 4000 }));
    const result = await store.suspend(ref, { kind: 'children', name: 'fan', tasks: specs }, T0 + 1);
    assert.ok(result.suspended);
    assert.equal(result.task.status, 'waiting');
    assert.equal(result.task.attempts, 0, 'the suspended attempt is not counted');
    assert.deepEqual(result.task.waitingFor, { kind: 'children', name: 'fan', pending: 3, total: 3 });
    await assert.rejects(store.heartbeat(ref, 1000, T0), StaleAttemptError, 'the lease is gone');
    const children = await store.childOutcomes(parent.task.id, 'fan');
    assert.deepEqual(
      children.map((c) => [c.id, c.status]),
      specs.map((s) => [s.id, 'queued']),
    );
    const child = await store.getTask(specs[0].id);
    assert.equal(child?.parentId, parent.task.id);
    assert.deepEqual([child?.timeoutMs, child?.softTimeoutMs], [5000, 4000], 'a child stores every column a submit does');
    assert.deepEqual(
      (await store.listTasks({ parentId: parent.task.id, limit: 10 })).tasks.map((t) => t.id),
      specs.map((s) => s.id).reverse(),
      'listTasks by parentId, newest first',
    );
    assert.equal((await store.claim(claimRequest({ types: [type], now: T0 + 2 }))).length, 0, 'a waiting task is not claimable');

    const claims = await store.claim(claimRequest({ types: [childType], max: 3, now: T0 + 2 }));
    await finishOne(store, { ref: refOf(claims[0]), outcome: { status: 'completed', result: 'a' } });
    await finishOne(store, { ref: refOf(claims[1]), outcome: { status: 'failed', error: { message: 'b', retryable: false } } });
    assert.deepEqual((await store.getTask(parent.task.id))?.waitingFor, { kind: 'children', name: 'fan', pending: 1, total: 3 });
    // A retry of a child is not an end: the parent keeps waiting.
    await finishOne(store, { ref: refOf(claims[2]), outcome: { status: 'retry', error: { message: 'c', retryable: true }, runAt: T0 } });
    assert.equal((await store.getTask(parent.task.id))?.status, 'waiting');
    const retried = await claimOne(store, { types: [childType], now: T0 + 3 });
    await finishOne(store, { ref: refOf(retried), outcome: { status: 'completed', result: 'c' } });

    const woken = await store.getTask(parent.task.id);
    assert.equal(woken?.status, 'queued');
    assert.equal(woken?.waitingFor, null);
    const events = await store.listEvents(parent.task.id, 0, 100);
    assert.deepEqual(
      events.map((e) => e.kind),
      ['created', 'started', 'waiting', 'child-finished', 'child-finished', 'child-finished', 'resumed'],
    );
    assert.deepEqual(
      events.filter((e) => e.kind === 'child-finished').map((e) => (e.data as { pending: number }).pending),
      [2, 1, 0],
    );
    assert.deepEqual(events.at(-1)?.data, { reason: 'children', name: 'fan' });

    // The re-run asks again: nothing is created, the outcomes come back in order.
    const rerun = await claimOne(store, { types: [type], now: T0 + 4 });
    assert.equal(rerun.task.attempts, 1);
    const again = await store.suspend(refOf(rerun), { kind: 'children', name: 'fan', tasks: [0, 1, 2].map(() => newTask({ type: childType })) }, T0 + 5);
    assert.equal(again.suspended, false);
    assert.ok(!again.suspended && again.outcome.kind === 'children');
    if (again.suspended || again.outcome.kind !== 'children') return;
    assert.deepEqual(
      again.outcome.children.map((c) => [c.id, c.status, c.result, c.error?.message ?? null]),
      [
        [specs[0].id, 'completed', 'a', null],
        [specs[1].id, 'failed', null, 'b'],
        [specs[2].id, 'completed', 'c', null],
      ],
    );
    assert.equal((await store.listTasks({ type: childType, limit: 100 })).tasks.length, 3, 'no child created twice');
    assert.equal((await store.getTask(parent.task.id))?.status, 'running', 'the attempt goes on');
    // No children at all: nothing to wait for.
    const none = await store.suspend(refOf(rerun), { kind: 'children', name: 'empty', tasks: [] }, T0 + 6);
    assert.deepEqual(none, { suspended: false, outcome: { kind: 'children', children: [] } });
  });

  it('wakes a parent exactly once when its children finish concurrently through several stores', async () => {
    const type = freshType();
    const childType = freshType();
    const parent = await running(type);
    const n = 12;
    const specs = Array.from({ length: n }, (_, i) => newTask({ type: childType, payload: i }));
    await store.suspend(refOf(parent), { kind: 'children', name: 'many', tasks: specs }, T0);
    const claims = await store.claim(claimRequest({ types: [childType], max: n }));
    assert.equal(claims.length, n);
    const others = [await suite.target.openAnother(), await suite.target.openAnother()];
    try {
      const stores = [store, ...others];
      // One finish per child, spread over the stores, each its own call, all at once.
      const results = await Promise.all(
        claims.map((c, i) => stores[i % stores.length].finish([{ ref: refOf(c), outcome: { status: 'completed', result: i } }], T0 + 1)),
      );
      assert.ok(results.flat().every((r) => r.ok));
    } finally {
      await Promise.all(others.map((o) => o.close()));
    }
    const events = await store.listEvents(parent.task.id, 0, 1000);
    assert.equal(events.filter((e) => e.kind === 'child-finished').length, n);
    assert.equal(events.filter((e) => e.kind === 'resumed').length, 1);
    assert.deepEqual(
      events.map((e) => e.seq),
      events.map((_, i) => i + 1),
      'gapless seqs',
    );
    assert.deepEqual(
      events
        .filter((e) => e.kind === 'child-finished')
        .map((e) => (e.data as { pending: number }).pending)
        .sort((a, b) => b - a),
      Array.from({ length: n }, (_, i) => n - 1 - i),
    );
    const task = await store.getTask(parent.task.id);
    assert.equal(task?.status, 'queued');
    assert.equal((await store.claim(claimRequest({ types: [type], max: 5, now: T0 + 2 }))).length, 1);
  });

  it('finishes children of a wait and other tasks in one batch, each judged as alone', async () => {
    const type = freshType();
    const childType = freshType();
    const parent = await running(type);
    const kids = [newTask({ type: childType }), newTask({ type: childType })];
    await store.suspend(refOf(parent), { kind: 'children', name: 'mixed', tasks: kids }, T0);
    const [a, b] = await store.claim(claimRequest({ types: [childType], max: 2 }));
    const plain = await running(freshType());
    const results = await store.finish(
      [
        { ref: refOf(plain), outcome: { status: 'completed', result: 'plain' } },
        { ref: { ...refOf(a), attemptToken: 'stale' }, outcome: { status: 'completed', result: 'x' } },
        { ref: refOf(a), outcome: { status: 'completed', result: 'a' } },
        { ref: refOf(a), outcome: { status: 'completed', result: 'again' } },
        { ref: { taskId: 'unknown-task', attemptToken: 'x' }, outcome: { status: 'completed', result: null } },
      ],
      T0 + 1,
    );
    assert.deepEqual(
      results.map((r) => (r.ok ? r.task.status : r.error.name)),
      ['completed', 'StaleAttemptError', 'completed', 'StaleAttemptError', 'TaskNotFoundError'],
    );
    assert.equal((await store.getTask(a.task.id))?.result, 'a');
    assert.deepEqual((await store.getTask(parent.task.id))?.waitingFor, { kind: 'children', name: 'mixed', pending: 1, total: 2 });
    // The sweeper's finish of a child whose lease expired wakes the parent too.
    const [swept] = await store.finish(
      [{ ref: refOf(b), outcome: { status: 'failed', error: { message: 'lease', retryable: false } }, onlyIfLeaseExpired: true }],
      T0 + 10 * 60_000,
    );
    assert.ok(swept.ok);
    assert.equal((await store.getTask(parent.task.id))?.status, 'queued');
  });

  it('completes every child of a wait in one batch of plain completions and wakes the parent once', async () => {
    const type = freshType();
    const childType = freshType();
    const parent = await running(type);
    await store.suspend(refOf(parent), { kind: 'children', name: 'all', tasks: [newTask({ type: childType }), newTask({ type: childType })] }, T0);
    const kids = await store.claim(claimRequest({ types: [childType], max: 2 }));
    const plain = await running(freshType());
    const results = await store.finish(
      [...kids, plain].map((c, i) => ({ ref: refOf(c), outcome: { status: 'completed' as const, result: i } })),
      T0 + 1,
    );
    assert.deepEqual(results.map((r) => r.ok && r.task.status), ['completed', 'completed', 'completed']);
    assert.equal((await store.getTask(parent.task.id))?.status, 'queued');
    const events = await store.listEvents(parent.task.id, 0, 100);
    assert.deepEqual(events.filter((e) => e.kind === 'child-finished' || e.kind === 'resumed').map((e) => e.kind), ['child-finished', 'child-finished', 'resumed']);
  });

  it('sleeps without a lease and wakes by promotion, which nextScheduledAt announces', async () => {
    const type = freshType();
    const queue = `q-${type}`;
    const claim = await running(type, { queue });
    const held = await store.suspend(refOf(claim), { kind: 'sleep', name: 'nap', until: T0 }, T0);
    assert.deepEqual(held, { suspended: false, outcome: { kind: 'sleep' } }, 'a sleep that already ended does not suspend');
    const result = await store.suspend(refOf(claim), { kind: 'sleep', name: 'nap', until: T0 + 5000 }, T0);
    assert.ok(result.suspended);
    assert.deepEqual(result.task.waitingFor, { kind: 'sleep', name: 'nap', until: T0 + 5000 });
    assert.equal(await store.nextScheduledAt([queue]), T0 + 5000);
    assert.equal((await store.claim(claimRequest({ types: [type], now: T0 + 4999 }))).length, 0);
    const woke = await claimOne(store, { types: [type], now: T0 + 5000 });
    assert.equal(woke.task.id, claim.task.id);
    assert.deepEqual(await store.getTask(woke.task.id), woke.task, 'a wait woken and claimed at once reads as its row');
    assert.equal(await store.nextScheduledAt([queue]), null);
    const events = await store.listEvents(claim.task.id, 0, 100);
    assert.deepEqual(
      events.map((e) => e.kind),
      ['created', 'started', 'waiting', 'resumed', 'started'],
    );
    assert.deepEqual(events[3].data, { reason: 'slept', name: 'nap' });
  });

  it('keeps a signal sent before the wait, and gives every wait of that name the same one', async () => {
    const type = freshType();
    const claim = await running(type);
    const sent = await store.sendSignal(claim.task.id, 'approval', { ok: true }, T0 + 1);
    assert.equal(sent.resumed, false);
    assert.equal(sent.task.status, 'running');
    const first = await store.suspend(refOf(claim), { kind: 'signal', name: 'approval', timeoutAt: null }, T0 + 2);
    assert.ok(!first.suspended && first.outcome.kind === 'signal');
    if (first.suspended || first.outcome.kind !== 'signal') return;
    assert.deepEqual(first.outcome.signal, { name: 'approval', data: { ok: true }, createdAt: T0 + 1, consumedAt: T0 + 2 });
    await store.sendSignal(claim.task.id, 'approval', { ok: false }, T0 + 3);
    const second = await store.suspend(refOf(claim), { kind: 'signal', name: 'approval', timeoutAt: null }, T0 + 4);
    assert.ok(!second.suspended && second.outcome.kind === 'signal' && second.outcome.signal.createdAt === T0 + 1, 'the same signal');
    assert.deepEqual(
      (await store.listSignals(claim.task.id)).map((s) => [s.data, s.consumedAt]),
      [
        [{ ok: true }, T0 + 2],
        [{ ok: false }, null],
      ],
    );
    assert.deepEqual(await kinds(store, claim.task.id), ['created', 'started', 'signal', 'signal']);
  });

  it('wakes a task waiting for a signal when it arrives, and refuses signals to finished tasks', async () => {
    const type = freshType();
    const claim = await running(type);
    const other = await store.sendSignal(claim.task.id, 'other', 1, T0);
    assert.equal(other.resumed, false);
    const waiting = await store.suspend(refOf(claim), { kind: 'signal', name: 'approval', timeoutAt: T0 + 60_000 }, T0 + 1);
    assert.ok(waiting.suspended);
    assert.deepEqual(waiting.task.waitingFor, { kind: 'signal', name: 'approval', timeoutAt: T0 + 60_000 });
    const heard: StoreNotice[] = [];
    const stop = store.listen((n) => heard.push(n));
    try {
      const sent = await store.sendSignal(claim.task.id, 'approval', { by: 'ann' }, T0 + 2);
      assert.equal(sent.resumed, true);
      assert.equal(sent.task.status, 'queued');
      await waitFor(() => heard.some((n) => n.kind === 'ready'));
    } finally {
      stop();
    }
    const events = await store.listEvents(claim.task.id, 0, 100);
    assert.deepEqual(events.slice(-2).map((e) => [e.kind, e.data]), [
      ['signal', { name: 'approval' }],
      ['resumed', { reason: 'signal', name: 'approval' }],
    ]);
    const rerun = await claimOne(store, { types: [type], now: T0 + 3 });
    const got = await store.suspend(refOf(rerun), { kind: 'signal', name: 'approval', timeoutAt: T0 + 60_000 }, T0 + 4);
    assert.ok(!got.suspended && got.outcome.kind === 'signal' && (got.outcome.signal.data as { by: string }).by === 'ann');
    await finishOne(store, { ref: refOf(rerun), outcome: { status: 'completed', result: null } });
    await assert.rejects(store.sendSignal(claim.task.id, 'approval', 1, T0 + 5), InvalidStateError);
    await assert.rejects(store.sendSignal('unknown-task', 'approval', 1, T0), TaskNotFoundError);
  });

  it('times a signal wait out through promotion, and the re-run sees the timeout', async () => {
    const type = freshType();
    const claim = await running(type);
    const timeoutAt = T0 + 1000;
    await store.suspend(refOf(claim), { kind: 'signal', name: 'approval', timeoutAt }, T0);
    assert.equal(await store.nextScheduledAt(null) !== null, true);
    const rerun = await claimOne(store, { types: [type], now: timeoutAt });
    const events = await store.listEvents(claim.task.id, 0, 100);
    assert.deepEqual(events.at(-2)?.data, { reason: 'signal-timeout', name: 'approval' });
    const again = await store.suspend(refOf(rerun), { kind: 'signal', name: 'approval', timeoutAt }, timeoutAt + 1);
    assert.deepEqual(again, { suspended: false, outcome: { kind: 'signal-timeout' } });
  });

  it('cancels a waiting parent at once with its unfinished children, down the tree', async () => {
    const type = freshType();
    const childType = freshType();
    const parent = await running(type);
    const specs = [0, 1, 2, 3].map((i) => newTask({ type: childType, payload: i }));
    await store.suspend(refOf(parent), { kind: 'children', name: 'kids', tasks: specs }, T0);
    const [done, busy, nested] = await store.claim(claimRequest({ types: [childType], max: 3 }));
    await finishOne(store, { ref: refOf(done), outcome: { status: 'completed', result: 1 } });
    // One child waits on a grandchild of its own.
    const grandchild = newTask({ type: freshType() });
    await store.suspend(refOf(nested), { kind: 'children', name: 'deeper', tasks: [grandchild] }, T0);

    const cancelled = await store.cancel(parent.task.id, 'no longer needed', T0 + 1);
    assert.equal(cancelled.status, 'cancelled');
    assert.equal(cancelled.waitingFor, null);
    const statusOf = async (id: string) => (await store.getTask(id) as Task).status;
    assert.equal(await statusOf(done.task.id), 'completed');
    assert.equal(await statusOf(busy.task.id), 'running');
    assert.equal((await store.getTask(busy.task.id))?.cancelRequested, true, 'a running child is asked to stop');
    assert.equal(await statusOf(nested.task.id), 'cancelled');
    assert.equal(await statusOf(grandchild.id), 'cancelled');
    const queuedChild = specs.find((s) => ![done, busy, nested].some((c) => c.task.id === s.id));
    assert.ok(queuedChild);
    assert.equal(await statusOf(queuedChild.id), 'cancelled');
    // The running child ends later; its parent, cancelled, is not touched.
    await finishOne(store, { ref: refOf(busy), outcome: { status: 'cancelled', reason: 'asked' } });
    assert.deepEqual(await kinds(store, parent.task.id), ['created', 'started', 'waiting', 'child-finished', 'cancelled']);
  });

  it('cancels a waiting parent while its children finish through other stores, without errors or lost ends', async () => {
    const type = freshType();
    const childType = freshType();
    const parent = await running(type);
    const n = 8;
    await store.suspend(refOf(parent), { kind: 'children', name: 'race', tasks: Array.from({ length: n }, () => newTask({ type: childType })) }, T0);
    const claims = await store.claim(claimRequest({ types: [childType], max: n }));
    const others = [await suite.target.openAnother(), await suite.target.openAnother()];
    try {
      const [cancelled] = await Promise.all([
        others[0].cancel(parent.task.id, 'stop', T0 + 1),
        ...claims.map((c, i) => (i % 2 === 0 ? store : others[1]).finish([{ ref: refOf(c), outcome: { status: 'completed', result: i } }], T0 + 1)),
      ]);
      assert.equal((cancelled as Task).status, 'cancelled');
    } finally {
      await Promise.all(others.map((o) => o.close()));
    }
    const children = await store.childOutcomes(parent.task.id, 'race');
    assert.ok(children.every((c) => c.status === 'completed'), 'every running child ended as it reported');
    const parentEvents = await kinds(store, parent.task.id);
    assert.equal(parentEvents.filter((k) => k === 'cancelled').length, 1);
    // The children may all finish before the cancel lands (the parent then resumes, and the cancel ends it queued);
    // what must never happen is a wake-up after the cancel.
    assert.ok(parentEvents.filter((k) => k === 'resumed').length <= 1);
    assert.equal(parentEvents.at(-1), 'cancelled', `nothing follows the cancel: ${parentEvents.join(', ')}`);
    assert.equal((await store.getTask(parent.task.id))?.status, 'cancelled');
  });

  it('counts a child cancelled on its own as finished for its waiting parent', async () => {
    const type = freshType();
    const childType = freshType();
    const parent = await running(type);
    const [only] = [newTask({ type: childType })];
    await store.suspend(refOf(parent), { kind: 'children', name: 'one', tasks: [only] }, T0);
    await store.cancel(only.id, 'skip it', T0 + 1);
    assert.equal((await store.getTask(parent.task.id))?.status, 'queued');
    const events = await store.listEvents(parent.task.id, 0, 100);
    assert.deepEqual(events.slice(-2).map((e) => [e.kind, e.data]), [
      ['child-finished', { childId: only.id, name: 'one', status: 'cancelled', pending: 0 }],
      ['resumed', { reason: 'children', name: 'one' }],
    ]);
  });

  it('counts waiting tasks as neither queued nor running, and deletes durable rows with their task', async () => {
    const type = freshType();
    const queue = `q-${type}`;
    const claim = await running(type, { queue });
    await store.saveCheckpoint(refOf(claim), { a: 1 }, { size: 7 }, T0);
    await store.saveStep(refOf(claim), 's', 1, T0);
    await store.sendSignal(claim.task.id, 'sig', 1, T0);
    await store.suspend(refOf(claim), { kind: 'sleep', name: 'zz', until: T0 + 10_000 }, T0);
    const counts = (await store.countByQueue()).find((q) => q.queue === queue)?.counts;
    assert.equal(counts?.waiting, 1);
    assert.equal(counts?.queued, 0);
    assert.equal(counts?.running, 0);
    const capped = (await store.countTasks(1000)).queues.find((q) => q.queue === queue)?.counts;
    assert.equal(capped?.waiting, 1);
    assert.deepEqual(
      (await store.listTasks({ status: 'waiting', queue, limit: 10 })).tasks.map((t) => t.id),
      [claim.task.id],
    );
    assert.equal(await store.deleteTask(claim.task.id), true);
    await assert.rejects(store.listCheckpoints(claim.task.id), TaskNotFoundError);
    await assert.rejects(store.listSteps(claim.task.id), TaskNotFoundError);
    await assert.rejects(store.listSignals(claim.task.id), TaskNotFoundError);
    assert.equal(await store.getCheckpoint(claim.task.id, 'latest'), null);
    // Retention too.
    const old = await running(freshType());
    await store.saveCheckpoint(refOf(old), 1, { size: 1 }, T0);
    await finishOne(store, { ref: refOf(old), outcome: { status: 'completed', result: null } }, T0 - 10_000_000);
    const before = (await store.getTask(old.task.id))?.completedAt as number;
    await store.deleteFinishedTasks('completed', before + 1, 1000);
    assert.equal(await store.getTask(old.task.id), null);
    assert.equal(await store.getCheckpoint(old.task.id, 1), null);
  });

  it('derives a task from a checkpoint atomically: version 1 is the copy, labelled with its source', async () => {
    const type = freshType();
    const source = await running(type);
    for (const phase of [1, 2]) await store.saveCheckpoint(refOf(source), { phase }, { label: `p${phase}`, size: 9 + phase }, T0);
    const heard: StoreNotice[] = [];
    const stop = store.listen((n) => heard.push(n));
    try {
      const fromOne = await store.deriveTask(newTask({ type, parentId: source.task.id, timeoutMs: 5000, softTimeoutMs: 4000 }), { taskId: source.task.id, version: 1 }, T0 + 5);
      assert.deepEqual([fromOne.status, fromOne.parentId, fromOne.checkpointVersion, fromOne.lastEventSeq], ['queued', source.task.id, 1, 2]);
      // Every column a submit stores, a derived task stores too.
      assert.deepEqual([fromOne.timeoutMs, fromOne.softTimeoutMs], [5000, 4000]);
      const copy = await store.getCheckpoint(fromOne.id, 'latest');
      assert.deepEqual(copy, { version: 1, label: `derived:${source.task.id}@1`, size: 10, createdAt: T0 + 5, state: { phase: 1 } });
      const stored = await store.listEvents(fromOne.id, 0, 10);
      assert.deepEqual(stored.map((e) => [e.kind, e.data]), [
        ['created', { status: 'queued', runAt: T0 }],
        ['checkpoint', { version: 1, label: `derived:${source.task.id}@1`, size: 10 }],
      ]);
      await waitFor(() => heard.filter((n) => n.kind === 'event' && n.event.taskId === fromOne.id).length >= 2);
      assert.deepEqual(heard.flatMap((n) => (n.kind === 'event' && n.event.taskId === fromOne.id ? [n.event] : [])), stored);
      const latest = await store.deriveTask(newTask({ type }), { taskId: source.task.id, version: 'latest' }, T0);
      assert.equal((await store.getCheckpoint(latest.id, 1))?.label, `derived:${source.task.id}@2`);
      // The claim of a derived task resumes from the copy.
      await finishOne(store, { ref: refOf(source), outcome: { status: 'completed', result: null } });
      const claims = await store.claim(claimRequest({ types: [type], max: 2, now: T0 + 10 }));
      assert.deepEqual(claims.map((c) => c.resumeCheckpoint?.state).sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b))), [{ phase: 1 }, { phase: 2 }]);
    } finally {
      stop();
    }
    // Nothing is created when the source has no such checkpoint or does not exist.
    const before = (await store.listTasks({ type, limit: 100 })).tasks.length;
    await assert.rejects(store.deriveTask(newTask({ type }), { taskId: source.task.id, version: 7 }, T0), ValidationError);
    await assert.rejects(store.deriveTask(newTask({ type }), { taskId: 'nope', version: 'latest' }, T0), TaskNotFoundError);
    await assert.rejects(store.deriveTask(newTask({ type, idempotencyKey: 'k' }), { taskId: source.task.id, version: 1 }, T0), ValidationError);
    const plain = await running();
    await assert.rejects(store.deriveTask(newTask({ type }), { taskId: plain.task.id, version: 'latest' }, T0), ValidationError);
    assert.equal((await store.listTasks({ type, limit: 100 })).tasks.length, before);
  });

  it('refuses suspends with a stale token, and children with idempotency keys', async () => {
    const claim = await running();
    await assert.rejects(
      store.suspend({ ...refOf(claim), attemptToken: 'stale' }, { kind: 'sleep', name: 'x', until: T0 + 1000 }, T0),
      StaleAttemptError,
    );
    await assert.rejects(
      store.suspend(refOf(claim), { kind: 'children', name: 'x', tasks: [newTask({ idempotencyKey: 'k' })] }, T0),
      ValidationError,
    );
    assert.equal((await store.getTask(claim.task.id))?.status, 'running');
  });

  it('announces the durable events exactly as it stores them', async () => {
    const type = freshType();
    const heard: StoreNotice[] = [];
    const stop = store.listen((n) => heard.push(n));
    try {
      const parent = await running(type);
      await store.saveCheckpoint(refOf(parent), { x: 1 }, { label: 'l', size: 7 }, T0);
      const kids = [newTask({ type: freshType() }), newTask({ type: freshType() })];
      await store.suspend(refOf(parent), { kind: 'children', name: 'k', tasks: kids }, T0);
      const a = await claimOne(store, { types: [kids[0].type] });
      const b = await claimOne(store, { types: [kids[1].type] });
      await store.finish(
        [
          { ref: refOf(a), outcome: { status: 'completed', result: 1 } },
          { ref: refOf(b), outcome: { status: 'failed', error: { message: 'no', retryable: false } } },
        ],
        T0 + 1,
      );
      const rerun = await claimOne(store, { types: [type], now: T0 + 2 });
      await store.sendSignal(parent.task.id, 's', 1, T0 + 3);
      await store.suspend(refOf(rerun), { kind: 'signal', name: 't', timeoutAt: T0 + 10 }, T0 + 3);
      await store.sendSignal(parent.task.id, 't', 2, T0 + 4);
      const stored = await store.listEvents(parent.task.id, 0, 100);
      assert.deepEqual(
        stored.map((e) => e.kind),
        ['created', 'started', 'checkpoint', 'waiting', 'child-finished', 'child-finished', 'resumed', 'started', 'signal', 'waiting', 'signal', 'resumed'],
      );
      await waitFor(() => heard.filter((n) => n.kind === 'event' && n.event.taskId === parent.task.id).length >= stored.length);
      const announced = heard.flatMap((n) => (n.kind === 'event' && n.event.taskId === parent.task.id ? [n.event] : []));
      assert.deepEqual(
        [...announced].sort((x, y) => x.seq - y.seq),
        stored,
      );
    } finally {
      stop();
    }
  });
}
