import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { tempDir } from './helpers/hub.ts';

const CLI = join(import.meta.dirname, '..', 'bin', 'taskhub.js');
const tmp = tempDir();
const store = `sqlite:${join(tmp.dir, 'cli.db')}`;

function taskhub(...args: string[]) {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 30_000, env: { ...process.env, TASKHUB_STORE: store } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

after(() => tmp.remove());

describe('taskhub CLI', () => {
  it('prints help for every command', () => {
    for (const command of ['serve', 'worker', 'submit', 'status', 'tasks', 'follow', 'signal', 'recover', 'derive']) {
      const r = taskhub(command, '--help');
      assert.equal(r.code, 0, command);
      assert.match(r.stdout, new RegExp(`usage: taskhub ${command}`));
      assert.match(r.stdout, /--/);
    }
    assert.equal(taskhub('frobnicate').code, 2);
  });

  it('refuses a read of a database that does not exist, and creates nothing', () => {
    const r = taskhub('tasks');
    assert.equal(r.code, 1);
    assert.match(r.stderr, /no database at/);
  });

  it('submits, lists and shows tasks', () => {
    const submitted = taskhub('submit', 'report', '{"month":"2026-10"}', '--priority', '5', '--tag', 'team=ops', '--json');
    assert.equal(submitted.code, 0, submitted.stderr);
    const { task, created } = JSON.parse(submitted.stdout);
    assert.equal(created, true);
    assert.deepEqual(task.payload, { month: '2026-10' });
    assert.equal(task.priority, 5);
    assert.deepEqual(task.tags, { team: 'ops' });
    const again = JSON.parse(taskhub('submit', 'report', '--idempotency-key', 'k1', '--json').stdout);
    const replay = JSON.parse(taskhub('submit', 'report', '--idempotency-key', 'k1', '--json').stdout);
    assert.equal(replay.task.id, again.task.id);
    assert.equal(replay.created, false);
    const list = taskhub('tasks', '--type', 'report');
    assert.equal(list.code, 0);
    assert.equal(list.stdout.trim().split('\n').length, 2);
    const status = taskhub('status', task.id);
    assert.match(status.stdout, /status: +queued/);
    assert.equal(JSON.parse(taskhub('status', task.id, '--json').stdout).id, task.id);
  });

  it('names the problem in bad input', () => {
    const badJson = taskhub('submit', 'report', '{nope');
    assert.equal(badJson.code, 2);
    assert.match(badJson.stderr, /not valid JSON/);
    const badType = taskhub('submit', 'bad type!');
    assert.equal(badType.code, 1);
    assert.match(badType.stderr, /type: must be/);
    const unknown = taskhub('status', '01a20645-0000-7000-8000-000000000000');
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /does not exist/);
    assert.match(taskhub('tasks', '--status', 'sleeping').stderr, /expected one of/);
    assert.match(taskhub('submit', 'x', '--priority', 'high').stderr, /not an integer/);
  });

  it('reports an unreadable database', () => {
    const path = join(tmp.dir, 'garbage.db');
    writeFileSync(path, 'this is not sqlite at all, just text that fills a page '.repeat(100));
    const r = taskhub('tasks', '--store', `sqlite:${path}`);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /cannot open SQLite database .*garbage\.db/);
  });
});

describe('taskhub CLI: topics, schedules, queues, types', () => {
  it('manages subscriptions and publishes to them', () => {
    assert.equal(taskhub('subscriptions', 'put', 'audit', '--pattern', 'orders.#', '--type', 'audit-log').code, 0);
    const published = JSON.parse(taskhub('publish', 'orders.eu.created', '{"id":1}', '--json').stdout);
    assert.deepEqual(published.tasks.map((t: { type: string }) => t.type), ['audit-log']);
    assert.equal(JSON.parse(taskhub('publish', 'nobody.cares', '--json').stdout).tasks.length, 0);
    assert.match(taskhub('subscriptions', 'put', 'x', '--pattern', 'a..b').stderr, /pattern:/);
    assert.equal(JSON.parse(taskhub('subscriptions', 'delete', 'audit', '--json').stdout).deleted, true);
  });

  it('manages schedules, queue controls and type settings', () => {
    const schedule = JSON.parse(taskhub('schedules', 'put', 'nightly', '--cron', '0 3 * * *', '--timezone', 'Europe/Paris', '--type', 'report', '--json').stdout);
    assert.equal(schedule.schedule?.name ?? schedule.name, 'nightly');
    assert.match(taskhub('schedules', 'put', 'bad', '--cron', 'nope', '--type', 'x').stderr, /cron:/);
    const limited = JSON.parse(taskhub('queues', 'limit', 'emails', '--max-concurrency', '3', '--rate', '10/1000', '--json').stdout);
    assert.deepEqual([limited.maxConcurrency, limited.rateLimit], [3, { count: 10, intervalMs: 1000 }]);
    assert.equal(JSON.parse(taskhub('queues', 'pause', 'emails', '--json').stdout).paused, true);
    const queues = JSON.parse(taskhub('queues', '--json').stdout);
    assert.equal(queues.find((q: { queue: string }) => q.queue === 'emails').settings.paused, true);
    assert.equal(JSON.parse(taskhub('types', 'put', 'trip', '--max-attempts', '5', '--json').stdout).defaults.maxAttempts, 5);
    const submitted = JSON.parse(taskhub('submit', 'trip', '--json').stdout);
    assert.equal(submitted.task.maxAttempts, 5, 'type defaults apply at submit');
  });
});
