// Where the CPU goes in a Taskhub PostgreSQL workload: this process (all its threads, GC included) and the
// PostgreSQL backends serving its store, per task, beside the rate. Wall-clock rates on a shared machine swing with
// whatever else runs; CPU per task moves far less, so compare that between versions. Linux only (reads /proc).
// usage: node bench/pg-cpu.ts <bulk|enqueue|drain> [N] [C]   env: PG_URL, PROF=file.cpuprofile (profiles the run)
import { readFileSync, writeFileSync } from 'node:fs';
import pg from 'pg';
import { openBenchPostgres, PG_URL } from './bench-store.ts';

const [mode, nArg, cArg] = process.argv.slice(2);
const N = Number(nArg ?? 20000);
const C = Number(cArg ?? 50);
const type = 'cpu';

const { hub, schema, dropSchema } = await openBenchPostgres('cpu');
const admin = new pg.Client({ connectionString: PG_URL });
await admin.connect();

/** CPU ms (user + system) of each backend serving this store: its statements name the schema. */
async function backendCpu(): Promise<Map<number, number>> {
  const { rows } = await admin.query<{ pid: number }>(
    `SELECT pid FROM pg_stat_activity WHERE pid <> pg_backend_pid() AND position($1 in query) > 0`,
    [schema],
  );
  const cpu = new Map<number, number>();
  for (const { pid } of rows) {
    try {
      const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
      cpu.set(pid, (Number(fields[11]) + Number(fields[12])) * 10);
    } catch {
      // Gone meanwhile.
    }
  }
  return cpu;
}

const batch = (from: number) => Array.from({ length: Math.min(1000, N - from) }, (_, k) => ({ type, payload: { i: from + k } }));
let run: () => Promise<void>;
if (mode === 'bulk') {
  run = async () => {
    for (let i = 0; i < N; i += 1000) await hub.enqueueMany(batch(i));
  };
} else if (mode === 'enqueue') {
  run = async () => {
    let next = 0;
    await Promise.all(Array.from({ length: C }, async () => {
      while (next < N) await hub.enqueue(type, { i: next++ });
    }));
  };
} else if (mode === 'drain') {
  for (let i = 0; i < N; i += 1000) await hub.enqueueMany(batch(i));
  run = () =>
    new Promise<void>((resolve) => {
      let done = 0;
      hub.handle(type, () => {
        if (++done === N) resolve();
      }, { concurrency: C });
    });
} else throw new Error(`unknown mode ${mode}`);

// Past the store's first second, in which it publishes notices until it knows it listens alone.
await new Promise((resolve) => setTimeout(resolve, 1200));
let session: import('node:inspector/promises').Session | undefined;
if (process.env.PROF) {
  const { Session } = await import('node:inspector/promises');
  session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.start');
}
const pgBefore = await backendCpu();
const cpuBefore = process.cpuUsage();
const t0 = performance.now();
await run();
const wallMs = performance.now() - t0;
const cpu = process.cpuUsage(cpuBefore);
const pgAfter = await backendCpu();
if (session) writeFileSync(process.env.PROF as string, JSON.stringify((await session.post('Profiler.stop')).profile));
let pgMs = 0;
for (const [pid, ms] of pgAfter) pgMs += ms - (pgBefore.get(pid) ?? 0);
const nodeMs = (cpu.user + cpu.system) / 1000;
console.log(
  JSON.stringify({
    mode,
    N,
    C,
    perSec: Math.round(N / (wallMs / 1000)),
    usPerTask: { node: +((nodeMs * 1000) / N).toFixed(1), postgres: +((pgMs * 1000) / N).toFixed(1) },
  }),
);
await hub.close({ graceMs: 1000 });
await admin.end();
await dropSchema();
process.exit(0);
