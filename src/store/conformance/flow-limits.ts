// Store conformance, part 4: flow control in the claim (store/flow-limits.ts): per-key throttles, cost limits on queues and
// types (per key or not), reported costs, and what heldBack shows.
import assert from 'node:assert/strict';
import { before, it } from 'node:test';
import type { Claim, Store } from '../store.ts';
import { claimRequest, newTask, type Suite, T0 } from './helpers.ts';

export function flowLimitTests(suite: Suite): void {
  let store: Store;
  before(() => {
    store = suite.store();
  });
  const { target, freshType } = suite;

  const complete = (on: Store, claims: Claim[], now: number, reportedCost?: number) =>
    on.finish(
      claims.map((c) => ({
        ref: { taskId: c.task.id, attemptToken: c.attemptToken },
        outcome: { status: 'completed' as const, result: null },
        ...(reportedCost === undefined ? {} : { reportedCost }),
      })),
      now,
    );
  const drain = async (on: Store, types: string[], now: number, max = 20, reportedCost?: number) => {
    const claims = await on.claim(claimRequest({ types, max, now }));
    await complete(on, claims, now, reportedCost);
    return claims;
  };

  it('starts at most throttle.limit tasks of a key (per owner) in any window, across store instances; other keys go on', async () => {
    const type = freshType();
    const throttle = (key: string) => ({ key, limit: 3, periodMs: 1000 });
    await store.createTasks(Array.from({ length: 8 }, (_, i) => newTask({ type, throttle: throttle('k') }, T0 - 100 + i)));
    await store.createTasks([newTask({ type, throttle: throttle('j') }, T0 - 50), newTask({ type, owner: 'tenant-b', throttle: throttle('k') }, T0 - 49)]);
    const stored = await store.getTask((await store.createTasks([newTask({ type: freshType(), throttle: throttle('x'), cost: 7 })]))[0].task.id);
    assert.deepEqual({ throttle: stored?.throttle, cost: stored?.cost, reportedCost: stored?.reportedCost }, { throttle: throttle('x'), cost: 7, reportedCost: null });
    const second = await target.openAnother();
    try {
      const keys = (claims: Claim[]) => claims.map((c) => `${c.task.owner ?? ''}/${c.task.throttle?.key}`).sort();
      assert.deepEqual(keys(await drain(store, [type], T0)), ['/j', '/k', '/k', '/k', 'tenant-b/k']);
      assert.deepEqual(keys(await drain(second, [type], T0 + 500)), [], 'another store instance sees the same window');
      assert.deepEqual(keys(await drain(store, [type], T0 + 999)), []);
      assert.deepEqual(keys(await drain(second, [type], T0 + 1000)), ['/k', '/k', '/k']);
      assert.deepEqual(keys(await drain(store, [type], T0 + 2000)), ['/k', '/k']);
    } finally {
      await second.close();
    }
  });

  it('a throttled backlog ahead of other keys does not hold them back, even claiming one at a time', async () => {
    const type = freshType();
    await store.createTasks(Array.from({ length: 30 }, (_, i) => newTask({ type, throttle: { key: 'busy', limit: 1, periodMs: 60_000 } }, T0 - 100 + i)));
    await store.createTasks([newTask({ type }, T0 - 10), newTask({ type, throttle: { key: 'quiet', limit: 1, periodMs: 60_000 } }, T0 - 9)]);
    const got: string[] = [];
    for (let i = 0; i < 4; i++) for (const c of await drain(store, [type], T0 + i, 1)) got.push(c.task.throttle?.key ?? '-');
    assert.deepEqual(got, ['busy', '-', 'quiet']);
  });

  it("starts a queue's tasks only while their costs fit its budget; a reported cost replaces the declared one", async () => {
    const type = freshType();
    const queue = `cost-${type}`;
    const settings = await store.updateQueueSettings(queue, { costLimit: { budget: 10_000, periodMs: 1000, perKey: false } }, T0);
    assert.deepEqual(settings.costLimit, { budget: 10_000, periodMs: 1000, perKey: false });
    const kept = await store.updateQueueSettings(queue, { maxConcurrency: null }, T0);
    assert.deepEqual(kept.costLimit, settings.costLimit, 'a patch without costLimit keeps it');
    assert.deepEqual((await store.listQueueSettings()).find((q) => q.name === queue)?.costLimit, settings.costLimit);
    await store.createTasks(Array.from({ length: 10 }, (_, i) => newTask({ type, queue, cost: 3000 }, T0 - 100 + i)));
    const first = await store.claim(claimRequest({ types: [type], max: 20, now: T0 }));
    assert.equal(first.length, 3, '3 × 3000 fit in 10,000; a fourth does not');
    assert.equal((await drain(store, [type], T0 + 500)).length, 0);
    // They used 1000 each: 3000 of the window is taken, so two more fit now (9000).
    await complete(store, first, T0 + 550, 1000);
    assert.equal((await store.getTask(first[0].task.id))?.reportedCost, 1000);
    const second = await drain(store, [type], T0 + 600);
    assert.equal(second.length, 2);
    // At T0 + 1000 the first three left the window: 6000 taken, one more fits.
    assert.equal((await drain(store, [type], T0 + 1000)).length, 1);
    // Reporting more than declared takes more of the window: 9000 each, so nothing fits until they leave it.
    const another = await target.openAnother();
    try {
      // At T0 + 1600 only the start of T0 + 1000 (3000) is in the window: two fit, and report 9000 each.
      assert.equal((await drain(another, [type], T0 + 1600, 20, 9000)).length, 2);
      assert.equal((await drain(another, [type], T0 + 2100)).length, 0, 'the starts of T0 + 1600 count 18,000 now');
      assert.equal((await drain(store, [type], T0 + 2600)).length, 2, 'the last two');
    } finally {
      await another.close();
    }
    await store.updateQueueSettings(queue, { costLimit: null }, T0);
    assert.equal((await drain(store, [type], T0 + 2601)).length, 0, 'none left');
  });

  it('takes no smaller task past one that does not fit, and lets one larger than the budget run alone', async () => {
    const type = freshType();
    const queue = `cost-${type}`;
    await store.updateQueueSettings(queue, { costLimit: { budget: 10, periodMs: 1000, perKey: false } }, T0);
    await store.createTasks([6, 6, 1].map((cost, i) => newTask({ type, queue, cost }, T0 - 100 + i)));
    assert.deepEqual((await drain(store, [type], T0)).map((c) => c.task.cost), [6]);
    assert.deepEqual((await drain(store, [type], T0 + 1000)).map((c) => c.task.cost), [6, 1]);
    await store.createTasks([newTask({ type, queue, cost: 50 }, T0 + 1500), newTask({ type, queue }, T0 + 1501)]);
    assert.deepEqual((await drain(store, [type], T0 + 1600)).map((c) => c.task.cost), [], 'not alone in its window yet');
    assert.deepEqual((await drain(store, [type], T0 + 2000)).map((c) => c.task.cost), [50]);
    assert.deepEqual((await drain(store, [type], T0 + 2999)).map((c) => c.task.cost), []);
    assert.deepEqual((await drain(store, [type], T0 + 3000)).map((c) => c.task.cost), [null], 'a task without a cost counts 1');
  });

  it("applies a type's cost limit per concurrencyKey across queues, and shows what is held back", async () => {
    const type = freshType();
    await store.putTypeSettings({ type, defaults: {}, payloadSchema: null, costLimit: { budget: 100, periodMs: 1000, perKey: true }, updatedAt: T0 });
    assert.deepEqual((await store.listTypeSettings()).find((t) => t.type === type)?.costLimit, { budget: 100, periodMs: 1000, perKey: true });
    const queue = `q-${type}`;
    // b's first task lies in another queue: the type's window counts it all the same.
    const spread: [string, string][] = [['a', queue], ['a', queue], ['a', queue], ['b', `${queue}-2`], ['b', queue]];
    await store.createTasks(spread.map(([key, q], i) => newTask({ type, queue: q, concurrencyKey: key, cost: 60 }, T0 - 100 + i)));
    await store.createTasks(Array.from({ length: 3 }, (_, i) => newTask({ type, queue, throttle: { key: 'slow', limit: 1, periodMs: 10_000 } }, T0 - 50 + i)));
    const claims = await drain(store, [type], T0);
    assert.deepEqual(claims.map((c) => c.task.concurrencyKey ?? c.task.throttle?.key).sort(), ['a', 'b', 'slow']);
    const held = await store.heldBack(queue);
    assert.deepEqual(
      held.map((h) => `${h.reason}:${h.key}:${h.tasks}`).sort(),
      ['over-budget:a:2', 'over-budget:b:1', 'throttled:slow:2'],
    );
    assert.deepEqual(await store.heldBack(`nothing-${type}`), []);
    await store.putTypeSettings({ type, defaults: {}, payloadSchema: null, costLimit: null, updatedAt: T0 });
    assert.equal((await store.listTypeSettings()).find((t) => t.type === type)?.costLimit ?? null, null);
  });
}
