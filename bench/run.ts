// npm run bench: Taskhub (SQLite and PostgreSQL) and the peers of ../shared/anchors on the same workloads, in one run,
// on this machine; prints absolute figures and the ratio to the best peer. Each figure is the median of RUNS runs.
// Env: RUNS (default 3), ONLY (comma-separated workloads: bulk, enqueue, drain, latency, stream, http), SKIP_PEERS=1,
// PG_URL, REDIS_URL.
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const ROOT = join(import.meta.dirname, '..');
const NODE = process.execPath;
const RUNS = Number(process.env.RUNS ?? 3);
const PG_URL = process.env.PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

interface Workload {
  name: string;
  mode: string;
  args: string[];
  /** Which field of the JSON line is the figure, and whether higher is better. */
  metric: 'jobsPerSec' | 'p50ms' | 'p99ms';
  higherIsBetter: boolean;
}

const WORKLOADS: Workload[] = [
  { name: 'bulk enqueue, batches of 1000 (jobs/s)', mode: 'bulk', args: ['20000'], metric: 'jobsPerSec', higherIsBetter: true },
  { name: 'single enqueue, 50 in flight (jobs/s)', mode: 'enqueue', args: ['20000', '50'], metric: 'jobsPerSec', higherIsBetter: true },
  { name: 'drain 20k no-op, concurrency 50 (jobs/s)', mode: 'drain', args: ['20000', '50'], metric: 'jobsPerSec', higherIsBetter: true },
  { name: 'enqueue-to-start p50, idle worker (ms)', mode: 'latency', args: ['200'], metric: 'p50ms', higherIsBetter: false },
  { name: 'enqueue-to-start p99, idle worker (ms)', mode: 'latency', args: ['200'], metric: 'p99ms', higherIsBetter: false },
];

/** The peers run from a private copy of shared/anchors (shared/ is never written to). */
function anchorsDir(): string {
  const dir = join(tmpdir(), 'taskhub-anchors');
  if (!existsSync(join(dir, 'node_modules'))) {
    mkdirSync(dir, { recursive: true });
    cpSync(join(ROOT, '..', 'shared', 'anchors'), dir, { recursive: true });
    execFileSync('npm', ['install', '--no-audit', '--no-fund'], { cwd: dir, stdio: 'inherit' });
  }
  return dir;
}

type System = { name: string; run(mode: string, args: string[]): Record<string, number> | null };

function dropSchema(schema: string): void {
  const script = `import pg from 'pg';
    const client = new pg.Client({ connectionString: process.env.PG_URL });
    await client.connect();
    await client.query('DROP SCHEMA IF EXISTS ' + client.escapeIdentifier(process.argv[1]) + ' CASCADE');
    await client.end();`;
  spawnSync(NODE, ['--input-type=module', '-e', script, schema], { cwd: ROOT, env: { ...process.env, PG_URL }, stdio: 'ignore' });
}

function runJson(command: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = {}): Record<string, number> | null {
  const r = spawnSync(command, args, { cwd, env: { ...process.env, PG_URL, ...env }, encoding: 'utf8', timeout: 300_000 });
  const line = r.stdout.trim().split('\n').filter((l) => l.startsWith('{')).pop();
  if (r.status !== 0 || !line) {
    process.stderr.write(`  ${args.join(' ')} failed: ${r.stderr.slice(-400)}\n`);
    return null;
  }
  return JSON.parse(line) as Record<string, number>;
}

const systems: System[] = [
  { name: 'Taskhub SQLite', run: (mode, args) => runJson(NODE, [join(ROOT, 'bench', 'taskhub-runner.ts'), 'sqlite', mode, ...args], ROOT) },
  { name: 'Taskhub PostgreSQL', run: (mode, args) => runJson(NODE, [join(ROOT, 'bench', 'taskhub-runner.ts'), 'postgres', mode, ...args], ROOT) },
];
if (!process.env.SKIP_PEERS) {
  const dir = anchorsDir();
  const bin = join(dir, 'node_modules', '.bin');
  const peerNode = existsSync(join(bin, 'node')) ? join(bin, 'node') : NODE;
  for (const [name, id] of [['BullMQ (Redis)', 'bullmq'], ['graphile-worker (PG)', 'graphile'], ['pg-boss (PG)', 'pgboss']] as const) {
    const env = { PATH: `${bin}:${process.env.PATH}` };
    if (id !== 'graphile') {
      systems.push({ name, run: (mode, args) => runJson(peerNode, ['run.ts', id, mode, ...args], dir, env) });
      continue;
    }
    // graphile-worker keeps the jobs of every run in one table under one task name: jobs that bulk and enqueue runs
    // leave behind would be drained by later runs, and without autovacuum (as on the dev machine) the dead rows of
    // earlier runs slow down every later one (drain: 26k jobs/s on a fresh table, 4k/s after a few dozen runs). So
    // each run gets a schema of its own, dropped afterwards.
    systems.push({
      name,
      run: (mode, args) => {
        const schema = `graphile_bench_${Date.now()}_${process.pid}`;
        try {
          return runJson(peerNode, ['run.ts', id, mode, ...args], dir, { ...env, GRAPHILE_WORKER_SCHEMA: schema });
        } finally {
          dropSchema(schema);
        }
      },
    });
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const only = process.env.ONLY?.split(',');
const results = new Map<string, Map<string, number>>();
/** Runs per system and mode (the two latency figures come from the same runs); a system that failed runs no more. */
const runsOf = new Map<string, Record<string, number>[]>();
const failed = new Set<string>();
for (const workload of WORKLOADS) {
  if (only && !only.includes(workload.mode)) continue;
  // Round by round, every system once per round: this host's speed drifts by a factor of two within minutes, and
  // running one system's RUNS back to back would hand the drift to the ratios.
  for (let i = 0; i < RUNS; i++) {
    for (const system of systems) {
      const key = `${system.name}/${workload.mode}`;
      const runs = runsOf.get(key) ?? [];
      runsOf.set(key, runs);
      if (runs.length > i || failed.has(key)) continue;
      const r = system.run(workload.mode, workload.args);
      if (r) runs.push(r);
      else failed.add(key);
    }
  }
  const row = new Map<string, number>();
  for (const system of systems) {
    const runs = runsOf.get(`${system.name}/${workload.mode}`) ?? [];
    const values = runs.map((r) => r[workload.metric]).filter((v) => typeof v === 'number');
    if (values.length) row.set(system.name, median(values));
    process.stderr.write(`${workload.name} | ${system.name}: ${values.join(', ')}\n`);
  }
  results.set(workload.name, row);
}

const peerNames = systems.filter((s) => !s.name.startsWith('Taskhub')).map((s) => s.name);
const lines = [`| figure | ${systems.map((s) => s.name).join(' | ')} | Taskhub SQLite / best peer | Taskhub PG / best peer |`];
lines.push(`|${'---|'.repeat(systems.length + 3)}`);
for (const workload of WORKLOADS) {
  const row = results.get(workload.name);
  if (!row) continue;
  const peers = peerNames.map((n) => row.get(n)).filter((v): v is number => v !== undefined);
  const best = peers.length ? (workload.higherIsBetter ? Math.max(...peers) : Math.min(...peers)) : undefined;
  // Three decimals: with two, a drain at 0.9989x graphile-worker's printed as the 1.00x its target asks for.
  const ratio = (v: number | undefined) =>
    v === undefined || best === undefined ? '-' : `${(workload.higherIsBetter ? v / best : best / v).toFixed(3)}x`;
  const cells = systems.map((s) => (row.has(s.name) ? String(row.get(s.name)) : '-'));
  lines.push(`| ${workload.name} | ${cells.join(' | ')} | ${ratio(row.get('Taskhub SQLite'))} | ${ratio(row.get('Taskhub PostgreSQL'))} |`);
}
process.stdout.write(`\nMedian of ${RUNS} runs each. Ratios: >1x means Taskhub is better (faster, or lower latency).\n\n${lines.join('\n')}\n`);

// Streaming (issue 16): 500 tasks each writing 200 output chunks through ctx.output, 500 SSE followers in a second
// process. No peer streams task output, so the figures stand against the targets: 50,000 chunks/s on SQLite and
// 30,000 on PostgreSQL, p99 under 100 ms, every chunk delivered once and in order, and stored. The tasks run in the
// serving process (the target's setup), then in a worker process of their own on the same store ("apart"), then in
// one that reaches the server over HTTP ("remote", `taskhub worker --url`).
if (!only || only.includes('stream')) {
  process.stdout.write('\n| streaming: 500 tasks x 200 chunks, 500 SSE followers | chunks/s stored | p50 ms | p99 ms | delivered | stored in order |\n|---|---|---|---|---|---|\n');
  for (const mode of ['together', 'apart', 'remote'] as const) {
    for (const backend of ['sqlite', 'postgres']) {
      const runs: Record<string, number>[] = [];
      for (let i = 0; i < RUNS; i++) {
        const r = runJson(NODE, [join(ROOT, 'bench', 'stream.ts'), backend, '500', '200', mode], ROOT);
        if (r) runs.push(r);
      }
      if (runs.length === 0) continue;
      const mid = runs.sort((a, b) => a.chunksPerSec - b.chunksPerSec)[Math.floor(runs.length / 2)];
      process.stderr.write(`stream ${mode} | ${backend}: ${runs.map((r) => `${r.chunksPerSec}/s p99 ${r.p99ms}`).join(', ')}\n`);
      const where = { together: '', apart: ', tasks in a worker process on the store', remote: ', tasks in a worker process over HTTP' }[mode];
      const name = `Taskhub ${backend === 'sqlite' ? 'SQLite' : 'PostgreSQL'}${where}`;
      process.stdout.write(`| ${name} | ${mid.chunksPerSec} | ${mid.p50ms} | ${mid.p99ms} | ${mid.delivered}/${mid.expected} | ${mid.storedInOrder} |\n`);
    }
  }
}

// HTTP figures (no peer has an HTTP API; shared/anchors/RESULTS.md gives Fastify's ceiling on this machine: 20,000
// submit-shaped requests/s, p99 6 ms, with no store behind it).
if (!only || only.includes('http')) {
  const submit = runJson(NODE, [join(ROOT, 'bench', 'http.ts'), 'submit', '10'], ROOT);
  const sse = runJson(NODE, [join(ROOT, 'bench', 'http.ts'), 'sse', '10000'], ROOT);
  process.stdout.write('\n| HTTP, one process, SQLite | figure |\n|---|---|\n');
  if (submit) {
    process.stdout.write(`| submit, 50 connections (autocannon, 10 s) | ${submit.requestsPerSec} req/s, p50 ${submit.p50ms} ms, p99 ${submit.p99ms} ms (Fastify alone: 20,000 req/s, p99 6 ms) |\n`);
  }
  if (sse) {
    process.stdout.write(
      `| 10,000 SSE followers of one task | ${sse.eventsReceived}/${sse.eventsExpected} events delivered, ${sse.rssPerFollowerKB} KB RSS per follower, ` +
        `last follower gets an event ${sse.fanoutToLastFollowerMs} ms after it is written |\n`,
    );
  }
}
