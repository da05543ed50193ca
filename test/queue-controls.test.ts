import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import pino from 'pino';
import { Engine } from '../src/engine/engine.ts';
import { Taskhub } from '../src/index.ts';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.ts';
import { openTestHub, tempDir, waitUntil } from './helpers/hub.ts';

const CLI = join(import.meta.dirname, '..', 'bin', 'taskhub.js');

describe('queue controls', () => {
  it('hold a global concurrency cap and a rate limit across three worker processes', { timeout: 60_000 }, async () => {
    const tmp = tempDir();
    const store = `sqlite:${join(tmp.dir, 'taskhub.db')}`;
    const runLog = join(tmp.dir, 'runs.log');
    writeFileSync(runLog, '');
    const hub = await Taskhub.open({ store, logger: pino({ level: 'silent' }), autoStart: false });
    const workers: ChildProcess[] = [];
    try {
      await hub.setQueueLimits('capped', { maxConcurrency: 2 });
      await hub.setQueueLimits('limited', { rateLimit: { count: 5, intervalMs: 500 } });
      await hub.enqueueMany([
        ...Array.from({ length: 12 }, () => ({ type: 'capped', queue: 'capped' })),
        ...Array.from({ length: 15 }, () => ({ type: 'limited', queue: 'limited' })),
      ]);
      for (let i = 0; i < 3; i++) {
        workers.push(
          spawn(process.execPath, [CLI, 'worker', '--handlers', join(import.meta.dirname, 'fixtures', 'control-handlers.ts'), '--store', store, '--concurrency', '4', '--poll-interval-ms', '20', '--log-level', 'warn'], {
            env: { ...process.env, RUN_LOG: runLog },
            stdio: ['ignore', 'inherit', 'inherit'],
          }),
        );
      }
      await waitUntil(async () => (await hub.list({ status: 'completed', limit: 100 })).tasks.length === 27, 30_000, 'all tasks done');
      const runs = readFileSync(runLog, 'utf8').trim().split('\n').map((l) => l.split(' '));
      assert.ok(new Set(runs.map((r) => r[3])).size >= 2, 'work was shared between processes');
      const capped = runs.filter((r) => r[0] === 'capped').map((r) => [Number(r[1]), Number(r[2])]);
      let peak = 0;
      for (const [start] of capped) peak = Math.max(peak, capped.filter(([s, e]) => s <= start && start < e).length);
      assert.ok(peak <= 2, `at most 2 capped tasks ran at once, saw ${peak}`);
      assert.equal(peak, 2, 'the cap is reached, not undercut');
      // Starts as the store recorded them: never more than 5 in any 500 ms window.
      const limited = (await hub.list({ queue: 'limited', limit: 100 })).tasks;
      const starts = (await Promise.all(limited.map(async (t) => (await hub.events(t.id)).filter((e) => e.kind === 'started').map((e) => e.at)))).flat().sort((a, b) => a - b);
      for (const t of starts) {
        const inWindow = starts.filter((s) => s >= t && s < t + 500).length;
        assert.ok(inWindow <= 5, `${inWindow} starts within 500 ms of ${t}`);
      }
      assert.ok(starts[starts.length - 1] - starts[0] >= 1000, '15 starts at 5 per 500 ms take at least 1 s');
    } finally {
      for (const w of workers) w.kill('SIGKILL');
      await hub.close();
      tmp.remove();
    }
  });

  it('pause stops claims within one poll; resume restarts them', async () => {
    const hub = await openTestHub({ worker: { pollIntervalMs: 50 } });
    try {
      const started: string[] = [];
      hub.handle('job', async (_p, ctx) => {
        started.push(ctx.taskId);
      });
      const before = await hub.enqueue('job', null, { queue: 'reports' });
      await hub.wait(before.id, 2000);
      await hub.pauseQueue('reports');
      const held = await hub.enqueueMany(Array.from({ length: 3 }, () => ({ type: 'job', queue: 'reports' })));
      const other = await hub.enqueue('job', null, { queue: 'other' });
      assert.equal((await hub.wait(other.id, 2000)).status, 'completed', 'other queues keep running');
      await new Promise((resolve) => setTimeout(resolve, 200));
      assert.deepEqual(held.map((t) => started.includes(t.id)), [false, false, false]);
      assert.equal((await hub.queues()).find((q) => q.queue === 'reports')?.counts.queued, 3);
      await hub.resumeQueue('reports');
      for (const t of held) assert.equal((await hub.wait(t.id, 2000)).status, 'completed');
    } finally {
      await hub.dispose();
    }
  });

  it('retention deletes old finished tasks in batches, per status, and keeps the rest', async () => {
    const tmp = tempDir();
    const clock = { now: Date.UTC(2026, 0, 1) };
    const store = new SqliteStore({ path: join(tmp.dir, 'taskhub.db') });
    await store.migrate();
    const engine = new Engine(store, { now: () => clock.now, retention: { completedMs: 60_000, failedMs: 3_600_000, batchSize: 2 } });
    try {
      await engine.tasks.enqueueMany([...Array.from({ length: 5 }, () => ({ type: 'ok' })), { type: 'bad', maxAttempts: 1 }, { type: 'waiting' }]);
      for (const claim of await engine.attempts.claim({ workerId: 'w', types: ['ok', 'bad'], max: 10 })) {
        const ref = { taskId: claim.task.id, attemptToken: claim.attemptToken };
        if (claim.task.type === 'ok') await engine.attempts.complete(ref, null);
        else await engine.attempts.fail(ref, { message: 'no', retryable: false });
      }
      clock.now += 59_000;
      assert.equal(await engine.retention.sweep(), 0, 'nothing is old enough yet');
      clock.now += 2_000;
      assert.equal(await engine.retention.sweep(), 5, 'completed tasks older than a minute go, two per batch');
      const left = (await engine.tasks.list({ limit: 10 })).tasks.map((t) => t.status).sort();
      assert.deepEqual(left, ['failed', 'queued'], 'failed tasks have their own, longer retention; unfinished ones stay');
      clock.now += 3_600_000;
      assert.equal(await engine.retention.sweep(), 1);
    } finally {
      await engine.close();
      tmp.remove();
    }
  });
});
