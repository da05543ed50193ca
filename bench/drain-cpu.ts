// Where the machine's CPU goes in the PostgreSQL drain of `npm run bench` (20,000 queued no-op tasks, concurrency 50),
// for Taskhub and for graphile-worker measured the same way: the rate, and per task the CPU of this process (all its
// threads) and of every PostgreSQL process (backends, WAL writer, ...), from /proc around the drain alone. Runs
// `rounds` rounds, the two systems alternating. Linux only. graphile-worker comes from the private copy of
// ../shared/anchors that `npm run bench` installs (in the temporary directory, as taskhub-anchors).
// usage: node bench/drain-cpu.ts [rounds] [N]   env: PG_URL
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import pg from 'pg';
import { openBenchHub, PG_URL } from './bench-store.ts';

const [roundsArg = '3', nArg = '20000', system] = process.argv.slice(2);
const N = Number(nArg);
const C = 50;

/** CPU ticks (1/100 s) of every process named postgres. */
function postgresTicks(): number {
  let ticks = 0;
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      if (!stat.includes('(postgres)')) continue;
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      // Gone meanwhile.
    }
  }
  return ticks;
}

/** Busy and idle ticks of the whole machine. */
function machineTicks(): { busy: number; idle: number } {
  const [user, nice, sys, idle, iowait, irq, softirq] = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  return { busy: user + nice + sys + irq + softirq, idle: idle + iowait };
}

/** Times `drain` (which resolves once N handlers ran) with the CPU it took. */
async function measured(drain: () => Promise<void>): Promise<Record<string, number>> {
  const pg0 = postgresTicks();
  const m0 = machineTicks();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await drain();
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const m1 = machineTicks();
  const busy = m1.busy - m0.busy;
  return {
    jobsPerSec: Math.round(N / seconds),
    nodeUsPerTask: +((cpu.user + cpu.system) / N).toFixed(1),
    postgresUsPerTask: +(((postgresTicks() - pg0) * 10_000) / N).toFixed(1),
    machineBusyPct: Math.round((100 * busy) / (busy + m1.idle - m0.idle)),
  };
}

async function taskhub(): Promise<Record<string, number>> {
  const { hub, dispose } = await openBenchHub('postgres', 'drain_cpu');
  for (let i = 0; i < N; i += 1000) await hub.enqueueMany(Array.from({ length: Math.min(1000, N - i) }, (_, k) => ({ type: 'noop', payload: { i: i + k } })));
  const result = await measured(
    () =>
      new Promise<void>((resolve) => {
        let done = 0;
        hub.handle('noop', () => {
          if (++done === N) resolve();
        }, { concurrency: C });
      }),
  );
  await hub.close({ graceMs: 1000 });
  await dispose();
  return result;
}

/** As shared/anchors/run.ts runs it (local queue of 500, completions batched without delay), on a schema of its own. */
async function graphile(): Promise<Record<string, number>> {
  // graphile-worker reads its schema from the environment when it loads.
  const schema = `graphile_drain_cpu_${Date.now()}`;
  process.env.GRAPHILE_WORKER_SCHEMA = schema;
  const modulePath = join(tmpdir(), 'taskhub-anchors', 'node_modules', 'graphile-worker', 'dist', 'index.js');
  if (!existsSync(modulePath)) throw new Error(`no graphile-worker at ${modulePath}: run \`npm run bench\` once, which installs the anchors there`);
  const gw = await import(pathToFileURL(modulePath).href);
  const logger = new gw.Logger(() => () => {});
  const utils = await gw.makeWorkerUtils({ connectionString: PG_URL, logger });
  await utils.migrate();
  for (let i = 0; i < N; i += 1000) {
    await utils.addJobs(Array.from({ length: Math.min(1000, N - i) }, (_, k) => ({ identifier: 'noop', payload: { i: i + k } })));
  }
  let runner: { stop(): Promise<void> } | undefined;
  const result = await measured(
    () =>
      new Promise<void>((resolve, reject) => {
        let done = 0;
        gw.run({
          connectionString: PG_URL, logger, concurrency: C, noHandleSignals: true, pollInterval: 2000,
          preset: { worker: { localQueue: { size: 500 }, completeJobBatchDelay: 0, failJobBatchDelay: 0, maxPoolSize: C + 2 } },
          taskList: { noop: async () => { if (++done === N) resolve(); } },
        }).then((r: { stop(): Promise<void> }) => (runner = r), reject);
      }),
  );
  await runner?.stop();
  await utils.release();
  const client = new pg.Client({ connectionString: PG_URL });
  await client.connect();
  await client.query(`DROP SCHEMA ${client.escapeIdentifier(schema)} CASCADE`);
  await client.end();
  return result;
}

if (system) {
  // One round of one system, in a process of its own (as npm run bench runs each): the parent reads this line.
  try {
    console.log(JSON.stringify(await (system === 'graphile' ? graphile() : taskhub())));
    process.exit(0);
  } catch (error) {
    // The message alone: the parent shows the end of this process's stderr.
    console.error((error as Error).message);
    process.exit(1);
  }
}
for (let round = 0; round < Number(roundsArg); round++) {
  for (const name of round % 2 === 0 ? ['taskhub', 'graphile'] : ['graphile', 'taskhub']) {
    const run = spawnSync(process.execPath, [import.meta.filename, '1', String(N), name], { encoding: 'utf8', env: { ...process.env, PG_URL } });
    const line = run.stdout.trim().split('\n').pop() ?? '';
    if (run.status !== 0 || !line.startsWith('{')) throw new Error(`${name}: ${run.stderr.slice(-400)}`);
    console.log(JSON.stringify({ round, system: name, ...JSON.parse(line) }));
  }
}
