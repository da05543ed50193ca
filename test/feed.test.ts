// What the dashboard calls besides the task routes: the live feed (batched lifecycle events, owner-scoped, no output,
// bounded batches), the overview stats, dead-letter redrive and task deletion over HTTP.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Task } from '../src/index.ts';
import { createApiKey } from '../src/server/auth.ts';
import type { FeedEvent } from '../src/server/routes/feed.ts';
import { waitUntil } from './helpers/hub.ts';
import { gate, type SseEvent, sseFrames, startServer, type TestServer } from './helpers/server.ts';

interface Batch {
  events: FeedEvent[];
  dropped: number;
}

/** Opens the feed and collects its batches until `stop` is called. */
async function openFeed(s: TestServer, headers: Record<string, string> = {}) {
  const abort = new AbortController();
  const res = await fetch(`${s.base}/api/v1/feed`, { headers, signal: abort.signal });
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^text\/event-stream/);
  const batches: Batch[] = [];
  let hello = false;
  const reading = (async () => {
    try {
      for await (const frame of sseFrames(res.body!)) {
        if ('comment' in frame) continue;
        const { event, data } = frame as SseEvent;
        if (event === 'hello') hello = true;
        else if (event === 'tasks') batches.push(JSON.parse(data) as Batch);
      }
    } catch {
      // aborted
    }
  })();
  await waitUntil(() => hello, 2000, 'the hello');
  return {
    batches,
    events: () => batches.flatMap((b) => b.events),
    async stop() {
      abort.abort();
      await reading;
    },
  };
}

describe('dashboard API', () => {
  let s: TestServer;
  before(async () => {
    s = await startServer({ worker: { pollIntervalMs: 20 } });
  });
  after(() => s.close());

  it('feeds lifecycle events in batches: progress coalesced, output left out, results not carried', async () => {
    const feed = await openFeed(s);
    const release = gate();
    try {
      s.hub.handle('chatty', async (_payload, ctx) => {
        await release.promise;
        for (let i = 1; i <= 20; i++) {
          await ctx.output(`chunk ${i}`);
          await ctx.progress(i * 5, `step ${i}`);
        }
        return { big: 'x'.repeat(10_000) };
      });
      const task = (await (await s.request('POST', '/api/v1/tasks', { type: 'chatty', queue: 'fq' })).json()) as Task;
      await waitUntil(() => feed.events().some((e) => e.taskId === task.id && e.kind === 'started'), 5000, 'the start');
      release.open();
      await waitUntil(() => feed.events().some((e) => e.taskId === task.id && e.kind === 'completed'), 5000, 'the end');
      const mine = feed.events().filter((e) => e.taskId === task.id);
      assert.deepEqual([...new Set(mine.map((e) => e.kind))].sort(), ['completed', 'created', 'progress', 'started']);
      assert.ok(mine.every((e) => e.queue === 'fq'));
      assert.deepEqual(mine.find((e) => e.kind === 'created')?.data, { status: 'queued', runAt: task.runAt });
      assert.equal(mine.find((e) => e.kind === 'completed')?.data, undefined, 'no result in the feed');
      const progress = mine.filter((e) => e.kind === 'progress');
      assert.ok(progress.length < 20, `progress coalesced within a batch (${progress.length} of 20 sent)`);
      assert.deepEqual(progress[progress.length - 1].data, { percent: 100, message: 'step 20' });
      for (const batch of feed.batches) {
        const seqs = batch.events.filter((e) => e.taskId === task.id).map((e) => e.seq);
        assert.deepEqual(seqs, [...seqs].sort((a, b) => a - b), 'in order within a batch');
      }
    } finally {
      release.open();
      await feed.stop();
    }
  });

  it('counts what does not fit in one message as dropped', async () => {
    const feed = await openFeed(s);
    try {
      await s.hub.pauseQueue('burst');
      await s.hub.enqueueMany(Array.from({ length: 1500 }, () => ({ type: 'nothing', queue: 'burst' })));
      await waitUntil(() => feed.events().filter((e) => e.queue === 'burst').length + feed.batches.reduce((n, b) => n + b.dropped, 0) >= 1500, 5000, 'the burst');
      assert.ok(feed.batches.every((b) => b.events.length <= 1000));
      assert.ok(feed.batches.some((b) => b.dropped > 0), 'the rest is reported as dropped');
    } finally {
      await feed.stop();
    }
  });

  it('answers the overview: capped counts, queue controls, the last hour', async () => {
    const res = await s.request('GET', '/api/v1/stats');
    assert.equal(res.status, 200);
    const stats = (await res.json()) as {
      counts: { queues: { queue: string; counts: Record<string, number> }[]; capped: string[]; cap: number };
      queues: { name: string; paused: boolean }[];
      activity: { since: number; minutes: { at: number; completed: number; started: number; waitP50Ms: number | null }[] };
    };
    assert.equal(stats.counts.cap, 10_000);
    assert.ok(stats.counts.queues.find((q) => q.queue === 'burst')?.counts.queued === 1500);
    assert.equal(stats.queues.find((q) => q.name === 'burst')?.paused, true);
    assert.equal(stats.activity.minutes.length, 60);
    const last = stats.activity.minutes[59];
    assert.ok(last.completed >= 1 && last.started >= 1, 'this minute saw the chatty task');
    assert.equal(typeof last.waitP50Ms, 'number');
  });

  it('redrives a queue\'s failed tasks and deletes tasks that are not running', async () => {
    s.hub.handle('failing', async () => {
      throw new Error('no');
    });
    await s.hub.pauseQueue('dl');
    const tasks = await s.hub.enqueueMany([1, 2, 3].map(() => ({ type: 'failing', queue: 'dl', maxAttempts: 1 })));
    await s.hub.resumeQueue('dl');
    for (const t of tasks) await waitUntil(async () => (await s.hub.get(t.id)).status === 'failed', 5000, 'the failures');
    await s.hub.pauseQueue('dl');
    const redriven = await s.request('POST', '/api/v1/queues/dl/redrive');
    assert.equal(redriven.status, 200);
    assert.deepEqual(await redriven.json(), { queue: 'dl', retried: 3 });
    for (const t of tasks) assert.equal((await s.hub.get(t.id)).status, 'queued');
    assert.deepEqual(await (await s.request('POST', '/api/v1/queues/dl/redrive')).json(), { queue: 'dl', retried: 0 });

    assert.equal((await s.request('DELETE', `/api/v1/tasks/${tasks[0].id}`)).status, 204);
    assert.equal((await s.request('GET', `/api/v1/tasks/${tasks[0].id}`)).status, 404);
    assert.equal((await s.request('DELETE', `/api/v1/tasks/${tasks[0].id}`)).status, 404);
    const release = gate();
    s.hub.handle('holds', () => release.promise);
    const running = await s.hub.enqueue('holds');
    await waitUntil(async () => (await s.hub.get(running.id)).status === 'running', 5000, 'the start');
    const refused = await s.request('DELETE', `/api/v1/tasks/${running.id}`);
    assert.equal(refused.status, 409);
    assert.equal(((await refused.json()) as { code: string }).code, 'INVALID_STATE');
    release.open();
  });
});

describe('dashboard API under auth', () => {
  let s: TestServer;
  const tokens: Record<'alice' | 'bob' | 'admin', string> = { alice: '', bob: '', admin: '' };
  before(async () => {
    s = await startServer({ autoStart: false }, { auth: { jwtSecret: 'z'.repeat(32) } });
    tokens.alice = (await createApiKey(s.hub.keys, { owner: 'alice', scopes: ['tasks:read', 'tasks:write'] })).token;
    tokens.bob = (await createApiKey(s.hub.keys, { owner: 'bob', scopes: ['tasks:read', 'tasks:write'] })).token;
    tokens.admin = (await createApiKey(s.hub.keys, { owner: 'ops', scopes: ['admin'] })).token;
  });
  after(() => s.close());
  const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

  it('shows each owner only its own tasks in the feed; stats and redrive need admin; delete needs the task', async () => {
    const bobFeed = await openFeed(s, bearer(tokens.bob));
    const adminFeed = await openFeed(s, bearer(tokens.admin));
    try {
      const res = await s.request('POST', '/api/v1/tasks', { type: 'secret', queue: 'aq' }, bearer(tokens.alice));
      const task = (await res.json()) as Task;
      await waitUntil(() => adminFeed.events().some((e) => e.taskId === task.id), 5000, 'the admin to see it');
      await new Promise((resolve) => setTimeout(resolve, 400));
      assert.ok(!bobFeed.events().some((e) => e.taskId === task.id), 'bob does not see alice\'s task');

      assert.equal((await s.request('GET', '/api/v1/feed')).status, 401);
      assert.equal((await s.request('GET', '/api/v1/stats', undefined, bearer(tokens.alice))).status, 403);
      assert.equal((await s.request('GET', '/api/v1/stats', undefined, bearer(tokens.admin))).status, 200);
      assert.equal((await s.request('POST', '/api/v1/queues/aq/redrive', undefined, bearer(tokens.alice))).status, 403);
      assert.equal((await s.request('DELETE', `/api/v1/tasks/${task.id}`, undefined, bearer(tokens.bob))).status, 404, 'another owner\'s task is not there');
      assert.equal((await s.request('DELETE', `/api/v1/tasks/${task.id}`, undefined, bearer(tokens.alice))).status, 204);
      assert.equal((await s.request('GET', '/dashboard')).status, 200, 'the page itself is public');
      assert.equal((await s.request('GET', '/dashboard/app.ts')).status, 200);
      assert.equal((await s.request('GET', '/dashboard/%2e%2e/package.json')).status, 404, 'only the dashboard\'s own files');
    } finally {
      await bobFeed.stop();
      await adminFeed.stop();
    }
  });
});
