// What PostgreSQL spends on a drained task's writes in two patterns (docs/benchmarks.md, fifteenth session), on one
// connection, batches of 550 back to back over 20,000 queued tasks of the real schema:
//   claimed: today's pattern: a claim that writes the rows running (async commit), then a completion batch (commit);
//   held:    BEGIN; the claim's walk locking the rows (FOR UPDATE SKIP LOCKED) without writing them; one update that
//            takes each row from queued to completed; COMMIT. The pattern of the held-claims experiment.
// Prints the rate and the CPU of the PostgreSQL backend per task. Run the two alternately: the host's speed moves.
// usage: node bench/pg-held-writes.ts <claimed|held>   env: PG_URL
import { readFileSync } from 'node:fs';
import pg from 'pg';
import { taskColumns } from '../src/store/postgres/sql/common.ts';
import { openBenchPostgres, PG_URL } from './bench-store.ts';

const pattern = process.argv[2];
if (pattern !== 'claimed' && pattern !== 'held') throw new Error('usage: node bench/pg-held-writes.ts <claimed|held>');
const N = 20_000;
const BATCH = 550;
const { hub, schema, dropSchema } = await openBenchPostgres('held');
for (let i = 0; i < N; i += 1000) await hub.enqueueMany(Array.from({ length: 1000 }, (_, k) => ({ type: 't', payload: { i: i + k } })));
await hub.close({ graceMs: 100 });

// The pool's session settings (store/postgres/pool.ts), which decide these statements' plans.
const client = new pg.Client({ connectionString: PG_URL, options: '-c plan_cache_mode=force_generic_plan -c random_page_cost=1.1' });
await client.connect();
const { rows: [{ pid }] } = await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
/** CPU ms (user + system) of this connection's backend so far. */
const backendCpu = () => {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
};
const tasks = `${client.escapeIdentifier(schema)}.tasks`;
const walk = `FROM ${tasks} x WHERE x.status = 'queued' AND x.type = 't' ORDER BY x.priority DESC, x.run_at, x.id LIMIT ${BATCH} FOR UPDATE SKIP LOCKED`;
const claim = {
  name: 'claimed_claim',
  text: `WITH async_commit AS MATERIALIZED (SELECT set_config('synchronous_commit', 'off', true)),
    chosen AS MATERIALIZED (SELECT x.ctid AS tid ${walk}),
    claimed AS (
      UPDATE ${tasks} t SET status = 'running', attempts = t.attempts + 1, attempt_token = md5(t.id) || t.id,
        lease_until = $1::bigint + 30000, worker_id = 'w1', started_at = $1::bigint, updated_at = $1::bigint,
        event_seq = t.event_seq + 1, started_seq = t.event_seq + 1
      FROM chosen WHERE t.ctid = chosen.tid RETURNING ${taskColumns('t')}, t.attempt_token)
    SELECT claimed.* FROM claimed CROSS JOIN async_commit`,
};
const complete = {
  name: 'claimed_complete',
  text: `UPDATE ${tasks} t SET status = 'completed', result = NULL, error = NULL, completed_at = $2::bigint,
      attempt_token = NULL, lease_until = NULL, updated_at = $2::bigint, event_seq = t.event_seq + 1
    FROM unnest($1::text[], $3::text[]) AS r(id, token) WHERE t.id = r.id AND t.attempt_token = r.token
    RETURNING t.id, t.queue, t.type, t.owner, t.status, t.attempts, t.run_at, t.started_at, t.event_seq`,
};
const lock = { name: 'held_lock', text: `SELECT ${taskColumns('x')}, x.ctid::text AS tid ${walk}` };
const completeHeld = {
  name: 'held_complete',
  text: `UPDATE ${tasks} t SET status = 'completed', attempts = t.attempts + 1, worker_id = 'w1', started_at = $2::bigint,
      started_seq = t.event_seq + 1, event_seq = t.event_seq + 2, result = NULL, error = NULL, completed_at = $2::bigint,
      updated_at = $2::bigint, debounce_key = NULL
    FROM unnest($1::tid[], $3::text[]) AS r(tid, id) WHERE t.ctid = r.tid AND t.id = r.id
    RETURNING t.id, t.queue, t.type, t.owner, t.status, t.attempts, t.run_at, t.started_at, t.event_seq`,
};

const cpuBefore = backendCpu();
const t0 = performance.now();
for (let done = 0; done < N; ) {
  let claimedRows: number;
  let completedRows: number | null;
  if (pattern === 'claimed') {
    const { rows } = await client.query<{ id: string; attempt_token: string }>(claim, [Date.now()]);
    const completed = await client.query(complete, [rows.map((r) => r.id), Date.now(), rows.map((r) => r.attempt_token)]);
    claimedRows = rows.length;
    completedRows = completed.rowCount;
  } else {
    await client.query('BEGIN');
    const { rows } = await client.query<{ id: string; tid: string }>(lock);
    const completed = await client.query(completeHeld, [rows.map((r) => r.tid), Date.now(), rows.map((r) => r.id)]);
    await client.query('COMMIT');
    claimedRows = rows.length;
    completedRows = completed.rowCount;
  }
  if (claimedRows === 0 || completedRows !== claimedRows) throw new Error(`${pattern}: ${claimedRows} claimed, ${completedRows} completed`);
  done += claimedRows;
}
const wallMs = performance.now() - t0;
const pgMs = backendCpu() - cpuBefore;
console.log(JSON.stringify({ pattern, perSec: Math.round(N / (wallMs / 1000)), postgresUsPerTask: +((pgMs * 1000) / N).toFixed(1) }));
await client.end();
await dropSchema();
