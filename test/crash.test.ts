// A worker process is killed with SIGKILL mid-run; after its leases expire another worker finishes everything:
// no task lost, each completed exactly once, each attempt counted.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { it } from 'node:test';
import pino from 'pino';
import { Taskhub } from '../src/index.ts';
import { tempDir, waitUntil } from './helpers/hub.ts';

const CLI = join(import.meta.dirname, '..', 'bin', 'taskhub.js');

function startWorker(store: string, runLog: string): ChildProcess {
  return spawn(
    process.execPath,
    [CLI, 'worker', '--handlers', join(import.meta.dirname, 'fixtures', 'crash-handlers.ts'), '--store', store, '--concurrency', '8', '--lease-ms', '2000', '--log-level', 'warn'],
    { env: { ...process.env, RUN_LOG: runLog }, stdio: ['ignore', 'inherit', 'inherit'] },
  );
}

it('loses nothing when a worker is killed with SIGKILL mid-run', { timeout: 60_000 }, async () => {
  const tmp = tempDir();
  const store = `sqlite:${join(tmp.dir, 'taskhub.db')}`;
  const runLog = join(tmp.dir, 'runs.log');
  writeFileSync(runLog, '');
  const hub = await Taskhub.open({ store, logger: pino({ level: 'silent' }), autoStart: false });
  const workers: ChildProcess[] = [];
  try {
    // A 2 s lease: a second attempt of an orphan must not expire because a loaded CI machine delayed three heartbeats
    // in a row (seen once with 1 s). The first four (claimed first, FIFO) run 5 s: whatever the timing of the kill, they are mid-run when it lands,
    // while the other slots churn through short tasks. (All-short tasks finish in lock-step batches, and a kill
    // between a batch's completion and the next claim found nothing running.)
    const tasks = await hub.enqueueMany(Array.from({ length: 120 }, (_, i) => ({ type: 'crashy', payload: { ms: i < 4 ? 5000 : 150 } })));
    const first = startWorker(store, runLog);
    workers.push(first);
    await waitUntil(async () => (await hub.list({ status: 'completed', limit: 1000 })).tasks.length >= 20, 20_000, 'first completions');
    first.kill('SIGKILL');
    await new Promise((resolve) => first.once('exit', resolve));
    const orphaned = (await hub.list({ status: 'running', limit: 1000 })).tasks;
    assert.ok(orphaned.length >= 4, `the kill should catch tasks mid-run (${orphaned.length} running)`);

    workers.push(startWorker(store, runLog));
    await waitUntil(async () => (await hub.list({ status: 'completed', limit: 1000 })).tasks.length === tasks.length, 30_000, 'every task completed');

    const runs = readFileSync(runLog, 'utf8').trim().split('\n').map((line) => line.split(' '));
    for (const task of tasks) {
      const final = await hub.get(task.id);
      const events = (await hub.events(task.id)).map((e) => e.kind);
      assert.equal(events.filter((k) => k === 'completed').length, 1, `task ${task.id} completed once`);
      assert.equal(events.filter((k) => k === 'started').length, final.attempts, 'every attempt has one started event');
      const runsOfTask = runs.filter(([id]) => id === task.id);
      // The finished run is the one recorded by the attempt that completed; a killed attempt may or may not have logged.
      assert.ok(runsOfTask.some(([, attempt]) => Number(attempt) === final.attempts));
      assert.ok(runsOfTask.length <= final.attempts);
    }
    for (const task of orphaned) {
      const final = await hub.get(task.id);
      assert.equal(final.attempts, 2, 'the orphaned attempt counted');
      const retrying = (await hub.events(task.id)).find((e) => e.kind === 'retrying');
      assert.equal((retrying?.data as { error: { code: string } } | undefined)?.error.code, 'LEASE_EXPIRED');
    }
  } finally {
    for (const w of workers) w.kill('SIGKILL');
    await hub.close();
    tmp.remove();
  }
});
