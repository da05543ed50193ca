// What the (task_id, seq) index of task_events costs a streaming workload on SQLite: 500 tasks each appending one
// output event per commit (as with one chunk per task per batch), with and without the index.
// usage: node bench/sqlite-event-index.ts
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';

function run(indexed: boolean): Record<string, number | boolean> {
  const dir = mkdtempSync(join(tmpdir(), 'taskhub-event-index-'));
  const db = new DatabaseSync(join(dir, 'events.db'));
  db.exec(`PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;
    CREATE TABLE task_events (id INTEGER PRIMARY KEY, task_id TEXT NOT NULL, seq INTEGER NOT NULL, kind TEXT NOT NULL,
      data TEXT NOT NULL, at INTEGER NOT NULL);`);
  if (indexed) db.exec('CREATE UNIQUE INDEX task_events_task_seq ON task_events (task_id, seq)');
  const insert = db.prepare(`INSERT INTO task_events (task_id, seq, kind, data, at)
    SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4 FROM json_each(?)`);
  const ids = Array.from({ length: 500 }, (_, i) => `0192f0a0-0000-7000-8000-${String(i).padStart(12, '0')}`);
  let commitMs = 0;
  const t0 = performance.now();
  for (let c = 0; c < 200; c++) {
    db.exec('BEGIN IMMEDIATE');
    insert.run(JSON.stringify(ids.map((id) => [id, c + 2, 'output', JSON.stringify({ chunk: `c${c} `.padEnd(40, 'x') }), Date.now()])));
    const t = performance.now();
    db.exec('COMMIT');
    commitMs += performance.now() - t;
  }
  const eventsPerSec = Math.round(100_000 / ((performance.now() - t0) / 1000));
  db.close();
  rmSync(dir, { recursive: true, force: true });
  return { indexed, eventsPerSec, commitMsPerBatch: +(commitMs / 200).toFixed(2) };
}

console.log(JSON.stringify(run(true)));
console.log(JSON.stringify(run(false)));
