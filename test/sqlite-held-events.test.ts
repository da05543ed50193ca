// Issue 16 (drain on SQLite): a claim's started event and a completion's event are held by the task row instead of
// stored as event rows (sqlite/history.ts, docs/architecture.md "Events held by the task row"). Histories must read
// back the same, other processes must hear each event once, and rows an earlier version stored must not show twice.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { describe, it } from 'node:test';
import { claimRequest, newTask, T0 } from '../src/store/conformance/helpers.ts';
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

      const rows = count(path, 'SELECT (SELECT count(*) FROM task_events) + (SELECT count(*) FROM task_events_recent) AS n');
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
      const insert = db.prepare('INSERT INTO task_events (task_id, seq, kind, data, at) VALUES (?, ?, ?, ?, ?)');
      for (const e of held.slice(1)) insert.run(e.taskId, e.seq, e.kind, JSON.stringify(e.data), e.at);
      db.prepare('UPDATE tasks SET started_seq = NULL WHERE id = ?').run(task.id);
      db.close();
      assert.deepEqual(await store.listEvents(task.id, 0, 100), held);
      // And a row that still names its stored started event does not repeat it either.
      const again = new DatabaseSync(path);
      again.prepare('UPDATE tasks SET started_seq = 2 WHERE id = ?').run(task.id);
      again.close();
      assert.deepEqual(await store.listEvents(task.id, 0, 100), held);
    } finally {
      await store.close();
      tmp.remove();
    }
  });
});
