// The Python worker client (clients/python, standard library only) end to end against a real server with API keys
// and a real SQLite file:
// submit over HTTP, the Python worker claims, reports progress and output and completes while an SSE follower sees
// every event; a cancel lands through heartbeats; SIGTERM gives the task back; SIGKILL mid-task, and after the lease
// expires another worker finishes the task. Needs python3 (3.9+), or TASKHUB_PYTHON naming another interpreter.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Task, TaskEvent } from '../src/index.ts';
import { createApiKey } from '../src/server/auth.ts';
import { waitUntil } from './helpers/hub.ts';
import { sseFrames, startServer, type TestServer } from './helpers/server.ts';

const PYTHON = process.env.TASKHUB_PYTHON ?? 'python3';
const EXAMPLE = join(import.meta.dirname, '..', 'clients', 'python', 'example.py');

interface PythonWorker {
  id: string;
  process: ChildProcess;
  log(): string;
  exit(): Promise<number | null>;
}

describe('Python worker client', () => {
  let s: TestServer;
  const workers: PythonWorker[] = [];
  /** Tokens: the workers' (scope `worker`), a tenant's (submits and reads its own tasks), an administrator's. */
  const token = { worker: '', tenant: '', admin: '' };
  const bearer = (t: string) => ({ authorization: `Bearer ${t}` });

  const listedIds = async () =>
    ((await (await s.request('GET', '/api/v1/workers', undefined, bearer(token.admin))).json()) as { workers: { id: string }[] }).workers.map((w) => w.id);

  function spawnPython(id: string, extra: string[]) {
    return spawn(
      PYTHON,
      [EXAMPLE, '--url', s.base, '--worker-id', id, '--heartbeat-interval', '0.2', '--claim-wait', '10', '--concurrency', '2', ...extra],
      { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, TASKHUB_TOKEN: token.worker, PYTHONUNBUFFERED: '1', PYTHONDONTWRITEBYTECODE: '1' } },
    );
  }

  async function startPython(id: string, extra: string[] = []): Promise<PythonWorker> {
    const child = spawnPython(id, extra);
    let output = '';
    child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exited = once(child, 'exit').then(([code]) => code as number | null);
    const worker: PythonWorker = { id, process: child, log: () => output, exit: () => exited };
    workers.push(worker);
    await waitUntil(async () => child.exitCode === null && (await listedIds()).includes(id), 10_000, `python worker ${id} registered; its log: ${output}`);
    return worker;
  }

  const submit = async (payload: unknown, extra: Record<string, unknown> = {}): Promise<Task> => {
    const res = await s.request('POST', '/api/v1/tasks', { type: 'travel-plan', payload, ...extra }, bearer(token.tenant));
    assert.equal(res.status, 202);
    return (await res.json()) as Task;
  };

  /** Follows a task over SSE from its first event until the stream ends. */
  const follow = async (id: string): Promise<TaskEvent[]> => {
    const res = await fetch(`${s.base}/api/v1/tasks/${id}/stream`, { headers: bearer(token.tenant) });
    assert.equal(res.status, 200);
    const events: TaskEvent[] = [];
    for await (const frame of sseFrames(res.body as ReadableStream<Uint8Array>)) {
      if (!('comment' in frame)) events.push(JSON.parse(frame.data) as TaskEvent);
    }
    return events;
  };

  const until = (id: string, condition: (task: Task) => boolean, what: string, timeoutMs = 15_000) =>
    waitUntil(async () => condition(await s.hub.get(id)), timeoutMs, `${what}; worker logs: ${workers.map((w) => w.log()).join('\n')}`);

  before(async () => {
    // No handlers in the server's process: only Python workers run tasks. A short lease, so a killed worker's task
    // comes back within about a second.
    s = await startServer({ autoStart: false, leaseMs: 1000, sweepIntervalMs: 100 }, { auth: {} });
    const store = s.hub.keys;
    token.worker = (await createApiKey(store, { owner: 'ops', scopes: ['worker'] })).token;
    token.tenant = (await createApiKey(store, { owner: 'tenant-a', scopes: ['tasks:write', 'tasks:read'] })).token;
    token.admin = (await createApiKey(store, { owner: 'ops', scopes: ['admin'] })).token;
  });

  after(async () => {
    for (const w of workers) {
      if (w.process.exitCode === null && w.process.signalCode === null) {
        w.process.kill('SIGKILL');
        await w.exit();
      }
    }
    await s.close();
  });

  it('claims a submitted task at once, reports progress and output, completes; an SSE follower sees every event', async () => {
    const py = await startPython('py-e2e');
    const task = await submit({ city: 'Shanghai', days: 3, chunkDelayMs: 30 });
    const events = await follow(task.id);
    assert.deepEqual(events.map((e) => e.kind), [
      'created', 'started', 'progress', 'output', 'progress', 'output', 'progress', 'output', 'progress', 'completed',
    ]);
    assert.deepEqual(events.map((e) => e.seq), events.map((_e, i) => i + 1), 'every event, in order, without gaps');
    const history = await s.hub.events(task.id);
    assert.deepEqual(events, history, 'the follower saw exactly the stored history');
    assert.deepEqual(events[1]?.data, { attempt: 1, workerId: 'py-e2e' });
    assert.ok((events[1]?.at ?? 0) - task.createdAt < 1000, 'the idle long-poll took it at once');
    assert.deepEqual(events[2]?.data, { percent: 5, message: 'planning 3 days in Shanghai', phase: 'plan' });
    const text = events.filter((e) => e.kind === 'output').map((e) => (e.data as { chunk: string }).chunk).join('');
    assert.equal(text, 'Day 1: the old town in Shanghai.\nDay 2: the river front in Shanghai.\nDay 3: a night market in Shanghai.\n');
    const done = await s.hub.get(task.id);
    assert.equal(done.status, 'completed');
    assert.equal(done.owner, 'tenant-a');
    assert.deepEqual(done.result, { city: 'Shanghai', days: 3, plan: text, worker: 'py-e2e', attempt: 1 });
    assert.deepEqual(done.progress, { percent: 100, message: 'day 3 of 3', phase: 'generate' });

    // A handler error without retry: dead-lettered with its code.
    const bad = await submit({ days: 1 });
    await until(bad.id, (t) => t.status === 'failed', 'the bad task failed');
    const failed = await s.hub.get(bad.id);
    assert.equal(failed.error?.code, 'BAD_PAYLOAD');
    assert.equal(failed.error?.retryable, false);
    assert.equal(failed.attempts, 1);

    // A cancel reaches the handler through the next heartbeat answer.
    const slow = await submit({ city: 'Lisbon', days: 100, chunkDelayMs: 100 });
    await until(slow.id, (t) => (t.progress?.percent ?? 0) > 5, 'the slow task is generating');
    const asked = performance.now();
    assert.equal((await s.request('POST', `/api/v1/tasks/${slow.id}/cancel`, {}, bearer(token.tenant))).status, 202);
    await until(slow.id, (t) => t.status === 'cancelled', 'the slow task was cancelled', 5000);
    assert.ok(performance.now() - asked < 2000, `cancelled within ${(performance.now() - asked).toFixed(0)} ms`);

    // SIGTERM with nothing running: the worker stops at once and leaves the workers list.
    py.process.kill('SIGTERM');
    assert.equal(await py.exit(), 0, py.log());
    assert.ok(!(await listedIds()).includes('py-e2e'), 'a stopped worker leaves the list');
  });

  it('a heartbeat that races its attempt ending logs no lost lease', async () => {
    // Heartbeats every 5 ms and tasks a few ms long: many heartbeats are answered 409 because the attempt they name
    // was completed in between. That is the attempt ending, not another attempt taking the task.
    const py = await startPython('py-racer', ['--heartbeat-interval', '0.005']);
    const tasks = await Promise.all(Array.from({ length: 150 }, (_v, i) => submit({ city: `C${i}`, days: 1, chunkDelayMs: 1 })));
    for (const task of tasks) await until(task.id, (t) => t.status === 'completed', `task ${task.id} completed`);
    for (const task of tasks) assert.equal((await s.hub.get(task.id)).attempts, 1);
    py.process.kill('SIGTERM');
    assert.equal(await py.exit(), 0, py.log());
    assert.doesNotMatch(py.log(), /lease lost|could not (complete|fail)|no longer current/, py.log());
  });

  it('exits at once when the server refuses its token', async () => {
    for (const refused of ['thk_0000000000000000_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', token.tenant]) {
      const child = spawn(PYTHON, [EXAMPLE, '--url', s.base, '--token', refused], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1' } });
      let output = '';
      child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
      const [code] = (await once(child, 'exit')) as [number | null];
      assert.notEqual(code, 0, output);
      assert.match(output, /(Unauthorized|Forbidden)Error: POST \/worker\/register: (401|403) /);
    }
  });

  it('gives the running task back on SIGTERM once the grace period is over', async () => {
    const py = await startPython('py-graceful', ['--shutdown-grace', '0.3']);
    const task = await submit({ city: 'Oslo', days: 100, chunkDelayMs: 100 });
    await until(task.id, (t) => (t.progress?.percent ?? 0) > 5, 'the task is generating');
    py.process.kill('SIGTERM');
    assert.equal(await py.exit(), 0, py.log());
    const released = await s.hub.get(task.id);
    assert.equal(released.status, 'queued');
    assert.equal(released.attempts, 0, 'the attempt was refunded');
    await s.hub.cancel(task.id);
  });

  it('after SIGKILL mid-task, another worker finishes the task once the lease expires', async () => {
    const first = await startPython('py-doomed');
    const task = await submit({ city: 'Kyoto', days: 8, chunkDelayMs: 150 }, { backoff: { type: 'fixed', delayMs: 0, jitter: 0 } });
    const following = follow(task.id);
    await until(task.id, (t) => t.status === 'running' && (t.progress?.percent ?? 0) > 20, 'the first worker is mid-task');
    first.process.kill('SIGKILL');
    await first.exit();
    const killedAt = performance.now();
    await startPython('py-rescuer');
    const events = await following;
    const done = await s.hub.get(task.id);
    assert.equal(done.status, 'completed', JSON.stringify(events.slice(-3)));
    assert.equal(done.attempts, 2);
    assert.deepEqual((done.result as { worker: string }).worker, 'py-rescuer');
    const started = events.filter((e) => e.kind === 'started').map((e) => (e.data as { workerId: string }).workerId);
    assert.deepEqual(started, ['py-doomed', 'py-rescuer']);
    const retrying = events.find((e) => e.kind === 'retrying');
    assert.ok(retrying, 'the expired lease put the task back');
    assert.equal((retrying.data as { error?: { code?: string } }).error?.code, 'LEASE_EXPIRED', JSON.stringify(retrying));
    assert.deepEqual(events.map((e) => e.seq), events.map((_e, i) => i + 1), 'the follower saw every event of both attempts');
    assert.equal(events.at(-1)?.kind, 'completed');
    assert.ok(performance.now() - killedAt < 15_000);
  });
});
