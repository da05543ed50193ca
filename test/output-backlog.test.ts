// Issue 16: the bound on ctx.output's chunks in flight follows the store's pace when the store names a delay
// (worker/output-backlog.ts), and stays a fixed count when it does not (a remote worker).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { backlogOf } from '../src/worker/context.ts';
import { OutputBacklog } from '../src/worker/output-backlog.ts';
import { openTestHub, waitUntil } from './helpers/hub.ts';

/** A backlog with a delay of `delayMs` on a clock the test moves. */
function clocked(delayMs: number | null) {
  let now = 0;
  const backlog = new OutputBacklog(delayMs, () => now);
  return {
    backlog,
    advance: (ms: number) => (now += ms),
    /** Sends n chunks at once, then stores them all waitedMs later. */
    store(n: number, waitedMs: number) {
      const sent = Array.from({ length: n }, () => backlog.sent());
      now += waitedMs;
      for (const stored of sent) stored();
    },
  };
}

describe('output backlog', () => {
  it('without a delay is a fixed 600, and a refused chunk leaves it', () => {
    const { backlog, store } = clocked(null);
    const sent = Array.from({ length: 600 }, () => backlog.sent());
    assert.equal(backlog.full, false);
    backlog.sent();
    assert.equal(backlog.full, true);
    backlog.refused();
    assert.equal(backlog.full, false);
    for (const stored of sent) stored();
    assert.equal(backlog.unstored, 0);
    // However long chunks waited, the count stays.
    store(1000, 500);
    assert.equal(backlog.limit, 600);
  });

  it('with a delay starts at 300 and grows by a quarter while filled chunks are stored within it, up to 1,000', () => {
    const { backlog, store } = clocked(30);
    assert.equal(backlog.limit, 300);
    store(300, 10);
    assert.equal(backlog.limit, 375);
    for (let i = 0; i < 10; i++) store(1000, 10);
    assert.equal(backlog.limit, 1000);
    assert.equal(backlog.unstored, 0);
  });

  it('does not grow while its senders use less than half of it', () => {
    const { backlog, store } = clocked(30);
    for (let i = 0; i < 20; i++) store(100, 10);
    assert.equal(backlog.limit, 300);
  });

  it('shrinks in proportion to a wait longer than the delay, to half at most, never below 100', () => {
    const { backlog, store } = clocked(30);
    for (let i = 0; i < 10; i++) store(1000, 10);
    store(16, 40);
    assert.equal(backlog.limit, 750);
    store(16, 600);
    assert.equal(backlog.limit, 375);
    for (let i = 0; i < 20; i++) store(16, 600);
    assert.equal(backlog.limit, 100);
  });

  it('counts the chunks of one batch, stored at once, as one measure', () => {
    const { backlog, store } = clocked(30);
    // 64 chunks (4 samples) that waited twice the delay: the bound halves once, not four times.
    store(64, 60);
    assert.equal(backlog.limit, 150);
    store(64, 60);
    assert.equal(backlog.limit, 100);
    // 256 chunks (16 samples, 13 of them sent with half the bound filled) stored within the delay: one growth.
    store(256, 10);
    assert.equal(backlog.limit, 125);
  });

  it('is full once more chunks are unstored than its bound', () => {
    const { backlog } = clocked(30);
    const sent = Array.from({ length: 300 }, () => backlog.sent());
    assert.equal(backlog.full, false);
    sent.push(backlog.sent());
    assert.equal(backlog.full, true);
    sent.pop()?.();
    assert.equal(backlog.full, false);
  });

  it('moves for a worker on a store with a delay, which stores every chunk of many streaming tasks in order', async () => {
    const hub = await openTestHub();
    try {
      const TASKS = 300;
      const CHUNKS = 40;
      hub.handle('stream', async (payload: { i: number }, ctx) => {
        for (let c = 0; c < CHUNKS; c++) await ctx.output(`t${payload.i} c${c}`);
        return null;
      }, { concurrency: TASKS });
      const tasks = await hub.enqueueMany(Array.from({ length: TASKS }, (_, i) => ({ type: 'stream', payload: { i } })));
      const completed = async () => (await Promise.all(tasks.map((t) => hub.get(t.id)))).every((t) => t.status === 'completed');
      await waitUntil(completed, 20_000, 'every task completed');
      for (const [i, task] of tasks.entries()) {
        const chunks = (await hub.events(task.id, 0, 1000)).filter((e) => e.kind === 'output').map((e) => (e.data as { chunk: string }).chunk);
        assert.deepEqual(chunks, Array.from({ length: CHUNKS }, (_, c) => `t${i} c${c}`));
      }
      const backlog = backlogOf(hub.attempts);
      assert.notEqual(backlog.limit, 300, 'the bound followed the store');
      assert.equal(backlog.unstored, 0);
    } finally {
      await hub.dispose();
    }
  });

  it('counts no chunk twice or never when the store refuses them (a task cancelled while it streams)', async () => {
    const hub = await openTestHub();
    try {
      let refused = 0;
      let ended = 0;
      hub.handle('stream', async (_payload, ctx) => {
        try {
          for (let c = 0; c < 100_000; c++) await ctx.output(`c${c}`);
        } catch {
          refused++;
        } finally {
          ended++;
        }
        return null;
      }, { concurrency: 3 });
      const tasks = await hub.enqueueMany([0, 1, 2].map((i) => ({ type: 'stream', payload: { i } })));
      await waitUntil(async () => (await Promise.all(tasks.map((t) => hub.events(t.id, 0, 50)))).every((e) => e.length >= 50), 10_000, 'output stored');
      for (const task of tasks) await hub.cancel(task.id);
      await waitUntil(() => ended === 3, 10_000, 'every handler ended');
      assert.equal(refused, 3);
      await waitUntil(() => backlogOf(hub.attempts).unstored === 0, 5_000, 'no chunk left counted');
    } finally {
      await hub.dispose();
    }
  });
});
