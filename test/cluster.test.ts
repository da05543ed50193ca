// Many processes on one PostgreSQL: two API servers and three worker processes share the queues; tasks submitted to
// either server run exactly once; a follower on one server sees progress reported elsewhere; a killed worker loses
// nothing; and a database that goes away and comes back loses no accepted task.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { Task, TaskEvent } from '../src/index.ts';
import { tempDir, waitUntil } from './helpers/hub.ts';
import { dropSchema, freshSchema, requirePostgres, startTcpProxy, storeUrl } from './helpers/postgres.ts';
import { sseFrames } from './helpers/server.ts';

const CLI = join(import.meta.dirname, '..', 'bin', 'taskhub.js');
const HANDLERS = join(import.meta.dirname, 'fixtures', 'cluster-handlers.ts');

function spawnCli(args: string[], env: NodeJS.ProcessEnv): ChildProcess {
  return spawn(process.execPath, [CLI, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
}

/** Starts `taskhub serve` on a free port and resolves with its URL. */
function serve(store: string, env: NodeJS.ProcessEnv, extra: string[] = []): Promise<{ url: string; proc: ChildProcess }> {
  const proc = spawnCli(['serve', '--store', store, '--port', '0', '--log-level', 'warn', ...extra], env);
  return new Promise((resolve, reject) => {
    let out = '';
    proc.stdout?.on('data', (chunk: Buffer) => {
      out += chunk;
      const match = /listening on (http:\/\/[^\s]+)/.exec(out);
      if (match) resolve({ url: match[1], proc });
    });
    proc.once('exit', (code) => reject(new Error(`serve exited with ${code} before listening: ${out}`)));
  });
}

async function submit(base: string, payload: unknown, queue = 'default'): Promise<Task> {
  const res = await fetch(`${base}/api/v1/tasks`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ type: 'cluster', payload, queue }) });
  assert.equal(res.status, 202, await res.clone().text());
  return (await res.json()) as Task;
}

async function getJson<T>(url: string): Promise<T> {
  const res = await fetch(url);
  assert.equal(res.status, 200, `${url}: ${res.status}`);
  return (await res.json()) as T;
}

const completedCount = async (base: string) =>
  (await getJson<{ tasks: Task[] }>(`${base}/api/v1/tasks?status=completed&limit=1000`)).tasks.length;

describe('many processes on one PostgreSQL', () => {
  it('two servers and three workers (one of them through server B over HTTP) run each task exactly once; a follower on A sees progress reported through B; SIGKILL loses nothing', { timeout: 120_000 }, async (t) => {
    if (!(await requirePostgres(t))) return;
    const schema = freshSchema('cluster');
    const store = storeUrl(schema);
    const tmp = tempDir();
    const runLog = join(tmp.dir, 'runs.log');
    writeFileSync(runLog, '');
    const procs: ChildProcess[] = [];
    try {
      // These four start at once: their migrations must take turns.
      const workerArgs = ['worker', '--handlers', HANDLERS, '--store', store, '--concurrency', '4', '--lease-ms', '1500', '--log-level', 'warn'];
      const workers = [0, 1].map(() => spawnCli([...workerArgs, '--queues', 'default'], { RUN_LOG: runLog }));
      procs.push(...workers);
      const [a, b] = await Promise.all([serve(store, {}, ['--lease-ms', '1500']), serve(store, {}, ['--lease-ms', '1500'])]);
      procs.push(a.proc, b.proc);
      // The third worker speaks the worker protocol to B, and alone takes the queue `via-b`.
      const remote = spawnCli(['worker', '--url', b.url, '--handlers', HANDLERS, '--queues', 'via-b', '--concurrency', '4', '--log-level', 'warn'], { RUN_LOG: runLog });
      procs.push(remote);

      const tasks: Task[] = [];
      for (let i = 0; i < 60; i++) tasks.push(await submit(i % 2 ? b.url : a.url, { ms: 80 }, i % 3 === 0 ? 'via-b' : 'default'));
      const followed = tasks[0];
      const seen: TaskEvent[] = [];
      const following = (async () => {
        const res = await fetch(`${a.url}/api/v1/tasks/${followed.id}/stream`);
        for await (const frame of sseFrames(res.body as ReadableStream<Uint8Array>)) {
          if ('data' in frame) seen.push(JSON.parse(frame.data) as TaskEvent);
        }
      })();

      await waitUntil(async () => (await completedCount(a.url)) >= 10, 30_000, 'first completions');
      workers[0].kill('SIGKILL');
      await waitUntil(async () => (await completedCount(b.url)) === 60, 60_000, 'all 60 completed');
      await following;

      assert.deepEqual(seen.map((e) => e.seq), seen.map((_, i) => i + 1), 'the follower on A saw every event once, in order');
      assert.ok(seen.some((e) => e.kind === 'progress') && seen.some((e) => e.kind === 'output'));
      assert.equal(seen.at(-1)?.kind, 'completed');
      const runs = readFileSync(runLog, 'utf8').trim().split('\n').map((l) => l.split(' '));
      for (const task of tasks) {
        const list = (await getJson<{ events: TaskEvent[] }>(`${a.url}/api/v1/tasks/${task.id}/events`)).events;
        assert.equal(list.filter((e) => e.kind === 'completed').length, 1, `${task.id} completed once`);
        const final = await getJson<Task>(`${b.url}/api/v1/tasks/${task.id}`);
        assert.ok(runs.filter(([id]) => id === task.id).length <= final.attempts, 'no attempt ran twice');
      }
      assert.ok(new Set(runs.map((r) => r[2])).size === 3, 'every worker process ran tasks');
      const remoteRuns = runs.filter((r) => r[2] === String(remote.pid)).map((r) => r[0]);
      assert.ok(remoteRuns.includes(followed.id), 'the followed task ran on the worker behind B');
    } finally {
      for (const p of procs) p.kill('SIGKILL');
      tmp.remove();
      await dropSchema(schema);
    }
  });

  it('loses no accepted task when the database goes away mid-run, and reports not-ready meanwhile', { timeout: 120_000 }, async (t) => {
    if (!(await requirePostgres(t))) return;
    const schema = freshSchema('outage');
    const proxy = await startTcpProxy();
    const tmp = tempDir();
    const runLog = join(tmp.dir, 'runs.log');
    writeFileSync(runLog, '');
    let server: ChildProcess | undefined;
    try {
      const s = await serve(storeUrl(schema, proxy.address), { RUN_LOG: runLog }, ['--handlers', HANDLERS, '--concurrency', '4', '--lease-ms', '2000']);
      server = s.proc;
      const accepted: Task[] = [];
      for (let i = 0; i < 40; i++) accepted.push(await submit(s.url, { ms: 100 }));
      await waitUntil(async () => (await completedCount(s.url)) >= 5, 20_000, 'work under way');

      proxy.cut();
      await waitUntil(async () => (await fetch(`${s.url}/readyz`)).status === 503, 10_000, 'not ready');
      const duringOutage = await fetch(`${s.url}/api/v1/tasks`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ type: 'cluster' }) });
      assert.ok(duringOutage.status >= 500, `a submit while the store is down is refused, not accepted (${duringOutage.status})`);
      await new Promise((resolve) => setTimeout(resolve, 1500));
      proxy.restore();
      await waitUntil(async () => (await fetch(`${s.url}/readyz`)).status === 200, 20_000, 'ready again');

      await waitUntil(async () => (await completedCount(s.url)) === accepted.length, 60_000, 'every accepted task finished');
      const all = await getJson<{ tasks: Task[] }>(`${s.url}/api/v1/tasks?limit=1000`);
      assert.equal(all.tasks.length, accepted.length, 'nothing beyond what was accepted, nothing lost');
    } finally {
      server?.kill('SIGKILL');
      await proxy.close();
      tmp.remove();
      await dropSchema(schema);
    }
  });
});
