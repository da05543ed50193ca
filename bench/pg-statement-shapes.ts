// What the shape of a drained task's two statements costs PostgreSQL and the client (docs/benchmarks.md, seventeenth
// session): on one connection, claims of 550 over 20,000 queued tasks of the real schema, each followed by a
// completion of the same tasks in its own transaction. The statements are simplified copies of sql/claim.ts and
// sql/attempts.ts (no queue limits, due tasks or notices), so that only the named difference changes between runs.
//   completion: update    the task row becomes completed (as completeMany does)
//               claimed   the same, returning only the place and event number (as completeManyClaimed does)
//               slim      the same, with tasks_leases and tasks_finished dropped (a bound: both serve features)
//               ctid      the same, finding the rows by the ctids the claim returned rather than by primary key
//               move      the row is deleted and inserted, completed, into a table with only a primary key
//               move-idx  the same, the table also indexed like tasks_finished
//               delete    the row is deleted (graphile-worker's completion; a lower bound Taskhub cannot take)
//   claim:      slim      the claim's slim row (claimedTaskColumns), the token made by the client (as the store does)
//               rows      every task column and the token, as arrays (as the store's claim returned them before)
//               json      every task column as one JSON array per claim (json_agg), parsed and mapped
//               narrow    only the id and the token
// Prints microseconds per task of the claim (round trip and mapping), the completion statement and its COMMIT.
// Run shapes alternately: the host's speed moves between runs.
// usage: node bench/pg-statement-shapes.ts <completion> [claim]   env: PG_URL
import pg from 'pg';
import { arrayToClaimed, claimKnowns, type ColumnIndex } from '../src/store/postgres/rows.ts';
import { claimedTaskColumns, TASK_COLUMN_NAMES, taskColumns } from '../src/store/postgres/sql/common.ts';
import { openBenchPostgres, PG_URL } from './bench-store.ts';

const COMPLETIONS = ['update', 'claimed', 'slim', 'ctid', 'move', 'move-idx', 'delete'] as const;
const CLAIMS = ['slim', 'rows', 'json', 'narrow'] as const;
const [completion = '', claimShape = 'slim'] = process.argv.slice(2);
if (!(COMPLETIONS as readonly string[]).includes(completion) || !(CLAIMS as readonly string[]).includes(claimShape)) {
  throw new Error(`usage: node bench/pg-statement-shapes.ts <${COMPLETIONS.join('|')}> [${CLAIMS.join('|')}]`);
}
const N = 20_000;
const BATCH = 550;

const { hub, schema, dropSchema } = await openBenchPostgres('shapes');
for (let i = 0; i < N; i += 1000) await hub.enqueueMany(Array.from({ length: 1000 }, (_, k) => ({ type: 't', payload: { i: i + k } })));
await hub.close({ graceMs: 100 });

// The pool's session settings and bigint parser (store/postgres/pool.ts).
const client = new pg.Client({
  connectionString: PG_URL,
  options: '-c plan_cache_mode=force_generic_plan -c random_page_cost=1.1',
  types: { getTypeParser: ((oid: number, format?: 'text' | 'binary') => (oid === 20 && format !== 'binary' ? Number : pg.types.getTypeParser(oid, format))) as typeof pg.types.getTypeParser },
});
await client.connect();
const s = client.escapeIdentifier(schema);
const tasks = `${s}.tasks`;
if (completion === 'slim') await client.query(`DROP INDEX ${s}.tasks_finished; DROP INDEX ${s}.tasks_leases`);
if (completion === 'move' || completion === 'move-idx') {
  await client.query(`CREATE TABLE ${s}.done (LIKE ${tasks} INCLUDING DEFAULTS); ALTER TABLE ${s}.done ADD PRIMARY KEY (id)`);
  if (completion === 'move-idx') await client.query(`CREATE INDEX done_finished ON ${s}.done (status, completed_at)`);
}

const slim = claimShape === 'slim';
const returned = claimShape === 'narrow' ? 't.id, t.attempt_token' : slim ? claimedTaskColumns('t', '($2::text[])[1]') : `${taskColumns('t')}, t.attempt_token`;
const claimedRows = claimShape === 'json'
  ? `SELECT json_agg(json_build_array(${[...TASK_COLUMN_NAMES, 'attempt_token', 'tid'].map((c) => `claimed.${c}`).join(', ')}))::text AS tasks FROM claimed`
  : 'SELECT claimed.* FROM claimed';
const claim = {
  name: 'shapes_claim',
  text: `WITH async_commit AS MATERIALIZED (SELECT set_config('synchronous_commit', 'off', true)),
    chosen AS MATERIALIZED (
      SELECT x.ctid AS tid FROM ${tasks} x WHERE x.status = 'queued' AND x.type = ($2::text[])[1]
      ORDER BY x.priority DESC, x.run_at, x.id LIMIT ${BATCH} FOR UPDATE SKIP LOCKED),
    claimed AS (
      UPDATE ${tasks} t SET status = 'running', attempts = t.attempts + 1,
        attempt_token = $3::text || t.id,
        lease_until = $1::bigint + 30000, worker_id = 'w1', started_at = $1::bigint, updated_at = $1::bigint,
        event_seq = t.event_seq + 1, started_seq = t.event_seq + 1
      FROM chosen WHERE t.ctid = chosen.tid RETURNING ${returned}, t.ctid::text AS tid)
    ${claimedRows} CROSS JOIN async_commit`,
};

const requests = `(SELECT x.id, x.attempt_token, x.ord, x.value
    FROM ROWS FROM (jsonb_array_elements($4::jsonb), unnest($1::text[]), unnest($3::text[])) WITH ORDINALITY AS x(value, id, attempt_token, ord)) AS r`;
const completed = `status = 'completed', result = nullif(r.value, 'null'::jsonb), error = NULL, completed_at = $2::bigint,
    attempt_token = NULL, lease_until = NULL, updated_at = $2::bigint, event_seq = t.event_seq + 1`;
const finishedColumns = 'id, queue, type, owner, status, attempts, run_at, started_at, event_seq';
const returnedColumns = finishedColumns.split(', ').map((c) => `t.${c}`).join(', ');
const update = (where: string, returned = returnedColumns) => `UPDATE ${tasks} t SET ${completed} FROM ${requests}
  WHERE ${where} t.id = r.id AND t.attempt_token = r.attempt_token AND t.child_key IS NULL
  RETURNING r.ord::integer AS ord, ${returned}`;
/** The moved row: every column of tasks as it is, but those a completion sets. */
async function moveStatement(): Promise<string> {
  const { rows } = await client.query<{ name: string }>(
    `SELECT column_name AS name FROM information_schema.columns WHERE table_schema = $1 AND table_name = 'tasks' ORDER BY ordinal_position`,
    [schema],
  );
  const set: Record<string, string> = {
    status: `'completed'`, result: `nullif(d.completed_result, 'null'::jsonb)`, error: 'NULL', completed_at: '$2::bigint',
    attempt_token: 'NULL', lease_until: 'NULL', updated_at: '$2::bigint', event_seq: 'd.event_seq + 1',
  };
  const columns = rows.map((r) => client.escapeIdentifier(r.name));
  const values = rows.map((r) => set[r.name] ?? `d.${client.escapeIdentifier(r.name)}`);
  return `WITH d AS (
      DELETE FROM ${tasks} t USING ${requests}
      WHERE t.id = r.id AND t.attempt_token = r.attempt_token AND t.child_key IS NULL
      RETURNING t.*, r.ord, r.value AS completed_result)
    INSERT INTO ${s}.done (${columns.join(', ')}) SELECT ${values.join(', ')} FROM d RETURNING ${finishedColumns}`;
}
const completionText: Record<(typeof COMPLETIONS)[number], () => Promise<string> | string> = {
  update: () => update(''),
  claimed: () => update('', 't.event_seq'),
  slim: () => update(''),
  ctid: () => update('t.ctid = ANY($5::tid[]) AND'),
  move: moveStatement,
  'move-idx': moveStatement,
  delete: () => `DELETE FROM ${tasks} t USING ${requests}
    WHERE t.id = r.id AND t.attempt_token = r.attempt_token AND t.child_key IS NULL AND $2::bigint > 0
    RETURNING r.ord::integer AS ord, t.id`,
};
const complete = { name: 'shapes_complete', text: await completionText[completion as (typeof COMPLETIONS)[number]]() };

interface Taken { id: string; token: string; tid: string }
/**
 * The claim as the client receives it, each task mapped as the store maps it (except `narrow`): the shapes differ in
 * what the rows carry, not in the mapping, which takes the status, start and token from what the claimer knows.
 */
async function claimBatch(): Promise<Taken[]> {
  const now = Date.now();
  const knowns = claimKnowns('t', now);
  const params = [now, ['t'], knowns.tokenSecret];
  if (claimShape === 'json') {
    const { rows } = await client.query<{ tasks: string | null }>(claim, params);
    const names = [...TASK_COLUMN_NAMES, 'attempt_token', 'tid'];
    const at = Object.fromEntries(names.map((name, i) => [name, i])) as ColumnIndex;
    return (JSON.parse(rows[0].tasks ?? '[]') as unknown[][]).map((values) => {
      const { task, attemptToken } = arrayToClaimed(values, at, knowns);
      return { id: task.id, token: attemptToken, tid: values[at.tid] as string };
    });
  }
  if (claimShape === 'narrow') {
    const { rows } = await client.query<{ id: string; attempt_token: string; tid: string }>(claim, params);
    return rows.map((r) => ({ id: r.id, token: r.attempt_token, tid: r.tid }));
  }
  const result = await client.query<unknown[]>({ ...claim, rowMode: 'array' }, params);
  const at = Object.fromEntries(result.fields.map((field, i) => [field.name, i])) as ColumnIndex;
  return result.rows.map((values) => {
    const { task, attemptToken } = arrayToClaimed(values, at, knowns);
    return { id: task.id, token: attemptToken, tid: values[at.tid] as string };
  });
}

const spent = { claim: 0, completion: 0, commit: 0 };
for (let done = 0; done < N; ) {
  let t0 = performance.now();
  const taken = await claimBatch();
  spent.claim += performance.now() - t0;
  if (taken.length === 0) throw new Error(`no task left to claim after ${done}`);
  await client.query('BEGIN');
  const values: unknown[] = [taken.map((t) => t.id), Date.now(), taken.map((t) => t.token), JSON.stringify(taken.map(() => null))];
  if (completion === 'ctid') values.push(taken.map((t) => t.tid));
  t0 = performance.now();
  const { rowCount } = await client.query(complete, values);
  spent.completion += performance.now() - t0;
  t0 = performance.now();
  await client.query('COMMIT');
  spent.commit += performance.now() - t0;
  if (rowCount !== taken.length) throw new Error(`${completion}: ${taken.length} claimed, ${rowCount} completed`);
  done += taken.length;
}
const perTask = (ms: number) => +((ms * 1000) / N).toFixed(2);
console.log(JSON.stringify({ completion, claim: claimShape, claimUs: perTask(spent.claim), completionUs: perTask(spent.completion), commitUs: perTask(spent.commit) }));
await client.end();
await dropSchema();
