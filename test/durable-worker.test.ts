// The handler API of durable execution in the in-process worker, on a real SQLite file: resume from checkpoints,
// fan-in without holding the worker's one slot, failed children, sleeps that free the slot, signals and their
// timeout, and the checkpoint size limit. (Over `taskhub worker --url`: durable-remote.test.ts; kill -9 between
// steps: durable-crash.test.ts; several processes on PostgreSQL: durable-postgres.test.ts.)
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import {
  StepExistsError,
  Taskhub,
  type TaskContext,
  type Task,
  type TaskhubOptions,
  TaskSuspendedError,
  unstable_openStore,
  type UnstableStore,
  type WorkerBackend,
} from '../src/index.ts';
import { DurableRun } from '../src/worker/durable.ts';
import handlers from './fixtures/durable-handlers.ts';
import { tempDir, waitUntil } from './helpers/hub.ts';

interface Fixture {
  hub: Taskhub;
  store: UnstableStore;
  dir: string;
  close(): Promise<void>;
}

/** A hub over a store we keep a handle on (to read checkpoints and children the hub's API may not show). */
async function open(options: TaskhubOptions = {}): Promise<Fixture> {
  const tmp = tempDir('taskhub-durable-');
  const store = await unstable_openStore(`sqlite:${join(tmp.dir, 'taskhub.db')}`);
  const hub = await Taskhub.open({ store, logger: pino({ level: 'silent' }), worker: { pollIntervalMs: 50 }, ...options });
  return {
    hub,
    store,
    dir: tmp.dir,
    async close() {
      await hub.close({ graceMs: 200 });
      tmp.remove();
    },
  };
}

const lines = (file: string) => readFileSync(file, 'utf8').trim().split('\n').filter(Boolean);
const finished = (hub: Taskhub, id: string, timeoutMs = 30_000) =>
  waitUntil(async () => ['completed', 'failed', 'cancelled'].includes((await hub.get(id)).status), timeoutMs, `task ${id} finished`);
const kinds = async (hub: Taskhub, id: string) => (await hub.events(id)).map((e) => e.kind);

describe('durable handlers in the in-process worker (SQLite)', () => {
  let f: Fixture;
  before(async () => {
    f = await open();
    for (const [type, handler] of Object.entries(handlers)) f.hub.handle(type, handler as never, { concurrency: 1 });
  });
  after(() => f.close());

  it('resumes from the last checkpoint: a failure in phase 4 retries from phase 4, phases 1-3 do not run again', async () => {
    const log = join(f.dir, 'phases.log');
    writeFileSync(log, '');
    const task = await f.hub.enqueue('durable-phases', { log, failIn: 4 }, { backoff: { delayMs: 20, jitter: 0 } });
    await finished(f.hub, task.id);
    const done = await f.hub.get(task.id);
    assert.equal(done.status, 'completed', JSON.stringify(done.error));
    assert.deepEqual(done.result, { total: 15, resumedFrom: 4 });
    assert.deepEqual(lines(log), ['phase 1 attempt 1', 'phase 2 attempt 1', 'phase 3 attempt 1', 'phase 4 attempt 1', 'phase 4 attempt 2', 'phase 5 attempt 2']);
    const versions = await f.store.listCheckpoints(task.id);
    assert.deepEqual(versions.map((v) => [v.version, v.label]), [[1, 'phase 1'], [2, 'phase 2'], [3, 'phase 3'], [4, 'phase 4'], [5, 'phase 5']]);
    assert.equal(done.checkpointVersion, 5);
  });

  it('fans in 20 children of its own type on one slot: the parent waits without holding it, results in order', async () => {
    const log = join(f.dir, 'fan.log');
    writeFileSync(log, '');
    const parent = await f.hub.enqueue('durable-fan', { log, n: 20 }, { owner: 'tenant-a' });
    await finished(f.hub, parent.id, 60_000);
    const done = await f.hub.get(parent.id);
    assert.equal(done.status, 'completed', JSON.stringify(done.error));
    assert.deepEqual(done.result, Array.from({ length: 20 }, (_, i) => i * i));
    const ran = lines(log);
    assert.equal(ran.filter((l) => l.startsWith('parent run')).length, 2, 'the parent runs twice: before its children and once they all finished');
    assert.equal(ran.filter((l) => l.startsWith('parent resumed')).length, 1);
    assert.equal(ran.filter((l) => l.startsWith('child ')).length, 20);
    const children = (await f.store.listTasks({ parentId: parent.id, limit: 100 })).tasks;
    assert.equal(children.length, 20);
    assert.ok(children.every((c) => c.owner === 'tenant-a' && c.status === 'completed'), 'children take the parent\'s owner');
    const events = await kinds(f.hub, parent.id);
    assert.deepEqual(events.filter((k) => k === 'waiting' || k === 'resumed' || k === 'completed'), ['waiting', 'resumed', 'completed']);
    assert.equal(events.filter((k) => k === 'child-finished').length, 20);
    assert.equal(done.attempts, 1, 'a suspension does not count as an attempt');
  });

  it('a failed child fails the parent\'s call with CHILD_FAILED naming it; settle: true returns every outcome', async () => {
    const parent = await f.hub.enqueue('durable-fan', { n: 4, failing: [2] });
    await finished(f.hub, parent.id);
    const failed = await f.hub.get(parent.id);
    const children = (await f.store.listTasks({ parentId: parent.id, limit: 10 })).tasks.sort((a, b) => a.id.localeCompare(b.id));
    const bad = children.find((c) => c.status === 'failed');
    assert.ok(bad);
    assert.equal(failed.status, 'failed');
    assert.equal(failed.error?.code, 'CHILD_FAILED');
    assert.equal(failed.error?.retryable, false);
    assert.match(failed.error?.message ?? '', new RegExp(`1 of 4 children of "fan" did not complete: ${bad.id} \\(failed: child 2 refused\\)`));
    assert.equal(failed.attempts, 1, 'not retried: a re-run would get the same children');

    const settled = await f.hub.enqueue('durable-fan', { n: 3, failing: [0], settle: true });
    await finished(f.hub, settled.id);
    const done = await f.hub.get(settled.id);
    assert.equal(done.status, 'completed', JSON.stringify(done.error));
    assert.deepEqual(done.result, ['failed', 'completed', 'completed']);
  });

  it('checkpoint over the size limit: a clear CHECKPOINT_TOO_LARGE error, nothing stored', async () => {
    const small = await open({ checkpointMaxBytes: 100 });
    try {
      small.hub.handle('big', async (_payload, ctx: TaskContext) => {
        const ok = await ctx.checkpoint({ fits: 'x'.repeat(50) });
        try {
          await ctx.checkpoint({ text: 'é'.repeat(60) });
          return 'stored';
        } catch (error) {
          const e = error as Error & { code: string; size: number; limit: number };
          return { ok: ok.version, code: e.code, name: e.name, message: e.message, size: e.size, limit: e.limit };
        }
      });
      const task = await small.hub.enqueue('big');
      await finished(small.hub, task.id);
      const done = await small.hub.get(task.id);
      const size = Buffer.byteLength(JSON.stringify({ text: 'é'.repeat(60) }));
      assert.deepEqual(done.result, {
        ok: 1,
        code: 'CHECKPOINT_TOO_LARGE',
        name: 'CheckpointTooLargeError',
        message: `task ${task.id}: checkpoint state is ${size} bytes of JSON, over the limit of 100 bytes; nothing was stored`,
        size,
        limit: 100,
      });
      assert.deepEqual((await small.store.listCheckpoints(task.id)).map((c) => c.version), [1]);
      assert.equal(done.checkpointVersion, 1);
    } finally {
      await small.close();
    }
  });
});

describe('sleeps and signals free the slot (SQLite)', () => {
  let f: Fixture;
  const ran: string[] = [];
  before(async () => {
    f = await open();
    f.hub.handle(
      'wait-kinds',
      async (payload: { kind: string; ms?: number; timeoutMs?: number }, ctx: TaskContext) => {
        ran.push(`${payload.kind} ${ctx.taskId}`);
        if (payload.kind === 'quick') return Date.now();
        if (payload.kind === 'sleep') {
          const started = await ctx.step('started', () => Date.now());
          const signal = ctx.signal;
          try {
            await ctx.sleep('nap', payload.ms ?? 0);
          } catch (error) {
            // The suspension ends the run: ctx.signal says so, and later durable calls throw the same error.
            const again = await ctx.step('after', () => 1).catch((e: unknown) => e);
            ran.push(`suspended ${ctx.taskId} ${(error as Error).name} ${signal.aborted} ${(signal.reason as Error).message} ${again === error}`);
            throw error;
          }
          return { started, woke: Date.now() };
        }
        const options = payload.timeoutMs === undefined ? {} : { timeoutMs: payload.timeoutMs };
        return { data: await ctx.waitForSignal('approve', options) };
      },
      { concurrency: 1 },
    );
  });
  after(() => f.close());

  const statusIs = (id: string, status: Task['status']) => waitUntil(async () => (await f.hub.get(id)).status === status, 20_000, `task ${id} ${status}`);

  it('sleep suspends without the slot (another task runs meanwhile) and resumes after about ms', async () => {
    const sleeper = await f.hub.enqueue('wait-kinds', { kind: 'sleep', ms: 800 });
    await statusIs(sleeper.id, 'waiting');
    const waiting = await f.hub.get(sleeper.id);
    assert.equal(waiting.waitingFor?.kind, 'sleep');
    const quick = await f.hub.enqueue('wait-kinds', { kind: 'quick' });
    await finished(f.hub, quick.id);
    const quickDone = await f.hub.get(quick.id);
    assert.equal((await f.hub.get(sleeper.id)).status, 'waiting', 'the quick task ran while the sleeper waited');
    await finished(f.hub, sleeper.id);
    const done = await f.hub.get(sleeper.id);
    assert.equal(done.status, 'completed', JSON.stringify(done.error));
    const { started, woke } = done.result as { started: number; woke: number };
    assert.ok(quickDone.completedAt !== null && quickDone.completedAt < woke);
    assert.ok(woke - started >= 800, `woke ${woke - started} ms after it started its sleep`);
    assert.ok(woke - started < 8000, `woke ${woke - started} ms after it started its sleep (2 shared cores: generous)`);
    assert.deepEqual((await kinds(f.hub, sleeper.id)).filter((k) => k === 'waiting' || k === 'resumed'), ['waiting', 'resumed']);
    assert.deepEqual(ran.filter((r) => r.startsWith(`suspended ${sleeper.id}`)), [`suspended ${sleeper.id} TaskSuspendedError true task suspended true`]);
    assert.equal(done.attempts, 1);
  });

  it('a signal sent after the wait wakes the task with its data', async () => {
    const task = await f.hub.enqueue('wait-kinds', { kind: 'signal' });
    await statusIs(task.id, 'waiting');
    assert.deepEqual((await f.hub.get(task.id)).waitingFor, { kind: 'signal', name: 'approve', timeoutAt: null });
    const sent = await f.hub.signal(task.id, 'approve', { by: 'alice' });
    assert.equal(sent.resumed, true);
    await finished(f.hub, task.id);
    const done = await f.hub.get(task.id);
    assert.deepEqual(done.result, { data: { by: 'alice' } });
    assert.equal(ran.filter((r) => r === `signal ${task.id}`).length, 2);
  });

  it('a signal sent before the wait is kept: the handler gets it without suspending', async () => {
    // Scheduled a little ahead, so the signal surely lands before the handler waits.
    const task = await f.hub.enqueue('wait-kinds', { kind: 'signal' }, { delayMs: 1500 });
    const sent = await f.hub.signal(task.id, 'approve', 'early');
    assert.equal(sent.resumed, false);
    assert.equal(sent.task.status, 'scheduled');
    await finished(f.hub, task.id);
    const done = await f.hub.get(task.id);
    assert.deepEqual(done.result, { data: 'early' });
    assert.ok(!(await kinds(f.hub, task.id)).includes('waiting'), 'it never waited');
  });

  it('a wait that times out throws SignalTimeoutError (SIGNAL_TIMEOUT), not retried', async () => {
    const task = await f.hub.enqueue('wait-kinds', { kind: 'signal', timeoutMs: 500 });
    await finished(f.hub, task.id);
    const done = await f.hub.get(task.id);
    assert.equal(done.status, 'failed');
    assert.equal(done.error?.code, 'SIGNAL_TIMEOUT');
    assert.match(done.error?.message ?? '', /no signal "approve" came before its timeout/);
    assert.equal(done.error?.retryable, false);
    assert.deepEqual((await kinds(f.hub, task.id)).filter((k) => k === 'waiting' || k === 'resumed'), ['waiting', 'resumed']);
  });
});

describe('DurableRun (a backend stub)', () => {
  const ref = { taskId: 't1', attemptToken: 'tok' };
  const host = { suspension: undefined, suspend: () => new TaskSuspendedError('t1', { kind: 'sleep', name: 'x', until: 0 }) };

  it('a step another run stored first (STEP_EXISTS) returns that run\'s result; a name used twice in one run is refused', async () => {
    let listed = 0;
    const backend = {
      steps: async () => (++listed === 1 ? [] : [{ name: 'charge', result: { id: 'first' }, createdAt: 1 }]),
      saveStep: async () => {
        throw new StepExistsError('t1', 'charge');
      },
    } as unknown as WorkerBackend;
    const run = new DurableRun(backend, ref, host);
    assert.deepEqual(await run.step('charge', () => ({ id: 'second' })), { id: 'first' });
    await assert.rejects(run.step('charge', () => 1), /step "charge" is used twice in one run/);
  });

  it('every durable call after a suspension throws the same TaskSuspendedError', async () => {
    const suspension = new TaskSuspendedError('t1', { kind: 'sleep', name: 'nap', until: 5 });
    const run = new DurableRun({} as WorkerBackend, ref, { suspension, suspend: () => suspension });
    await assert.rejects(run.step('a', () => 1), (e) => e === suspension);
    await assert.rejects(run.sleep('b', 10), (e) => e === suspension);
  });
});
