// Issue 16: the bound on ctx.output's chunks in flight follows the store's pace when the store names a delay
// (worker/output-backlog.ts), and stays a fixed count when it does not (a remote worker).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  FIXED_BACKLOG,
  GROWTH,
  MAX_BACKLOG,
  MIN_BACKLOG,
  OutputBacklog,
  START_BACKLOG,
} from '../src/worker/output-backlog.ts';
import { openTestHub, waitUntil } from './helpers/hub.ts';

/** A backlog on a clock the test moves; `store(n, waitedMs)` sends n chunks, then stores them waitedMs later. */
function clocked(delayMs: number | null) {
  let now = 0;
  const backlog = new OutputBacklog(delayMs, () => now);
  return {
    backlog,
    advance: (ms: number) => (now += ms),
    store(n: number, waitedMs: number) {
      const stored = Array.from({ length: n }, () => backlog.sent());
      now += waitedMs;
      for (const done of stored) done();
    },
  };
}

describe('output backlog', () => {
  it('without a delay is a fixed count, and a refused chunk leaves it', () => {
    const { backlog, store } = clocked(null);
    assert.equal(backlog.limit, FIXED_BACKLOG);
    const sent = Array.from({ length: FIXED_BACKLOG }, () => backlog.sent());
    assert.equal(backlog.full, false);
    backlog.sent();
    assert.equal(backlog.full, true);
    backlog.refused();
    assert.equal(backlog.full, false);
    for (const done of sent) done();
    // However long chunks waited, the count stays.
    store(1000, 500);
    assert.equal(backlog.limit, FIXED_BACKLOG);
  });

  it('with a delay starts low and grows while chunks are stored within it, up to its most', () => {
    const { backlog, store } = clocked(30);
    assert.equal(backlog.limit, START_BACKLOG);
    store(16, 10);
    assert.equal(backlog.limit, Math.ceil(START_BACKLOG * GROWTH));
    for (let i = 0; i < 100; i++) store(16, 10);
    assert.equal(backlog.limit, MAX_BACKLOG);
  });

  it('shrinks in proportion to a wait longer than the delay, by half at most, never below its least', () => {
    const { backlog, store } = clocked(30);
    for (let i = 0; i < 100; i++) store(16, 10);
    store(16, 40);
    assert.equal(backlog.limit, Math.floor(MAX_BACKLOG * (30 / 40)));
    const before = backlog.limit;
    store(16, 600);
    assert.equal(backlog.limit, Math.floor(before / 2));
    for (let i = 0; i < 20; i++) store(16, 600);
    assert.equal(backlog.limit, MIN_BACKLOG);
  });

  it('counts the chunks of one batch, stored at once, as one measure', () => {
    const { backlog, advance } = clocked(30);
    // Batches of 64 chunks (4 samples each) that waited twice the delay: each batch halves the bound once.
    for (let i = 0; i < 40; i++) {
      const sent = Array.from({ length: 64 }, () => backlog.sent());
      advance(60);
      for (const done of sent) done();
    }
    assert.equal(backlog.limit, MIN_BACKLOG);
    // 256 chunks (16 samples) stored in one turn within the delay: the bound grows once, not 16 times.
    const sent = Array.from({ length: 256 }, () => backlog.sent());
    advance(10);
    for (const done of sent) done();
    assert.equal(backlog.limit, Math.ceil(MIN_BACKLOG * GROWTH));
  });

  it('is full once more chunks are unstored than its bound', () => {
    const { backlog } = clocked(30);
    const sent = Array.from({ length: START_BACKLOG }, () => backlog.sent());
    assert.equal(backlog.full, false);
    sent.push(backlog.sent());
    assert.equal(backlog.full, true);
    sent.pop()?.();
    assert.equal(backlog.full, false);
  });

  it('lets a worker on a store that names a delay store every chunk of many streaming tasks, in order', async () => {
    const hub = await openTestHub();
    try {
      assert.equal(typeof hub.attempts.outputDelayMs, 'number');
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
    } finally {
      await hub.close();
    }
  });
});
