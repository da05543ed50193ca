// Fixed-interval schedules (issue 14, point 10): `every: '30s'` beside cron, in the engine (each slot fires once
// across processes), over HTTP (exactly one of cron and every), in the CLI and on PostgreSQL.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { Engine } from '../src/engine/engine.ts';
import { openStore } from '../src/store/open.ts';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.ts';
import type { Store } from '../src/store/store.ts';
import { tempDir } from './helpers/hub.ts';
import { dropSchema, freshSchema, requirePostgres, storeUrl } from './helpers/postgres.ts';
import { startServer } from './helpers/server.ts';

const CLI = join(import.meta.dirname, '..', 'bin', 'taskhub.js');

/** Two engines (two processes' worth) on the given stores, sharing a clock the test moves. */
function engines(stores: Store[], start: number) {
  const clock = { now: start };
  return { clock, engines: stores.map((store) => new Engine(store, { now: () => clock.now })) };
}

/** 30 s slots, ticked by both engines in 7 s steps for 595 s: 19 tasks, one per slot, 30 s apart. */
async function checkExactlyOncePerSlot(stores: Store[]): Promise<void> {
  const start = Date.UTC(2026, 0, 1, 0, 0, 5);
  const { clock, engines: [a, b] } = engines(stores, start);
  const put = await a.scheduler.put('every-30s', { every: '30s', task: { type: 'beat', payload: null } });
  assert.equal(put.created, true);
  assert.deepEqual([put.schedule.cron, put.schedule.everyMs, put.schedule.nextRunAt], [null, 30_000, start + 30_000]);
  for (let t = start; t <= start + 600_000; t += 7_000) {
    clock.now = t;
    const order = (t / 7_000) % 2 ? [a, b] : [b, a];
    await Promise.all(order.map((e) => e.scheduler.tick()));
  }
  const tasks = (await a.tasks.list({ type: 'beat', limit: 100 })).tasks;
  const slots = tasks.map((t) => Date.parse(t.tags.slot as string)).sort((x, y) => x - y);
  assert.equal(slots.length, 19, 'one task per 30 s slot');
  assert.equal(new Set(slots).size, 19, 'no slot fired twice');
  assert.deepEqual(slots.slice(1).map((s, i) => s - slots[i]), Array(18).fill(30_000));
  assert.equal(slots[0], start + 30_000);
  const schedule = await b.scheduler.get('every-30s');
  assert.equal(schedule?.nextRunAt, start + 20 * 30_000);
  // Ten idle minutes (everything down): the slots in between are skipped, and the interval goes on on its own grid.
  clock.now = start + 1_200_000 + 1000;
  await a.scheduler.tick();
  const after = await a.scheduler.get('every-30s');
  assert.equal(((after?.nextRunAt as number) - start) % 30_000, 0, 'still on its 30 s grid');
  assert.ok((after?.nextRunAt as number) > clock.now);
  assert.equal((await a.tasks.list({ type: 'beat', limit: 100 })).tasks.length, 20, 'the 19 slots in between skipped; the current one (1 s old) fired');
  for (const e of [a, b]) await e.close();
}

describe('interval schedules', () => {
  it('SQLite: fire every interval exactly once per slot with two engines on one store', async () => {
    const tmp = tempDir();
    try {
      const stores: Store[] = [];
      for (let i = 0; i < 2; i++) {
        const store = new SqliteStore({ path: join(tmp.dir, 'taskhub.db') });
        await store.migrate();
        stores.push(store);
      }
      await checkExactlyOncePerSlot(stores);
    } finally {
      tmp.remove();
    }
  });

  it('PostgreSQL: fire every interval exactly once per slot with two engines on one schema', async (t: TestContext) => {
    if (!(await requirePostgres(t))) return;
    const schema = freshSchema('every');
    try {
      await checkExactlyOncePerSlot([await openStore(storeUrl(schema)), await openStore(storeUrl(schema))]);
    } finally {
      await dropSchema(schema);
    }
  });

  it('accepts durations and milliseconds, and refuses both or neither of cron and every', async () => {
    const tmp = tempDir();
    const store = new SqliteStore({ path: join(tmp.dir, 'taskhub.db') });
    await store.migrate();
    const engine = new Engine(store);
    try {
      const task = { type: 'beat' };
      for (const [every, ms] of [['5m', 300_000], ['1h', 3_600_000], ['1d', 86_400_000], [45_000, 45_000], ['1500ms', 1500]] as const) {
        assert.equal((await engine.scheduler.put('s', { every, task })).schedule.everyMs, ms, String(every));
      }
      const cron = await engine.scheduler.put('s', { cron: '0 * * * *', task });
      assert.deepEqual([cron.schedule.cron, cron.schedule.everyMs], ['0 * * * *', null], 'replaced by a cron schedule');
      for (const bad of [{ task }, { cron: '* * * * *', every: '30s', task }, { every: '500ms', task }, { every: 'soon', task }, { every: 1.5, task }, { every: '0s', task }]) {
        await assert.rejects(engine.scheduler.put('bad', bad), { code: 'VALIDATION' }, JSON.stringify(bad));
      }
      assert.equal(await engine.scheduler.get('bad'), null);
    } finally {
      await engine.close();
      tmp.remove();
    }
  });

  it('HTTP: PUT takes exactly one of cron and every; GET shows everyMs', async () => {
    const s = await startServer();
    try {
      const put = await s.request('PUT', '/api/v1/schedules/heartbeat', { every: '30s', task: { type: 'ping' } });
      assert.equal(put.status, 201, await put.clone().text());
      const body = (await put.json()) as { cron: string | null; everyMs: number | null; nextRunAt: number };
      assert.deepEqual([body.cron, body.everyMs], [null, 30_000]);
      assert.ok(Math.abs(body.nextRunAt - (Date.now() + 30_000)) < 5000);
      assert.equal((await s.request('PUT', '/api/v1/schedules/heartbeat', { every: 60_000, task: { type: 'ping' } })).status, 200);
      const got = (await (await s.request('GET', '/api/v1/schedules/heartbeat')).json()) as { everyMs: number };
      assert.equal(got.everyMs, 60_000);
      for (const bad of [{ task: { type: 'ping' } }, { cron: '* * * * *', every: '1m', task: { type: 'ping' } }, { every: 'often', task: { type: 'ping' } }, { every: 10, task: { type: 'ping' } }, { every: true, task: { type: 'ping' } }]) {
        const res = await s.request('PUT', '/api/v1/schedules/bad', bad);
        assert.equal(res.status, 400, `${JSON.stringify(bad)}: ${await res.text()}`);
      }
      const list = (await (await s.request('GET', '/api/v1/schedules')).json()) as { schedules: { name: string; everyMs: number | null }[] };
      assert.deepEqual(list.schedules.map((x) => [x.name, x.everyMs]), [['heartbeat', 60_000]]);
    } finally {
      await s.close();
    }
  });

  it('CLI: taskhub schedules put NAME --every 30s', () => {
    const tmp = tempDir();
    try {
      const env = { ...process.env, TASKHUB_STORE: `sqlite:${join(tmp.dir, 'cli.db')}` };
      const cli = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 30_000, env });
      const put = cli('schedules', 'put', 'beat', '--every', '30s', '--type', 'ping', '--json');
      assert.equal(put.status, 0, put.stderr);
      assert.deepEqual([JSON.parse(put.stdout).cron, JSON.parse(put.stdout).everyMs], [null, 30_000]);
      const listed = cli('schedules', 'list', '--json');
      assert.equal(JSON.parse(listed.stdout)[0].everyMs, 30_000);
      const both = cli('schedules', 'put', 'x', '--every', '30s', '--cron', '* * * * *', '--type', 'ping');
      assert.equal(both.status, 2, both.stderr);
      const bad = cli('schedules', 'put', 'x', '--every', 'fortnightly', '--type', 'ping');
      assert.equal(bad.status, 1);
      assert.match(bad.stderr, /every/);
    } finally {
      tmp.remove();
    }
  });
});
