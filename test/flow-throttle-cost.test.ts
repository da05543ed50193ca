// Issue 17 items 2, 4 and 5: per-key throttles and cost-weighted rate limits, enforced in the store's claim across
// processes on SQLite and PostgreSQL (docs/queues.md, "Throttle" and "Cost limits"). Start times come from the
// tasks' `started` events (the claim's clock), and every sliding window of the period is checked.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { describe, it, } from 'node:test';
import pino from 'pino';
import { createApiKey } from '../src/server/auth.ts';
import { type Task, Taskhub } from '../src/index.ts';
import { tempDir, waitUntil } from './helpers/hub.ts';
import { storeFor, } from './helpers/postgres.ts';
import { startServer } from './helpers/server.ts';

const CLI = join(import.meta.dirname, '..', 'bin', 'taskhub.js');
const HANDLERS = join(import.meta.dirname, 'fixtures', 'flow-limit-handlers.ts');


function worker(args: string[]): ChildProcess {
  return spawn(process.execPath, [CLI, 'worker', '--handlers', HANDLERS, '--log-level', 'warn', ...args], { stdio: ['ignore', 'inherit', 'inherit'] });
}

async function stopAll(children: ChildProcess[]): Promise<void> {
  await Promise.all(
    children.map(async (child) => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGKILL');
      await once(child, 'exit');
    }),
  );
}

/** The most starts in any window [at, at + periodMs) opened by a start. */
function busiestWindow(starts: number[], periodMs: number): number {
  return Math.max(0, ...starts.map((at) => starts.filter((s) => s >= at && s < at + periodMs).length));
}

/**
 * When each task's handler started: its `started` events, less those of attempts given back unrun (a remote worker
 * whose long-poll was cut as its claim landed releases it: a `retrying` event with code RELEASED, and a new start).
 */
async function startTimes(hub: Taskhub, tasks: readonly Task[]): Promise<number[]> {
  const starts = await Promise.all(
    tasks.map(async (task) => {
      const events = await hub.events(task.id);
      const released = (i: number) => {
        const next = events[i + 1];
        return next?.kind === 'retrying' && (next.data as { error?: { code?: string } }).error?.code === 'RELEASED';
      };
      return events.flatMap((e, i) => (e.kind === 'started' && !released(i) ? [e.at] : []));
    }),
  );
  return starts.flat().sort((a, b) => a - b);
}

/** The histories of tasks that started more than once, for a failure's message. */
async function historiesOf(hub: Taskhub, tasks: readonly Task[]): Promise<string> {
  const histories = await Promise.all(tasks.map(async (task) => (await hub.events(task.id)).map((e) => `${e.kind} ${JSON.stringify(e.data)} @${e.at}`)));
  return JSON.stringify(histories.filter((h) => h.filter((line) => line.startsWith('started')).length > 1), null, 1);
}

describe('flow control: throttle and cost limits across processes', () => {
  for (const backend of ['sqlite', 'postgres'] as const) {
    it(`${backend}: throttle 5 per 1000 ms, 20 tasks, three worker processes: at most 5 start in any window; all run`, { timeout: 120_000 }, async (t) => {
      const store = await storeFor(backend, t, 'flow');
      if (!store) return;
      const hub = await Taskhub.open({ store: store.url, logger: pino({ level: 'silent' }) });
      const children: ChildProcess[] = [];
      try {
        for (let i = 0; i < 3; i++) children.push(worker(['--store', store.url, '--concurrency', '4', '--poll-interval-ms', '20']));
        const throttle = { key: 'model-a', limit: 5, periodMs: 1000 };
        const created = await hub.enqueueMany(Array.from({ length: 20 }, (_, i) => ({ type: 'throttled', payload: { i }, throttle })));
        // An unthrottled task behind them is not held back by their key.
        const free = await hub.enqueue('throttled', { free: true });
        assert.deepEqual((await hub.get(created[0].id)).throttle, throttle);
        await waitUntil(async () => (await hub.get(free.id)).status === 'completed', 30_000, 'the unthrottled task ran');
        await waitUntil(async () => (await Promise.all(created.map((c) => hub.get(c.id)))).every((task) => task.status === 'completed'), 60_000, 'all 20 ran');
        const tasks = await Promise.all(created.map((c) => hub.get(c.id)));
        const starts = await startTimes(hub, tasks);
        assert.equal(starts.length, 20, `each started once: ${await historiesOf(hub, tasks)}`);
        assert.ok(busiestWindow(starts, 1000) <= 5, `at most 5 starts in any 1000 ms (saw ${busiestWindow(starts, 1000)})`);
        assert.ok((starts.at(-1) as number) - (starts[0] as number) >= 3000, '20 at 5 per second take at least 3 s');
        const pids = new Set(tasks.map((task) => task.result));
        assert.ok(pids.size >= 2, `the worker processes shared the work (${pids.size} ran tasks)`);
      } finally {
        await stopAll(children);
        await hub.close({ graceMs: 200 });
        await store.cleanup();
      }
    });

    it(`${backend}: cost limit 10,000 per second over HTTP, two worker processes: never more than three 3,000 tasks in a window; reported costs let more in`, { timeout: 120_000 }, async (t) => {
      const store = await storeFor(backend, t, 'flow');
      if (!store) return;
      const s = await startServer({ store: store.url, autoStart: false }, { auth: {} });
      const children: ChildProcess[] = [];
      try {
        const bearer = async (owner: string, scopes: string[]) => `Bearer ${(await createApiKey(s.hub.keys, { owner, scopes })).token}`;
        const admin = { authorization: await bearer('ops', ['admin']) };
        const tenant = { authorization: await bearer('tenant-a', ['tasks:write', 'tasks:read']) };
        const workerToken = (await bearer('ops', ['worker'])).slice(7);
        const limit = { budget: 10_000, periodMs: 1000 };
        for (const queue of ['tokens', 'reported']) {
          const put = await s.request('PUT', `/api/v1/queues/${queue}/limits`, { costLimit: limit }, admin);
          assert.equal(put.status, 200, await put.clone().text());
          assert.deepEqual(((await put.json()) as { costLimit: unknown }).costLimit, { ...limit, perKey: false });
        }
        for (let i = 0; i < 2; i++) {
          children.push(worker(['--url', s.base, '--token', workerToken, '--concurrency', '4', '--claim-wait-ms', '200', '--heartbeat-interval-ms', '500']));
        }
        // Both workers waiting before the tasks come, so each has its chance at every window.
        await waitUntil(async () => {
          const list = (await (await s.request('GET', '/api/v1/workers', undefined, admin)).json()) as { workers: unknown[] };
          return list.workers.length === 2;
        }, 30_000, 'both worker processes registered');
        const batch = await s.request('POST', '/api/v1/tasks/batch', { tasks: Array.from({ length: 12 }, () => ({ type: 'costly', queue: 'tokens', cost: 3000 })) }, tenant);
        assert.equal(batch.status, 202, await batch.clone().text());
        const costly = ((await batch.json()) as { tasks: Task[] }).tasks;
        assert.equal(costly[0].cost, 3000);
        // What flow control holds back shows in the queue view while the first window is full.
        await waitUntil(async () => {
          const view = (await (await s.request('GET', '/api/v1/queues/tokens', undefined, admin)).json()) as { heldBack: { reason: string; tasks: number }[] };
          return view.heldBack.some((h) => h.reason === 'over-budget' && h.tasks > 0);
        }, 20_000, 'an over-budget entry in GET /queues/tokens');
        // The dashboard's overview reads the same through /stats.
        const stats = (await (await s.request('GET', '/api/v1/stats', undefined, admin)).json()) as { heldBack: { queue: string; reason: string }[] };
        assert.ok(stats.heldBack.some((h) => h.queue === 'tokens' && h.reason === 'over-budget'), JSON.stringify(stats.heldBack));
        const metrics = await (await s.request('GET', '/metrics', undefined, admin)).text();
        assert.match(metrics, /taskhub_tasks_held_back\{queue="tokens",reason="over-budget"\} [1-9]/);
        await waitUntil(async () => (await Promise.all(costly.map((c) => s.hub.get(c.id)))).every((task) => task.status === 'completed'), 60_000, 'all 12 ran');
        const starts = await startTimes(s.hub, costly);
        assert.equal(starts.length, 12, `each started once: ${await historiesOf(s.hub, costly)}`);
        assert.ok(busiestWindow(starts, 1000) <= 3, `at most 3 × 3000 in any 1000 ms (saw ${busiestWindow(starts, 1000)})`);
        const pids = new Set((await Promise.all(costly.map((c) => s.hub.get(c.id)))).map((task) => task.result));
        assert.ok(pids.size === 2, 'both worker processes ran tasks');

        // Declared 3000, reported 1000: each finish frees 2000 of the window, so more than three start in one.
        const submitted = await s.request('POST', '/api/v1/tasks/batch', { tasks: Array.from({ length: 9 }, () => ({ type: 'reported', queue: 'reported', cost: 3000, payload: { report: 1000 } })) }, tenant);
        const reported = ((await submitted.json()) as { tasks: Task[] }).tasks;
        await waitUntil(async () => (await Promise.all(reported.map((c) => s.hub.get(c.id)))).every((task) => task.status === 'completed'), 60_000, 'all 9 ran');
        const view = (await (await s.request('GET', `/api/v1/tasks/${reported[0].id}`, undefined, tenant)).json()) as Task;
        assert.deepEqual({ cost: view.cost, reportedCost: view.reportedCost, throttle: view.throttle }, { cost: 3000, reportedCost: 1000, throttle: null });
        const reportedStarts = await startTimes(s.hub, reported);
        assert.ok(busiestWindow(reportedStarts, 1000) > 3, `reported costs let more than 3 start in a window (saw ${busiestWindow(reportedStarts, 1000)})`);
      } finally {
        await stopAll(children);
        await s.close();
        await store.cleanup();
      }
    });
  }

  for (const backend of ['sqlite', 'postgres'] as const) {
    it(`${backend}: a remote worker in a long-poll claim starts throttled tasks as their window moves on, not when its wait ends`, { timeout: 60_000 }, async (t) => {
      const store = await storeFor(backend, t, 'flow');
      if (!store) return;
      const s = await startServer({ store: store.url, autoStart: false });
      // The default long-poll (25 s): only the store's flow wake-up can start the next window's tasks in time.
      const children = [worker(['--url', s.base, '--concurrency', '2', '--claim-wait-ms', '25000'])];
      try {
        const throttle = { key: 'k', limit: 2, periodMs: 500 };
        const created = await s.hub.enqueueMany(Array.from({ length: 6 }, () => ({ type: 'throttled', throttle })));
        await waitUntil(async () => (await Promise.all(created.map((c) => s.hub.get(c.id)))).every((task) => task.status === 'completed'), 8000, 'all 6 ran within 8 s');
        const starts = await startTimes(s.hub, await Promise.all(created.map((c) => s.hub.get(c.id))));
        assert.ok(busiestWindow(starts, 500) <= 2, `at most 2 per 500 ms (saw ${busiestWindow(starts, 500)})`);
        assert.ok((starts.at(-1) as number) - (starts[0] as number) < 3000, `the three windows followed each other (${(starts.at(-1) as number) - (starts[0] as number)} ms)`);
      } finally {
        await stopAll(children);
        await s.close();
        await store.cleanup();
      }
    });
  }

  it('the CLI: submit --throttle --cost, queues limit --cost-limit, types put --throttle --cost-limit, types limit keeps the other limit', () => {
    const tmp = tempDir();
    try {
      const env = { ...process.env, TASKHUB_STORE: `sqlite:${join(tmp.dir, 'cli.db')}` };
      const taskhub = (args: string[]) => spawnSync(process.execPath, [CLI, ...args, '--json'], { encoding: 'utf8', timeout: 30_000, env });
      const json = <T>(args: string[]): T => {
        const run = taskhub(args);
        assert.equal(run.status, 0, run.stderr);
        return JSON.parse(run.stdout) as T;
      };
      const { task } = json<{ task: Task }>(['submit', 'work', '{}', '--throttle', 'user-42:5/1000', '--cost', '1200']);
      assert.deepEqual({ throttle: task.throttle, cost: task.cost }, { throttle: { key: 'user-42', limit: 5, periodMs: 1000 }, cost: 1200 });
      assert.match(taskhub(['submit', 'work', '--throttle', '5/1000']).stderr, /expected KEY:LIMIT\/MS/);
      assert.match(taskhub(['submit', 'work', '--cost', '-3']).stderr, /cost/);
      const queue = json<{ costLimit: unknown }>(['queues', 'limit', 'llm', '--cost-limit', '90000/60000/per-key']);
      assert.deepEqual(queue.costLimit, { budget: 90_000, periodMs: 60_000, perKey: true });
      assert.equal(json<{ costLimit: unknown }>(['queues', 'limit', 'llm', '--cost-limit', 'none']).costLimit, null);
      const type = json<{ costLimit: unknown; defaults: unknown }>(['types', 'put', 'mail', '--throttle', '3/500', '--cost-limit', '10/1000']);
      assert.deepEqual(type.costLimit, { budget: 10, periodMs: 1000, perKey: false });
      assert.deepEqual(type.defaults, { throttle: { limit: 3, periodMs: 500 } });
      const limited = json<{ costLimit: unknown; rateLimit: unknown; defaults: unknown }>(['types', 'limit', 'mail', '--rate', '5/1000']);
      assert.deepEqual([limited.rateLimit, limited.costLimit], [{ count: 5, intervalMs: 1000 }, { budget: 10, periodMs: 1000, perKey: false }]);
      assert.deepEqual(limited.defaults, { throttle: { limit: 3, periodMs: 500 } });
      assert.match(taskhub(['queues', 'limit', 'llm', '--cost-limit', 'lots']).stderr, /expected BUDGET\/MS/);
    } finally {
      tmp.remove();
    }
  });

  it('over HTTP: bad throttles, costs and cost limits answer 400 naming the field; type defaults apply', async () => {
    const s = await startServer({ autoStart: false });
    try {
      const submit = (body: unknown) => s.request('POST', '/api/v1/tasks', { type: 'a', ...(body as object) });
      for (const [body, field] of [
        [{ throttle: { key: 'k', limit: 0, periodMs: 1000 } }, 'throttle.limit'],
        [{ throttle: { key: 'k', limit: 1, periodMs: 0 } }, 'throttle.periodMs'],
        [{ throttle: { key: 'k', limit: 1, periodMs: 86_400_001 } }, 'throttle.periodMs'],
        [{ throttle: { key: '', limit: 1, periodMs: 1000 } }, 'throttle.key'],
        [{ throttle: { limit: 1, periodMs: 1000 } }, 'throttle'],
        [{ cost: -1 }, 'cost'],
        [{ cost: 1.5 }, 'cost'],
      ] as const) {
        const res = await submit(body);
        assert.equal(res.status, 400, JSON.stringify(body));
        assert.match(((await res.json()) as { detail: string }).detail, new RegExp(field.replace('.', '\\.')), JSON.stringify(body));
      }
      for (const [body, field] of [
        [{ costLimit: { budget: 0, periodMs: 1000 } }, 'costLimit.budget'],
        [{ costLimit: { budget: 10, periodMs: 0 } }, 'costLimit.periodMs'],
        [{ costLimit: { budget: 10 } }, 'costLimit'],
      ] as const) {
        const res = await s.request('PUT', '/api/v1/queues/q/limits', body);
        assert.equal(res.status, 400, JSON.stringify(body));
        assert.match(((await res.json()) as { detail: string }).detail, new RegExp(field.replace('.', '\\.')));
        assert.equal((await s.request('PUT', '/api/v1/types/a', body)).status, 400);
      }
      // A type's default throttle: without a key, the type name (no owner or concurrencyKey without auth).
      const put = await s.request('PUT', '/api/v1/types/mail', { defaults: { throttle: { limit: 2, periodMs: 1000 } }, costLimit: { budget: 5, periodMs: 1000, perKey: true } });
      assert.equal(put.status, 201, await put.clone().text());
      assert.deepEqual(((await put.json()) as { costLimit: unknown }).costLimit, { budget: 5, periodMs: 1000, perKey: true });
      await waitUntil(async () => {
        const task = (await (await s.request('POST', '/api/v1/tasks', { type: 'mail' })).json()) as Task;
        return task.throttle?.key === 'mail';
      }, 3000, 'the default throttle applies (type settings refresh within a second)');
      const own = (await (await s.request('POST', '/api/v1/tasks', { type: 'mail', throttle: { key: 'mine', limit: 9, periodMs: 10 } })).json()) as Task;
      assert.deepEqual(own.throttle, { key: 'mine', limit: 9, periodMs: 10 }, 'a task that says wins');
      assert.equal((await s.request('PUT', '/api/v1/types/x', { defaults: { throttle: { limit: 0, periodMs: 1 } } })).status, 400);
      const queue = (await (await s.request('GET', '/api/v1/queues/default')).json()) as { heldBack: unknown[] };
      assert.deepEqual(queue.heldBack, []);
    } finally {
      await s.close();
    }
  });
});
