// What the type of the task id costs PostgreSQL's two updates of a drained task (docs/benchmarks.md, fourteenth
// session): a claim-like update of 550 ready rows (walked along tasks_ready, found by ctid, as sql/claim.ts) and a
// completion-like update of the same rows found by id (as completeMany), on two copies of one 20,000-task table: ids
// as today (`text COLLATE "C"`) and as `uuid`. Every round is rolled back; the copies alternate round by round.
// usage: node bench/pg-id-type.ts [rounds]   env: PG_URL
import pg from 'pg';
import { openBenchPostgres, PG_URL } from './bench-store.ts';

const ROUNDS = Number(process.argv[2] ?? 20);
const BATCH = 550;

const { hub, schema, dropSchema } = await openBenchPostgres('id_type');
for (let i = 0; i < 20_000; i += 1000) await hub.enqueueMany(Array.from({ length: 1000 }, (_, k) => ({ type: 't', payload: { i: i + k } })));
await hub.close({ graceMs: 100 });

// The pool's session settings (store/postgres/pool.ts), which decide these statements' plans.
const client = new pg.Client({ connectionString: PG_URL, options: '-c plan_cache_mode=force_generic_plan -c random_page_cost=1.1' });
await client.connect();
const s = client.escapeIdentifier(schema);
const copies = { text: `${s}.tasks_text`, uuid: `${s}.tasks_uuid` } as const;
for (const [idType, table] of Object.entries(copies)) {
  await client.query(`CREATE TABLE ${table} (LIKE ${s}.tasks INCLUDING ALL) WITH (fillfactor = 80)`);
  await client.query(`INSERT INTO ${table} SELECT * FROM ${s}.tasks`);
  if (idType === 'uuid') await client.query(`ALTER TABLE ${table} ALTER COLUMN id TYPE uuid USING id::uuid`);
  await client.query(`VACUUM ANALYZE ${table}`);
}

const claim = (table: string) => `WITH chosen AS MATERIALIZED (
    SELECT ctid AS tid FROM ${table} WHERE status = 'queued' AND type = 't' ORDER BY priority DESC, run_at, id
    LIMIT ${BATCH} FOR UPDATE SKIP LOCKED
  )
  UPDATE ${table} t SET status = 'running', attempts = t.attempts + 1, attempt_token = md5(t.id::text) || t.id,
    lease_until = $1::bigint + 30000, worker_id = 'w1', started_at = $1::bigint, updated_at = $1::bigint,
    event_seq = t.event_seq + 1
  FROM chosen WHERE t.ctid = chosen.tid RETURNING t.id::text AS id, t.attempt_token`;
const complete = (table: string, idType: string) => `UPDATE ${table} t SET status = 'completed', completed_at = $2::bigint,
    attempt_token = NULL, lease_until = NULL, updated_at = $2::bigint, event_seq = t.event_seq + 1
  FROM unnest($1::${idType}[], $3::text[]) AS r(id, token) WHERE t.id = r.id AND t.attempt_token = r.token`;

const times = new Map<string, number[]>();
const record = (key: string, ms: number) => times.set(key, [...(times.get(key) ?? []), ms]);
for (let round = 0; round < ROUNDS + 3; round++) {
  for (const [idType, table] of Object.entries(copies)) {
    await client.query('BEGIN');
    const t0 = performance.now();
    const { rows } = await client.query<{ id: string; attempt_token: string }>(claim(table), [Date.now()]);
    const t1 = performance.now();
    const done = await client.query(complete(table, idType), [rows.map((r) => r.id), Date.now(), rows.map((r) => r.attempt_token)]);
    const t2 = performance.now();
    await client.query('ROLLBACK');
    if (rows.length !== BATCH || done.rowCount !== BATCH) throw new Error(`${idType}: ${rows.length} claimed, ${done.rowCount} completed`);
    // The first rounds warm the caches and plans.
    if (round < 3) continue;
    record(`${idType} claim`, t1 - t0);
    record(`${idType} complete`, t2 - t1);
  }
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
for (const [key, xs] of times) {
  const ms = median(xs);
  console.log(`${key.padEnd(14)} median ${ms.toFixed(2)} ms per ${BATCH} rows (${((ms * 1000) / BATCH).toFixed(2)} µs per row)`);
}
await client.end();
await dropSchema();
