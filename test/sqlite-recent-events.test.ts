// Issue 16 (streaming on SQLite): events are appended to task_events_recent, without a per-task index, and compacted
// into event blocks (task_event_blocks: one row per task and 32 seqs; sqlite/connection.ts, sql.ts). Histories, other
// processes' notices and deletes must not be able to tell where an event is.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DatabaseSync } from 'node:sqlite';
import { join } from 'node:path';
import { claimRequest, newTask, T0 } from '../src/store/conformance/helpers.ts';
import type { TaskEvent } from '../src/core/task.ts';
import type { Claim } from '../src/store/store.ts';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.ts';
import { COMPACT_EVENTS_PER_TASK, COMPACT_MAX_EVENTS, COMPACT_MIN_EVENTS, CompactionDue } from '../src/store/sqlite/compaction.ts';
import { BLOCK_SEQS } from '../src/store/sqlite/event-blocks.ts';
import { MIGRATIONS } from '../src/store/sqlite/migrations.ts';
import { tempDir, waitUntil } from './helpers/hub.ts';
import { sqlitePair } from './helpers/sqlite-pair.ts';

/** Enough output to compact several times over (a connection writing to few tasks compacts every 2000 events). */
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

function countRows(path: string): { compacted: number; blocks: number; recent: number } {
  const db = new DatabaseSync(path, { readOnly: true });
  try {
    const count = (from: string) => (db.prepare(`SELECT count(*) AS n FROM ${from}`).get() as { n: number }).n;
    return {
      compacted: count('task_event_blocks b, json_each(b.events)'),
      blocks: count('task_event_blocks'),
      recent: count('task_events_recent'),
    };
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

/** Runs `test` on a migrated store of its own, on a file in a temporary directory. */
async function withStore(test: (store: SqliteStore, path: string) => Promise<void>): Promise<void> {
  const tmp = tempDir();
  const path = join(tmp.dir, 'taskhub.db');
  const store = new SqliteStore({ path });
  try {
    await store.migrate();
    await test(store, path);
  } finally {
    await store.close();
    tmp.remove();
  }
}

/** Asserts that neither event table holds a row of the task. */
function assertNoEventRows(path: string, taskId: string): void {
  const db = new DatabaseSync(path, { readOnly: true });
  try {
    for (const table of ['task_event_blocks', 'task_events_recent']) {
      assert.equal((db.prepare(`SELECT count(*) AS n FROM ${table} WHERE task_id = ?`).get(taskId) as { n: number }).n, 0, table);
    }
  } finally {
    db.close();
  }
}

describe('SQLite recent events and compaction', () => {
  it('reads every history whole and in order, page by page, wherever its events are', () =>
    withStore(async (store, path) => {
      await store.createTasks([newTask(), newTask(), newTask()]);
      const claims = await store.claim(claimRequest({ max: 3 }));
      await streamOutput(store, claims);
      const rows = countRows(path);
      assert.ok(rows.compacted > 0 && rows.recent > 0, `events in both tables: ${JSON.stringify(rows)}`);
      // A block per task and bucket of seqs, not a row per event (each append gave each task 100 events).
      assert.ok(rows.blocks <= rows.compacted / 20, `blocks of many events: ${JSON.stringify(rows)}`);
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
      assertNoEventRows(path, first.task.id);
    }));

  it('waits for several events per task when many tasks write, so that each block holds several', () =>
    withStore(async (store, path) => {
      // 600 tasks, one chunk each per append: compacting every 2000 events made blocks of 3 or 4 events, one index
      // entry per few events (compaction.ts).
      const tasks = 600;
      const rounds = 12;
      await store.createTasks(Array.from({ length: tasks }, () => newTask()));
      const claims = await store.claim(claimRequest({ max: tasks }));
      assert.equal(claims.length, tasks);
      for (let c = 0; c < rounds; c++) {
        const inputs = claims.map((claim) => ({ ref: { taskId: claim.task.id, attemptToken: claim.attemptToken }, chunk: `c${c}` }));
        assert.ok((await store.appendAttemptEvents(inputs, T0)).every((r) => r.ok));
      }
      const rows = countRows(path);
      assert.equal(rows.compacted + rows.recent, tasks * (rounds + 1), 'a created event and the chunks of each task');
      assert.ok(rows.compacted >= tasks * COMPACT_EVENTS_PER_TASK, `compacted: ${JSON.stringify(rows)}`);
      assert.ok(rows.blocks * COMPACT_EVENTS_PER_TASK <= rows.compacted, `blocks of ${COMPACT_EVENTS_PER_TASK} events or more: ${JSON.stringify(rows)}`);
      for (const claim of [claims[0], claims[tasks - 1]]) {
        const events = await allEvents(store, claim.task.id, 5);
        assert.deepEqual(events.slice(2).map((e) => e.data), Array.from({ length: rounds }, (_, c) => ({ chunk: `c${c}` })));
      }
    }));

  it("retention takes a deleted task's blocks and recent rows, and leaves the others' history whole", () =>
    withStore(async (store, path) => {
      await store.createTasks([newTask(), newTask(), newTask()]);
      const claims = await store.claim(claimRequest({ max: 3 }));
      await streamOutput(store, claims);
      const [kept, ...gone] = claims;
      const keptBefore = await allEvents(store, kept.task.id, 1000);
      await store.finish(gone.map((c) => ({ ref: { taskId: c.task.id, attemptToken: c.attemptToken }, outcome: { status: 'completed' as const, result: null } })), T0);
      assert.equal(await store.deleteFinishedTasks('completed', T0 + 1, 10), 2);
      for (const claim of gone) assertNoEventRows(path, claim.task.id);
      assert.deepEqual(await allEvents(store, kept.task.id, 1000), keptBefore);
    }));

  it('keeps a history in seq order when a started event is stored after the output that followed it', () =>
    withStore(async (store, path) => {
      // The row holds an attempt's started event until the attempt ends; one that ends in a retry stores it then, after
      // its output went into blocks, and the next attempt's output lands in the same buckets of seqs.
      await store.createTasks([newTask({ maxAttempts: 3 }), newTask()]);
      const claims = await store.claim(claimRequest({ max: 2 }));
      const [task, other] = claims;
      const append = async (claim: Claim, chunks: number) => {
        const inputs = Array.from({ length: chunks }, (_, k) => ({ ref: { taskId: claim.task.id, attemptToken: claim.attemptToken }, chunk: `x${k}` }));
        assert.ok((await store.appendAttemptEvents(inputs, T0)).every((r) => r.ok));
      };
      await append(task, 10);
      await append(other, 2500);
      const retried = await store.finish(
        [{ ref: { taskId: task.task.id, attemptToken: task.attemptToken }, outcome: { status: 'retry', error: { message: 'again', retryable: true }, runAt: T0 } }],
        T0,
      );
      assert.ok(retried[0].ok);
      const [again] = await store.claim(claimRequest({ max: 1, types: [task.task.type] }));
      assert.equal(again.task.id, task.task.id);
      await append(again, 10);
      await append(other, 2500);
      assert.ok(countRows(path).recent < 2000, "the first attempt's output is in blocks");
      const expected = (await allEvents(store, task.task.id, 1000)).map((e) => e.seq);
      assert.deepEqual(expected, Array.from({ length: expected.length }, (_, i) => i + 1));
      assert.ok(expected.length < BLOCK_SEQS, 'one bucket of seqs holds the whole history');
      for (const page of [1, 3, 7]) assert.deepEqual((await allEvents(store, task.task.id, page)).map((e) => e.seq), expected);
      const kinds = (await allEvents(store, task.task.id, 1000)).map((e) => e.kind);
      assert.equal(kinds.filter((k) => k === 'started').length, 2);
    }));

  it('moves the events an earlier version stored in task_events into blocks, histories unchanged', async () => {
    const tmp = tempDir();
    const path = join(tmp.dir, 'taskhub.db');
    const store = new SqliteStore({ path });
    try {
      await store.migrate();
      await store.createTasks([newTask(), newTask()]);
      const claims = await store.claim(claimRequest({ max: 2 }));
      await streamOutput(store, claims);
      const before = await Promise.all(claims.map((c) => allEvents(store, c.task.id, 1000)));
      await store.close();
      const compacted = countRows(path).compacted;
      // The file as the version before blocks left it: every stored event a row of task_events.
      const db = new DatabaseSync(path);
      db.exec(`CREATE TABLE task_events (id INTEGER PRIMARY KEY, task_id TEXT NOT NULL, seq INTEGER NOT NULL,
          kind TEXT NOT NULL, data TEXT NOT NULL, at INTEGER NOT NULL);
        CREATE UNIQUE INDEX task_events_task_seq ON task_events (task_id, seq);
        INSERT INTO task_events SELECT e.value ->> 0, b.task_id, e.value ->> 1, e.value ->> 2, e.value -> 3, e.value ->> 4
          FROM task_event_blocks b, json_each(b.events) e;
        DROP TABLE task_event_blocks;`);
      db.prepare('DELETE FROM schema_migrations WHERE version = ?').run(MIGRATIONS.length);
      db.close();
      const reopened = new SqliteStore({ path });
      try {
        await reopened.migrate();
        assert.equal(countRows(path).compacted, compacted);
        const after = await Promise.all(claims.map((c) => allEvents(reopened, c.task.id, 1000)));
        assert.deepEqual(after, before);
      } finally {
        await reopened.close();
      }
    } finally {
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

describe('when a connection compacts (CompactionDue)', () => {
  /** Events of `tasks` tasks, `chars` characters of data each, as #appendEvents hands them over. */
  const events = (count: number, tasks: number, chars = 10) =>
    Array.from({ length: count }, (_, i) => [`task ${i % tasks}`, i, 'output', 'x'.repeat(chars), T0]).flat();

  it('after the fewest events for few tasks, several per task for many, and at most the cap', () => {
    for (const [tasks, expected] of [
      [3, COMPACT_MIN_EVENTS],
      [500, COMPACT_EVENTS_PER_TASK * 500],
      [10_000, COMPACT_MAX_EVENTS],
    ]) {
      const due = new CompactionDue();
      due.appended(events(expected - 1, tasks), 5);
      assert.equal(due.due, false, `${tasks} tasks, one event short`);
      due.appended(events(1, tasks), 5);
      assert.equal(due.due, true, `${tasks} tasks`);
      due.compacted();
      assert.equal(due.due, false, 'counted from zero after a compaction');
    }
  });

  it('never before the fewest events, however large; past them, once the data is large, however many tasks', () => {
    const chars = 64 * 1024;
    const large = new CompactionDue();
    large.appended(events(COMPACT_MIN_EVENTS - 1, 1000, chars), 5);
    assert.equal(large.due, false, `${COMPACT_MIN_EVENTS - 1} chunks of 64 KiB stay recent rows`);
    large.appended(events(1, 1000, chars), 5);
    assert.equal(large.due, true, 'due at the fewest events when their data is large, not at 8 per task');
    const small = new CompactionDue();
    small.appended(events(COMPACT_MIN_EVENTS, 1000, 10), 5);
    assert.equal(small.due, false, 'small chunks wait for 8 per task');
    const lines = new CompactionDue();
    lines.appended(events(COMPACT_MAX_EVENTS - 1, 1000, 100), 5);
    assert.equal(lines.due, false, 'chunks of 100 characters are left to the events bound');
  });
});
