// Issue 16: ctx.output does not wait for each chunk to be stored (store/attempt-events.ts, worker/context.ts), yet
// the task's history keeps the handler's order, the outcome comes after every chunk, and a chunk the store refuses
// surfaces at the handler's next call.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { StaleAttemptError } from '../src/core/errors.ts';
import pino from 'pino';
import { Taskhub } from '../src/index.ts';
import { openTestHub, waitUntil } from './helpers/hub.ts';
import { storeFor } from './helpers/postgres.ts';

describe('ctx.output in flight', () => {
  it('stores 300 chunks of 20 concurrent tasks in the order sent, each before the task ends', async () => {
    const hub = await openTestHub();
    try {
      hub.handle('stream', async (payload: { n: number }, ctx) => {
        for (let i = 0; i < 300; i++) await ctx.output(`${payload.n}:${i}`);
        return 'done';
      }, { concurrency: 20 });
      const tasks = await hub.enqueueMany(Array.from({ length: 20 }, (_, n) => ({ type: 'stream', payload: { n } })));
      await waitUntil(async () => (await Promise.all(tasks.map((t) => hub.get(t.id)))).every((t) => t.status === 'completed'), 20_000, 'all tasks to complete');
      for (const [n, task] of tasks.entries()) {
        const events = await hub.events(task.id, 0, 1000);
        assert.deepEqual(events.map((e) => e.seq), events.map((_, i) => i + 1), 'seqs without gaps');
        const chunks = events.filter((e) => e.kind === 'output').map((e) => (e.data as { chunk: string }).chunk);
        assert.deepEqual(chunks, Array.from({ length: 300 }, (_, i) => `${n}:${i}`));
        assert.equal(events.at(-1)?.kind, 'completed', 'the outcome comes after every chunk');
      }
    } finally {
      await hub.dispose();
    }
  });

  for (const backend of ['sqlite', 'postgres'] as const) {
    it(`${backend}: a handler that returns or throws at once, its output not awaited, ends after every chunk`, async (t) => {
      const store = await storeFor(backend, t, 'output');
      if (!store) return;
      const hub = await Taskhub.open({ store: store.url, logger: pino({ level: 'silent' }) });
      try {
        hub.handle('at-once', (payload: { fail: boolean }, ctx) => {
          // Fewer than the attempt's window of unstored chunks (worker/context.ts), so none waits for another.
          for (let i = 0; i < 5; i++) void ctx.output(`chunk ${i}`);
          if (payload.fail) throw new Error('failed at once');
          return 'returned at once';
        }, { concurrency: 20 });
        const tasks = await hub.enqueueMany(Array.from({ length: 40 }, (_, i) => ({ type: 'at-once', payload: { fail: i % 2 === 1 }, maxAttempts: 1 })));
        const ended = (status: string) => status === 'completed' || status === 'failed';
        await waitUntil(async () => (await Promise.all(tasks.map((task) => hub.get(task.id)))).every((task) => ended(task.status)), 20_000, 'every task to end');
        for (const [i, task] of tasks.entries()) {
          const kinds = (await hub.events(task.id, 0, 1000)).map((e) => e.kind);
          assert.deepEqual(kinds, ['created', 'started', ...Array.from({ length: 5 }, () => 'output'), i % 2 === 1 ? 'failed' : 'completed']);
        }
      } finally {
        await hub.close({ graceMs: 200 });
        await store.cleanup();
      }
    });
  }

  for (const backend of ['sqlite', 'postgres'] as const) {
    it(`${backend}: a chunk refused after the handler's last call fails the attempt; one the handler was told of does not`, async (t) => {
      const store = await storeFor(backend, t, 'refused');
      if (!store) return;
      const hub = await Taskhub.open({ store: store.url, logger: pino({ level: 'silent' }) });
      try {
        // U+0000 is refused by the input rules, after ctx.output returned (it returns before its chunk is stored).
        const bad = 'bad \u0000';
        hub.handle('refused', async (payload: { ending: 'return' | 'catch' | 'step' }, ctx) => {
          await ctx.output('kept');
          await ctx.output(bad);
          if (payload.ending === 'step') await ctx.step('after', () => 1);
          if (payload.ending === 'catch') {
            try {
              await ctx.output('after the refusal');
            } catch (error) {
              return `told: ${(error as { code?: string }).code}`;
            }
          }
          return 'returned';
        });
        const endings = ['return', 'catch', 'step'] as const;
        const tasks = await hub.enqueueMany(endings.map((ending) => ({ type: 'refused', payload: { ending }, maxAttempts: 1 })));
        const ended = await Promise.all(tasks.map((task) => hub.wait(task.id, 10_000)));
        const history = async (id: string) =>
          (await hub.events(id, 0, 100)).map((e) => (e.kind === 'output' ? (e.data as { chunk: string }).chunk : e.kind));
        for (const [i, ending] of endings.entries()) {
          if (ending === 'catch') {
            assert.equal(ended[i].status, 'completed', ending);
            assert.equal(ended[i].result, 'told: VALIDATION');
            assert.deepEqual(await history(tasks[i].id), ['created', 'started', 'kept', 'completed']);
            continue;
          }
          assert.equal(ended[i].status, 'failed', `${ending}: not completed without its chunk`);
          assert.equal(ended[i].error?.code, 'VALIDATION', ending);
          assert.match(ended[i].error?.message ?? '', /chunk/, ending);
          assert.deepEqual(await history(tasks[i].id), ['created', 'started', 'kept', 'failed'], ending);
        }
      } finally {
        await hub.close({ graceMs: 200 });
        await store.cleanup();
      }
    });
  }

  it('keeps output sent before a checkpoint before it in the history', async () => {
    const hub = await openTestHub();
    try {
      hub.handle('mixed', async (_payload, ctx) => {
        await ctx.output('a');
        await ctx.output('b');
        await ctx.checkpoint({ phase: 1 });
        await ctx.output('c');
        return null;
      });
      const task = await hub.enqueue('mixed');
      await waitUntil(async () => (await hub.get(task.id)).status === 'completed', 10_000, 'the task to complete');
      const kinds = (await hub.events(task.id)).map((e) => (e.kind === 'output' ? (e.data as { chunk: string }).chunk : e.kind));
      assert.deepEqual(kinds, ['created', 'started', 'a', 'b', 'checkpoint', 'c', 'completed']);
    } finally {
      await hub.dispose();
    }
  });

  it('throws the refusal at the next call once the attempt is no longer current', async () => {
    // A short lease that nothing renews: the sweeper takes the task back while its handler still streams.
    const hub = await openTestHub({ leaseMs: 300, sweepIntervalMs: 50, worker: { heartbeatIntervalMs: 60_000 } });
    try {
      let thrown: unknown;
      let sent = 0;
      hub.handle('slow', async (_payload, ctx) => {
        if (ctx.attempt > 1) return 'second attempt';
        try {
          for (;;) {
            await ctx.output(`chunk ${sent++}`);
            await new Promise((resolve) => setTimeout(resolve, 20));
          }
        } catch (error) {
          thrown = error;
          throw error;
        }
      });
      const task = await hub.enqueue('slow', null, { maxAttempts: 3, backoff: { type: 'fixed', delayMs: 10 } });
      await waitUntil(() => thrown !== undefined, 10_000, 'the handler to be refused');
      assert.ok(thrown instanceof StaleAttemptError, String(thrown));
      await waitUntil(async () => (await hub.get(task.id)).status === 'completed', 10_000, 'the second attempt');
      const outputs = (await hub.events(task.id)).filter((e) => e.kind === 'output');
      assert.ok(outputs.length < sent, 'chunks sent after the lease was lost were not stored');
    } finally {
      await hub.dispose();
    }
  });
});
