// Streaming workload (issue 16): T tasks run at once, each writing C output chunks of ~40 bytes through ctx.output
// as fast as the worker allows, while T SSE followers (one per task) in a second process read them. Reports chunks
// stored per second (and the CPU per chunk of the process running the tasks), and p50/p99 from ctx.output returning
// to the follower having the chunk; checks every chunk arrived once, in order, and is in the task's history (/events)
// afterwards. `apart` runs the tasks in a worker process of their own on the same store (bench/stream-worker.ts), as
// `taskhub worker` beside `taskhub serve`; `remote` in one that reaches the server over HTTP (`taskhub worker --url`).
// usage: node bench/stream.ts <sqlite|postgres> [T=500] [C=200] [apart|remote]
import { fork } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from '../src/server/server.ts';
import { openBenchHub } from './bench-store.ts';
import { handleStream, type StreamTimes } from './stream-handler.ts';

const [backend = 'sqlite', tArg, cArg, mode = 'together'] = process.argv.slice(2);
if (!['together', 'apart', 'remote'].includes(mode)) throw new Error(`unknown mode ${mode}: apart or remote`);
const TASKS = Number(tArg ?? 500);
const CHUNKS = Number(cArg ?? 200);

const { hub, store, dispose } = await openBenchHub(backend, 'stream');
const app = await createServer({ hub, logger: false, sseHeartbeatMs: 60_000 });
const address = await app.listen({ host: '127.0.0.1', port: 0 });
const tasks = await hub.enqueueMany(Array.from({ length: TASKS }, (_, i) => ({ type: 'stream', payload: { i } })));
const ids = tasks.map((t) => t.id);

const resultsDir = mkdtempSync(join(tmpdir(), 'taskhub-stream-arrivals-'));
const resultsFile = join(resultsDir, 'arrivals.json');
const followers = fork(join(import.meta.dirname, 'stream-followers.ts'), [address, resultsFile, String(CHUNKS), ...ids]);
await new Promise<void>((resolve) => followers.on('message', (m: { connected?: boolean }) => m.connected && resolve()));

const timesFile = join(resultsDir, 'times.json');
const streamed = mode === 'apart' || mode === 'remote'
  ? new Promise<StreamTimes>((resolve, reject) => {
    fork(join(import.meta.dirname, 'stream-worker.ts'), [mode === 'remote' ? address : store, timesFile, String(TASKS), String(CHUNKS)]).on('exit', (code) =>
      code === 0 ? resolve(JSON.parse(readFileSync(timesFile, 'utf8')) as StreamTimes) : reject(new Error(`worker exited with ${code}`)));
  })
  : handleStream(hub, TASKS, CHUNKS);

const exit = new Promise<number | null>((resolve) => followers.on('exit', resolve));
const code = await exit;
if (code !== 0) throw new Error(`followers exited with ${code}`);
const { returnedAt, firstStart, lastReturn, cpu } = await streamed;
const arrivals = JSON.parse(readFileSync(resultsFile, 'utf8')) as { arrivedAt: number[][]; problems: string[] };

const latencies: number[] = [];
for (let t = 0; t < TASKS; t++) for (let c = 0; c < CHUNKS; c++) latencies.push(arrivals.arrivedAt[t][c] - returnedAt[t][c]);
latencies.sort((a, b) => a - b);
const pct = (p: number) => +latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))].toFixed(1);

// Every chunk is in the task's stored history, once, in order.
let stored = 0;
for (const id of ids) {
  const events = [];
  for (let after = 0; ; ) {
    const page = await hub.events(id, after, 1000);
    events.push(...page);
    if (page.length < 1000) break;
    after = page[page.length - 1].seq;
  }
  const chunks = events.filter((e) => e.kind === 'output').map((e) => (e.data as { chunk: string }).chunk);
  if (chunks.every((chunk, c) => chunk.startsWith(`t${ids.indexOf(id)} c${c} `))) stored += chunks.length;
}

console.log(JSON.stringify({
  system: `taskhub-${backend}`, mode: mode === 'together' ? 'stream' : `stream-${mode}`, tasks: TASKS, chunksPerTask: CHUNKS,
  chunksPerSec: Math.round((TASKS * CHUNKS) / ((lastReturn - firstStart) / 1000)),
  cpuUsPerChunk: +((cpu.user + cpu.system) / (TASKS * CHUNKS)).toFixed(1),
  p50ms: pct(50), p99ms: pct(99), maxMs: pct(100),
  delivered: latencies.filter((l) => Number.isFinite(l)).length, expected: TASKS * CHUNKS, storedInOrder: stored,
  problems: arrivals.problems.slice(0, 5),
}));
await app.close();
await hub.close({ graceMs: 0 });
rmSync(resultsDir, { recursive: true, force: true });
await dispose();
process.exit(0);
