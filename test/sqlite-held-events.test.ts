// Issue 16 (drain on SQLite): a claim's started event and a completion's event are held by the task row instead of
// stored as event rows (sqlite/history.ts, docs/architecture.md "Events held by the task row"). Histories must read
// back the same, other processes must hear each event once, and rows an earlier version stored must not show twice.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { DatabaseSync } from 'node:sqlite';
import { describe, it } from 'node:test';
import type { TaskEvent } from '../src/core/task.ts';
import { claimRequest, newTask, T0 } from '../src/store/conformance/helpers.ts';
import type { SqliteStore as Store } from '../src/store/sqlite/sqlite-store.ts';
import { PID_NAMESPACE } from '../src/store/sqlite/connection.ts';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.ts';
import { tempDir, waitUntil } from './helpers/hub.ts';
import { sqlitePair } from './helpers/sqlite-pair.ts';

const TASKS = 50;

function count(path: string, sql: string): number {
  const db = new DatabaseSync(path, { readOnly: true });
  try {
    return (db.prepare(sql).get() as { n: number }).n;
  } finally {
    db.close();
  }
}

describe('SQLite events held by the task row', () => {
  it('stores no row for a claim or a completion, reads them back from the row, and tells another process of each once', async () => {
    const pair = await sqlitePair(20);
    const { path, writer, reader, heard } = pair;
    try {
      await new Promise((resolve) => setTimeout(resolve, 50));
      const created = await writer.createTasks(Array.from({ length: TASKS }, () => newTask()));
      const claims = await writer.claim(claimRequest({ max: TASKS, workerId: 'w1', now: T0 + 1 }));
      assert.equal(claims.length, TASKS);
      const results = await writer.finish(
        claims.map((c, i) => ({ ref: { taskId: c.task.id, attemptToken: c.attemptToken }, outcome: { status: 'completed' as const, result: { i } } })),
        T0 + 2,
      );
      assert.ok(results.every((r) => r.ok));

      const rows = count(path, 'SELECT (SELECT count(*) FROM task_event_blocks b, json_each(b.events)) + (SELECT count(*) FROM task_events_recent) AS n');
      assert.equal(rows, TASKS, 'one event row per task: its created event');

      await waitUntil(() => heard.length >= 3 * TASKS, 5000, 'the other process to hear every event');
      await new Promise((resolve) => setTimeout(resolve, 100));
      assert.equal(heard.length, 3 * TASKS, 'each event heard once');
      for (const [i, { task }] of created.entries()) {
        const history = await writer.listEvents(task.id, 0, 100);
        assert.deepEqual(history.map((e) => [e.seq, e.kind]), [[1, 'created'], [2, 'started'], [3, 'completed']]);
        assert.deepEqual(history[1].data, { attempt: 1, workerId: 'w1' });
        assert.equal(history[1].at, T0 + 1);
        assert.deepEqual(history[2].data, { result: { i } });
        assert.equal(history[2].at, T0 + 2);
        assert.deepEqual(await reader.listEvents(task.id, 0, 100), history, 'the same history from the other process');
        assert.deepEqual(heard.filter((e) => e.taskId === task.id), history, 'heard in order, as stored');
        assert.deepEqual(await writer.listEvents(task.id, 1, 1), [history[1]], 'a page that ends on a held event');
        assert.deepEqual(await writer.listEvents(task.id, 2, 100), [history[2]]);
        assert.deepEqual(await writer.listEvents(task.id, 3, 100), []);
      }
    } finally {
      await pair.close();
    }
  });

  it('reads a history stored by an earlier version (started and completed as event rows) once, not twice', async () => {
    const tmp = tempDir();
    const path = join(tmp.dir, 'taskhub.db');
    const store = new SqliteStore({ path });
    try {
      await store.migrate();
      const [{ task }] = await store.createTasks([newTask()]);
      const [claim] = await store.claim(claimRequest({ max: 1, workerId: 'w1', now: T0 + 1 }));
      await store.finish([{ ref: { taskId: task.id, attemptToken: claim.attemptToken }, outcome: { status: 'completed', result: 'ok' } }], T0 + 2);
      const held = await store.listEvents(task.id, 0, 100);
      // What the version before held events left: both events as rows, and no started_seq.
      const db = new DatabaseSync(path);
      const insert = db.prepare('INSERT INTO task_events_recent (task_id, seq, kind, data, at) VALUES (?, ?, ?, ?, ?)');
      for (const e of held.slice(1)) insert.run(e.taskId, e.seq, e.kind, JSON.stringify(e.data), e.at);
      db.prepare('UPDATE tasks SET started_seq = NULL WHERE id = ?').run(task.id);
      assert.deepEqual(await store.listEvents(task.id, 0, 100), held);
      // And a row that still names its stored started event does not repeat it either.
      db.prepare('UPDATE tasks SET started_seq = 2 WHERE id = ?').run(task.id);
      assert.deepEqual(await store.listEvents(task.id, 0, 100), held);
      // Nor once those rows are compacted into a block.
      db.exec(`INSERT INTO task_event_blocks (last_id, task_id, first_seq, last_seq, events)
          SELECT max(id), task_id, min(seq), max(seq), json_group_array(json_array(id, seq, kind, json(data), at))
          FROM task_events_recent GROUP BY task_id;
        DELETE FROM task_events_recent;`);
      db.close();
      assert.deepEqual(await store.listEvents(task.id, 0, 100), held);
    } finally {
      await store.close();
      tmp.remove();
    }
  });

  /** Creates, claims and completes `n` tasks on `store`: two held events each. */
  async function runTasks(store: Store, n: number, now: number): Promise<string[]> {
    const created = await store.createTasks(Array.from({ length: n }, () => newTask()));
    const claims = await store.claim(claimRequest({ max: n, workerId: 'w1', now }));
    await store.finish(claims.map((c) => ({ ref: { taskId: c.task.id, attemptToken: c.attemptToken }, outcome: { status: 'completed' as const, result: null } })), now + 1);
    return created.map((c) => c.task.id);
  }

  it('writes no task_notices row while no other connection polls the file, its own listeners hearing every event', async () => {
    const tmp = tempDir();
    const path = join(tmp.dir, 'taskhub.db');
    const store = new SqliteStore({ path });
    const heard: TaskEvent[] = [];
    const stop = store.listen((notice) => notice.kind === 'event' && heard.push(notice.event));
    try {
      await store.migrate();
      const ids = await runTasks(store, 20, T0 + 1);
      assert.equal(count(path, 'SELECT count(*) AS n FROM task_notices'), 0, 'no one else listens: nothing to tell');
      assert.deepEqual(heard.filter((e) => e.kind !== 'created').map((e) => [e.taskId, e.kind]), [...ids.map((id) => [id, 'started']), ...ids.map((id) => [id, 'completed'])]);
    } finally {
      stop();
      await store.close();
      tmp.remove();
    }
  });

  it('tells a poller of another connection while it is checked in and its process alive, not once it left', async () => {
    const pair = await sqlitePair(10);
    const { path, writer, reader, heard } = pair;
    const notices = () => count(path, 'SELECT count(*) AS n FROM task_notices');
    const checkIn = (id: string, pid: number, namespace: string) => {
      const db = new DatabaseSync(path);
      db.prepare('INSERT INTO pollers (id, pid, pid_namespace, since) VALUES (?, ?, ?, 0)').run(id, pid, namespace);
      db.close();
    };
    try {
      await runTasks(writer, 10, T0 + 1);
      await waitUntil(() => heard.filter((e) => e.kind === 'completed').length === 10, 5000, 'the reader to hear the completions');
      assert.ok(notices() > 0, 'logged for the reader');

      // The reader closes: it leaves pollers, and the writer, alone again, logs nothing more.
      await reader.close();
      assert.equal(count(path, 'SELECT count(*) AS n FROM pollers'), 0);
      let logged = notices();
      await runTasks(writer, 3, T0 + 10);
      assert.equal(notices(), logged);

      // A poller killed before it could leave: its process is gone, so its row is dropped and nothing is logged for it.
      const gone = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
      checkIn('killed', Number(gone.stdout), PID_NAMESPACE);
      await runTasks(writer, 3, T0 + 20);
      assert.equal(notices(), logged, 'nothing for a poller whose process is gone');
      assert.equal(count(path, 'SELECT count(*) AS n FROM pollers'), 0, 'and its row went');

      // One whose process runs, and one in a pid namespace this process cannot see into: both are told.
      checkIn('alive', process.ppid, PID_NAMESPACE);
      await runTasks(writer, 3, T0 + 30);
      assert.ok(notices() > logged, 'logged for a live process');
      logged = notices();
      const db = new DatabaseSync(path);
      db.prepare('DELETE FROM pollers').run();
      db.close();
      checkIn('elsewhere', 1, 'pid:[another namespace]');
      await runTasks(writer, 3, T0 + 40);
      assert.ok(notices() > logged, 'logged for a process this one cannot see');
    } finally {
      await pair.close();
    }
  });
});
