// Store conformance, part 2: what processes share: notices, queue controls, settings, workers, keys, secrets, and
// concurrent claims.
import assert from 'node:assert/strict';
import { before, it } from 'node:test';
import { TaskNotFoundError } from '../../core/errors.ts';
import type { Claim, Store, StoreNotice } from '../store.ts';
import { appendOutput, appendProgress, claimOne, claimRequest, finishOne, newTask, type Suite, T0, waitFor } from './helpers.ts';

export function coordinationTests(suite: Suite): void {
  let store: Store;
  before(() => {
    store = suite.store();
  });
  const { target, freshType } = suite;

  it('notifies listeners of events, readiness and cancel requests', async () => {
    const type = freshType();
    const notices: StoreNotice[] = [];
    const stop = store.listen((n) => notices.push(n));
    try {
      const [{ task }] = await store.createTasks([newTask({ type })]);
      const claim = await claimOne(store, { types: [type] });
      await store.cancel(task.id, 'stop', T0 + 1);
      await waitFor(() =>
        notices.some((n) => n.kind === 'event' && n.event.taskId === task.id && n.event.kind === 'started') &&
        notices.some((n) => n.kind === 'ready' && (n.queue === 'default' || n.queue === null)) &&
        notices.some((n) => n.kind === 'cancel' && n.taskId === task.id),
      );
      const created = notices.find((n) => n.kind === 'event' && n.event.taskId === task.id && n.event.seq === 1);
      assert.ok(created?.kind === 'event' && created.queue === 'default' && created.event.kind === 'created');
      await finishOne(store, { ref: { taskId: task.id, attemptToken: claim.attemptToken }, outcome: { status: 'cancelled', reason: 'stop' } });
    } finally {
      stop();
    }
  });

  it('delivers another process\'s changes to this process\'s listeners', async () => {
    const other = await target.openAnother();
    const type = freshType();
    const seen: StoreNotice[] = [];
    const stop = store.listen((n) => seen.push(n));
    try {
      const [{ task }] = await other.createTasks([newTask({ type })]);
      await waitFor(() => seen.some((n) => n.kind === 'event' && n.event.taskId === task.id));
      await waitFor(() => seen.some((n) => n.kind === 'ready'));
    } finally {
      stop();
      await other.close();
    }
  });

  it('hands out nothing from a paused queue, and resumes', async () => {
    const type = freshType();
    const queue = `paused-${type}`;
    await store.createTasks([newTask({ type, queue }), newTask({ type })]);
    const paused = await store.updateQueueSettings(queue, { paused: true }, T0);
    assert.deepEqual({ name: paused.name, paused: paused.paused, maxConcurrency: paused.maxConcurrency, rateLimit: paused.rateLimit }, { name: queue, paused: true, maxConcurrency: null, rateLimit: null });
    const claims = await store.claim(claimRequest({ types: [type], max: 5 }));
    assert.deepEqual(claims.map((c) => c.task.queue), ['default']);
    await store.updateQueueSettings(queue, { paused: false }, T0);
    assert.deepEqual((await store.claim(claimRequest({ types: [type], max: 5 }))).map((c) => c.task.queue), [queue]);
    assert.ok((await store.listQueueSettings()).some((q) => q.name === queue && !q.paused));
  });

  it('never runs more than maxConcurrency of a queue at once', async () => {
    const type = freshType();
    const queue = `capped-${type}`;
    await store.updateQueueSettings(queue, { maxConcurrency: 2 }, T0);
    await store.createTasks(Array.from({ length: 5 }, () => newTask({ type, queue })));
    const first = await store.claim(claimRequest({ types: [type], max: 5 }));
    assert.equal(first.length, 2);
    const other = await target.openAnother();
    try {
      assert.equal((await other.claim(claimRequest({ types: [type], max: 5 }))).length, 0);
      await finishOne(store, { ref: { taskId: first[0].task.id, attemptToken: first[0].attemptToken }, outcome: { status: 'completed', result: null } });
      assert.equal((await other.claim(claimRequest({ types: [type], max: 5 }))).length, 1);
    } finally {
      await other.close();
    }
  });

  it('never starts more than rateLimit.count tasks of a queue in any window', async () => {
    const type = freshType();
    const queue = `limited-${type}`;
    await store.updateQueueSettings(queue, { rateLimit: { count: 3, intervalMs: 1000 } }, T0);
    await store.createTasks(Array.from({ length: 10 }, () => newTask({ type, queue })));
    const drain = async (now: number) => {
      const claims = await store.claim(claimRequest({ types: [type], max: 10, now }));
      await store.finish(claims.map((c) => ({ ref: { taskId: c.task.id, attemptToken: c.attemptToken }, outcome: { status: 'completed', result: null } })), now);
      return claims.length;
    };
    assert.equal(await drain(T0), 3);
    assert.equal(await drain(T0 + 500), 0);
    assert.equal(await drain(T0 + 999), 0);
    assert.equal(await drain(T0 + 1000), 3);
    assert.equal(await drain(T0 + 1500), 0);
    assert.equal(await drain(T0 + 2000), 3);
    await store.updateQueueSettings(queue, { rateLimit: null }, T0);
    assert.equal(await drain(T0 + 2001), 1);
  });

  it("never starts more than a type's rateLimit.count in any window, across queues and store instances", async () => {
    const type = freshType();
    const other = freshType();
    await store.putTypeSettings({ type, defaults: {}, payloadSchema: null, rateLimit: { count: 3, intervalMs: 1000 }, updatedAt: T0 });
    assert.deepEqual((await store.listTypeSettings()).find((t) => t.type === type)?.rateLimit, { count: 3, intervalMs: 1000 });
    // Interleaved across two queues: the type's limit holds whatever queue its tasks are in.
    await store.createTasks(Array.from({ length: 8 }, (_, i) => newTask({ type, queue: i % 2 ? `a-${type}` : `b-${type}` }, T0 - 100 + i)));
    await store.createTasks([newTask({ type: other }, T0 - 50), newTask({ type: other }, T0 - 49)]);
    const second = await target.openAnother();
    try {
      const drain = async (on: Store, now: number) => {
        const claims = await on.claim(claimRequest({ types: [type, other], max: 10, now }));
        await on.finish(claims.map((c) => ({ ref: { taskId: c.task.id, attemptToken: c.attemptToken }, outcome: { status: 'completed', result: null } })), now);
        return claims.map((c) => c.task.type);
      };
      const first = await drain(store, T0);
      assert.equal(first.filter((t) => t === type).length, 3);
      assert.equal(first.filter((t) => t === other).length, 2, 'other types are not held back');
      assert.deepEqual(await drain(second, T0 + 500), [], 'another store instance sees the same window');
      assert.deepEqual(await drain(store, T0 + 999), []);
      assert.deepEqual(await drain(second, T0 + 1000), [type, type, type]);
      assert.deepEqual(await drain(store, T0 + 1999), []);
      assert.deepEqual(await drain(store, T0 + 2000), [type, type]);
    } finally {
      await second.close();
    }
    await store.putTypeSettings({ type, defaults: {}, payloadSchema: null, rateLimit: null, updatedAt: T0 });
    assert.equal((await store.listTypeSettings()).find((t) => t.type === type)?.rateLimit ?? null, null);
    assert.equal(await store.deleteTypeSettings(type), true);
  });

  it("still counts a window's starts in a claim whose clock lags a later claim's (read before it waited for the lock)", async () => {
    const type = freshType();
    const typed = freshType();
    const queue = `lagging-${type}`;
    const limit = { count: 2, intervalMs: 1000 };
    await store.updateQueueSettings(queue, { rateLimit: limit }, T0);
    await store.putTypeSettings({ type: typed, defaults: {}, payloadSchema: null, rateLimit: limit, updatedAt: T0 });
    const batch = () => [newTask({ type, queue }), newTask({ type, queue }), newTask({ type: typed }), newTask({ type: typed })];
    const claimAt = async (now: number) => (await store.claim(claimRequest({ types: [type, typed], max: 10, now }))).length;
    await store.createTasks(batch());
    assert.equal(await claimAt(T0), 4);
    // Nothing is ready, but this claim's window has moved past T0's starts.
    assert.equal(await claimAt(T0 + 1500), 0);
    await store.createTasks(batch());
    assert.equal(await claimAt(T0 + 900), 0, "a claim whose clock reads T0 + 900 finds both windows full of T0's starts");
    assert.equal(await claimAt(T0 + 1500), 4);
  });

  it('shares a fair queue between keys: at most maxPerKey running per key, round-robin across keys', async () => {
    const type = freshType();
    const queue = `fair-${type}`;
    const settings = await store.updateQueueSettings(queue, { maxPerKey: 2 }, T0);
    assert.equal(settings.maxPerKey, 2);
    await store.createTasks(Array.from({ length: 20 }, (_, i) => newTask({ type, queue, owner: 'acme', payload: `a${i}` }, T0 + i)));
    await store.createTasks(Array.from({ length: 3 }, (_, i) => newTask({ type, queue, owner: 'bob', payload: `b${i}` }, T0 + 100 + i)));
    await store.createTasks([newTask({ type, queue, concurrencyKey: 'batch-7', owner: 'acme', payload: 'k0' }, T0 + 200)]);
    await store.createTasks([newTask({ type, queue, payload: 'none' }, T0 + 300)]);
    const payloads = (claims: Claim[]) => claims.map((c) => c.task.payload as string).sort();
    // Each key gets its first task before any key gets its second, whatever the backlog of one key.
    const round1 = await store.claim(claimRequest({ types: [type], max: 3, now: T0 + 1000 }));
    assert.deepEqual(payloads(round1), ['a0', 'b0', 'k0']);
    const round2 = await store.claim(claimRequest({ types: [type], max: 10, now: T0 + 1000 }));
    assert.deepEqual(payloads(round2), ['a1', 'b1', 'none']);
    const first = [...round1, ...round2];
    assert.deepEqual(await store.claim(claimRequest({ types: [type], max: 10, now: T0 + 1000 })), [], 'every key is at its limit');
    const b0 = first.find((c) => c.task.payload === 'b0') as Claim;
    await finishOne(store, { ref: { taskId: b0.task.id, attemptToken: b0.attemptToken }, outcome: { status: 'completed', result: null } });
    const next = await store.claim(claimRequest({ types: [type], max: 10, now: T0 + 1000 }));
    assert.deepEqual(next.map((c) => c.task.payload), ['b2']);
    // Another process claims under the same limits.
    const other = await target.openAnother();
    try {
      assert.deepEqual(await other.claim(claimRequest({ types: [type], max: 10, now: T0 + 1000 })), []);
    } finally {
      await other.close();
    }
    await store.updateQueueSettings(queue, { maxPerKey: null }, T0);
    assert.equal((await store.claim(claimRequest({ types: [type], max: 100, now: T0 + 1000 }))).length, 18, 'without maxPerKey, plain order');
  });

  it('stores type settings, subscriptions and schedules', async () => {
    const type = freshType();
    const settings = { type, defaults: { maxAttempts: 7, timeoutMs: 1000 }, payloadSchema: { type: 'object', required: ['city'] }, updatedAt: T0 };
    await store.putTypeSettings(settings);
    assert.deepEqual((await store.listTypeSettings()).find((t) => t.type === type), settings);
    assert.equal(await store.deleteTypeSettings(type), true);
    assert.equal(await store.deleteTypeSettings(type), false);

    const put = await store.putSubscription({ name: `sub-${type}`, pattern: 'orders.*.created', queue: 'default', type }, T0);
    assert.equal(put.created, true);
    const replaced = await store.putSubscription({ name: `sub-${type}`, pattern: 'orders.#', queue: 'q2', type }, T0 + 1);
    assert.equal(replaced.created, false);
    assert.deepEqual(replaced.subscription, { name: `sub-${type}`, pattern: 'orders.#', queue: 'q2', type, createdAt: T0, updatedAt: T0 + 1 });
    assert.ok((await store.listSubscriptions()).some((s) => s.name === `sub-${type}`));
    assert.equal(await store.deleteSubscription(`sub-${type}`), true);
    assert.equal(await store.deleteSubscription(`sub-${type}`), false);

    const definition = { name: `sched-${type}`, cron: '*/5 * * * *', timezone: 'Europe/Paris', task: { type, payload: { a: 1 } }, missedPolicy: 'skip' as const, paused: false, everyMs: null };
    const { schedule, created } = await store.putSchedule(definition, T0 + 60_000, T0);
    assert.equal(created, true);
    assert.deepEqual(schedule, { ...definition, nextRunAt: T0 + 60_000, lastRunAt: null, lastTaskId: null, createdAt: T0, updatedAt: T0 });
    assert.deepEqual((await store.dueSchedules(T0 + 59_999, 10)).filter((s) => s.name === definition.name), []);
    assert.equal((await store.dueSchedules(T0 + 60_000, 10)).filter((s) => s.name === definition.name).length, 1);
    assert.equal(await store.advanceSchedule(definition.name, T0 + 60_000, T0 + 120_000, { at: T0 + 60_000, taskId: 'task-1' }, T0 + 60_001), true);
    assert.equal(await store.advanceSchedule(definition.name, T0 + 60_000, T0 + 120_000, { at: T0 + 60_000, taskId: 'task-2' }, T0 + 60_002), false, 'compare-and-set');
    const advanced = await store.getSchedule(definition.name);
    assert.deepEqual([advanced?.nextRunAt, advanced?.lastRunAt, advanced?.lastTaskId], [T0 + 120_000, T0 + 60_000, 'task-1']);
    await store.putSchedule({ ...definition, paused: true }, T0 + 120_000, T0 + 2);
    assert.deepEqual((await store.dueSchedules(T0 + 999_999, 10)).filter((s) => s.name === definition.name), []);
    assert.equal(await store.deleteSchedule(definition.name), true);
    assert.equal(await store.getSchedule(definition.name), null);

    // A fixed-interval schedule: no cron, its interval kept as given.
    const interval = { ...definition, name: `every-${type}`, cron: null, everyMs: 30_000 };
    const put30s = await store.putSchedule(interval, T0 + 30_000, T0);
    assert.deepEqual(put30s.schedule, { ...interval, nextRunAt: T0 + 30_000, lastRunAt: null, lastTaskId: null, createdAt: T0, updatedAt: T0 });
    const asCron = await store.putSchedule({ ...definition, name: interval.name }, T0 + 60_000, T0 + 1);
    assert.deepEqual([asCron.schedule.cron, asCron.schedule.everyMs], [definition.cron, null], 'replaced by a cron schedule');
    assert.equal(await store.deleteSchedule(interval.name), true);
  });

  it('lists workers seen only from their claims, without overwriting what a registered worker said', async () => {
    const id = `claimer-${freshType()}`;
    const claimed = { id, host: null, pid: null, types: ['a'], queues: ['q1'], concurrency: 2, running: 0, startedAt: T0, lastSeenAt: T0 };
    await store.sawWorker(claimed);
    await store.sawWorker({ ...claimed, types: ['a', 'b'], lastSeenAt: T0 + 1000 });
    const [listed] = (await store.listWorkers(T0)).filter((w) => w.id === id);
    assert.deepEqual(listed, { ...claimed, types: ['a', 'b'], lastSeenAt: T0 + 1000, registered: false });
    const registered = { id, host: 'box-2', pid: 7, types: ['a', 'b', 'c'], queues: null, concurrency: 8, running: 1, startedAt: T0, lastSeenAt: T0 + 2000 };
    await store.registerWorker(registered);
    await store.sawWorker({ ...claimed, lastSeenAt: T0 + 3000 });
    const [after] = (await store.listWorkers(T0)).filter((w) => w.id === id);
    assert.deepEqual(after, { ...registered, lastSeenAt: T0 + 3000 });
    assert.equal(await store.removeWorkers(Number.NEGATIVE_INFINITY, id), 1);
  });

  it('deletes old finished tasks with their events, in batches, and nothing else', async () => {
    // Retention is global: this test works long before every other test's clock, so it sees only its own tasks.
    const type = freshType();
    const past = T0 - 1_000_000;
    await store.createTasks(Array.from({ length: 5 }, () => newTask({ type }, past)));
    const claims = await store.claim(claimRequest({ types: [type], max: 4, now: past }));
    await store.finish(claims.slice(0, 3).map((c) => ({ ref: { taskId: c.task.id, attemptToken: c.attemptToken }, outcome: { status: 'completed', result: null } })), past + 10);
    assert.equal(await store.deleteFinishedTasks('failed', past + 11, 10), 0);
    let deleted = 0;
    for (let n: number; (n = await store.deleteFinishedTasks('completed', past + 11, 2)) > 0; ) deleted += n;
    assert.equal(deleted, 3);
    const left = (await store.listTasks({ type, limit: 10 })).tasks.map((t) => t.status).sort();
    assert.deepEqual(left, ['queued', 'running']);
    await assert.rejects(store.listEvents(claims[0].task.id, 0, 10), TaskNotFoundError);
  });

  it('keeps a registry of live workers', async () => {
    const id = `worker-${freshType()}`;
    const info = { id, host: 'box-1', pid: 42, types: ['a', 'b'], queues: null, concurrency: 8, running: 3, startedAt: T0, lastSeenAt: T0 + 5000 };
    await store.registerWorker(info);
    await store.registerWorker({ ...info, running: 5, lastSeenAt: T0 + 10_000 });
    const seen = (await store.listWorkers(T0 + 10_000)).filter((w) => w.id === id);
    assert.deepEqual(seen, [{ ...info, running: 5, lastSeenAt: T0 + 10_000 }]);
    assert.deepEqual((await store.listWorkers(T0 + 10_001)).filter((w) => w.id === id), [], 'a silent worker drops off');
    await store.registerWorker({ ...info, id: `${id}-q`, queues: ['emails'], lastSeenAt: T0 + 20_000 });
    assert.deepEqual((await store.listWorkers(T0)).find((w) => w.id === `${id}-q`)?.queues, ['emails']);
    assert.ok((await store.removeWorkers(T0 + 15_000)) >= 1);
    assert.deepEqual((await store.listWorkers(0)).filter((w) => w.id === id), []);
    assert.equal(await store.removeWorkers(Number.NEGATIVE_INFINITY, `${id}-q`), 1);
  });

  it('stores API keys by id with the hash of their secret, and revokes them', async () => {
    const id = `key-${freshType()}`;
    const key = { id, name: 'ci', owner: 'acme', scopes: ['tasks:read', 'tasks:write'], createdAt: T0, revokedAt: null };
    await store.createApiKey(key, 'hash-of-secret');
    assert.deepEqual(await store.findApiKey(id), { key, secretHash: 'hash-of-secret' });
    assert.ok((await store.listApiKeys()).some((k) => k.id === id && !('secretHash' in k)));
    await assert.rejects(store.createApiKey(key, 'other'), 'ids are unique');
    assert.equal(await store.revokeApiKey(id, T0 + 1), true);
    assert.equal(await store.revokeApiKey(id, T0 + 2), false);
    assert.equal((await store.findApiKey(id))?.key.revokedAt, T0 + 1);
    assert.equal(await store.findApiKey('no-such-key'), null);
  });

  it('creates a named secret once, the same for every process however many ask at once', async () => {
    const name = `secret-${freshType()}`;
    const others = [await target.openAnother(), await target.openAnother()];
    try {
      const values = await Promise.all([store, ...others, store, ...others].map((s) => s.secret(name)));
      assert.match(values[0], /^[A-Za-z0-9_-]{43}$/, '256 bits, base64url');
      assert.ok(values.every((v) => v === values[0]), `one value for all: ${values.join(', ')}`);
      assert.equal(await others[0].secret(name), values[0], 'and it stays');
      assert.notEqual(await store.secret(`${name}-2`), values[0], 'each name has its own');
    } finally {
      for (const s of others) await s.close();
    }
  });

  it('never gives one task to two concurrent claimers (many claimers, thousands of tasks)', async () => {
    const type = freshType();
    const total = 3000;
    for (let i = 0; i < total; i += 500) {
      await store.createTasks(Array.from({ length: 500 }, (_, k) => newTask({ type, payload: i + k })));
    }
    const stores = [store, await target.openAnother(), await target.openAnother()];
    const seen = new Map<string, number>();
    try {
      await Promise.all(
        stores.flatMap((s, si) =>
          Array.from({ length: 4 }, async (_, li) => {
            for (;;) {
              const claims = await s.claim(claimRequest({ types: [type], max: 7, workerId: `w${si}-${li}`, now: T0 + 1 }));
              if (claims.length === 0) return;
              for (const c of claims) seen.set(c.task.id, (seen.get(c.task.id) ?? 0) + 1);
              const results = await s.finish(
                claims.map((c) => ({ ref: { taskId: c.task.id, attemptToken: c.attemptToken }, outcome: { status: 'completed', result: null } })),
                T0 + 2,
              );
              assert.ok(results.every((r) => r.ok));
            }
          }),
        ),
      );
    } finally {
      for (const s of stores.slice(1)) await s.close();
    }
    assert.equal(seen.size, total);
    assert.ok([...seen.values()].every((n) => n === 1), 'a task was claimed twice');
    const completed = await store.listTasks({ type, status: 'completed', limit: 1000 });
    assert.equal(completed.tasks.length, 1000);
  });

  it('announces every event exactly as it stores it, for every kind of change', async () => {
    const type = freshType();
    const heard: StoreNotice[] = [];
    const stop = store.listen((n) => heard.push(n));
    try {
      const [{ task: a }, { task: b }, { task: c }] = await store.createTasks([newTask({ type }), newTask({ type }), newTask({ type })]);
      const claims = await store.claim(claimRequest({ types: [type], max: 3 }));
      const ref = (id: string) => {
        const claim = claims.find((x) => x.task.id === id);
        assert.ok(claim);
        return { taskId: id, attemptToken: claim.attemptToken };
      };
      await appendProgress(store, ref(a.id), { percent: 50, message: 'half' }, T0);
      await appendOutput(store, ref(a.id), 'a line', T0);
      const results = await store.finish(
        [
          { ref: ref(a.id), outcome: { status: 'completed', result: { n: 1 } } },
          { ref: ref(b.id), outcome: { status: 'retry', error: { message: 'x', retryable: true }, runAt: T0 + 5 } },
          { ref: ref(c.id), outcome: { status: 'cancelled', reason: 'asked' } },
        ],
        T0,
      );
      assert.ok(results.every((r) => r.ok));
      await store.retry(c.id, T0);
      await store.cancel(c.id, 'again', T0);
      await store.cancel(b.id, 'scheduled', T0);
      for (const id of [a.id, b.id, c.id]) {
        const stored = await store.listEvents(id, 0, 100);
        await waitFor(() => heard.filter((n) => n.kind === 'event' && n.event.taskId === id).length >= stored.length);
        const announced = heard.flatMap((n) => (n.kind === 'event' && n.event.taskId === id ? [n.event] : []));
        assert.deepEqual(announced, stored);
      }
    } finally {
      stop();
    }
  });
}
