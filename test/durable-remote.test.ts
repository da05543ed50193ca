// Durable handlers through `taskhub worker --url`: the CLI as a child process runs test/fixtures/durable-handlers.ts
// against a real server (API keys, SQLite file) over the worker-durable routes: resume from a checkpoint, fan-in of 20
// children on one slot, kill -9 between steps (the next worker runs the remaining steps only), and the routes' own
// answers (413 CHECKPOINT_TOO_LARGE, 409 STEP_EXISTS, children owned by the parent's owner whatever the request says).
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Task } from '../src/index.ts';
import { createApiKey } from '../src/server/auth.ts';
import { tempDir, waitUntil } from './helpers/hub.ts';
import { startServer, type TestServer } from './helpers/server.ts';

const CLI = join(import.meta.dirname, '..', 'bin', 'taskhub.js');
const HANDLERS = join(import.meta.dirname, 'fixtures', 'durable-handlers.ts');

describe('durable handlers through taskhub worker --url', () => {
  let s: TestServer;
  const tmp = tempDir('taskhub-durable-remote-');
  const workers: { child: ChildProcess; stderr: string }[] = [];
  const auth: Record<'worker' | 'tenant', Record<string, string>> = { worker: {}, tenant: {} };
  const lines = (file: string) => readFileSync(file, 'utf8').trim().split('\n').filter(Boolean);
  const stderr = () => workers.map((w) => w.stderr).join('\n');

  const startWorker = () => {
    const child = spawn(
      process.execPath,
      [CLI, 'worker', '--url', s.base, '--token', (auth.worker.authorization ?? '').slice(7), '--handlers', HANDLERS, '--concurrency', '1', '--heartbeat-interval-ms', '300', '--claim-wait-ms', '10000', '--shutdown-grace', '300', '--log-level', 'warn'],
      { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, TASKHUB_STORE: 'sqlite:/nonexistent/never-opened.db' } },
    );
    const entry = { child, stderr: '' };
    child.stderr?.on('data', (chunk: Buffer) => (entry.stderr += chunk.toString()));
    child.stdout?.resume();
    workers.push(entry);
    return entry;
  };
  const submit = async (type: string, payload: unknown, extra: Record<string, unknown> = {}): Promise<Task> => {
    const res = await s.request('POST', '/api/v1/tasks', { type, payload, ...extra }, auth.tenant);
    assert.equal(res.status, 202);
    return (await res.json()) as Task;
  };
  const finished = (id: string, timeoutMs = 60_000) =>
    waitUntil(async () => ['completed', 'failed', 'cancelled'].includes((await s.hub.get(id)).status), timeoutMs, `task ${id} finished; workers: ${stderr()}`);
  const worker = (path: string, body: unknown, method = 'POST') => s.request(method, `/api/v1/worker${path}`, body, auth.worker);

  before(async () => {
    s = await startServer({ autoStart: false, leaseMs: 4000, checkpointMaxBytes: 2000 }, { auth: {} });
    const bearer = async (owner: string, scopes: string[]) => ({ authorization: `Bearer ${(await createApiKey(s.hub.keys, { owner, scopes })).token}` });
    auth.worker = await bearer('ops', ['worker']);
    auth.tenant = await bearer('tenant-a', ['tasks:write', 'tasks:read']);
    startWorker();
  });

  after(async () => {
    for (const { child } of workers) {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
        await once(child, 'exit');
      }
    }
    await s.close();
    tmp.remove();
  });

  it('resumes from the last checkpoint: a failure in phase 4 retries from phase 4', async () => {
    const log = join(tmp.dir, 'phases.log');
    writeFileSync(log, '');
    const task = await submit('durable-phases', { log, failIn: 4 }, { backoff: { delayMs: 20, jitter: 0 } });
    await finished(task.id);
    const done = await s.hub.get(task.id);
    assert.equal(done.status, 'completed', JSON.stringify(done.error));
    assert.deepEqual(done.result, { total: 15, resumedFrom: 4 });
    assert.deepEqual(lines(log), ['phase 1 attempt 1', 'phase 2 attempt 1', 'phase 3 attempt 1', 'phase 4 attempt 1', 'phase 4 attempt 2', 'phase 5 attempt 2']);
    assert.equal(done.checkpointVersion, 5);
  });

  it('fans in 20 children of its own type with concurrency 1, results in order', async () => {
    const log = join(tmp.dir, 'fan.log');
    writeFileSync(log, '');
    const parent = await submit('durable-fan', { log, n: 20 });
    await finished(parent.id, 90_000);
    const done = await s.hub.get(parent.id);
    assert.equal(done.status, 'completed', JSON.stringify(done.error));
    assert.deepEqual(done.result, Array.from({ length: 20 }, (_, i) => i * i));
    const ran = lines(log);
    assert.equal(ran.filter((l) => l.startsWith('parent resumed')).length, 1);
    assert.equal(ran.filter((l) => l.startsWith('child ')).length, 20);
    const children = (await s.hub.list({ parentId: parent.id, limit: 100 })).tasks;
    assert.equal(children.length, 20);
    assert.ok(children.every((c) => c.owner === 'tenant-a'));
  });

  it('answers 413 CHECKPOINT_TOO_LARGE (nothing stored), 409 STEP_EXISTS, and makes children the parent\'s owner\'s', async () => {
    const task = await submit('manual-durable', null);
    const claim = (await (await worker('/claim', { workerId: 'curl', types: ['manual-durable'] })).json()) as {
      claims: { task: Task; attemptToken: string; checkpoint: unknown }[];
    };
    assert.equal(claim.claims.length, 1);
    assert.equal(claim.claims[0]?.checkpoint, null);
    const attemptToken = claim.claims[0]?.attemptToken;
    const at = `/tasks/${task.id}`;

    const big = await worker(`${at}/checkpoints`, { attemptToken, state: { text: 'x'.repeat(3000) } });
    assert.equal(big.status, 413);
    const problem = (await big.json()) as { code: string; detail: string };
    assert.equal(problem.code, 'CHECKPOINT_TOO_LARGE');
    assert.match(problem.detail, /is 3\d\d\d bytes of JSON, over the limit of 2000 bytes; nothing was stored/);
    const ok = await worker(`${at}/checkpoints`, { attemptToken, state: { n: 1 }, label: 'first' });
    assert.equal(ok.status, 200);
    assert.deepEqual(((await ok.json()) as { version: number; label: string }).version, 1);
    assert.equal((await s.hub.get(task.id)).checkpointVersion, 1);

    assert.equal((await worker(`${at}/steps/fetch%20it`, { attemptToken, result: { a: 1 } }, 'PUT')).status, 200);
    const again = await worker(`${at}/steps/fetch%20it`, { attemptToken, result: { a: 2 } }, 'PUT');
    assert.equal(again.status, 409);
    assert.equal(((await again.json()) as { code: string }).code, 'STEP_EXISTS');
    const steps = (await (await s.request('GET', `/api/v1/worker${at}/steps`, undefined, auth.worker)).json()) as { steps: { name: string; result: unknown }[] };
    assert.deepEqual(steps.steps.map((x) => [x.name, x.result]), [['fetch it', { a: 1 }]]);

    // A child naming an owner is refused by the schema; without one it takes the parent's owner.
    const owned = await worker(`${at}/suspend`, { attemptToken, wait: { kind: 'children', name: 'kids', tasks: [{ type: 'manual-child', owner: 'tenant-b' }] } });
    assert.equal(owned.status, 400);
    const suspended = await worker(`${at}/suspend`, { attemptToken, wait: { kind: 'children', name: 'kids', tasks: [{ type: 'manual-child', payload: 1 }] } });
    assert.equal(suspended.status, 200);
    assert.deepEqual(await suspended.json(), { suspended: true, waitingFor: { kind: 'children', name: 'kids', pending: 1, total: 1 } });
    const [child] = (await s.hub.list({ parentId: task.id })).tasks;
    assert.equal(child?.owner, 'tenant-a');
    assert.equal((await s.hub.get(task.id)).status, 'waiting');
    // The attempt is over: its token is stale now.
    assert.equal((await worker(`${at}/heartbeat`, { attemptToken })).status, 409);
    await s.hub.cancel(task.id);
  });

  it('a handler over --url sees CheckpointTooLargeError as in-process', async () => {
    const task = await submit('durable-big', { bytes: 3000 });
    await finished(task.id);
    const size = JSON.stringify({ text: 'x'.repeat(3000) }).length;
    assert.deepEqual((await s.hub.get(task.id)).result, { name: 'CheckpointTooLargeError', code: 'CHECKPOINT_TOO_LARGE', size, limit: 2000 });
    assert.equal((await s.hub.get(task.id)).checkpointVersion, 0);
  });

  it('kill -9 after step 2 of 4: the next worker runs steps 3 and 4 only', async () => {
    const log = join(tmp.dir, 'steps.log');
    writeFileSync(log, '');
    const first = workers[0];
    assert.ok(first);
    const task = await submit('durable-steps', { log, hangAfter: 2 }, { backoff: { delayMs: 20, jitter: 0 } });
    await waitUntil(() => lines(log).some((l) => l.startsWith('hanging')), 30_000, `step 2 done; workers: ${stderr()}`);
    first.child.kill('SIGKILL');
    await once(first.child, 'exit');
    const second = startWorker();
    await finished(task.id, 60_000);
    const done = await s.hub.get(task.id);
    assert.equal(done.status, 'completed', JSON.stringify(done.error));
    assert.deepEqual(done.result, [10, 20, 30, 40]);
    const [a, b] = [first.child.pid, second.child.pid];
    assert.deepEqual(lines(log), [`step 1 attempt 1 pid ${a}`, `step 2 attempt 1 pid ${a}`, `hanging pid ${a}`, `step 3 attempt 2 pid ${b}`, `step 4 attempt 2 pid ${b}`]);
    // The lease expired under the killed worker: that is what brought the task back.
    assert.match(JSON.stringify((await s.hub.events(task.id)).find((e) => e.kind === 'retrying')?.data), /LEASE_EXPIRED/);
  });
});
