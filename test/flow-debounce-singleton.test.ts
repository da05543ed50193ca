// Issue 17 items 1 and 3: per-key debounce and singleton policies, enforced by the store on SQLite and PostgreSQL, in
// a real hub with its worker, over HTTP, from the CLI and across processes.
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { describe, it, type TestContext } from 'node:test';
import pino from 'pino';
import { type Json, SingletonConflictError, Taskhub, type TaskSpec } from '../src/index.ts';
import { TaskhubClient, TaskhubSingletonConflictError } from '../src/client/index.ts';
import { tempDir, waitUntil } from './helpers/hub.ts';
import { storeFor, } from './helpers/postgres.ts';
import { startServer } from './helpers/server.ts';

const CLI = join(import.meta.dirname, '..', 'bin', 'taskhub.js');
const run = promisify(execFile);
const HANDLERS = join(import.meta.dirname, 'fixtures', 'flow-handlers.ts');
const HEARTBEAT_MS = 400;


/** A hub on the backend, with what its handlers saw. */
async function withHub(backend: 'sqlite' | 'postgres', t: TestContext, body: (hub: Taskhub, url: string) => Promise<void>): Promise<void> {
  const store = await storeFor(backend, t, 'flow');
  if (!store) return;
  const hub = await Taskhub.open({ store: store.url, logger: pino({ level: 'silent' }), worker: { pollIntervalMs: 20 } });
  try {
    await body(hub, store.url);
  } finally {
    await hub.close({ graceMs: 200 });
    await store.cleanup();
  }
}

interface Run {
  payload: Json;
  at: number;
}

describe('debounce and singleton', () => {
  for (const backend of ['sqlite', 'postgres'] as const) {
    it(`${backend}: 10 submits 50 ms apart with delayMs 1000 run once, with the last payload, ~1000 ms after the last`, { timeout: 30_000 }, async (t) => {
      await withHub(backend, t, async (hub) => {
        const runs: Run[] = [];
        hub.handle('deb', async (payload) => {
          runs.push({ payload, at: Date.now() });
          return null;
        });
        const ids = new Set<string>();
        // The delay counts from when the store took the last submit: after lastSent, by lastAnswered.
        let lastSent = 0;
        let lastAnswered = 0;
        for (let i = 0; i < 10; i++) {
          lastSent = Date.now();
          const { task, merged } = await hub.submit({ type: 'deb', payload: i, debounce: { key: 'doc-1', delayMs: 1000 } });
          lastAnswered = Date.now();
          ids.add(task.id);
          assert.equal(merged, i === 0 ? undefined : 'debounce');
          if (i < 9) await sleep(50);
        }
        assert.equal(ids.size, 1, 'every submit answered with one task');
        await waitUntil(() => runs.length > 0, 5000, 'the debounced run');
        await sleep(500);
        assert.equal(runs.length, 1);
        assert.equal(runs[0].payload, 9);
        const after = runs[0].at - lastSent;
        assert.ok(after >= 950 && runs[0].at - lastAnswered <= 1600, `ran ${after} ms after the last submit was sent (it took ${lastAnswered - lastSent} ms)`);
        const [task] = [...ids];
        assert.deepEqual((await hub.get(task)).debounce?.delayMs, 1000);
      });
    });

    it(`${backend}: with maxWaitMs 400 the run starts by ~400 ms after the first submit`, { timeout: 30_000 }, async (t) => {
      await withHub(backend, t, async (hub) => {
        const runs: Run[] = [];
        hub.handle('deb', async (payload) => {
          runs.push({ payload, at: Date.now() });
          return null;
        });
        const first = Date.now();
        for (let i = 0; i < 10; i++) {
          await hub.enqueue('deb', i, { debounce: { key: 'doc-2', delayMs: 1000, maxWaitMs: 400 } });
          if (i < 9) await sleep(50);
        }
        await waitUntil(() => runs.length > 0 && (runs.at(-1) as Run).payload === 9, 5000, 'the last payload to run');
        // Without maxWaitMs the ten submits (450 ms) and the delay would hold the run until ~1450 ms.
        const wait = runs[0].at - first;
        assert.ok(wait >= 350 && wait < 1000, `the first run started ${wait} ms after the first submit`);
        // Submits after the run had started opened a new window, which ran with the last payload. (A submit that came
        // after the window was due but before a worker took the task still joined it, so under load there may be one.)
        assert.ok(runs.length <= 2, `${runs.length} runs`);
      });
    });

    it(`${backend}: singleton queue-one keeps one waiting with the latest payload; it starts when the running one ends`, { timeout: 30_000 }, async (t) => {
      await withHub(backend, t, async (hub) => {
        const runs: Run[] = [];
        let release = () => {};
        const gate = new Promise<void>((resolve) => {
          release = resolve;
        });
        hub.handle(
          'one',
          async (payload) => {
            runs.push({ payload, at: Date.now() });
            if (payload === 'a') await gate;
            return null;
          },
          { concurrency: 4 },
        );
        const spec = (payload: string): TaskSpec => ({ type: 'one', payload, singleton: { key: 'report', policy: 'queue-one' } });
        const a = await hub.submit(spec('a'));
        await waitUntil(() => runs.length === 1, 5000, 'a to run');
        const b = await hub.submit(spec('b'));
        const c = await hub.submit(spec('c'));
        assert.equal(b.created, true);
        assert.equal(c.task.id, b.task.id);
        assert.equal(c.merged, 'queue-one');
        await sleep(200);
        assert.equal(runs.length, 1, 'b waits while a runs, though workers are free');
        assert.deepEqual(await hub.heldBack('default'), [{ key: 'report', reason: 'singleton', tasks: 1 }]);
        release();
        await waitUntil(() => runs.length === 2, 5000, 'b to run');
        assert.equal(runs[1].payload, 'c');
        assert.equal((await hub.wait(a.task.id, 5000)).status, 'completed');
      });
    });

    it(`${backend}: singleton supersede aborts the running handler and runs the new task once it stopped`, { timeout: 30_000 }, async (t) => {
      await withHub(backend, t, async (hub) => {
        const started: string[] = [];
        let abortedAt = 0;
        let oldReturnedAt = 0;
        let newRanAt = 0;
        hub.handle(
          'sup',
          async (payload, ctx) => {
            started.push(String(payload));
            if (payload !== 'old') {
              newRanAt = Date.now();
              return 'done';
            }
            await new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve(), { once: true }));
            abortedAt = Date.now();
            await sleep(100);
            oldReturnedAt = Date.now();
            return 'stopped';
          },
          { concurrency: 4 },
        );
        const spec = (payload: string): TaskSpec => ({ type: 'sup', payload, singleton: { key: 'render', policy: 'supersede' } });
        const old = await hub.submit(spec('old'));
        await waitUntil(() => started.length === 1, 5000, 'the old task to run');
        const supersededAt = Date.now();
        const next = await hub.submit(spec('new'));
        await waitUntil(() => abortedAt > 0, 5000, "the old handler's signal");
        assert.ok(abortedAt - supersededAt < 1000, `the signal fired ${abortedAt - supersededAt} ms after the supersede`);
        const ended = await hub.wait(old.task.id, 5000);
        assert.equal(ended.status, 'cancelled');
        const done = await hub.wait(next.task.id, 5000);
        assert.equal(done.status, 'completed');
        // Handler clocks, not the rows' timestamps: a claim reads its clock before its statement waits on the old
        // task's end, so startedAt may precede completedAt by a millisecond although the claim saw the end committed.
        assert.ok(newRanAt >= oldReturnedAt, `the new handler ran ${oldReturnedAt - newRanAt} ms before the old one returned`);
        assert.deepEqual(started, ['old', 'new']);
      });
    });

    it(`${backend}: singleton reject answers 409 over HTTP naming the task; the SDKs throw typed errors with its id`, { timeout: 30_000 }, async (t) => {
      const store = await storeFor(backend, t, 'flow');
      if (!store) return;
      const server = await startServer({ store: store.url });
      try {
        const body = { type: 'rep', payload: 1, singleton: { key: 'nightly', policy: 'reject' } };
        const first = await server.request('POST', '/api/v1/tasks', body);
        assert.equal(first.status, 202);
        const task = (await first.json()) as { id: string; singleton: unknown };
        assert.deepEqual(task.singleton, { key: 'nightly', policy: 'reject' });
        const refused = await server.request('POST', '/api/v1/tasks', body);
        assert.equal(refused.status, 409);
        assert.match(refused.headers.get('content-type') ?? '', /application\/problem\+json/);
        const problem = (await refused.json()) as { code: string; taskId: string; detail: string };
        assert.equal(problem.code, 'SINGLETON_CONFLICT');
        assert.equal(problem.taskId, task.id);
        const client = new TaskhubClient({ url: server.base });
        await assert.rejects(client.submit('rep', 2, { singleton: { key: 'nightly', policy: 'reject' } }), (e: unknown) => e instanceof TaskhubSingletonConflictError && e.taskId === task.id && e.status === 409);
        await assert.rejects(server.hub.enqueue('rep', 3, { singleton: { key: 'nightly', policy: 'reject' } }), (e: unknown) => e instanceof SingletonConflictError && e.taskId === task.id);
        // Debounce over HTTP: merged submits answer 202 with `debounced: true` and the same task.
        const deb = { type: 'rep', payload: 'x', debounce: { key: 'd', delayMs: 60_000 } };
        const d1 = (await (await server.request('POST', '/api/v1/tasks', deb)).json()) as { id: string };
        const second = await server.request('POST', '/api/v1/tasks', { ...deb, payload: 'y' });
        assert.equal(second.status, 202);
        const d2 = (await second.json()) as { id: string; debounced?: boolean; payload: Json };
        assert.deepEqual([d2.id, d2.debounced, d2.payload], [d1.id, true, 'y']);
        const created = await client.create({ type: 'rep', payload: 'z', debounce: { key: 'd', delayMs: 60_000 } });
        assert.deepEqual([created.task.id, created.created, created.merged], [d1.id, false, 'debounce']);
        const queue = (await (await server.request('GET', '/api/v1/queues/default')).json()) as { heldBack: unknown };
        assert.deepEqual(queue.heldBack, [{ key: 'd', reason: 'debounce', tasks: 1 }]);
        const metrics = await (await server.request('GET', '/metrics')).text();
        assert.match(metrics, /taskhub_tasks_held_back\{queue="default",reason="debounce"\} 1/);
      } finally {
        await server.close();
        await store.cleanup();
      }
    });

    it(`${backend}: supersede from this process aborts a handler in a worker process within one heartbeat`, { timeout: 60_000 }, async (t) => {
      const store = await storeFor(backend, t, 'flow');
      if (!store) return;
      const tmp = tempDir();
      const runLog = join(tmp.dir, 'runs.log');
      writeFileSync(runLog, '');
      const hub = await Taskhub.open({ store: store.url, logger: pino({ level: 'silent' }) });
      const args = [CLI, 'worker', '--handlers', HANDLERS, '--store', store.url, '--concurrency', '4', '--poll-interval-ms', '20'];
      const child = spawn(process.execPath, [...args, '--heartbeat-interval-ms', String(HEARTBEAT_MS), '--log-level', 'warn'], {
        env: { ...process.env, RUN_LOG: runLog },
        stdio: ['ignore', 'inherit', 'inherit'],
      });
      const lines = () => readFileSync(runLog, 'utf8').trim().split('\n').filter(Boolean).map((l) => l.split(' '));
      try {
        const spec = (payload: string): TaskSpec => ({ type: 'render', payload, singleton: { key: 'page', policy: 'supersede' } });
        const old = await hub.submit(spec('old'));
        await waitUntil(() => lines().some(([event]) => event === 'start'), 20_000, 'the worker process to start the old task');
        const at = Date.now();
        const next = await hub.submit(spec('new'));
        await waitUntil(() => lines().some(([event]) => event === 'aborted'), 10_000, "the old handler's signal");
        const abortedAt = Number(lines().find(([event]) => event === 'aborted')?.[2]);
        assert.ok(abortedAt - at <= HEARTBEAT_MS + 300, `aborted ${abortedAt - at} ms after the supersede (heartbeat ${HEARTBEAT_MS} ms)`);
        const done = await hub.wait(next.task.id, 10_000);
        assert.equal(done.status, 'completed');
        const ended = await hub.get(old.task.id);
        assert.equal(ended.status, 'cancelled');
        // The worker reports an aborted attempt at once (docs/architecture.md): the key is free from then on. Read
        // from the handlers' clocks, not the rows' timestamps: a claim reads its clock before its statement waits on
        // the old task's end (as in the test above), so startedAt may precede completedAt by a few milliseconds.
        const byEvent = (event: string, payload: string) => Number(lines().find(([e, p]) => e === event && p === payload)?.[2]);
        assert.ok(byEvent('start', 'new') >= byEvent('aborted', 'old'), 'the new handler started after the old one was told to stop');
      } finally {
        child.kill('SIGKILL');
        await once(child, 'exit');
        await hub.close({ graceMs: 0 });
        await store.cleanup();
        tmp.remove();
      }
    });

    it(`${backend}: four CLI processes submitting one debounce key at once make one task`, { timeout: 60_000 }, async (t) => {
      const store = await storeFor(backend, t, 'flow');
      if (!store) return;
      // The schema and tables exist before the processes race (as they would on a running deployment).
      const hub = await Taskhub.open({ store: store.url, logger: pino({ level: 'silent' }) });
      try {
        const answers = await Promise.all(
          [0, 1, 2, 3].map(async (i) => {
            const args = [CLI, 'submit', 'deb', JSON.stringify({ n: i }), '--store', store.url, '--debounce-key', 'cli', '--debounce-ms', '30000', '--json'];
            const { stdout } = await run(process.execPath, args, { env: process.env });
            return JSON.parse(stdout) as { task: { id: string }; created: boolean; merged?: string };
          }),
        );
        assert.equal(new Set(answers.map((a) => a.task.id)).size, 1, 'one task');
        assert.equal(answers.filter((a) => a.created).length, 1, 'created once, merged three times');
        assert.equal(answers.filter((a) => a.merged === 'debounce').length, 3);
        const tasks = (await hub.list({ type: 'deb', limit: 10 })).tasks;
        assert.equal(tasks.length, 1);
      } finally {
        await hub.close({ graceMs: 0 });
        await store.cleanup();
      }
    });
  }

  it('rejects bad debounce and singleton values with a 400 naming the field', async () => {
    const server = await startServer();
    try {
      const cases: [unknown, string][] = [
        [{ type: 'x', debounce: { key: '', delayMs: 10 } }, 'debounce.key'],
        [{ type: 'x', debounce: { key: 'k', delayMs: -1 } }, 'debounce.delayMs'],
        [{ type: 'x', debounce: { key: 'k', delayMs: 10 ** 12 } }, 'debounce.delayMs'],
        [{ type: 'x', debounce: { key: 'k', delayMs: 10, maxWaitMs: 0 } }, 'debounce.maxWaitMs'],
        [{ type: 'x', debounce: { key: 'k', delayMs: 10 }, idempotencyKey: 'i' }, 'debounce'],
        [{ type: 'x', debounce: { key: 'k', delayMs: 10 }, delayMs: 5 }, 'debounce'],
        [{ type: 'x', singleton: { key: 'k', policy: 'later' } }, 'singleton.policy'],
        [{ type: 'x', singleton: { policy: 'reject' } }, 'singleton.key'],
      ];
      for (const [body, field] of cases) {
        const res = await server.request('POST', '/api/v1/tasks', body);
        assert.equal(res.status, 400, JSON.stringify(body));
        const problem = (await res.json()) as { field?: string; detail: string };
        assert.equal(problem.field, field, `${JSON.stringify(body)}: ${problem.detail}`);
      }
      await assert.rejects(server.hub.enqueue('x', null, { debounce: { key: 'k', delayMs: 10 }, runAt: Date.now() + 5 }), /debounce: cannot be combined with runAt/);
    } finally {
      await server.close();
    }
  });

  it('type defaults: a singleton without a key uses the concurrencyKey as given, else the type; submit options override', async () => {
    const server = await startServer();
    try {
      const put = await server.request('PUT', '/api/v1/types/dflt', { defaults: { singleton: { policy: 'reject' }, debounce: { delayMs: 60_000 } } });
      assert.equal(put.status, 201, await put.clone().text());
      const hub = server.hub;
      const a = await hub.submit({ type: 'dflt', payload: 1 });
      assert.deepEqual(a.task.singleton, { key: 'dflt', policy: 'reject' });
      assert.deepEqual(a.task.debounce?.key, 'dflt');
      // The type's debounce merges the second submit before the singleton is asked.
      const b = await hub.submit({ type: 'dflt', payload: 2 });
      assert.equal(b.task.id, a.task.id);
      const c = await hub.submit({ type: 'dflt', payload: 3, concurrencyKey: 'tenant-7', debounce: { key: 'other', delayMs: 10 } });
      assert.deepEqual([c.task.debounce?.key, c.task.singleton?.key], ['other', 'tenant-7']);
      const bad = await server.request('PUT', '/api/v1/types/dflt', { defaults: { singleton: { policy: 'sometimes' } } });
      assert.equal(bad.status, 400);
    } finally {
      await server.close();
    }
  });
});
