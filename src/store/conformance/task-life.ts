// Store conformance, part 1: a task's life from createTasks to deleteTask, and reading tasks back.
import assert from 'node:assert/strict';
import { before, it } from 'node:test';
import { InvalidStateError, StaleAttemptError, TaskNotFoundError } from '../../core/errors.ts';
import { uuidv7 } from '../../core/ids.ts';
import type { Task } from '../../core/task.ts';
import type { Store, StoreNotice } from '../store.ts';
import {
  appendOutput,
  appendProgress,
  claimOne,
  claimRequest,
  expectHistoryAsAnnounced,
  finishOne,
  kinds,
  LEASE,
  newTask,
  type Suite,
  T0,
} from './helpers.ts';

export function taskLifeTests(suite: Suite): void {
  let store: Store;
  before(() => {
    store = suite.store();
  });
  const { freshType } = suite;

  it('creates a queued task with a created event and defaults', async () => {
    const type = freshType();
    const [{ task, created }] = await store.createTasks([newTask({ type, payload: { a: [1, 'x'] } })]);
    assert.equal(created, true);
    assert.equal(task.status, 'queued');
    assert.deepEqual(task.payload, { a: [1, 'x'] });
    assert.equal(task.attempts, 0);
    assert.equal(task.maxAttempts, 3);
    assert.equal(task.lastEventSeq, 1);
    assert.deepEqual(await store.getTask(task.id), task);
    const events = await store.listEvents(task.id, 0, 10);
    assert.deepEqual(
      events.map((e) => [e.seq, e.kind]),
      [[1, 'created']],
    );
  });

  it('reads back what rows keep as usual values: the default backoff, priority 0, due when made, changed when started', async () => {
    const type = freshType();
    const custom = { type: 'fixed', delayMs: 250, maxDelayMs: 250, jitter: 0 } as const;
    const [plain, tuned, later] = await store.createTasks([
      newTask({ type }),
      newTask({ type, backoff: custom, priority: 5 }),
      newTask({ type, delayMs: 60_000, backoff: { jitter: 0.5 } }),
    ]);
    assert.deepEqual(
      [plain.task, tuned.task, later.task].map((t) => [t.backoff, t.priority, t.runAt - t.createdAt, t.updatedAt - t.createdAt]),
      [
        [{ type: 'exponential', delayMs: 1000, maxDelayMs: 3_600_000, jitter: 0.2 }, 0, 0, 0],
        [custom, 5, 0, 0],
        [{ type: 'exponential', delayMs: 1000, maxDelayMs: 3_600_000, jitter: 0.5 }, 0, 60_000, 0],
      ],
    );
    for (const { task } of [plain, tuned, later]) assert.deepEqual(await store.getTask(task.id), task);
    const claims = await store.claim(claimRequest({ types: [type], max: 3, now: T0 + 70 }));
    assert.deepEqual(claims.map((c) => [c.task.id, c.task.startedAt, c.task.updatedAt, c.task.runAt, c.task.cancelRequested]), [
      [tuned.task.id, T0 + 70, T0 + 70, T0, false],
      [plain.task.id, T0 + 70, T0 + 70, T0, false],
    ]);
    for (const claim of claims) assert.deepEqual(await store.getTask(claim.task.id), claim.task);
  });

  it('creates a batch atomically and in order', async () => {
    const type = freshType();
    const specs = Array.from({ length: 50 }, (_, i) => newTask({ type, payload: i }));
    const results = await store.createTasks(specs);
    assert.deepEqual(
      results.map((r) => r.task.payload),
      specs.map((_, i) => i),
    );
    // A batch with one row that cannot be stored (its id is taken) inserts nothing at all.
    const broken = [newTask({ type }), { ...newTask({ type }), id: results[0].task.id }];
    await assert.rejects(store.createTasks(broken));
    assert.equal((await store.listTasks({ type, limit: 1000 })).tasks.length, 50);
  });

  it('returns the existing task for a repeated idempotency key, per owner', async () => {
    const type = freshType();
    const key = `k-${type}`;
    const [first] = await store.createTasks([newTask({ type, idempotencyKey: key, payload: 1 })]);
    const [again] = await store.createTasks([newTask({ type, idempotencyKey: key, payload: 2 })]);
    assert.equal(again.created, false);
    assert.equal(again.task.id, first.task.id);
    assert.equal(again.task.payload, 1);
    const [otherOwner] = await store.createTasks([newTask({ type, idempotencyKey: key, owner: 'bob' })]);
    assert.equal(otherOwner.created, true);
    const inOneBatch = await store.createTasks([
      newTask({ type, idempotencyKey: `${key}-b` }),
      newTask({ type, idempotencyKey: `${key}-b` }),
    ]);
    assert.equal(inOneBatch[1].created, false);
    assert.equal(inOneBatch[1].task.id, inOneBatch[0].task.id);
    assert.equal((await store.listTasks({ type, limit: 100 })).tasks.length, 3);
  });

  it('claims by priority, then FIFO', async () => {
    const type = freshType();
    const order = [0, 5, 0, 10, 5, 0];
    for (const [i, priority] of order.entries()) {
      await store.createTasks([newTask({ type, priority, payload: i }, T0 + i)]);
    }
    const claims = await store.claim(claimRequest({ types: [type], max: 10, now: T0 + 100 }));
    assert.deepEqual(
      claims.map((c) => c.task.payload),
      [3, 1, 4, 0, 2, 5],
    );
    for (const c of claims) {
      assert.equal(c.task.status, 'running');
      assert.equal(c.task.attempts, 1);
      assert.equal(c.leaseExpiresAt, T0 + 100 + LEASE);
      assert.ok(c.attemptToken.length >= 16);
    }
    assert.equal(new Set(claims.map((c) => c.attemptToken)).size, claims.length, 'each claim has its own token');
    assert.deepEqual(await store.claim(claimRequest({ types: [type], max: 10, now: T0 + 100 })), []);
  });

  it('merges priorities across the types of one claim', async () => {
    const [a, b] = [freshType(), freshType()];
    await store.createTasks([newTask({ type: a, priority: 1, payload: 'a1' }, T0)]);
    await store.createTasks([newTask({ type: b, priority: 2, payload: 'b2' }, T0 + 1)]);
    await store.createTasks([newTask({ type: a, priority: 2, payload: 'a2' }, T0 + 2)]);
    const claims = await store.claim(claimRequest({ types: [a, b], max: 2, now: T0 + 10 }));
    assert.deepEqual(
      claims.map((c) => c.task.payload),
      ['b2', 'a2'],
    );
  });

  it('claims a type named twice in one request as if named once', async () => {
    const type = freshType();
    await store.createTasks(Array.from({ length: 6 }, (_, i) => newTask({ type, payload: i })));
    const claims = await store.claim(claimRequest({ types: [type, type], max: 4 }));
    assert.deepEqual(claims.map((c) => c.task.payload), [0, 1, 2, 3]);
  });

  it('claims only the requested types and queues', async () => {
    const type = freshType();
    await store.createTasks([newTask({ type, queue: 'emails' }), newTask({ type, queue: 'reports' })]);
    assert.deepEqual(await store.claim(claimRequest({ types: [freshType()], max: 5 })), []);
    const claims = await store.claim(claimRequest({ types: [type], queues: ['reports'], max: 5 }));
    assert.deepEqual(
      claims.map((c) => c.task.queue),
      ['reports'],
    );
  });

  it('holds delayed tasks until runAt, then claims them', async () => {
    const type = freshType();
    const [{ task }] = await store.createTasks([newTask({ type, delayMs: 5000 })]);
    assert.equal(task.status, 'scheduled');
    assert.equal(task.runAt, T0 + 5000);
    const next = await store.nextScheduledAt(null);
    assert.ok(next !== null && next <= T0 + 5000);
    assert.equal(await store.nextScheduledAt(['no-such-queue']), null);
    assert.deepEqual(await store.claim(claimRequest({ types: [type], now: T0 + 4999 })), []);
    const claim = await claimOne(store, { types: [type], now: T0 + 5000 });
    assert.equal(claim.task.id, task.id);
  });

  it('appends a batch of progress and output: one seq each in order per attempt, a stale attempt refused alone', async () => {
    const type = freshType();
    await store.createTasks([newTask({ type }), newTask({ type })]);
    const [a, b] = await store.claim(claimRequest({ types: [type], max: 2 }));
    const refA = { taskId: a.task.id, attemptToken: a.attemptToken };
    const refB = { taskId: b.task.id, attemptToken: b.attemptToken };
    const stale = { taskId: b.task.id, attemptToken: 'not-the-token' };
    const results = await store.appendAttemptEvents(
      [
        { ref: refA, chunk: 'a1' },
        { ref: refB, progress: { percent: 10 } },
        { ref: stale, chunk: 'never' },
        { ref: refA, progress: { percent: 20, message: 'a' } },
        { ref: refA, chunk: 'a"2\\' },
        { ref: refB, chunk: 'b1' },
      ],
      T0 + 1,
    );
    const seqs = results.map((r) => (r.ok ? r.event.seq : r.error.constructor.name));
    assert.deepEqual(seqs, [3, 3, 'StaleAttemptError', 4, 5, 4]);
    const events = await store.listEvents(a.task.id, 2, 10);
    assert.deepEqual(events.map((e) => [e.seq, e.kind, e.data]), [
      [3, 'output', { chunk: 'a1' }],
      [4, 'progress', { percent: 20, message: 'a' }],
      [5, 'output', { chunk: 'a"2\\' }],
    ]);
    assert.deepEqual((await store.getTask(a.task.id))?.progress, { percent: 20, message: 'a' });
    assert.deepEqual((await store.getTask(b.task.id))?.progress, { percent: 10 });
    assert.equal((await store.getTask(b.task.id))?.lastEventSeq, 4);
    const [gone] = await store.appendAttemptEvents([{ ref: { taskId: 'no-such-task', attemptToken: 'x' }, chunk: 'c' }], T0 + 2);
    assert.ok(!gone.ok && gone.error instanceof TaskNotFoundError);
  });

  it('stores every event as it announced it: immediate and scheduled tasks, null and object results', async () => {
    // A backend may keep an event in the task row rather than store it (docs/postgres.md); the history must not tell.
    const type = freshType();
    const heard: StoreNotice[] = [];
    const stop = store.listen((n) => heard.push(n));
    try {
      const [{ task: now }, { task: later }, { task: nothing }] = await store.createTasks([
        newTask({ type, payload: { n: 1 } }),
        newTask({ type, runAt: T0 + 5 }),
        newTask({ type }),
      ]);
      const claims = await store.claim(claimRequest({ types: [type], max: 3, now: T0 + 10 }));
      const ref = (id: string) => {
        const claim = claims.find((c) => c.task.id === id);
        assert.ok(claim);
        return { taskId: id, attemptToken: claim.attemptToken };
      };
      await appendOutput(store, ref(now.id), 'line', T0 + 11);
      await store.finish(
        [
          { ref: ref(now.id), outcome: { status: 'completed', result: { ok: [1, 2] } } },
          { ref: ref(later.id), outcome: { status: 'completed', result: 'text' } },
          { ref: ref(nothing.id), outcome: { status: 'completed', result: null } },
        ],
        T0 + 12,
      );
      for (const task of [now, later, nothing]) {
        const stored = await expectHistoryAsAnnounced(store, heard, task.id);
        assert.equal(stored.at(-1)?.kind, 'completed');
      }
      assert.deepEqual((await store.listEvents(nothing.id, 0, 100)).at(-1)?.data, { result: null });
      assert.deepEqual((await store.listEvents(later.id, 0, 1))[0]?.data, { status: 'scheduled', runAt: T0 + 5 });
    } finally {
      stop();
    }
  });

  it('completes: result stored, events in order, token spent', async () => {
    const type = freshType();
    await store.createTasks([newTask({ type })]);
    const claim = await claimOne(store, { types: [type] });
    const ref = { taskId: claim.task.id, attemptToken: claim.attemptToken };
    const progress = await appendProgress(store, ref, { percent: 40, message: 'half', phase: 'p', data: { n: 1 } }, T0 + 1);
    assert.equal(progress.seq, 3);
    const output = await appendOutput(store, ref, 'chunk-1', T0 + 2);
    assert.deepEqual(output.data, { chunk: 'chunk-1' });
    const done = await finishOne(store, { ref, outcome: { status: 'completed', result: { ok: true } } }, T0 + 3);
    assert.equal(done.status, 'completed');
    assert.deepEqual(done.result, { ok: true });
    assert.deepEqual(done.progress, { percent: 40, message: 'half', phase: 'p', data: { n: 1 } });
    assert.equal(done.completedAt, T0 + 3);
    assert.equal(done.startedAt, T0);
    assert.deepEqual(await kinds(store, done.id), ['created', 'started', 'progress', 'output', 'completed']);
    const events = await store.listEvents(done.id, 2, 10);
    assert.deepEqual(
      events.map((e) => e.seq),
      [3, 4, 5],
    );
    await assert.rejects(appendProgress(store, ref, { percent: 50 }, T0 + 4), StaleAttemptError);
    await assert.rejects(store.heartbeat(ref, LEASE, T0 + 4), StaleAttemptError);
    const [again] = await store.finish([{ ref, outcome: { status: 'completed', result: 2 } }], T0 + 5);
    assert.equal(again.ok, false);
    assert.ok(!again.ok && again.error instanceof StaleAttemptError);
    assert.deepEqual((await store.getTask(done.id))?.result, { ok: true });
  });

  it('retries with a delay, then dead-letters when the engine says so', async () => {
    const type = freshType();
    await store.createTasks([newTask({ type, maxAttempts: 2 })]);
    const first = await claimOne(store, { types: [type] });
    const error = { message: 'boom', code: 'E1', retryable: true };
    const retried = await finishOne(
      store,
      { ref: { taskId: first.task.id, attemptToken: first.attemptToken }, outcome: { status: 'retry', error, runAt: T0 + 1000 } },
      T0 + 10,
    );
    assert.equal(retried.status, 'scheduled');
    assert.equal(retried.runAt, T0 + 1000);
    assert.deepEqual(retried.error, error);
    assert.deepEqual(await store.claim(claimRequest({ types: [type], now: T0 + 999 })), []);
    const second = await claimOne(store, { types: [type], now: T0 + 1000 });
    assert.equal(second.task.attempts, 2);
    assert.notEqual(second.attemptToken, first.attemptToken);
    const failed = await finishOne(
      store,
      { ref: { taskId: second.task.id, attemptToken: second.attemptToken }, outcome: { status: 'failed', error } },
      T0 + 1001,
    );
    assert.equal(failed.status, 'failed');
    assert.equal(failed.completedAt, T0 + 1001);
    assert.deepEqual(await kinds(store, failed.id), ['created', 'started', 'retrying', 'started', 'failed']);
    const dead = await store.listTasks({ type, status: 'failed', limit: 10 });
    assert.deepEqual(
      dead.tasks.map((t) => t.id),
      [failed.id],
    );
  });

  it('queues a retry due now at once', async () => {
    const type = freshType();
    await store.createTasks([newTask({ type })]);
    const first = await claimOne(store, { types: [type] });
    const task = await finishOne(store, {
      ref: { taskId: first.task.id, attemptToken: first.attemptToken },
      outcome: { status: 'retry', error: { message: 'x', retryable: true }, runAt: T0 },
    });
    assert.equal(task.status, 'queued');
    await claimOne(store, { types: [type] });
  });

  it('refunds the attempt of a released task', async () => {
    const type = freshType();
    await store.createTasks([newTask({ type, maxAttempts: 1 })]);
    const first = await claimOne(store, { types: [type] });
    const released = await finishOne(store, {
      ref: { taskId: first.task.id, attemptToken: first.attemptToken },
      outcome: { status: 'retry', error: { message: 'shutdown', retryable: true }, runAt: T0, refundAttempt: true },
    });
    assert.equal(released.status, 'queued');
    assert.equal(released.attempts, 0);
    assert.equal((await claimOne(store, { types: [type] })).task.attempts, 1);
  });

  it('refuses a stale attempt after its lease expired and the task was claimed again', async () => {
    const type = freshType();
    await store.createTasks([newTask({ type })]);
    const first = await claimOne(store, { types: [type] });
    const ref1 = { taskId: first.task.id, attemptToken: first.attemptToken };
    assert.deepEqual(await store.expiredLeases(T0 + LEASE - 1, 100).then((l) => l.filter((x) => x.task.type === type)), []);
    const expired = (await store.expiredLeases(T0 + LEASE + 1, 1000)).filter((x) => x.task.type === type);
    assert.equal(expired.length, 1);
    assert.equal(expired[0].attemptToken, first.attemptToken);
    // A heartbeat that renews the lease first makes the sweeper's guarded finish a no-op.
    await store.heartbeat(ref1, LEASE, T0 + LEASE);
    const [guarded] = await store.finish(
      [{ ref: ref1, outcome: { status: 'retry', error: { message: 'lease expired', retryable: true }, runAt: T0 }, onlyIfLeaseExpired: true }],
      T0 + LEASE + 1,
    );
    assert.equal(guarded.ok, false);
    const [swept] = await store.finish(
      [{ ref: ref1, outcome: { status: 'retry', error: { message: 'lease expired', retryable: true }, runAt: T0 }, onlyIfLeaseExpired: true }],
      T0 + 2 * LEASE + 1,
    );
    assert.ok(swept.ok);
    const second = await claimOne(store, { types: [type], now: T0 + 2 * LEASE + 2, workerId: 'w2' });
    const ref2 = { taskId: second.task.id, attemptToken: second.attemptToken };
    await assert.rejects(appendProgress(store, ref1, { percent: 99 }, T0), StaleAttemptError);
    await assert.rejects(appendOutput(store, ref1, 'late', T0), StaleAttemptError);
    await assert.rejects(store.heartbeat(ref1, LEASE, T0), StaleAttemptError);
    const [late] = await store.finish([{ ref: ref1, outcome: { status: 'completed', result: 'stale' } }], T0);
    assert.equal(late.ok, false);
    const done = await finishOne(store, { ref: ref2, outcome: { status: 'completed', result: 'fresh' } });
    assert.equal(done.result, 'fresh');
    assert.equal(done.attempts, 2);
  });

  it('judges each finish request of a batch on its own', async () => {
    const type = freshType();
    await store.createTasks([newTask({ type }), newTask({ type })]);
    const claims = await store.claim(claimRequest({ types: [type], max: 2 }));
    const results = await store.finish(
      [
        { ref: { taskId: claims[0].task.id, attemptToken: 'not-the-token' }, outcome: { status: 'completed', result: 1 } },
        { ref: { taskId: claims[1].task.id, attemptToken: claims[1].attemptToken }, outcome: { status: 'completed', result: 2 } },
        { ref: { taskId: uuidv7(), attemptToken: 'x' }, outcome: { status: 'completed', result: 3 } },
      ],
      T0 + 1,
    );
    assert.equal(results[0].ok, false);
    assert.ok(!results[0].ok && results[0].error instanceof StaleAttemptError);
    assert.ok(results[1].ok && results[1].task.status === 'completed');
    assert.equal((await store.getTask(claims[1].task.id))?.result, 2);
    assert.ok(!results[2].ok && results[2].error instanceof TaskNotFoundError);
    assert.equal((await store.getTask(claims[0].task.id))?.status, 'running');
  });

  it('completes a batch of plain completions as one by one: results, events, a spent token refused', async () => {
    const type = freshType();
    await store.createTasks([newTask({ type }), newTask({ type }), newTask({ type })]);
    const claims = await store.claim(claimRequest({ types: [type], max: 3 }));
    const refs = claims.map((c) => ({ taskId: c.task.id, attemptToken: c.attemptToken }));
    const results = await store.finish(
      [
        { ref: refs[0], outcome: { status: 'completed', result: { ok: true, n: [1, 2] } } },
        { ref: refs[1], outcome: { status: 'completed', result: null } },
        { ref: refs[2], outcome: { status: 'completed', result: 'text' } },
      ],
      T0 + 7,
    );
    assert.deepEqual(
      results.map((r) => r.ok && [r.task.id, r.task.status, r.task.attempts, r.task.startedAt, r.task.lastEventSeq]),
      refs.map((ref) => [ref.taskId, 'completed', 1, T0, 3]),
    );
    const stored = await Promise.all(refs.map((ref) => store.getTask(ref.taskId)));
    assert.deepEqual(stored.map((t) => [t?.result, t?.completedAt, t?.error]), [[{ ok: true, n: [1, 2] }, T0 + 7, null], [null, T0 + 7, null], ['text', T0 + 7, null]]);
    for (const ref of refs) assert.deepEqual(await kinds(store, ref.taskId), ['created', 'started', 'completed']);
    assert.deepEqual((await store.listEvents(refs[0].taskId, 2, 10)).map((e) => [e.seq, e.kind, e.data, e.at]), [[3, 'completed', { result: { ok: true, n: [1, 2] } }, T0 + 7]]);
    const again = await store.finish(refs.map((ref) => ({ ref, outcome: { status: 'completed', result: 2 } })), T0 + 8);
    assert.ok(again.every((r) => !r.ok && r.error instanceof StaleAttemptError));
  });

  it('completes a batch of 150 plain completions, results stored exactly whatever their characters', async () => {
    const type = freshType();
    await store.createTasks(Array.from({ length: 150 }, () => newTask({ type })));
    const claims = await store.claim(claimRequest({ types: [type], max: 150 }));
    const resultOf = (i: number) => ({ i, text: `"quoted" \\ back\nline é 😀 \u2028 ${i}`, list: [i, null, true] });
    const results = await store.finish(
      claims.map((c, i) => ({ ref: { taskId: c.task.id, attemptToken: c.attemptToken }, outcome: { status: 'completed', result: resultOf(i) } })),
      T0 + 9,
    );
    assert.equal(results.filter((r) => r.ok).length, 150);
    const stored = await Promise.all(claims.map((c) => store.getTask(c.task.id)));
    assert.deepEqual(stored.map((t) => [t?.status, t?.result]), claims.map((_, i) => ['completed', resultOf(i)]));
  });

  it('heartbeat extends the lease and reports a cancel request', async () => {
    const type = freshType();
    await store.createTasks([newTask({ type })]);
    const claim = await claimOne(store, { types: [type] });
    const ref = { taskId: claim.task.id, attemptToken: claim.attemptToken };
    const lease = await store.heartbeat(ref, LEASE, T0 + 10_000);
    assert.deepEqual(lease, { leaseExpiresAt: T0 + 10_000 + LEASE, cancelRequested: false });
    const requested = await store.cancel(claim.task.id, 'user asked', T0 + 10_001);
    assert.equal(requested.status, 'running');
    assert.equal(requested.cancelRequested, true);
    assert.equal((await store.heartbeat(ref, LEASE, T0 + 10_002)).cancelRequested, true);
    const cancelled = await finishOne(store, { ref, outcome: { status: 'cancelled', reason: 'user asked' } }, T0 + 10_003);
    assert.equal(cancelled.status, 'cancelled');
    assert.deepEqual(await kinds(store, cancelled.id), ['created', 'started', 'cancelled']);
  });

  it('cancels queued and scheduled tasks at once; refuses finished ones', async () => {
    const type = freshType();
    const [queued, scheduled] = await store.createTasks([newTask({ type }), newTask({ type, delayMs: 60_000 })]);
    for (const { task } of [queued, scheduled]) {
      const cancelled = await store.cancel(task.id, 'not needed', T0 + 1);
      assert.equal(cancelled.status, 'cancelled');
      assert.equal(cancelled.completedAt, T0 + 1);
      assert.deepEqual(await kinds(store, task.id), ['created', 'cancelled']);
      await assert.rejects(store.cancel(task.id, 'again', T0 + 2), InvalidStateError);
    }
    assert.deepEqual(await store.claim(claimRequest({ types: [type], max: 5, now: T0 + 120_000 })), []);
    await assert.rejects(store.cancel(uuidv7(), 'x', T0), TaskNotFoundError);
  });

  it('retries a failed or cancelled task by hand, with fresh attempts', async () => {
    const type = freshType();
    const [{ task }] = await store.createTasks([newTask({ type, maxAttempts: 1 })]);
    await assert.rejects(store.retry(task.id, T0), InvalidStateError);
    const claim = await claimOne(store, { types: [type] });
    await finishOne(store, {
      ref: { taskId: task.id, attemptToken: claim.attemptToken },
      outcome: { status: 'failed', error: { message: 'bad', retryable: false } },
    });
    const requeued = await store.retry(task.id, T0 + 5);
    assert.equal(requeued.status, 'queued');
    assert.equal(requeued.attempts, 0);
    assert.equal(requeued.error, null);
    assert.equal(requeued.completedAt, null);
    const again = await claimOne(store, { types: [type], now: T0 + 6 });
    assert.equal(again.task.attempts, 1);
    assert.deepEqual(await kinds(store, task.id), ['created', 'started', 'failed', 'retrying', 'started']);
    await assert.rejects(store.retry(uuidv7(), T0), TaskNotFoundError);
  });

  it('redrives the failed tasks of one queue in batches, oldest failure first', async () => {
    const type = freshType();
    const queue = `q-${type}`;
    const spec = { type, queue, maxAttempts: 1 };
    const created = await store.createTasks([newTask(spec), newTask(spec), newTask(spec), newTask({ ...spec, queue: `${queue}-other` })]);
    const claims = await store.claim(claimRequest({ types: [type], max: 4 }));
    assert.equal(claims.length, 4);
    // The first claimed fails last: redrive order follows the failure time, not the id.
    for (const [i, claim] of [...claims].reverse().entries()) {
      const outcome = { status: 'failed' as const, error: { message: `bad ${i}`, retryable: false } };
      await finishOne(store, { ref: { taskId: claim.task.id, attemptToken: claim.attemptToken }, outcome }, T0 + i);
    }
    const failed = (await store.listTasks({ queue, status: 'failed', limit: 10 })).tasks;
    const oldestFailure = failed.sort((a, b) => (a.completedAt ?? 0) - (b.completedAt ?? 0))[0];
    assert.equal(await store.retryFailed(queue, 1, T0 + 10), 1);
    const first = await store.getTask(oldestFailure.id);
    assert.equal(first?.status, 'queued');
    assert.equal(first?.attempts, 0);
    assert.equal(first?.error, null);
    assert.equal(first?.completedAt, null);
    assert.deepEqual(await kinds(store, oldestFailure.id), ['created', 'started', 'failed', 'retrying']);
    assert.equal(await store.retryFailed(queue, 10, T0 + 11), 2);
    assert.equal(await store.retryFailed(queue, 10, T0 + 12), 0);
    assert.equal((await store.listTasks({ queue, status: 'queued', limit: 10 })).tasks.length, 3);
    // Another queue's dead letters stay where they are.
    assert.equal((await store.getTask(created[3].task.id))?.status, 'failed');
    const again = await store.claim(claimRequest({ types: [type], max: 3, now: T0 + 13 }));
    assert.equal(again.length, 3);
  });

  it('deletes a task that is not running, with its events; refuses a running one', async () => {
    const type = freshType();
    const [a, b, c] = (await store.createTasks([newTask({ type }), newTask({ type }), newTask({ type })])).map((r) => r.task);
    assert.equal(await store.deleteTask(a.id), true);
    assert.equal(await store.getTask(a.id), null);
    await assert.rejects(store.listEvents(a.id, 0, 10), TaskNotFoundError);
    assert.equal(await store.deleteTask(a.id), false);
    const claim = await claimOne(store, { types: [type] });
    assert.equal(claim.task.id, b.id);
    await assert.rejects(store.deleteTask(b.id), InvalidStateError);
    assert.equal((await store.getTask(b.id))?.status, 'running');
    await finishOne(store, { ref: { taskId: b.id, attemptToken: claim.attemptToken }, outcome: { status: 'completed', result: 1 } });
    assert.equal(await store.deleteTask(b.id), true);
    assert.equal(await store.getTask(b.id), null);
    assert.equal((await store.getTask(c.id))?.status, 'queued');
    assert.equal(await store.deleteTask(uuidv7()), false);
  });

  it('lists newest first with filters and a cursor', async () => {
    const type = freshType();
    const created = [];
    for (let i = 0; i < 7; i++) {
      const [r] = await store.createTasks([newTask({ type, payload: i, tags: { batch: i % 2 ? 'odd' : 'even' } }, T0 + i)]);
      created.push(r.task.id);
    }
    const page1 = await store.listTasks({ type, limit: 3 });
    const page2 = await store.listTasks({ type, limit: 3, cursor: page1.nextCursor! });
    const page3 = await store.listTasks({ type, limit: 3, cursor: page2.nextCursor! });
    assert.deepEqual(
      [...page1.tasks, ...page2.tasks, ...page3.tasks].map((t) => t.id),
      created.reverse(),
    );
    assert.equal(page3.nextCursor, null);
    const odd = await store.listTasks({ type, limit: 10, tag: { key: 'batch', value: 'odd' } });
    assert.deepEqual(
      odd.tasks.map((t) => t.payload),
      [5, 3, 1],
    );
    assert.equal((await store.listTasks({ type, status: 'running', limit: 10 })).tasks.length, 0);
    assert.equal((await store.listTasks({ type, queue: 'default', limit: 10 })).tasks.length, 7);
  });

  it('reports unknown tasks plainly', async () => {
    assert.equal(await store.getTask(uuidv7()), null);
    await assert.rejects(store.listEvents(uuidv7(), 0, 10), TaskNotFoundError);
    await assert.rejects(store.heartbeat({ taskId: uuidv7(), attemptToken: 'x' }, LEASE, T0), TaskNotFoundError);
  });

  it('counts tasks by queue and status', async () => {
    const type = freshType();
    const queue = `q-${type}`;
    await store.createTasks([newTask({ type, queue }), newTask({ type, queue }), newTask({ type, queue, delayMs: 1000 })]);
    await claimOne(store, { types: [type] });
    const counts = (await store.countByQueue()).find((c) => c.queue === queue);
    assert.deepEqual(counts?.counts, { scheduled: 1, queued: 1, running: 1, waiting: 0, completed: 0, failed: 0, cancelled: 0 });
  });

  it('counts at a bounded cost: at most `cap` tasks of each status, naming the statuses that reached it', async () => {
    const type = freshType();
    const queue = `q-${type}`;
    const tasks = (await store.createTasks([newTask({ type, queue }), newTask({ type, queue }), newTask({ type, queue, maxAttempts: 1 }), newTask({ type, queue, delayMs: 1000 })])).map((c) => c.task);
    const claims = await store.claim(claimRequest({ types: [type], max: 2 }));
    await finishOne(store, { ref: { taskId: claims[0].task.id, attemptToken: claims[0].attemptToken }, outcome: { status: 'completed', result: null } });
    await store.cancel(tasks[2].id, 'no', T0);
    const exact = (await store.countByQueue()).find((c) => c.queue === queue);
    assert.deepEqual(exact?.counts, { scheduled: 1, queued: 0, running: 1, waiting: 0, completed: 1, failed: 0, cancelled: 1 });
    const generous = await store.countTasks(1_000_000);
    assert.deepEqual(generous.queues.find((c) => c.queue === queue)?.counts, exact?.counts);
    assert.deepEqual(generous.capped, []);
    // With a cap of 1, every status some test left a task in is capped, and counts exactly one task in all.
    const tight = await store.countTasks(1);
    const totals = new Map<string, number>();
    for (const q of tight.queues) for (const [status, n] of Object.entries(q.counts)) totals.set(status, (totals.get(status) ?? 0) + n);
    for (const status of ['scheduled', 'running', 'completed', 'cancelled']) {
      assert.ok(tight.capped.includes(status as Task['status']), `${status} is capped`);
      assert.equal(totals.get(status), 1, `one ${status} task counted`);
    }
    for (const status of ['scheduled', 'queued', 'running', 'completed', 'failed', 'cancelled']) {
      assert.equal(tight.capped.includes(status as Task['status']), totals.get(status) === 1, `${status}: capped exactly when counted`);
    }
  });

  it('counts one owner\'s tasks by queue and status, and nobody else\'s', async () => {
    const type = freshType();
    const queue = `q-${type}`;
    const owner = `tenant-${type}`;
    await store.createTasks([newTask({ type, queue, owner }), newTask({ type, queue, owner, delayMs: 1000 }), newTask({ type, queue, owner: `${owner}-other` }), newTask({ type, queue })]);
    const mine = await store.countByQueue(owner);
    assert.deepEqual(mine, [{ queue, counts: { scheduled: 1, queued: 1, running: 0, waiting: 0, completed: 0, failed: 0, cancelled: 0 } }]);
    assert.deepEqual(await store.countByQueue(`${owner}-nobody`), []);
    assert.equal((await store.countByQueue()).find((c) => c.queue === queue)?.counts.queued, 3);
  });

}
