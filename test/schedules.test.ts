import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Engine } from '../src/engine/engine.ts';
import { nextSlot } from '../src/engine/scheduler.ts';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.ts';
import { tempDir } from './helpers/hub.ts';

/** Two engines (as two processes would) on one SQLite file, sharing a clock the test moves. */
async function twoEngines(start: number) {
  const tmp = tempDir();
  const clock = { now: start };
  const engines: Engine[] = [];
  for (let i = 0; i < 2; i++) {
    const store = new SqliteStore({ path: join(tmp.dir, 'taskhub.db') });
    await store.migrate();
    engines.push(new Engine(store, { now: () => clock.now }));
  }
  return {
    clock,
    engines,
    async close() {
      for (const e of engines) await e.close();
      tmp.remove();
    },
  };
}

describe('schedules', () => {
  it('fires each due slot exactly once with two engines on one store', async () => {
    const start = Date.UTC(2026, 0, 1, 0, 0, 30);
    const { clock, engines, close } = await twoEngines(start);
    try {
      await engines[0].scheduler.put('every-minute', { cron: '* * * * *', task: { type: 'report', payload: { kind: 'minutely' } } });
      // Ten minutes in 7-second steps; both engines tick at every step, in both orders.
      for (let t = start; t <= start + 600_000; t += 7_000) {
        clock.now = t;
        const order = (t / 7_000) % 2 ? engines : [...engines].reverse();
        await Promise.all(order.map((e) => e.scheduler.tick()));
      }
      const tasks = (await engines[0].tasks.list({ type: 'report', limit: 100 })).tasks;
      const slots = tasks.map((t) => t.tags.slot).sort();
      assert.equal(slots.length, 10, 'one task per minute');
      assert.equal(new Set(slots).size, 10, 'no slot fired twice');
      assert.equal(slots[0], '2026-01-01T00:01:00.000Z');
      const schedule = await engines[1].scheduler.get('every-minute');
      assert.equal(schedule?.nextRunAt, Date.UTC(2026, 0, 1, 0, 11));
      assert.ok(schedule?.lastTaskId && tasks.some((t) => t.id === schedule.lastTaskId));
    } finally {
      await close();
    }
  });

  it('follows DST transitions in its time zone', () => {
    // 02:30 every day in Berlin: on 2026-03-29 that hour does not exist (clocks jump 02:00 -> 03:00), and on
    // 2026-10-25 it happens twice (03:00 -> 02:00). One run a day, whatever the clocks do.
    const zone = 'Europe/Berlin';
    const slots = (from: number, n: number) => {
      const out: number[] = [];
      for (let at = from; out.length < n; ) out.push((at = nextSlot('30 2 * * *', zone, at) as number));
      return out.map((ms) => new Date(ms).toISOString());
    };
    assert.deepEqual(slots(Date.UTC(2026, 2, 27, 12), 3), ['2026-03-28T01:30:00.000Z', '2026-03-29T01:00:00.000Z', '2026-03-30T00:30:00.000Z']);
    assert.deepEqual(slots(Date.UTC(2026, 9, 23, 12), 3), ['2026-10-24T00:30:00.000Z', '2026-10-25T00:30:00.000Z', '2026-10-26T01:30:00.000Z']);
    // 9:00 in New York stays 9:00 local across its DST change (UTC 14:00 -> 13:00).
    const ny = [nextSlot('0 9 * * *', 'America/New_York', Date.UTC(2026, 2, 7, 15)), nextSlot('0 9 * * *', 'America/New_York', Date.UTC(2026, 2, 8, 15))];
    assert.deepEqual(ny.map((ms) => new Date(ms as number).toISOString()), ['2026-03-08T13:00:00.000Z', '2026-03-09T13:00:00.000Z']);
  });

  it('after downtime skips missed slots, or runs once, as the schedule says', async () => {
    const start = Date.UTC(2026, 0, 1, 0, 0, 30);
    const { clock, engines, close } = await twoEngines(start);
    try {
      const [engine] = engines;
      await engine.scheduler.put('skipper', { cron: '*/5 * * * *', task: { type: 'skip-me' }, missedPolicy: 'skip' });
      await engine.scheduler.put('catcher', { cron: '*/5 * * * *', task: { type: 'catch-up' }, missedPolicy: 'run-once' });
      clock.now = start + 3 * 3_600_000 + 120_000; // three hours of downtime, the last slot 150 s ago
      await engine.scheduler.tick();
      await engine.scheduler.tick();
      assert.equal((await engine.tasks.list({ type: 'skip-me', limit: 10 })).tasks.length, 0);
      assert.equal((await engine.tasks.list({ type: 'catch-up', limit: 10 })).tasks.length, 1);
      for (const name of ['skipper', 'catcher']) {
        assert.equal((await engine.scheduler.get(name))?.nextRunAt, Date.UTC(2026, 0, 1, 3, 5), `${name} moves to the next future slot`);
      }
      clock.now = Date.UTC(2026, 0, 1, 3, 5, 1);
      await engine.scheduler.tick();
      assert.equal((await engine.tasks.list({ type: 'skip-me', limit: 10 })).tasks.length, 1, 'a fresh slot runs');
    } finally {
      await close();
    }
  });

  it('rejects a bad cron expression or time zone, naming it', async () => {
    const { engines, close } = await twoEngines(Date.now());
    try {
      await assert.rejects(engines[0].scheduler.put('bad', { cron: 'every day', task: { type: 't' } }), /cron:/);
      await assert.rejects(engines[0].scheduler.put('bad', { cron: '* * * * *', timezone: 'Mars/Base', task: { type: 't' } }), /timezone:/);
      assert.equal(await engines[0].scheduler.get('bad'), null);
    } finally {
      await close();
    }
  });
});
