// One tenant's flood must not starve another: owner A queues 1,000 tasks, then owner B queues 10; with maxPerKey 2
// and several worker processes, every one of B's tasks starts before A's 50th does.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { it } from 'node:test';
import pino from 'pino';
import { Taskhub } from '../src/index.ts';
import { tempDir, waitUntil } from './helpers/hub.ts';

const CLI = join(import.meta.dirname, '..', 'bin', 'taskhub.js');

it('starts all of a small tenant\'s tasks before the 50th of a flooding one', { timeout: 90_000 }, async () => {
  const tmp = tempDir();
  const store = `sqlite:${join(tmp.dir, 'taskhub.db')}`;
  const hub = await Taskhub.open({ store, logger: pino({ level: 'silent' }), autoStart: false });
  const workers: ChildProcess[] = [];
  try {
    await hub.setQueueLimits('shared', { maxPerKey: 2 });
    await hub.enqueueMany(Array.from({ length: 1000 }, () => ({ type: 'tenant', queue: 'shared', owner: 'A' })));
    await hub.enqueueMany(Array.from({ length: 10 }, () => ({ type: 'tenant', queue: 'shared', owner: 'B' })));
    for (let i = 0; i < 3; i++) {
      workers.push(
        spawn(process.execPath, [CLI, 'worker', '--handlers', join(import.meta.dirname, 'fixtures', 'fair-handlers.ts'), '--store', store, '--concurrency', '4', '--poll-interval-ms', '20', '--log-level', 'warn'], {
          stdio: ['ignore', 'inherit', 'inherit'],
        }),
      );
    }
    const finishedB = async () => (await hub.list({ queue: 'shared', status: 'completed', owner: 'B', limit: 100 })).tasks.length;
    await waitUntil(async () => (await finishedB()) === 10, 60_000, "all of B's tasks");
    const startsOf = async (owner: string) => {
      const tasks = (await hub.list({ queue: 'shared', owner, limit: 1000 })).tasks.filter((t) => t.startedAt !== null);
      return tasks.map((t) => t.startedAt as number).sort((a, b) => a - b);
    };
    const [a, b] = [await startsOf('A'), await startsOf('B')];
    assert.equal(b.length, 10);
    const lastB = b[b.length - 1];
    const aBeforeLastB = a.filter((at) => at <= lastB).length;
    assert.ok(aBeforeLastB < 50, `${aBeforeLastB} of A's tasks started before B's last one`);
  } finally {
    for (const w of workers) w.kill('SIGKILL');
    await hub.close();
    tmp.remove();
  }
});
