// Durable handlers across processes on one PostgreSQL schema: this process's hub and a `taskhub worker --store`
// child process both run the fan-out handler; the children spread across the two, and each parent resumes exactly
// once and completes once, however the last children's finishes race. Also resume from a checkpoint and a signal on
// PostgreSQL.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { Taskhub, type TaskContext } from '../src/index.ts';
import handlers from './fixtures/durable-handlers.ts';
import { tempDir, waitUntil } from './helpers/hub.ts';
import { dropSchema, freshSchema, requirePostgres, storeUrl } from './helpers/postgres.ts';

const CLI = join(import.meta.dirname, '..', 'bin', 'taskhub.js');
const HANDLERS = join(import.meta.dirname, 'fixtures', 'durable-handlers.ts');

describe('durable handlers on PostgreSQL, two worker processes', () => {
  const schema = freshSchema('durable_worker');
  const tmp = tempDir('taskhub-durable-pg-');
  let hub: Taskhub | undefined;
  let child: ChildProcess | undefined;
  let stderr = '';
  let available = false;
  const lines = (file: string) => readFileSync(file, 'utf8').trim().split('\n').filter(Boolean);
  const finished = (id: string, timeoutMs = 90_000) =>
    waitUntil(async () => ['completed', 'failed', 'cancelled'].includes((await hub!.get(id)).status), timeoutMs, `task ${id} finished; worker: ${stderr}`);

  before(async (t) => {
    available = await requirePostgres(t as never);
    if (!available) return;
    hub = await Taskhub.open({ store: storeUrl(schema), logger: pino({ level: 'silent' }), worker: { pollIntervalMs: 100 } });
    for (const [type, handler] of Object.entries(handlers)) hub.handle(type, handler as never, { concurrency: 2 });
    hub.handle(
      'pg-approval',
      async (_payload: null, ctx: TaskContext) => ({ approved: await ctx.waitForSignal('approval', { timeoutMs: 60_000 }) }),
      { concurrency: 1 },
    );
    child = spawn(
      process.execPath,
      [CLI, 'worker', '--store', storeUrl(schema), '--handlers', HANDLERS, '--concurrency', '2', '--poll-interval-ms', '100', '--log-level', 'warn'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.stdout?.resume();
    const pid = child.pid;
    await waitUntil(async () => (await hub!.workers()).some((w) => w.pid === pid), 30_000, `the worker process registered; stderr: ${stderr}`);
  });

  after(async () => {
    if (child && child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      await once(child, 'exit');
    }
    await hub?.close({ graceMs: 200 });
    if (available) await dropSchema(schema);
    tmp.remove();
  });

  it('children spread across both processes; every parent resumes exactly once and completes once', async (t) => {
    if (!available) return t.skip('no PostgreSQL');
    const log = join(tmp.dir, 'fan.log');
    writeFileSync(log, '');
    const parents = await Promise.all([0, 1, 2].map(() => hub!.enqueue('durable-fan', { log, n: 12, childMs: 40 })));
    for (const p of parents) await finished(p.id);
    const ran = lines(log);
    const workerIds = new Set<string>();
    for (const p of parents) {
      const done = await hub!.get(p.id);
      assert.equal(done.status, 'completed', JSON.stringify(done.error));
      assert.deepEqual(done.result, Array.from({ length: 12 }, (_, i) => i * i));
      const kinds = (await hub!.events(p.id)).map((e) => e.kind);
      assert.equal(kinds.filter((k) => k === 'resumed').length, 1, kinds.join(','));
      assert.equal(kinds.filter((k) => k === 'completed').length, 1);
      assert.equal(kinds.filter((k) => k === 'child-finished').length, 12);
      assert.equal(ran.filter((l) => l === `parent resumed ${p.id}`).length, 1, 'the code after ctx.children ran once');
      for (const c of (await hub!.list({ parentId: p.id, limit: 100 })).tasks) {
        const started = (await hub!.events(c.id)).find((e) => e.kind === 'started');
        workerIds.add(String((started?.data as { workerId?: string } | undefined)?.workerId));
      }
    }
    assert.equal(ran.filter((l) => l.startsWith('child ')).length, 36);
    assert.ok(workerIds.size >= 2 && !workerIds.has('undefined'), `children ran on ${[...workerIds].join(', ')}: expected both workers`);
  });

  it('resumes from a checkpoint and delivers a signal on PostgreSQL', async (t) => {
    if (!available) return t.skip('no PostgreSQL');
    const log = join(tmp.dir, 'phases.log');
    writeFileSync(log, '');
    const task = await hub!.enqueue('durable-phases', { log, failIn: 4 }, { backoff: { delayMs: 20, jitter: 0 } });
    await finished(task.id);
    const done = await hub!.get(task.id);
    assert.deepEqual(done.result, { total: 15, resumedFrom: 4 });
    assert.deepEqual(lines(log).filter((l) => l.startsWith('phase 4') || l.startsWith('phase 1')), ['phase 1 attempt 1', 'phase 4 attempt 1', 'phase 4 attempt 2']);

    const waiting = await hub!.enqueue('pg-approval', null);
    await waitUntil(async () => (await hub!.get(waiting.id)).status === 'waiting', 30_000, 'the task waits for its signal');
    assert.equal((await hub!.signal(waiting.id, 'approval', 'yes')).resumed, true);
    await finished(waiting.id);
    assert.deepEqual((await hub!.get(waiting.id)).result, { approved: 'yes' });
  });
});
