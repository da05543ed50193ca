// Issue 16 (enqueue-to-start latency): a task submitted while a worker of its type waits idle in the same process
// starts in the submit's own transaction (engine/handoff.ts, SqliteStore.createAndStart), never past what a claim
// would decide.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { join } from 'node:path';
import pino from 'pino';
import { Taskhub } from '../src/index.ts';
import { LEASE, newTask, T0 } from '../src/store/conformance/helpers.ts';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.ts';
import { tempDir, waitUntil } from './helpers/hub.ts';

async function openStore() {
  const tmp = tempDir();
  const store = new SqliteStore({ path: join(tmp.dir, 'taskhub.db') });
  await store.migrate();
  return {
    store,
    async dispose() {
      await store.close();
      tmp.remove();
    },
  };
}

describe('direct hand-off to an idle worker', () => {
  it('starts a task submitted while its worker waits without a claim, with the same history as a claim', async () => {
    const { store, dispose } = await openStore();
    // The real store, watched: which tasks came out of claims, and how many submits started tasks at once.
    const claimedIds = new Set<string>();
    const claim = store.claim.bind(store);
    store.claim = async (request) => {
      const claims = await claim(request);
      for (const c of claims) claimedIds.add(c.task.id);
      return claims;
    };
    const createAndStart = store.createAndStart.bind(store);
    let handedOver = 0;
    store.createAndStart = async (...args) => {
      const answer = await createAndStart(...args);
      handedOver += answer.claims.length;
      return answer;
    };
    const hub = await Taskhub.open({ store, logger: pino({ level: 'silent' }) });
    try {
      const ran: string[] = [];
      hub.handle('quick', (_payload, ctx) => {
        ran.push(ctx.taskId);
        return { ok: true };
      }, { concurrency: 2 });
      // Let the worker find nothing and settle into its wait.
      await new Promise((resolve) => setTimeout(resolve, 200));
      const ids: string[] = [];
      for (let i = 0; i < 5; i++) {
        const task = await hub.enqueue('quick', { i });
        ids.push(task.id);
        await waitUntil(() => ran.includes(task.id), 5000, `task ${i} to run`);
        await waitUntil(async () => (await hub.get(task.id)).status === 'completed', 5000, `task ${i} to complete`);
        await new Promise((resolve) => setTimeout(resolve, 30));
      }
      assert.deepEqual(ran, ids, 'each task ran once, in order');
      assert.equal(handedOver, 5, 'every submit started its task at once');
      assert.deepEqual(ids.filter((id) => claimedIds.has(id)), [], 'no claim returned them');
      const workers = new Set<unknown>();
      for (const id of ids) {
        const events = await hub.events(id);
        assert.deepEqual(events.map((e) => [e.seq, e.kind]), [[1, 'created'], [2, 'started'], [3, 'completed']]);
        const data = events[1].data as { attempt: number; workerId: string };
        assert.equal(data.attempt, 1);
        workers.add(data.workerId);
        const task = await hub.get(id);
        assert.equal(task.attempts, 1);
      }
      assert.equal(workers.size, 1, 'one worker ran them all');
      assert.equal(typeof [...workers][0], 'string');
    } finally {
      await hub.close({ graceMs: 200 });
      await dispose();
    }
  });

  it('leaves a task queued where a claim would not pick it now', async () => {
    const { store, dispose } = await openStore();
    try {
      const start = async (task: ReturnType<typeof newTask>) => {
        const { created, claims } = await store.createAndStart([task], new Map([[task.id, 'w1']]), LEASE, T0);
        assert.equal(created[0].created, true);
        return claims;
      };
      // Plain: started for w1, as a claim would, with its started event.
      const plain = newTask({ type: 'plain' });
      const [started] = await start(plain);
      assert.equal(started.task.id, plain.id);
      assert.equal(started.task.status, 'running');
      assert.equal(started.leaseExpiresAt, T0 + LEASE);
      assert.deepEqual((await store.listEvents(plain.id, 0, 10)).map((e) => [e.kind, e.data]), [
        ['created', { status: 'queued', runAt: T0 }],
        ['started', { attempt: 1, workerId: 'w1' }],
      ]);

      // An older task of the type is ready: it goes first, so the new one waits its turn.
      await store.createTasks([newTask({ type: 'backlog' })]);
      const behind = newTask({ type: 'backlog' });
      assert.deepEqual(await start(behind), []);
      assert.equal((await store.getTask(behind.id))?.status, 'queued');

      // Paused and capped queues, a throttled task, a scheduled one: each left to the claim.
      await store.updateQueueSettings('held', { paused: true }, T0);
      await store.updateQueueSettings('capped', { maxConcurrency: 1 }, T0);
      for (const task of [
        newTask({ type: 'p', queue: 'held' }),
        newTask({ type: 'c', queue: 'capped' }),
        newTask({ type: 't', throttle: { key: 'k', limit: 1, periodMs: 1000 } }),
        newTask({ type: 's', runAt: T0 + 60_000 }),
      ]) {
        assert.deepEqual(await start(task), [], `${task.type} is not handed over`);
        assert.equal((await store.getTask(task.id))?.status, task.status);
      }
    } finally {
      await dispose();
    }
  });
});
