// Issue 16: a worker claims ahead of its free slots for fast handlers (worker/worker.ts, "Claim-ahead"), and what it
// holds in its buffer is given back when it cannot start soon, on shutdown, and on a cancel request.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import pino from 'pino';
import { type Task, Taskhub } from '../src/index.ts';
import { openStore } from '../src/store/open.ts';
import { AHEAD_HORIZON_MS, claimAheadFor, FAST_RUN_MS, MAX_CLAIM_AHEAD } from '../src/worker/claim-ahead.ts';
import { openTestHub, waitUntil } from './helpers/hub.ts';
import { storeFor } from './helpers/postgres.ts';

/** A hub whose `work` handler is fast for the first `warm` tasks, then blocks each task until `open()`. */
async function warmedUpHub(warm: number, concurrency: number) {
  const hub = await openTestHub();
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  const started: string[] = [];
  hub.handle('work', async (_payload, ctx) => {
    started.push(ctx.taskId);
    if (started.length > warm) await gate;
    return null;
  }, { concurrency });
  return { hub, started, open: () => release() };
}

async function statuses(hub: { get(id: string): Promise<Task> }, tasks: readonly Task[]): Promise<Task[]> {
  return Promise.all(tasks.map((t) => hub.get(t.id)));
}

describe('claim-ahead', () => {
  it('claims ahead what the handlers can start within the horizon at their recent pace, within bounds', () => {
    const now = 10_000;
    const ahead = (concurrency: number, recentRunMs: number | null, pace: { running?: number; lastRunEndAt?: number } = {}) =>
      claimAheadFor({ concurrency, recentRunMs, running: pace.running ?? 0, lastRunEndAt: pace.lastRunEndAt ?? now }, now);
    assert.equal(ahead(4, null), 0, 'nothing ran yet: no pace to go by');
    assert.equal(ahead(4, FAST_RUN_MS), 0, 'slow handlers never claim ahead');
    assert.equal(ahead(4, 19), 5, 'just under the limit: four slots start five in the horizon');
    assert.equal(ahead(50, 19), 65);
    assert.equal(ahead(2, 15), 3);
    assert.equal(ahead(1, 10), 2);
    assert.equal(ahead(50, 1), MAX_CLAIM_AHEAD, 'fast handlers: up to the bound');
    assert.equal(ahead(4, 0), MAX_CLAIM_AHEAD);
    assert.equal(ahead(500, 1), MAX_CLAIM_AHEAD, 'the bound holds for any concurrency');
    assert.equal(claimAheadFor({ concurrency: 50, recentRunMs: 1, running: 0, lastRunEndAt: now }, now, 500), 500, "a store's own bound");
    assert.equal(claimAheadFor({ concurrency: 50, recentRunMs: 10, running: 0, lastRunEndAt: now }, now, 500), 125, 'the pace still decides under it');
    // Every slot busy: claim ahead only while slots keep freeing at the pace.
    assert.equal(ahead(4, 1), 100, 'four slots at 1 ms a task start 100 within 25 ms');
    assert.equal(ahead(4, 1, { running: 4, lastRunEndAt: now - AHEAD_HORIZON_MS / 2 }), 100);
    assert.equal(ahead(4, 1, { running: 4, lastRunEndAt: now - AHEAD_HORIZON_MS - 1 }), 0, 'the running handlers stalled');
    assert.equal(ahead(4, 1, { running: 3, lastRunEndAt: now - 60_000 }), 100, 'a free slot starts the next at once');
  });

  for (const backend of ['sqlite', 'postgres'] as const) {
    it(`claims ahead of its free slots for a fast handler, up to the store's bound, and runs each task exactly once (${backend})`, async (t) => {
      const place = await storeFor(backend, t, 'claim_ahead');
      if (!place) return;
      const store = await openStore(place.url);
      await store.migrate();
      // The real store, watched: how many tasks each claim asked for and got.
      const claimed: { max: number; got: number }[] = [];
      const claim = store.claim.bind(store);
      store.claim = async (request) => {
        const claims = await claim(request);
        claimed.push({ max: request.max, got: claims.length });
        return claims;
      };
      const hub = await Taskhub.open({ store, logger: pino({ level: 'silent' }) });
      try {
        let done = 0;
        hub.handle('fast', () => {
          done++;
        }, { concurrency: 4 });
        const count = 3000;
        const tasks: Task[] = [];
        for (let i = 0; i < count; i += 1000) tasks.push(...(await hub.enqueueMany(Array.from({ length: 1000 }, (_, k) => ({ type: 'fast', payload: { i: i + k } })))));
        await waitUntil(async () => (await statuses(hub, tasks)).every((task) => task.status === 'completed'), 30_000, 'every task to complete');
        assert.equal(done, count);
        assert.ok((await statuses(hub, tasks)).every((task) => task.attempts === 1));
        const bound = store.maxClaimAhead;
        const summary = JSON.stringify(claimed.slice(0, 12));
        assert.ok(claimed.some((c) => c.got > 4), `the worker claimed ahead of its 4 slots: ${summary}`);
        assert.ok(claimed.every((c) => c.max <= 4 + bound), `never more than ${bound} ahead: ${summary}`);
        assert.ok(claimed.some((c) => c.max > 4 + MAX_CLAIM_AHEAD / 2), `a fast type claims near the bound (${bound}): ${summary}`);
        if (bound > MAX_CLAIM_AHEAD) assert.ok(claimed.some((c) => c.max > 4 + MAX_CLAIM_AHEAD), `the store's larger bound is used: ${summary}`);
      } finally {
        await hub.close({ graceMs: 200 });
        await place.cleanup();
      }
    });
  }

  it('gives back a buffered task that found no slot within its time, without counting an attempt', async () => {
    const { hub, started, open } = await warmedUpHub(30, 2);
    try {
      const warmup = await hub.enqueueMany(Array.from({ length: 30 }, () => ({ type: 'work' })));
      await waitUntil(async () => (await statuses(hub, warmup)).every((t) => t.status === 'completed'), 10_000, 'the warm-up');
      const blocked = await hub.enqueueMany(Array.from({ length: 6 }, () => ({ type: 'work' })));
      await waitUntil(() => hub.worker.stats.waiting > 0, 5000, 'tasks to wait in the buffer');
      const t0 = Date.now();
      await waitUntil(() => hub.worker.stats.waiting === 0, 5000, 'the buffer to give its tasks back');
      assert.ok(Date.now() - t0 < 2500);
      const now = await statuses(hub, blocked);
      const back = now.filter((t) => !started.includes(t.id));
      assert.ok(back.length > 0);
      // Given back, then claimed again by the same worker only once slots free; never counted as a run.
      for (const t of back) assert.ok(t.status === 'queued' || (t.status === 'running' && t.attempts === 1), `${t.status} ${t.attempts}`);
      open();
      await waitUntil(async () => (await statuses(hub, blocked)).every((t) => t.status === 'completed'), 10_000, 'the rest to complete');
      assert.ok((await statuses(hub, blocked)).every((t) => t.attempts === 1));
    } finally {
      open();
      await hub.dispose();
    }
  });

  it('cancels a buffered task without running it, and gives the buffer back on shutdown', async () => {
    const { hub, started, open } = await warmedUpHub(30, 1);
    try {
      const warmup = await hub.enqueueMany(Array.from({ length: 30 }, () => ({ type: 'work' })));
      await waitUntil(async () => (await statuses(hub, warmup)).every((t) => t.status === 'completed'), 10_000, 'the warm-up');
      const blocked = await hub.enqueueMany(Array.from({ length: 3 }, () => ({ type: 'work' })));
      await waitUntil(() => hub.worker.stats.waiting > 0, 5000, 'a task to wait in the buffer');
      const buffered = (await statuses(hub, blocked)).find((t) => t.status === 'running' && !started.includes(t.id));
      assert.ok(buffered, 'a claimed task that has not started');
      await hub.cancel(buffered.id);
      await waitUntil(async () => (await hub.get(buffered.id)).status === 'cancelled', 5000, 'the buffered task to be cancelled');
      assert.ok(!started.includes(buffered.id), 'its handler never ran');

      await waitUntil(() => hub.worker.stats.waiting > 0, 5000, 'another task in the buffer');
      const stopping = hub.worker.stop(100);
      open();
      await stopping;
      for (const t of await statuses(hub, blocked)) {
        if (t.id === buffered.id) continue;
        if (started.includes(t.id)) assert.equal(t.status, 'completed');
        else assert.deepEqual([t.status, t.attempts], ['queued', 0], 'given back on shutdown, the attempt not counted');
      }
    } finally {
      open();
      await hub.dispose();
    }
  });
});
