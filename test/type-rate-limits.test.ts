// Issue 14 point 7: per-type rate limits (Celery's rate_limit='10/m'), enforced in the store's claim across processes
// like a queue's: with `rateLimit: { count: 4, intervalMs: 400 }` on a type whose tasks lie in two queues, a worker
// process and this process's worker never start more than 4 in any 400 ms window, on SQLite and PostgreSQL, and every
// task runs. Also: the HTTP settings, `taskhub types limit`, and validation.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it, } from 'node:test';
import pino from 'pino';
import { Taskhub } from '../src/index.ts';
import { tempDir, waitUntil } from './helpers/hub.ts';
import { storeFor, } from './helpers/postgres.ts';
import { startServer } from './helpers/server.ts';

const CLI = join(import.meta.dirname, '..', 'bin', 'taskhub.js');
const HANDLERS = join(import.meta.dirname, 'fixtures', 'control-handlers.ts');
const COUNT = 4;
const INTERVAL_MS = 400;
const TASKS = 16;
const TASK_MS = 500;


describe('per-type rate limits', () => {
  for (const backend of ['sqlite', 'postgres'] as const) {
    it(`${backend}: at most ${COUNT} starts of a type per ${INTERVAL_MS} ms across two processes and two queues; all run`, { timeout: 90_000 }, async (t) => {
      const store = await storeFor(backend, t, 'typerate');
      if (!store) return;
      const tmp = tempDir();
      const runLog = join(tmp.dir, 'runs.log');
      writeFileSync(runLog, '');
      const hub = await Taskhub.open({ store: store.url, logger: pino({ level: 'silent' }), worker: { pollIntervalMs: 20 } });
      let child: ChildProcess | undefined;
      try {
        const settings = await hub.types.put('limited', { rateLimit: { count: COUNT, intervalMs: INTERVAL_MS } });
        assert.deepEqual(settings.rateLimit, { count: COUNT, intervalMs: INTERVAL_MS });
        // Two slots each and tasks longer than the window: neither process can start more than two in a window, so
        // both must start tasks, and the limit holds across them.
        child = spawn(process.execPath, [CLI, 'worker', '--handlers', HANDLERS, '--store', store.url, '--concurrency', '2', '--poll-interval-ms', '20', '--log-level', 'warn'], {
          env: { ...process.env, RUN_LOG: runLog, LIMITED_MS: String(TASK_MS) },
          stdio: ['ignore', 'inherit', 'inherit'],
        });
        await hub.enqueueMany(Array.from({ length: TASKS }, (_, i) => ({ type: 'limited', queue: i % 2 ? 'qa' : 'qb' })));
        // The worker process first (it has started once it ran a task), then this process's: both take from one window.
        await waitUntil(() => readFileSync(runLog, 'utf8').length > 0, 20_000, 'the worker process to run a task');
        hub.handle('limited', async () => {
          await new Promise((resolve) => setTimeout(resolve, TASK_MS));
          return 'here';
        }, { concurrency: 2 });
        await waitUntil(async () => (await hub.list({ status: 'completed', limit: 100 })).tasks.length === TASKS, 40_000, 'every task ran');
        const tasks = (await hub.list({ type: 'limited', limit: 100 })).tasks;
        const starts = (await Promise.all(tasks.map(async (task) => (await hub.events(task.id)).filter((e) => e.kind === 'started').map((e) => e.at))))
          .flat()
          .sort((a, b) => a - b);
        assert.equal(starts.length, TASKS, 'each task started once');
        const byThisProcess = tasks.filter((task) => task.result === 'here').length;
        assert.ok(byThisProcess > 0 && byThisProcess < TASKS, `both processes ran tasks (this one ${byThisProcess} of ${TASKS})`);
        for (const at of starts) {
          const inWindow = starts.filter((s) => s >= at && s < at + INTERVAL_MS).length;
          assert.ok(inWindow <= COUNT, `${inWindow} starts within ${INTERVAL_MS} ms of ${at}`);
        }
        const span = (starts.at(-1) as number) - (starts[0] as number);
        assert.ok(span >= ((TASKS / COUNT) - 1) * INTERVAL_MS, `${TASKS} starts at ${COUNT} per ${INTERVAL_MS} ms took ${span} ms`);
      } finally {
        if (child && child.exitCode === null) {
          child.kill('SIGKILL');
          await once(child, 'exit');
        }
        await hub.close({ graceMs: 200 });
        await store.cleanup();
        tmp.remove();
      }
    });
  }

  it('over HTTP: PUT /types/{type} takes rateLimit, GET shows it, bad ones answer 400', async () => {
    const s = await startServer({ autoStart: false });
    try {
      const put = (body: unknown) => s.request('PUT', '/api/v1/types/mail', body);
      const created = await put({ rateLimit: { count: 10, intervalMs: 60_000 }, defaults: { maxAttempts: 2 } });
      assert.equal(created.status, 201);
      assert.deepEqual(((await created.json()) as { rateLimit: unknown }).rateLimit, { count: 10, intervalMs: 60_000 });
      const read = (await (await s.request('GET', '/api/v1/types/mail')).json()) as { rateLimit: unknown; defaults: unknown };
      assert.deepEqual(read.rateLimit, { count: 10, intervalMs: 60_000 });
      assert.deepEqual(read.defaults, { maxAttempts: 2 });
      for (const bad of [{ count: 0, intervalMs: 1000 }, { count: 1 }, { count: 1, intervalMs: 1.5 }, 'ten per minute']) {
        assert.equal((await put({ rateLimit: bad })).status, 400, JSON.stringify(bad));
      }
      const replaced = (await (await put({ defaults: { maxAttempts: 3 } })).json()) as { rateLimit: unknown };
      assert.equal(replaced.rateLimit, null, 'PUT replaces the settings as a whole');
    } finally {
      await s.close();
    }
  });

  it('taskhub types limit TYPE --rate N/MS sets the limit and keeps the other settings; --rate none removes it', () => {
    const tmp = tempDir();
    try {
      const env = { ...process.env, TASKHUB_STORE: `sqlite:${join(tmp.dir, 'cli.db')}` };
      const taskhub = (args: string[]) => spawnSync(process.execPath, [CLI, ...args, '--json'], { encoding: 'utf8', timeout: 30_000, env });
      assert.equal(taskhub(['types', 'put', 'mail', '--max-attempts', '5', '--soft-timeout', '100', '--timeout', '200']).status, 0);
      const limited = taskhub(['types', 'limit', 'mail', '--rate', '10/60000']);
      assert.equal(limited.status, 0, limited.stderr);
      const settings = JSON.parse(limited.stdout) as { rateLimit: unknown; defaults: unknown };
      assert.deepEqual(settings.rateLimit, { count: 10, intervalMs: 60_000 });
      assert.deepEqual(settings.defaults, { maxAttempts: 5, timeoutMs: 200, softTimeoutMs: 100 });
      const removed = JSON.parse(taskhub(['types', 'limit', 'mail', '--rate', 'none']).stdout) as { rateLimit: unknown; defaults: unknown };
      assert.equal(removed.rateLimit, null);
      assert.deepEqual(removed.defaults, { maxAttempts: 5, timeoutMs: 200, softTimeoutMs: 100 });
      assert.match(taskhub(['types', 'limit', 'mail', '--rate', 'lots']).stderr, /expected N\/MS/);
    } finally {
      tmp.remove();
    }
  });
});
