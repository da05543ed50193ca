// Output appends on PostgreSQL against a table's size: 500 of the running tasks append one chunk each per round, in
// batches of 100 (as ctx.output's coalescing sends them), on a fresh table and on one that already holds other tasks.
// The append statement's plan is made once per connection, on the table as it is then (docs/postgres.md, "Batches
// and the planner's estimate"): one made on a small table used to rescan the batch once per running task.
// env RUNNING: running tasks (default 500); ANALYZE=1: analyze the table before the rounds.
// usage: node bench/pg-appends.ts [other tasks already in the table, default 0]   env: PG_URL
import pg from 'pg';
import type { AttemptEventInput } from '../src/store/store.ts';
import { openBenchPostgres, PG_URL } from './bench-store.ts';

const others = Number(process.argv[2] ?? 0);
const RUNNING = Number(process.env.RUNNING ?? 500);
const BATCH = 100;
const ROUNDS = 40;

const { hub, store, schema, dropSchema } = await openBenchPostgres('appends');
for (let i = 0; i < others; i += 1000) await hub.enqueueMany(Array.from({ length: Math.min(1000, others - i) }, (_, k) => ({ type: 'other', payload: { i: i + k } })));
await hub.enqueueMany(Array.from({ length: RUNNING }, (_, k) => ({ type: 'streaming', payload: { i: k } })));
const claims = await store.claim({ workerId: 'bench', types: ['streaming'], queues: null, max: RUNNING, leaseMs: 600_000, now: Date.now() });

if (process.env.ANALYZE) {
  const admin = new pg.Client({ connectionString: PG_URL });
  await admin.connect();
  await admin.query(`ANALYZE ${admin.escapeIdentifier(schema)}.tasks`);
  await admin.end();
}
const perRound: number[] = [];
for (let round = 0; round < ROUNDS; round++) {
  const t0 = performance.now();
  // 500 of them append each round, however many run.
  for (let from = 0; from < Math.min(claims.length, 500); from += BATCH) {
    const inputs: AttemptEventInput[] = claims.slice(from, from + BATCH).map((c) => ({ ref: { taskId: c.task.id, attemptToken: c.attemptToken }, chunk: `chunk ${round}` }));
    await store.appendAttemptEvents(inputs, Date.now());
  }
  perRound.push(performance.now() - t0);
}
const mean = (xs: number[]) => +(xs.reduce((a, b) => a + b, 0) / xs.length).toFixed(1);
console.log(JSON.stringify({ others, running: claims.length, batch: BATCH, msPerRound: { first10: mean(perRound.slice(0, 10)), last10: mean(perRound.slice(-10)) } }));

await hub.close({ graceMs: 100 });
await dropSchema();
process.exit(0);
