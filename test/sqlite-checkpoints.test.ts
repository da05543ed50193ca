// WAL checkpoints off the event loop (sqlite/checkpointer.ts): once a connection's WAL has grown, a thread copies it
// into the database file and the connection's commits stop checkpointing; under writes that never pause, the WAL
// still starts over; closing ends the thread and loses nothing.
import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { after, describe, it } from 'node:test';
import { checkpointPlan } from '../src/store/sqlite/checkpointer.ts';
import { SqliteConnection } from '../src/store/sqlite/connection.ts';
import { tempDir, waitUntil } from './helpers/hub.ts';

const ROW_BYTES = 16 * 1024;
const dirs: Array<{ remove(): void }> = [];
after(() => { for (const dir of dirs) dir.remove(); });

function dbFile(): string {
  const dir = tempDir('taskhub-checkpoints-');
  dirs.push(dir);
  return join(dir.dir, 'db.sqlite');
}

function open(path: string): SqliteConnection {
  const c = new SqliteConnection(path, 10_000, () => {});
  c.write(() => c.db.exec('CREATE TABLE IF NOT EXISTS blobs (id INTEGER PRIMARY KEY, body BLOB NOT NULL)'));
  return c;
}

/** `commits` write transactions of `rows` rows each, one after another without a pause. */
function writeRows(c: SqliteConnection, commits: number, rows: number): void {
  const body = new Uint8Array(ROW_BYTES).fill(7);
  for (let i = 0; i < commits; i++) c.write(() => { for (let r = 0; r < rows; r++) c.run('INSERT INTO blobs (body) VALUES (?)', body); });
}

const autocheckpoint = (c: SqliteConnection) => (c.get('PRAGMA wal_autocheckpoint') as { wal_autocheckpoint: number }).wal_autocheckpoint;
const size = (path: string) => statSync(path, { throwIfNoEntry: false })?.size ?? 0;

async function withPlan<T>(plan: Partial<typeof checkpointPlan>, fn: () => Promise<T>): Promise<T> {
  const saved = { ...checkpointPlan };
  Object.assign(checkpointPlan, plan);
  try {
    return await fn();
  } finally {
    Object.assign(checkpointPlan, saved);
  }
}

describe('SQLite WAL checkpoints', () => {
  it('a connection left open starts its thread soon after open, whatever its WAL; one closed sooner never does', async () => {
    const short = open(dbFile());
    await short.close();
    await new Promise((resolve) => setTimeout(resolve, checkpointPlan.startAfterMs + 100));
    assert.equal(short.checkpoints?.running, false, 'a store closed before startAfterMs never starts a thread');

    const c = open(dbFile());
    try {
      writeRows(c, 2, 1);
      assert.equal(c.checkpoints?.running, false, 'not at open: a CLI command would pay for it');
      await waitUntil(() => c.checkpoints?.running === true, 5000, 'the thread to start after startAfterMs');
      assert.equal(autocheckpoint(c), 0, 'with the thread running, no commit checkpoints');
      writeRows(c, 4, 1);
      await waitUntil(() => (c.checkpoints?.checkpoints ?? 0) > 0, 10_000, 'the thread to checkpoint a small WAL');
    } finally {
      await c.close();
    }
    assert.equal(c.checkpoints?.running, false, 'close ends the thread');
  });

  it('a connection whose WAL grew hands its checkpoints to a thread, which copies the WAL into the database file', async () => {
    const path = dbFile();
    const c = open(path);
    try {
      writeRows(c, 10, 1);
      assert.deepEqual(c.checkpoints, { running: false, checkpoints: 0, catchUps: 0 }, 'a small WAL starts no thread');
      assert.equal(autocheckpoint(c), checkpointPlan.inlineFrames, 'until then, commits checkpoint as SQLite does');

      const fileBefore = size(path);
      writeRows(c, 64, 8); // 8 MiB: past startAtWalBytes
      assert.equal(c.checkpoints?.running, true);
      assert.equal(autocheckpoint(c), 0, 'with the thread running, no commit checkpoints');
      await waitUntil(() => (c.checkpoints?.checkpoints ?? 0) > 0 && size(path) > fileBefore + 4 * 1024 * 1024, 10_000, 'the thread to checkpoint');

      // The thread keeps up with further commits: each one that dirties the WAL wakes it.
      const copies = c.checkpoints?.checkpoints ?? 0;
      const fileNow = size(path);
      writeRows(c, 16, 8);
      await waitUntil(() => (c.checkpoints?.checkpoints ?? 0) > copies && size(path) > fileNow + 1024 * 1024, 10_000, 'the thread to checkpoint');
    } finally {
      await c.close();
    }
    assert.equal(c.checkpoints?.running, false, 'close ends the thread');
    assert.equal(size(`${path}-wal`), 0, 'the last connection to close checkpoints what is left and removes the WAL');
    const db = new DatabaseSync(path, { readOnly: true });
    assert.equal((db.prepare('SELECT count(*) AS n FROM blobs').get() as { n: number }).n, 10 + 64 * 8 + 16 * 8);
    db.close();
  });

  it('under writes that never pause, the WAL still starts over instead of growing with every commit', async () => {
    await withPlan({ startAtWalBytes: 256 * 1024, restartAtFrames: 500, batchMs: 5 }, async () => {
      const path = dbFile();
      const c = open(path);
      let commits = 0;
      const burst = (n: number) => {
        for (let i = 0; i < n; i++, commits++) writeRows(c, 1, 4);
      };
      try {
        // Commits back to back on the event loop, until the connection made its first catch-up copy (commits that
        // wait for no disk may write a large WAL before the thread has even started).
        const deadline = Date.now() + 10_000;
        while ((c.checkpoints?.catchUps ?? 0) === 0 && Date.now() < deadline) burst(1);
        assert.ok((c.checkpoints?.catchUps ?? 0) > 0, `a catch-up within 10 s of writing (${JSON.stringify(c.checkpoints)})`);
        // From then on the WAL starts over again and again: another 1500 commits do not make the file grow by what
        // they wrote.
        const walBefore = size(`${path}-wal`);
        burst(1500);
        const written = 1500 * 4 * ROW_BYTES;
        const grown = size(`${path}-wal`) - walBefore;
        assert.ok(grown < written / 3, `WAL grew by ${grown} bytes while ${written} were written (${JSON.stringify(c.checkpoints)})`);
      } finally {
        await c.close();
      }
      const db = new DatabaseSync(path, { readOnly: true });
      assert.equal((db.prepare('SELECT count(*) AS n FROM blobs').get() as { n: number }).n, commits * 4);
      db.close();
    });
  });

  it('two connections on one file each checkpoint from their own thread without harm to the other', async () => {
    const path = dbFile();
    const a = open(path);
    const b = open(path);
    try {
      for (let round = 0; round < 8; round++) {
        writeRows(a, 8, 8);
        writeRows(b, 8, 8);
      }
      assert.equal(a.checkpoints?.running, true);
      assert.equal(b.checkpoints?.running, true);
      await waitUntil(() => (a.checkpoints?.checkpoints ?? 0) > 0 && (b.checkpoints?.checkpoints ?? 0) > 0, 10_000, 'the thread to checkpoint');
    } finally {
      await a.close();
      await b.close();
    }
    const db = new DatabaseSync(path, { readOnly: true });
    assert.equal((db.prepare('SELECT count(*) AS n FROM blobs').get() as { n: number }).n, 2 * 8 * 8 * 8);
    db.close();
  });

  it('an in-memory database has no WAL and no thread', async () => {
    const c = open(':memory:');
    writeRows(c, 64, 8);
    assert.equal(c.checkpoints, null);
    await c.close();
  });
});
