// Store conformance, part 4: debounce and singleton (store/flow.ts), atomic in createTasks and enforced in claim.
import assert from 'node:assert/strict';
import { before, it } from 'node:test';
import { SingletonConflictError } from '../../core/errors.ts';
import type { SingletonPolicy } from '../../core/task.ts';
import type { Store } from '../store.ts';
import { claimOne, claimRequest, finishOne, newTask, type Suite, T0 } from './helpers.ts';

export function flowTests(suite: Suite): void {
  let store: Store;
  before(() => {
    store = suite.store();
  });
  const { target, freshType } = suite;
  const debounced = (type: string, payload: number, at: number, extra: { owner?: string; maxWaitMs?: number; queue?: string } = {}) =>
    newTask(
      {
        type,
        payload,
        owner: extra.owner ?? 'ann',
        ...(extra.queue ? { queue: extra.queue } : {}),
        debounce: { key: `k-${type}`, delayMs: 300, ...(extra.maxWaitMs ? { maxWaitMs: extra.maxWaitMs } : {}) },
      },
      at,
    );
  const single = (type: string, policy: SingletonPolicy, payload: number, owner = 'ann') =>
    newTask({ type, payload, owner, singleton: { key: `s-${type}`, policy } });

  it('debounce: submits of one key collapse into one task that runs delayMs after the last, with the last payload', async () => {
    const type = freshType();
    const queue = `q-${type}`;
    const [first] = await store.createTasks([debounced(type, 1, T0, { queue })]);
    assert.equal(first.created, true);
    assert.equal(first.task.status, 'scheduled');
    assert.deepEqual(first.task.debounce, { key: `k-${type}`, delayMs: 300, maxWaitMs: null, firstAt: T0 });
    const [second] = await store.createTasks([debounced(type, 2, T0 + 50, { queue })]);
    const [third] = await store.createTasks([debounced(type, 3, T0 + 100, { queue })]);
    for (const r of [second, third]) {
      assert.equal(r.task.id, first.task.id);
      assert.equal(r.created, false);
      assert.equal(r.merged, 'debounce');
    }
    assert.equal(third.task.runAt, T0 + 400);
    assert.equal(third.task.payload, 3);
    // Another owner's key never meets this one.
    const [other] = await store.createTasks([debounced(type, 9, T0 + 100, { owner: 'bob', queue })]);
    assert.notEqual(other.task.id, first.task.id);
    assert.deepEqual(await store.heldBack(queue), [{ key: `k-${type}`, reason: 'debounce', tasks: 2 }]);
    assert.deepEqual(await store.claim(claimRequest({ types: [type], now: T0 + 399, max: 5 })), []);
    const claims = await store.claim(claimRequest({ types: [type], now: T0 + 400, max: 5 }));
    assert.deepEqual(claims.map((c) => c.task.payload).sort(), [3, 9]);
    // Once it runs, the next submit opens a new window.
    const [next] = await store.createTasks([debounced(type, 4, T0 + 500, { queue })]);
    assert.equal(next.created, true);
    assert.notEqual(next.task.id, first.task.id);
    assert.equal((await store.getTask(first.task.id))?.payload, 3);
  });

  it('debounce: maxWaitMs bounds the window from the first submit', async () => {
    const type = freshType();
    const [first] = await store.createTasks([debounced(type, 1, T0, { maxWaitMs: 400 })]);
    await store.createTasks([debounced(type, 2, T0 + 200, { maxWaitMs: 400 })]);
    const [last] = await store.createTasks([debounced(type, 3, T0 + 350, { maxWaitMs: 400 })]);
    assert.equal(last.task.id, first.task.id);
    assert.equal(last.task.runAt, T0 + 400);
    // Past maxWaitMs a submit still joins the open window, which is due at once.
    const [late] = await store.createTasks([debounced(type, 4, T0 + 450, { maxWaitMs: 400 })]);
    assert.equal(late.task.id, first.task.id);
    assert.equal(late.task.status, 'queued');
    assert.equal((await claimOne(store, { types: [type], now: T0 + 450 })).task.payload, 4);
  });

  it('debounce: a cancelled task closes its window; retried by hand it does not clash with the next one', async () => {
    const type = freshType();
    const [first] = await store.createTasks([debounced(type, 1, T0)]);
    await store.cancel(first.task.id, 'no', T0 + 10);
    const [second] = await store.createTasks([debounced(type, 2, T0 + 20)]);
    assert.equal(second.created, true);
    assert.equal((await store.retry(first.task.id, T0 + 30)).status, 'queued');
    const [third] = await store.createTasks([debounced(type, 3, T0 + 40)]);
    assert.equal(third.task.id, second.task.id);
  });

  it('debounce: two processes submitting one key at once make one task', async () => {
    const other = await target.openAnother();
    try {
      const type = freshType();
      const results = await Promise.all(
        Array.from({ length: 16 }, (_, i) => (i % 2 === 0 ? store : other).createTasks([debounced(type, i, T0 + i)])),
      );
      assert.equal(new Set(results.map(([r]) => r.task.id)).size, 1);
      assert.equal(results.filter(([r]) => r.created).length, 1);
    } finally {
      await other.close();
    }
  });

  it('debounce and queue-one: claims in another process racing submits of one key never fail a submit', async () => {
    const other = await target.openAnother();
    try {
      const type = freshType();
      const windowed = (i: number) => newTask({ type, payload: i, owner: 'ann', debounce: { key: `k-${type}`, delayMs: 1, maxWaitMs: 1 } }, T0 + i);
      const queued = (i: number) => newTask({ type, payload: i, owner: 'ann', singleton: { key: `s-${type}`, policy: 'queue-one' } }, T0 + i);
      const results = { submitted: 0, claimed: 0 };
      await Promise.all([
        (async () => {
          for (let i = 0; i < 60; i++) {
            await store.createTasks([i % 2 ? windowed(i) : queued(i)]);
            results.submitted++;
          }
        })(),
        (async () => {
          for (let i = 0; i < 60; i++) {
            for (const c of await other.claim(claimRequest({ types: [type], max: 5, now: T0 + i + 2 }))) {
              results.claimed++;
              await other.finish([{ ref: { taskId: c.task.id, attemptToken: c.attemptToken }, outcome: { status: 'completed', result: null } }], T0 + i + 2);
            }
          }
        })(),
      ]);
      assert.equal(results.submitted, 60);
    } finally {
      await other.close();
    }
  });

  it('singleton reject: refuses a submit while a task with the key is unfinished, naming it', async () => {
    const type = freshType();
    const [a] = await store.createTasks([single(type, 'reject', 1)]);
    assert.deepEqual(a.task.singleton, { key: `s-${type}`, policy: 'reject' });
    await assert.rejects(store.createTasks([single(type, 'reject', 2)]), (e: unknown) => e instanceof SingletonConflictError && e.taskId === a.task.id);
    const claim = await claimOne(store, { types: [type] });
    await assert.rejects(store.createTasks([single(type, 'reject', 3)]), SingletonConflictError);
    // Another owner's key, and the same key once the task finished, are free.
    assert.equal((await store.createTasks([single(type, 'reject', 4, 'bob')]))[0].created, true);
    await finishOne(store, { ref: { taskId: a.task.id, attemptToken: claim.attemptToken }, outcome: { status: 'completed', result: null } });
    assert.equal((await store.createTasks([single(type, 'reject', 5)]))[0].created, true);
  });

  it('singleton queue-one: one waits while one runs; later submits replace its payload; it starts when the other ends', async () => {
    const type = freshType();
    const queue = `q-${type}`;
    const spec = (payload: number) => newTask({ type, queue, payload, owner: 'ann', singleton: { key: `s-${type}`, policy: 'queue-one' } });
    const [a] = await store.createTasks([spec(1)]);
    const [merged] = await store.createTasks([spec(2)]);
    assert.equal(merged.task.id, a.task.id);
    assert.equal(merged.merged, 'queue-one');
    assert.equal(merged.task.payload, 2);
    const claim = await claimOne(store, { types: [type] });
    const [b] = await store.createTasks([spec(3)]);
    assert.equal(b.created, true);
    const [c] = await store.createTasks([spec(4)]);
    assert.equal(c.task.id, b.task.id);
    assert.deepEqual(await store.claim(claimRequest({ types: [type], max: 5 })), [], 'held while its key runs');
    assert.deepEqual(await store.heldBack(queue), [{ key: `s-${type}`, reason: 'singleton', tasks: 1 }]);
    await finishOne(store, { ref: { taskId: a.task.id, attemptToken: claim.attemptToken }, outcome: { status: 'completed', result: null } });
    const next = await claimOne(store, { types: [type], max: 5 });
    assert.equal(next.task.id, b.task.id);
    assert.equal(next.task.payload, 4);
  });

  it('singleton supersede: cancels the running task by request and waiting ones at once; the new one runs after', async () => {
    const type = freshType();
    const [a] = await store.createTasks([single(type, 'supersede', 1)]);
    const claim = await claimOne(store, { types: [type] });
    const [b] = await store.createTasks([single(type, 'supersede', 2)]);
    assert.equal((await store.getTask(a.task.id))?.cancelRequested, true);
    const [c] = await store.createTasks([single(type, 'supersede', 3)]);
    const cancelled = await store.getTask(b.task.id);
    assert.equal(cancelled?.status, 'cancelled');
    assert.match(cancelled?.error?.message ?? '', new RegExp(c.task.id));
    assert.deepEqual(await store.claim(claimRequest({ types: [type], max: 5 })), [], 'the old one has not stopped yet');
    await finishOne(store, { ref: { taskId: a.task.id, attemptToken: claim.attemptToken }, outcome: { status: 'cancelled', reason: 'superseded' } });
    assert.equal((await claimOne(store, { types: [type], max: 5 })).task.id, c.task.id);
  });

  it('singleton: one claim never starts two tasks of one key', async () => {
    const type = freshType();
    const [a] = await store.createTasks([single(type, 'queue-one', 1)]);
    const claim = await claimOne(store, { types: [type] });
    await store.createTasks([single(type, 'queue-one', 2)]);
    // The running one retries at once: now two of the key are queued.
    await finishOne(store, {
      ref: { taskId: a.task.id, attemptToken: claim.attemptToken },
      outcome: { status: 'retry', error: { message: 'again', retryable: true }, runAt: T0 },
    });
    const claims = await store.claim(claimRequest({ types: [type], max: 5 }));
    assert.equal(claims.length, 1);
  });
}
