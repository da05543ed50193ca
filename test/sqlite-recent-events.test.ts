// Issue 16 (streaming on SQLite): events are appended to task_events_recent, without a per-task index, and compacted
// into task_events in batches (sqlite/connection.ts). Histories, other processes' notices and deletes must not be
// able to tell where an event is.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DatabaseSync } from 'node:sqlite';
import { join } from 'node:path';
import { claimRequest, newTask, T0 } from '../src/store/conformance/helpers.ts';
import type { TaskEvent } from '../src/core/task.ts';
import type { Claim } from '../src/store/store.ts';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.ts';
import { tempDir, waitUntil } from './helpers/hub.ts';
import { sqlitePair } from './helpers/sqlite-pair.ts';

/** Enough output to compact several times over (a connection compacts every 2000 events). */
const CHUNKS_PER_TASK = 1500;

async function streamOutput(store: SqliteStore, claims: readonly Claim[]): Promise<void> {
  for (let c = 0; c < CHUNKS_PER_TASK; c += 100) {
    const inputs = claims.flatMap((claim) =>
      Array.from({ length: 100 }, (_, k) => ({ ref: { taskId: claim.task.id, attemptToken: claim.attemptToken }, chunk: `c${c + k}` })),
    );
    const results = await store.appendAttemptEvents(inputs, T0);
    assert.ok(results.every((r) => r.ok));
  }
}

function countRows(path: string): { compacted: number; recent: number } {
  const db = new DatabaseSync(path, { readOnly: true });
  try {
    const count = (table: string) => (db.prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n;
    return { compacted: count('task_events'), recent: count('task_events_recent') };
  } finally {
    db.close();
  }
}

async function allEvents(store: SqliteStore, taskId: string, page: number): Promise<TaskEvent[]> {
  const events: TaskEvent[] = [];
  for (;;) {
    const next = await store.listEvents(taskId, events.at(-1)?.seq ?? 0, page);
    events.push(...next);
    if (next.length < page) return events;
  }
}

describe('SQLite recent events and compaction', () => {
  it('reads every history whole and in order, page by page, wherever its events are', async () => {
    const tmp = tempDir();
    const path = join(tmp.dir, 'taskhub.db');
    const store = new SqliteStore({ path });
    try {
      await store.migrate();
      await store.createTasks([newTask(), newTask(), newTask()]);
      const claims = await store.claim(claimRequest({ max: 3 }));
      await streamOutput(store, claims);
      const rows = countRows(path);
      assert.ok(rows.compacted > 0 && rows.recent > 0, `events in both tables: ${JSON.stringify(rows)}`);
      for (const claim of claims) {
        for (const page of [1000, 333]) {
          const events = await allEvents(store, claim.task.id, page);
          assert.deepEqual(events.map((e) => e.seq), Array.from({ length: CHUNKS_PER_TASK + 2 }, (_, i) => i + 1));
          assert.deepEqual(events.slice(0, 2).map((e) => e.kind), ['created', 'started']);
          assert.deepEqual(events.slice(2).map((e) => e.data), Array.from({ length: CHUNKS_PER_TASK }, (_, i) => ({ chunk: `c${i}` })));
        }
      }
      // Deleting a task takes its events out of both tables.
      const [first] = claims;
      await store.finish([{ ref: { taskId: first.task.id, attemptToken: first.attemptToken }, outcome: { status: 'completed', result: null } }], T0);
      assert.equal(await store.deleteTask(first.task.id), true);
      const db = new DatabaseSync(path, { readOnly: true });
      for (const table of ['task_events', 'task_events_recent']) {
        assert.equal((db.prepare(`SELECT count(*) AS n FROM ${table} WHERE task_id = ?`).get(first.task.id) as { n: number }).n, 0, table);
      }
      db.close();
    } finally {
      await store.close();
      tmp.remove();
    }
  });

  it("tells another process of every event in order, even those compacted before its poller read them", async () => {
    // A slow poller: the writer appends (and compacts) several times over between two of its looks.
    const pair = await sqlitePair(400);
    const { writer, heard: seen } = pair;
    try {
      await new Promise((resolve) => setTimeout(resolve, 50));
      await writer.createTasks([newTask(), newTask()]);
      const claims = await writer.claim(claimRequest({ max: 2 }));
      await streamOutput(writer, claims);
      const expected = 2 * (CHUNKS_PER_TASK + 2);
      await waitUntil(() => seen.length >= expected, 10_000, `${expected} notices in the other process`);
      assert.equal(seen.length, expected);
      for (const claim of claims) {
        const mine = seen.filter((e) => e.taskId === claim.task.id);
        assert.deepEqual(mine.map((e) => e.seq), Array.from({ length: CHUNKS_PER_TASK + 2 }, (_, i) => i + 1));
      }
    } finally {
      await pair.close();
    }
  });
});
