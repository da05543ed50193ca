// What a drained task's two row updates cost SQLite, by the width of the row they rewrite: the claim-shaped and the
// completion-shaped update, 100 tasks per statement, on the `tasks` table as the migrations make it (47 columns, 15
// indexes), and on a 13-column table with only the two partial indexes a claim touches: the running state's own row
// that docs/benchmarks.md ("What the drain targets need") proposes. Statements only: no engine, no events, no fsync
// wait counted (commits are outside the timed part).
// usage: node bench/sqlite-row-width.ts [tasks]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync, type SQLInputValue } from 'node:sqlite';
import { uuidv7 } from '../src/core/ids.ts';
import { MIGRATIONS } from '../src/store/sqlite/migrations.ts';
import { SQL } from '../src/store/sqlite/sql.ts';

const N = Number(process.argv[2] ?? 40_000);
const BATCH = 100;
const places = (n: number, shape: string) => Array.from({ length: n }, () => shape).join(', ');

const NARROW = `CREATE TABLE tasks (id TEXT PRIMARY KEY, type TEXT NOT NULL, status TEXT NOT NULL, priority INTEGER NOT NULL,
    run_at INTEGER NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, attempt_token TEXT, lease_until INTEGER, worker_id TEXT,
    started_at INTEGER, updated_at INTEGER, event_seq INTEGER NOT NULL DEFAULT 0, payload TEXT);
  CREATE INDEX tasks_ready ON tasks (type, priority DESC, run_at, id) WHERE status = 'queued';
  CREATE INDEX tasks_leases ON tasks (lease_until) WHERE status = 'running';`;

/** µs per task of the claim and of the completion; `returning` is what the claim reads back. */
function run(table: 'tasks' | 'narrow', returning: string): { claimUs: number; completeUs: number } {
  const dir = mkdtempSync(join(tmpdir(), 'taskhub-row-width-'));
  const db = new DatabaseSync(join(dir, 'tasks.db'));
  db.exec(SQL.pragmas);
  if (table === 'tasks') for (const ddl of MIGRATIONS) db.exec(ddl);
  else db.exec(NARROW);
  const wide = table === 'tasks';
  const insert = db.prepare(wide
    ? `INSERT INTO tasks (id, queue, type, payload, status, priority, run_at, max_attempts, backoff, created_at, updated_at, event_seq)
       VALUES (?1, 'default', 't', '{"i":1}', 'queued', 0, ?2, 3, '{}', ?2, ?2, 1)`
    : `INSERT INTO tasks (id, type, status, priority, run_at, updated_at, event_seq, payload)
       VALUES (?1, 't', 'queued', 0, ?2, ?2, 1, '{"i":1}')`);
  const ids: string[] = [];
  db.exec('BEGIN');
  for (let i = 0; i < N; i++) {
    const id = uuidv7();
    ids.push(id);
    insert.run(id, i);
  }
  db.exec('COMMIT');
  const claim = db.prepare(`WITH ids(id) AS (VALUES ${places(BATCH, '(?)')})
    UPDATE tasks SET status = 'running', attempts = attempts + 1, attempt_token = lower(hex(randomblob(16))),
      lease_until = ?, worker_id = ?, started_at = ?, updated_at = ?, event_seq = event_seq + 1
    WHERE id IN (SELECT id FROM ids) AND status = 'queued' RETURNING ${returning}`);
  claim.setReturnArrays(true);
  const tokenAt = claim.columns().findIndex((c) => c.name === 'attempt_token');
  // The completion's time is the parameter after the batch's ids and tokens.
  const now = `?${2 * BATCH + 1}`;
  const complete = db.prepare(`WITH done(id, token) AS (VALUES ${places(BATCH, '(?, ?)')})
    UPDATE tasks SET status = 'completed', ${wide ? `result = NULL, error = NULL, completed_at = ${now}, ` : ''}attempt_token = NULL,
      lease_until = NULL, updated_at = ${now}, event_seq = event_seq + 1
    FROM done WHERE tasks.id = done.id AND tasks.attempt_token = done.token AND tasks.status = 'running'
    RETURNING tasks.id, status, attempts, run_at, started_at, event_seq`);
  let claimMs = 0;
  let completeMs = 0;
  for (let from = 0; from < N; from += BATCH) {
    db.exec('BEGIN IMMEDIATE');
    let t = performance.now();
    const rows = claim.all(...ids.slice(from, from + BATCH), 1, 'w', 2, 2) as unknown as SQLInputValue[][];
    claimMs += performance.now() - t;
    db.exec('COMMIT');
    db.exec('BEGIN IMMEDIATE');
    t = performance.now();
    complete.all(...rows.flatMap((row) => [row[0], row[tokenAt]]), 3);
    completeMs += performance.now() - t;
    db.exec('COMMIT');
  }
  const completed = Number((db.prepare(`SELECT count(*) AS n FROM tasks WHERE status = 'completed'`).get() as { n: number }).n);
  db.close();
  rmSync(dir, { recursive: true, force: true });
  if (completed !== N) throw new Error(`${completed} of ${N} tasks completed`);
  return { claimUs: +((claimMs * 1000) / N).toFixed(2), completeUs: +((completeMs * 1000) / N).toFixed(2) };
}

for (const [table, returning] of [['tasks', '*'], ['tasks', 'id, attempt_token'], ['narrow', 'id, attempt_token']] as const) {
  console.log(JSON.stringify({ table, returning, tasks: N, ...run(table, returning) }));
}
