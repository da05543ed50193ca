// The lease sweeper as a part of its own: built from its small deps (a store, a clock, a batch finish), with no engine
// behind it. An expired lease is retried (counting the attempt) or, with a cancel pending, ends cancelled.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { it } from 'node:test';
import { Engine } from '../src/engine/engine.ts';
import { Finisher, type FinishedAttempt } from '../src/engine/finisher.ts';
import { LeaseSweeper } from '../src/engine/sweeper.ts';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.ts';
import { tempDir } from './helpers/hub.ts';

it('the sweeper retries an expired attempt, or cancels it when a cancel was pending, and tells the observers', async () => {
  const tmp = tempDir();
  const clock = { now: Date.UTC(2026, 0, 1) };
  const now = () => clock.now;
  const store = new SqliteStore({ path: join(tmp.dir, 'taskhub.db') });
  await store.migrate();
  const engine = new Engine(store, { now, leaseMs: 1000 });
  try {
    const [lost, asked] = await engine.tasks.enqueueMany([{ type: 'job' }, { type: 'job' }]);
    assert.equal((await engine.attempts.claim({ workerId: 'gone', types: ['job'], max: 2 })).length, 2);
    await engine.tasks.cancel(asked.task.id);

    const finisher = new Finisher({ store, now });
    const seen: FinishedAttempt[] = [];
    finisher.observe({ onAttemptFinished: (attempts) => seen.push(...attempts) });
    const sweeper = new LeaseSweeper({ store, now, finishMany: (requests) => finisher.finishMany(requests) }, 60_000);

    assert.equal(await sweeper.sweep(), 0, 'leases still current');
    clock.now += 1001;
    assert.equal(await sweeper.sweep(), 2);
    const retried = await engine.tasks.get(lost.task.id);
    assert.equal(retried.status, 'scheduled');
    assert.equal(retried.error?.code, 'LEASE_EXPIRED');
    assert.equal((await engine.tasks.get(asked.task.id)).status, 'cancelled');
    assert.deepEqual(seen.map((a) => a.request.onlyIfLeaseExpired), [true, true]);
    assert.equal(await sweeper.sweep(), 0, 'nothing left to sweep');
  } finally {
    await engine.close();
    tmp.remove();
  }
});
