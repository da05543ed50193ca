// `taskhub worker --url` end to end: the CLI as a child process runs TypeScript handlers against a real server (with
// API keys) over the worker protocol: long-poll wake-ups, progress and output, failures, a cancel that lands through
// heartbeats, the workers list, a graceful SIGTERM that gives the running task back, and a refused token.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Task, TaskEvent } from '../src/index.ts';
import { createApiKey } from '../src/server/auth.ts';
import { waitUntil } from './helpers/hub.ts';
import { startServer, type TestServer } from './helpers/server.ts';

const CLI = join(import.meta.dirname, '..', 'bin', 'taskhub.js');
const HANDLERS = join(import.meta.dirname, 'fixtures', 'remote-handlers.ts');

describe('taskhub worker --url', () => {
  let s: TestServer;
  let child: ChildProcess;
  let stderr = '';
  const auth: Record<'worker' | 'tenant' | 'admin', Record<string, string>> = { worker: {}, tenant: {}, admin: {} };
  const workersList = async () =>
    ((await (await s.request('GET', '/api/v1/workers', undefined, auth.admin)).json()) as {
      workers: { id: string; pid: number | null; types: string[]; concurrency: number }[];
    }).workers;

  const submit = async (type: string, payload: unknown = null): Promise<Task> => {
    const res = await s.request('POST', '/api/v1/tasks', { type, payload }, auth.tenant);
    assert.equal(res.status, 202);
    return (await res.json()) as Task;
  };
  const until = (id: string, status: string, timeoutMs = 10_000) =>
    waitUntil(async () => (await s.hub.get(id)).status === status, timeoutMs, `task ${id} ${status}; worker stderr: ${stderr}`);

  before(async () => {
    s = await startServer({ autoStart: false, leaseMs: 5000 }, { auth: {} });
    const store = s.hub.keys;
    const bearer = async (owner: string, scopes: string[]) => ({ authorization: `Bearer ${(await createApiKey(store, { owner, scopes })).token}` });
    auth.worker = await bearer('ops', ['worker']);
    auth.tenant = await bearer('tenant-a', ['tasks:write', 'tasks:read']);
    auth.admin = await bearer('ops', ['admin']);
    child = spawn(
      process.execPath,
      [CLI, 'worker', '--url', s.base, '--token', (auth.worker.authorization ?? '').slice(7), '--handlers', HANDLERS, '--concurrency', '2', '--heartbeat-interval-ms', '200', '--claim-wait-ms', '10000', '--shutdown-grace', '300', '--log-level', 'warn'],
      { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, TASKHUB_STORE: 'sqlite:/nonexistent/never-opened.db' } },
    );
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.stdout?.resume();
    await waitUntil(async () => (await workersList()).length > 0, 10_000, `the remote worker registered; stderr: ${stderr}`);
  });

  after(async () => {
    if (child.exitCode === null) {
      child.kill('SIGKILL');
      await once(child, 'exit');
    }
    await s.close();
  });

  it('registers itself in the workers list', async () => {
    const workers = await workersList();
    const remote = workers.find((w) => w.pid === child.pid);
    assert.ok(remote, JSON.stringify(workers));
    assert.deepEqual(remote.types.sort(), ['remote-bad', 'remote-echo', 'remote-wait']);
    assert.equal(remote.concurrency, 6);
  });

  it('runs a task: claimed at once by the idle long-poll, with progress, output and the result', async () => {
    const submitted = performance.now();
    const task = await submit('remote-echo', { words: ['plan', 'for', 'Shanghai'] });
    await until(task.id, 'completed');
    const done = await s.hub.get(task.id);
    assert.ok(done.startedAt !== null && done.startedAt - task.createdAt < 1000, `started ${done.startedAt! - task.createdAt} ms after submit`);
    assert.ok(performance.now() - submitted < 5000);
    assert.deepEqual(done.result, { echoed: 'plan for Shanghai', attempt: 1, pid: child.pid });
    assert.equal(done.owner, 'tenant-a');
    const events: TaskEvent[] = await s.hub.events(task.id);
    assert.deepEqual(events.map((e) => e.kind), ['created', 'started', 'progress', 'output', 'progress', 'output', 'progress', 'output', 'completed']);
    assert.deepEqual(events.filter((e) => e.kind === 'output').map((e) => (e.data as { chunk: string }).chunk).join(''), 'plan for Shanghai ');
  });

  it('reports a handler error as a failure (non-retryable: dead-lettered)', async () => {
    const task = await submit('remote-bad');
    await until(task.id, 'failed');
    const failed = await s.hub.get(task.id);
    assert.equal(failed.attempts, 1);
    assert.equal(failed.error?.code, 'BAD_INPUT');
    assert.equal(failed.error?.retryable, false);
    assert.match(failed.error?.message ?? '', /refused: bad input/);
  });

  it('aborts a running handler within a heartbeat of a cancel request', async () => {
    const task = await submit('remote-wait');
    await waitUntil(async () => (await s.hub.get(task.id)).progress?.percent === 10, 10_000, 'the handler started');
    const asked = performance.now();
    const res = await s.request('POST', `/api/v1/tasks/${task.id}/cancel`, { reason: 'no longer needed' }, auth.tenant);
    assert.equal(res.status, 202);
    await until(task.id, 'cancelled', 5000);
    const elapsed = performance.now() - asked;
    assert.ok(elapsed < 1500, `cancelled ${elapsed.toFixed(0)} ms after the request (heartbeat every 200 ms)`);
  });

  it('on SIGTERM gives the running task back without counting the attempt, and leaves the list', async () => {
    const task = await submit('remote-wait');
    await waitUntil(async () => (await s.hub.get(task.id)).progress?.percent === 10, 10_000, 'the handler started');
    child.kill('SIGTERM');
    const [code] = (await once(child, 'exit')) as [number | null];
    assert.equal(code, 0, stderr);
    // The handler outlives the grace period (300 ms), so the worker aborts it and releases its task.
    const released = await s.hub.get(task.id);
    assert.equal(released.status, 'queued');
    assert.equal(released.attempts, 0);
    assert.ok(!(await workersList()).some((w) => w.pid === child.pid));
  });

  it('exits at once with the reason when the server refuses its token', async () => {
    for (const token of ['thk_0000000000000000_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', (auth.tenant.authorization ?? '').slice(7)]) {
      // Not spawnSync: the server answering it runs in this process.
      const refused = spawn(process.execPath, [CLI, 'worker', '--url', s.base, '--token', token, '--handlers', HANDLERS], { stdio: ['ignore', 'ignore', 'pipe'] });
      let output = '';
      refused.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
      const [code] = (await once(refused, 'exit')) as [number | null];
      assert.equal(code, 1, output);
      assert.match(output, /refused this worker: .*(not valid|lacks the "worker" scope)/);
    }
  });
});
