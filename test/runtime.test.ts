import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { NonRetryableError } from '../src/index.ts';
import { openTestHub, waitUntil } from './helpers/hub.ts';

const kindsOf = async (hub: Awaited<ReturnType<typeof openTestHub>>, id: string) => (await hub.events(id)).map((e) => e.kind);

describe('worker runtime', () => {
  it('runs a task with progress and output, and stores the result', async () => {
    const hub = await openTestHub();
    try {
      hub.handle('gen', async (payload: { n: number }, ctx) => {
        await ctx.progress(50, 'half', { step: 1 });
        await ctx.output('hello ');
        await ctx.output('world');
        return { doubled: payload.n * 2, attempt: ctx.attempt };
      });
      const task = await hub.enqueue('gen', { n: 21 });
      const done = await hub.wait(task.id, 5000);
      assert.equal(done.status, 'completed');
      assert.deepEqual(done.result, { doubled: 42, attempt: 1 });
      assert.deepEqual(done.progress, { percent: 50, message: 'half', data: { step: 1 } });
      assert.deepEqual(await kindsOf(hub, task.id), ['created', 'started', 'progress', 'output', 'output', 'completed']);
    } finally {
      await hub.dispose();
    }
  });

  it('starts a task enqueued in the same process without polling delay', async () => {
    const hub = await openTestHub({ worker: { pollIntervalMs: 60_000 } });
    try {
      const started: number[] = [];
      hub.handle('fast', () => {
        started.push(performance.now());
      });
      await new Promise((resolve) => setTimeout(resolve, 50));
      const latencies: number[] = [];
      for (let i = 0; i < 20; i++) {
        const t0 = performance.now();
        const task = await hub.enqueue('fast', i);
        await waitUntil(() => started.length === i + 1, 2000, 'task start');
        latencies.push(started[i] - t0);
        await hub.wait(task.id, 1000);
      }
      latencies.sort((a, b) => a - b);
      assert.ok(latencies[latencies.length - 1] < 100, `slowest start took ${latencies.at(-1)} ms`);
    } finally {
      await hub.dispose();
    }
  });

  it('fails a task for good when its handler returns a result that cannot be stored, and keeps running others', async () => {
    const hub = await openTestHub();
    try {
      let calls = 0;
      hub.handle('bad-result', (payload: { bad: boolean }) => {
        calls++;
        return payload.bad ? { text: 'a\u0000b' } : { text: 'fine' };
      }, { concurrency: 1 });
      const bad = await hub.enqueue('bad-result', { bad: true }, { maxAttempts: 3 });
      const failed = await hub.wait(bad.id, 5000);
      assert.equal(failed.status, 'failed');
      assert.deepEqual({ code: failed.error?.code, retryable: failed.error?.retryable }, { code: 'INVALID_RESULT', retryable: false });
      assert.match(failed.error?.message ?? '', /U\+0000/);
      assert.equal(failed.attempts, 1, 'refused again on every retry, so not retried');
      // The attempt ended on this worker: its one slot is free for the next task.
      const good = await hub.enqueue('bad-result', { bad: false });
      assert.deepEqual((await hub.wait(good.id, 5000)).result, { text: 'fine' });
      assert.equal(calls, 2);
    } finally {
      await hub.dispose();
    }
  });

  it('retries a throwing handler with backoff, then dead-letters it', async () => {
    const hub = await openTestHub();
    try {
      let calls = 0;
      hub.handle('boom', () => {
        calls++;
        throw new Error(`boom ${calls}`);
      });
      const task = await hub.enqueue('boom', null, { maxAttempts: 3, backoff: { type: 'fixed', delayMs: 20, jitter: 0 } });
      const done = await hub.wait(task.id, 5000);
      assert.equal(done.status, 'failed');
      assert.equal(done.attempts, 3);
      assert.equal(calls, 3);
      assert.equal(done.error?.message, 'boom 3');
      assert.equal(done.error?.retryable, true);
      assert.deepEqual(await kindsOf(hub, task.id), ['created', 'started', 'retrying', 'started', 'retrying', 'started', 'failed']);
    } finally {
      await hub.dispose();
    }
  });

  it('does not retry a NonRetryableError, and a rejected promise never takes the process down', async () => {
    const hub = await openTestHub();
    try {
      hub.handle('bad-input', async () => {
        throw new NonRetryableError('city is required', 'BAD_INPUT');
      });
      hub.handle('reject', () => Promise.reject('plain string'));
      const a = await hub.enqueue('bad-input', {}, { maxAttempts: 5 });
      const b = await hub.enqueue('reject', {}, { maxAttempts: 1 });
      const doneA = await hub.wait(a.id, 5000);
      assert.equal(doneA.status, 'failed');
      assert.equal(doneA.attempts, 1);
      assert.deepEqual({ code: doneA.error?.code, retryable: doneA.error?.retryable }, { code: 'BAD_INPUT', retryable: false });
      const doneB = await hub.wait(b.id, 5000);
      assert.equal(doneB.status, 'failed');
      assert.equal(doneB.error?.message, 'plain string');
    } finally {
      await hub.dispose();
    }
  });

  it('times out an attempt: the signal fires and the attempt fails as TIMEOUT', async () => {
    const hub = await openTestHub();
    try {
      let sawAbort: unknown;
      hub.handle('slow', async (_p, ctx) => {
        await new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve()));
        sawAbort = ctx.signal.reason;
      });
      const task = await hub.enqueue('slow', null, { timeoutMs: 50, maxAttempts: 1 });
      const done = await hub.wait(task.id, 5000);
      assert.equal(done.status, 'failed');
      assert.equal(done.error?.code, 'TIMEOUT');
      await waitUntil(() => sawAbort !== undefined);
      assert.equal((sawAbort as Error).name, 'TimeoutError');
    } finally {
      await hub.dispose();
    }
  });

  it('cancels a running task: its signal aborts and it ends cancelled', async () => {
    const hub = await openTestHub();
    try {
      let running = false;
      let aborted = false;
      hub.handle('hang', async (_p, ctx) => {
        running = true;
        await new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve()));
        aborted = true;
        return 'ignored';
      });
      const task = await hub.enqueue('hang');
      await waitUntil(() => running);
      const requested = await hub.cancel(task.id);
      assert.equal(requested.status, 'running');
      const done = await hub.wait(task.id, 5000);
      assert.equal(done.status, 'cancelled');
      assert.equal(done.result, null);
      assert.ok(aborted);
      assert.deepEqual(await kindsOf(hub, task.id), ['created', 'started', 'cancelled']);
    } finally {
      await hub.dispose();
    }
  });

  it('respects per-type concurrency and reports pool figures', async () => {
    const hub = await openTestHub();
    try {
      let now = 0;
      let peak = 0;
      let release!: () => void;
      const gate = new Promise<void>((resolve) => (release = resolve));
      hub.handle(
        'gated',
        async () => {
          peak = Math.max(peak, ++now);
          await gate;
          now--;
        },
        { concurrency: 3 },
      );
      const tasks = await hub.enqueueMany(Array.from({ length: 8 }, () => ({ type: 'gated' })));
      await waitUntil(() => hub.stats.running === 3);
      assert.deepEqual(hub.stats, { running: 3, idle: 0, waiting: 0, capacity: 3 });
      release();
      for (const t of tasks) assert.equal((await hub.wait(t.id, 5000)).status, 'completed');
      assert.equal(peak, 3);
    } finally {
      await hub.dispose();
    }
  });

  it('announces itself in the workers list while it runs, and leaves it on stop', async () => {
    const hub = await openTestHub();
    try {
      hub.handle('a', () => null, { concurrency: 4 });
      hub.handle('b', () => null, { concurrency: 2 });
      await waitUntil(async () => (await hub.workers()).length === 1, 2000, 'worker registered');
      const [worker] = await hub.workers();
      assert.equal(worker.id, hub.worker.id);
      assert.deepEqual(worker.types.sort(), ['a', 'b']);
      assert.equal(worker.concurrency, 6);
      assert.equal(worker.pid, process.pid);
      await hub.worker.stop(100);
      assert.deepEqual(await hub.workers(), []);
    } finally {
      await hub.dispose();
    }
  });

  it('shuts down gracefully: finishes within the grace period, releases the rest without spending an attempt', async () => {
    const hub = await openTestHub();
    let quickDone = false;
    hub.handle('quick', async () => {
      await new Promise((resolve) => setTimeout(resolve, 50));
      quickDone = true;
    });
    hub.handle('endless', (_p, ctx) => new Promise((resolve) => ctx.signal.addEventListener('abort', resolve)));
    const quick = await hub.enqueue('quick');
    const endless = await hub.enqueue('endless', null, { maxAttempts: 1 });
    await waitUntil(() => hub.stats.running === 2);
    await hub.worker.stop(300);
    assert.ok(quickDone);
    assert.equal((await hub.get(quick.id)).status, 'completed');
    const released = await hub.get(endless.id);
    assert.equal(released.status, 'queued');
    assert.equal(released.attempts, 0);
    await hub.dispose();
  });
});
