// Taskhub on the peers' workloads (shared/anchors/run.ts defines them; this copies the definitions, not the code).
// usage: node bench/taskhub-runner.ts <sqlite|postgres> <enqueue|bulk|drain|latency> [N] [C]
import { openBenchHub } from './bench-store.ts';

const [backend, mode, nArg, cArg] = process.argv.slice(2);
const N = Number(nArg ?? 20000);
const C = Number(cArg ?? 50);
const type = `bench_${mode}_${Date.now()}`;

function pct(xs: number[], p: number) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}

const { hub, dispose } = await openBenchHub(backend, mode);
const payload = (i: number) => ({ i });
let out: Record<string, unknown>;
if (mode === 'enqueue') {
  const t0 = performance.now();
  let next = 0;
  await Promise.all(Array.from({ length: C }, async () => { while (next < N) await hub.enqueue(type, payload(next++)); }));
  out = { jobsPerSec: Math.round(N / ((performance.now() - t0) / 1000)) };
} else if (mode === 'bulk') {
  const t0 = performance.now();
  for (let i = 0; i < N; i += 1000) await hub.enqueueMany(Array.from({ length: Math.min(1000, N - i) }, (_, k) => ({ type, payload: payload(i + k) })));
  out = { jobsPerSec: Math.round(N / ((performance.now() - t0) / 1000)) };
} else if (mode === 'drain') {
  for (let i = 0; i < N; i += 1000) await hub.enqueueMany(Array.from({ length: Math.min(1000, N - i) }, (_, k) => ({ type, payload: payload(i + k) })));
  let done = 0;
  let resolve!: () => void;
  const all = new Promise<void>((r) => (resolve = r));
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  const main0 = process.threadCpuUsage();
  hub.handle(type, () => { if (++done === N) resolve(); }, { concurrency: C });
  await all;
  const cpu = process.cpuUsage(cpu0);
  const main = process.threadCpuUsage(main0);
  // CPU per task beside the rate: of this process (all threads), and of its main thread alone (the event loop: what
  // bounds a drain whose store runs on it, as SQLite's does).
  out = {
    jobsPerSec: Math.round(N / ((performance.now() - t0) / 1000)),
    cpuUsPerTask: Math.round((cpu.user + cpu.system) / N),
    mainCpuUsPerTask: Math.round((main.user + main.system) / N),
  };
} else if (mode === 'latency') {
  const starts = new Map<number, number>();
  let wake: ((i: number) => void) | undefined;
  hub.handle(type, (p: { i: number }) => { starts.set(p.i, performance.now()); wake?.(p.i); }, { concurrency: 1 });
  await new Promise((r) => setTimeout(r, 500));
  const lat: number[] = [];
  for (let i = 0; i < N; i++) {
    const started = new Promise<number>((r) => (wake = r));
    const t0 = performance.now();
    await hub.enqueue(type, payload(i));
    await started;
    lat.push(starts.get(i)! - t0);
    await new Promise((r) => setTimeout(r, 5));
  }
  out = { p50ms: +pct(lat, 50).toFixed(2), p99ms: +pct(lat, 99).toFixed(2) };
} else throw new Error(`unknown mode ${mode}`);
console.log(JSON.stringify({ system: `taskhub-${backend}`, mode, N, C, ...out }));
await hub.close({ graceMs: 1000 });
await dispose();
process.exit(0);
