// Issue 14 point 6: soft and hard time limits. At softTimeoutMs the handler is told (ctx.softSignal, the heartbeat
// answer's softTimeLimitExceeded) and may still return its result; at timeoutMs the attempt fails with TIMEOUT and
// the handler is stopped, as before. A soft limit at or past the hard one is refused (400 over HTTP).
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ValidationError, type Task } from '../src/index.ts';
import { openTestHub, waitUntil } from './helpers/hub.ts';
import { startServer } from './helpers/server.ts';

const CLI = join(import.meta.dirname, '..', 'bin', 'taskhub.js');
const HANDLERS = join(import.meta.dirname, 'fixtures', 'soft-handlers.ts');

describe('soft time limits in the in-process worker', () => {
  it('tells the handler at the soft limit and keeps what it returns after it', async () => {
    const hub = await openTestHub();
    try {
      let deadline: number | null = null;
      let signalAborted = true;
      hub.handle('wrap-up', async (_p, ctx) => {
        deadline = ctx.softDeadline;
        await new Promise((resolve) => ctx.softSignal.addEventListener('abort', resolve, { once: true }));
        signalAborted = ctx.signal.aborted;
        return { partial: true, reason: (ctx.softSignal.reason as Error).name };
      });
      const started = Date.now();
      const task = await hub.enqueue('wrap-up', null, { softTimeoutMs: 150, timeoutMs: 10_000 });
      assert.equal(task.softTimeoutMs, 150);
      const done = await hub.wait(task.id, 8000);
      assert.equal(done.status, 'completed', JSON.stringify(done.error));
      assert.deepEqual(done.result, { partial: true, reason: 'SoftTimeLimitExceeded' });
      assert.equal(signalAborted, false, 'the soft limit does not abort ctx.signal');
      assert.ok(deadline !== null && deadline >= started + 150, `softDeadline ${deadline}`);
      assert.ok(Date.now() - started >= 150, 'not before the soft limit');
      assert.equal((await hub.get(task.id)).softTimeoutMs, 150, 'stored and read back');
    } finally {
      await hub.dispose();
    }
  });

  it('still fails the attempt at the hard limit, after the soft one', async () => {
    const hub = await openTestHub();
    try {
      const seen: string[] = [];
      hub.handle('stubborn', async (_p, ctx) => {
        ctx.softSignal.addEventListener('abort', () => seen.push('soft'));
        await new Promise((resolve) => ctx.signal.addEventListener('abort', resolve, { once: true }));
        seen.push((ctx.signal.reason as Error).name);
        return 'ignored';
      });
      const task = await hub.enqueue('stubborn', null, { softTimeoutMs: 50, timeoutMs: 300, maxAttempts: 1 });
      const done = await hub.wait(task.id, 8000);
      assert.equal(done.status, 'failed');
      assert.equal(done.error?.code, 'TIMEOUT');
      await waitUntil(() => seen.length === 2);
      assert.deepEqual(seen, ['soft', 'TimeoutError']);
    } finally {
      await hub.dispose();
    }
  });

  it('applies a type default, and never fires without a soft limit', async () => {
    const hub = await openTestHub();
    try {
      await hub.types.put('defaulted', { defaults: { softTimeoutMs: 80, timeoutMs: 5000 } });
      let softAborted: boolean | undefined;
      let deadline: number | null | undefined;
      hub.handle('defaulted', async (_p, ctx) => {
        await new Promise((resolve) => ctx.softSignal.addEventListener('abort', resolve, { once: true }));
        return 'soft';
      });
      hub.handle('plain', async (_p, ctx) => {
        await new Promise((resolve) => setTimeout(resolve, 100));
        softAborted = ctx.softSignal.aborted;
        deadline = ctx.softDeadline;
        return 'plain';
      });
      const a = await hub.enqueue('defaulted', null);
      assert.equal(a.softTimeoutMs, 80);
      const b = await hub.enqueue('plain', null);
      assert.equal(b.softTimeoutMs, null);
      assert.equal((await hub.wait(a.id, 8000)).result, 'soft');
      assert.equal((await hub.wait(b.id, 8000)).result, 'plain');
      assert.equal(softAborted, false);
      assert.equal(deadline, null);
    } finally {
      await hub.dispose();
    }
  });

  it('refuses a soft limit at or past the hard one', async () => {
    const hub = await openTestHub({ autoStart: false });
    try {
      await assert.rejects(hub.enqueue('x', null, { softTimeoutMs: 1000, timeoutMs: 1000 }), (e: unknown) => e instanceof ValidationError && /softTimeoutMs: must be less than timeoutMs/.test(e.message));
      await assert.rejects(hub.enqueue('x', null, { softTimeoutMs: 0 }), /softTimeoutMs: must be an integer from 1/);
      await assert.rejects(hub.types.put('x', { defaults: { softTimeoutMs: 2000, timeoutMs: 1000 } }), /defaults.softTimeoutMs: must be less than timeoutMs/);
      await hub.types.put('capped', { defaults: { timeoutMs: 1000 } });
      await assert.rejects(hub.enqueue('capped', null, { softTimeoutMs: 1500 }), /softTimeoutMs: must be less than timeoutMs \(1000\)/, "the type's default timeoutMs counts");
      assert.equal((await hub.enqueue('capped', null, { softTimeoutMs: 500 })).softTimeoutMs, 500);
    } finally {
      await hub.dispose();
    }
  });
});

describe('soft time limits over HTTP', () => {
  it('answers 400 for soft >= hard, on a submit, a batch and type settings', async () => {
    const s = await startServer({ autoStart: false });
    try {
      const one = await s.request('POST', '/api/v1/tasks', { type: 'x', softTimeoutMs: 5000, timeoutMs: 1000 });
      assert.equal(one.status, 400);
      assert.match(((await one.json()) as { detail: string }).detail, /softTimeoutMs: must be less than timeoutMs/);
      const batch = await s.request('POST', '/api/v1/tasks/batch', { tasks: [{ type: 'x' }, { type: 'x', softTimeoutMs: 10, timeoutMs: 10 }] });
      assert.equal(batch.status, 400);
      const types = await s.request('PUT', '/api/v1/types/x', { defaults: { softTimeoutMs: 10, timeoutMs: 5 } });
      assert.equal(types.status, 400);
      const ok = await s.request('POST', '/api/v1/tasks', { type: 'x', softTimeoutMs: 500, timeoutMs: 1000 });
      assert.equal(ok.status, 202);
      const task = (await ok.json()) as Task;
      assert.equal(task.softTimeoutMs, 500);
      assert.equal(((await (await s.request('GET', `/api/v1/tasks/${task.id}`)).json()) as Task).softTimeoutMs, 500);
      assert.ok([200, 201].includes((await s.request('PUT', '/api/v1/types/y', { defaults: { softTimeoutMs: 10, timeoutMs: 50 } })).status));
    } finally {
      await s.close();
    }
  });

  it('the claim carries softTimeoutMs; the heartbeat answer says when the soft limit has passed; the worker may still complete', async () => {
    const s = await startServer({ autoStart: false });
    try {
      const created = (await (await s.request('POST', '/api/v1/tasks', { type: 'soft', softTimeoutMs: 150, timeoutMs: 60_000 })).json()) as Task;
      const claim = await s.request('POST', '/api/v1/worker/claim', { workerId: 'w1', types: ['soft'] });
      const { claims } = (await claim.json()) as { claims: { task: Task; attemptToken: string }[] };
      assert.equal(claims.length, 1);
      const [{ task, attemptToken }] = claims as [{ task: Task; attemptToken: string }];
      assert.equal(task.id, created.id);
      assert.equal(task.softTimeoutMs, 150);
      const beat = async () =>
        (await (await s.request('POST', `/api/v1/worker/tasks/${task.id}/heartbeat`, { attemptToken })).json()) as {
          softDeadline: number | null;
          softTimeLimitExceeded: boolean;
          cancelRequested: boolean;
        };
      const early = await beat();
      assert.equal(early.softTimeLimitExceeded, false);
      assert.equal(early.softDeadline, (task.startedAt as number) + 150);
      await new Promise((resolve) => setTimeout(resolve, 200));
      const late = await beat();
      assert.equal(late.softTimeLimitExceeded, true);
      assert.equal(late.cancelRequested, false);
      const complete = await s.request('POST', `/api/v1/worker/tasks/${task.id}/complete`, { attemptToken, result: 'partial' });
      assert.equal(complete.status, 200);
      const done = await s.hub.get(task.id);
      assert.equal(done.status, 'completed');
      assert.equal(done.result, 'partial');
      // A task without a soft limit never says so.
      await s.request('POST', '/api/v1/tasks', { type: 'plain' });
      const [plain] = ((await (await s.request('POST', '/api/v1/worker/claim', { workerId: 'w1', types: ['plain'] })).json()) as { claims: { task: Task; attemptToken: string }[] }).claims;
      assert.ok(plain);
      const answer = (await (await s.request('POST', `/api/v1/worker/tasks/${plain.task.id}/heartbeat`, { attemptToken: plain.attemptToken })).json()) as Record<string, unknown>;
      assert.equal(answer.softDeadline, null);
      assert.equal(answer.softTimeLimitExceeded, false);
    } finally {
      await s.close();
    }
  });

  it('taskhub worker --url: ctx.softSignal lets the handler return; the hard limit still fails the attempt', async () => {
    const s = await startServer({ autoStart: false, leaseMs: 5000 });
    let child: ChildProcess | undefined;
    let stderr = '';
    try {
      child = spawn(
        process.execPath,
        [CLI, 'worker', '--url', s.base, '--handlers', HANDLERS, '--concurrency', '2', '--heartbeat-interval-ms', '200', '--claim-wait-ms', '5000', '--shutdown-grace', '300', '--log-level', 'warn'],
        { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, TASKHUB_STORE: 'sqlite:/nonexistent/never-opened.db' } },
      );
      child.stderr?.on('data', (chunk: Buffer) => {
        stderr += chunk.toString();
      });
      child.stdout?.resume();
      const submit = async (body: unknown) => (await (await s.request('POST', '/api/v1/tasks', body)).json()) as Task;
      const soft = await submit({ type: 'soft-wrap-up', softTimeoutMs: 300, timeoutMs: 20_000 });
      const hard = await submit({ type: 'soft-ignore', softTimeoutMs: 100, timeoutMs: 600, maxAttempts: 1 });
      const finished = (id: string) => async () => ['completed', 'failed'].includes((await s.hub.get(id)).status);
      await waitUntil(finished(soft.id), 20_000, `soft task finished; stderr: ${stderr}`);
      await waitUntil(finished(hard.id), 20_000, `hard task finished; stderr: ${stderr}`);
      const a = await s.hub.get(soft.id);
      assert.equal(a.status, 'completed', JSON.stringify(a.error));
      assert.deepEqual(a.result, { wrappedUp: true, reason: 'SoftTimeLimitExceeded', hadDeadline: true, hardAborted: false });
      assert.ok((a.completedAt as number) - (a.startedAt as number) >= 300, 'not before the soft limit');
      const b = await s.hub.get(hard.id);
      assert.equal(b.status, 'failed');
      assert.equal(b.error?.code, 'TIMEOUT');
    } finally {
      if (child && child.exitCode === null) {
        child.kill('SIGTERM');
        await once(child, 'exit');
      }
      await s.close();
    }
  });
});
