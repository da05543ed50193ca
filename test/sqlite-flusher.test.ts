// Issue 16 (enqueue-to-start latency): a SQLite commit may be flushed off the event loop (store/sqlite/flusher.ts).
// Its caller is answered, and its notices go out, only once the disk has it, and every commit's notices go out in
// commit order whatever each one waits for; a task handed over to an idle worker starts before that flush.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import pino from 'pino';
import { Taskhub } from '../src/index.ts';
import { SqliteConnection } from '../src/store/sqlite/connection.ts';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.ts';
import type { StoreNotice } from '../src/store/store.ts';
import { tempDir, waitUntil } from './helpers/hub.ts';

describe('SQLite commits flushed off the event loop', () => {
  it('answers a flushLater commit after its flush, and lets every commit out in commit order', async () => {
    const tmp = tempDir('taskhub-flusher-');
    const heard: string[] = [];
    const c = new SqliteConnection(join(tmp.dir, 'db.sqlite'), 10_000, (notice: StoreNotice) => heard.push(notice.kind === 'ready' ? `${notice.queue}` : notice.kind));
    try {
      await c.write(() => c.db.exec('CREATE TABLE t (x INTEGER)'));
      const answered: string[] = [];
      const commit = (name: string, durability: 'flushed' | 'lazy' | 'flushLater') =>
        c.write(() => {
          c.run('INSERT INTO t (x) VALUES (1)');
          c.push({ kind: 'ready', queue: name });
        }, { durability }).then(() => answered.push(name));
      const all = Promise.all([commit('a', 'flushLater'), commit('b', 'flushed'), commit('c', 'lazy')]);
      // All three are committed (the rows are there) while a's flush still runs: nothing is heard of any yet.
      assert.equal((c.get('SELECT count(*) AS n FROM t') as { n: number }).n, 3);
      assert.deepEqual(heard, [], "b's and c's notices wait for a's, which waits for the disk");
      await all;
      assert.deepEqual(heard, ['a', 'b', 'c'], 'notices in commit order');
      assert.deepEqual(answered.slice(0, 2), ['b', 'c'], 'b (its own fsync) and c (lazy) are answered at once, a after its flush');
      // With nothing waiting, a commit's notices go out before its answer, as they always did.
      heard.length = 0;
      await commit('d', 'flushed');
      assert.deepEqual(heard, ['d']);
      await commit('e', 'flushLater');
      assert.deepEqual(heard, ['d', 'e']);
    } finally {
      await c.close();
      tmp.remove();
    }
  });

  it('closes only once the flushes under way are done, and the commits they cover are answered', async () => {
    const tmp = tempDir('taskhub-flusher-');
    const path = join(tmp.dir, 'db.sqlite');
    const c = new SqliteConnection(path, 10_000, () => {});
    try {
      await c.write(() => c.db.exec('CREATE TABLE t (x INTEGER)'));
      const writes = Array.from({ length: 5 }, (_, i) => c.write(() => c.run('INSERT INTO t (x) VALUES (?)', i), { durability: 'flushLater' }));
      await c.close();
      assert.deepEqual(await Promise.all(writes), [1, 1, 1, 1, 1], 'every write answered, none refused');
      const again = new SqliteConnection(path, 10_000, () => {});
      assert.equal((again.get('SELECT count(*) AS n FROM t') as { n: number }).n, 5);
      await again.close();
    } finally {
      tmp.remove();
    }
  });

  it('starts a handed-over task as soon as its submit commits; the submit is answered and announced once the disk has it', async () => {
    const tmp = tempDir('taskhub-flusher-');
    const store = new SqliteStore({ path: join(tmp.dir, 'taskhub.db') });
    await store.migrate();
    const timeline: string[] = [];
    store.listen((notice) => {
      if (notice.kind === 'event') timeline.push(notice.event.kind);
    });
    const hub = await Taskhub.open({ store, logger: pino({ level: 'silent' }) });
    try {
      hub.handle('quick', () => {
        timeline.push('handler');
        return null;
      }, { concurrency: 1 });
      // Let the worker find nothing and settle into its wait.
      await new Promise((resolve) => setTimeout(resolve, 200));
      timeline.length = 0;
      const task = await hub.enqueue('quick', {});
      timeline.push('answered');
      const answered = timeline.indexOf('answered');
      assert.equal(timeline[0], 'handler', `the handler starts before the commit is on the disk: ${timeline.join(', ')}`);
      assert.ok(timeline.indexOf('created') > 0 && timeline.indexOf('created') < timeline.indexOf('started'), timeline.join(', '));
      assert.ok(timeline.indexOf('started') < answered, `the submit is answered after its events went out: ${timeline.join(', ')}`);
      await waitUntil(async () => (await hub.get(task.id)).status === 'completed', 5000, 'the task to complete');
      assert.deepEqual((await hub.events(task.id)).map((e) => e.kind), ['created', 'started', 'completed']);
    } finally {
      await hub.close({ graceMs: 200 });
      tmp.remove();
    }
  });
});
