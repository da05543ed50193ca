// A Python worker streaming output (clients/python): T tasks at once, each writing C chunks of ~40 characters through
// ctx.output, in one Python worker of concurrency T against a server on its own store. Reports chunks stored per
// second, from the tasks' submit to the last one's completion, and checks every chunk is stored in order.
// usage: node bench/python-output.ts <sqlite|postgres> [T=2] [C=10000]
// TASKHUB_PYTHON_CLIENT names another clients/python (an older commit's, say) to compare against.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createServer } from '../src/server/server.ts';
import { openBenchHub } from './bench-store.ts';

const [backend = 'sqlite', tArg, cArg] = process.argv.slice(2);
const TASKS = Number(tArg ?? 2);
const CHUNKS = Number(cArg ?? 10_000);
const PYTHON = process.env.TASKHUB_PYTHON ?? 'python3';

const { hub, dispose } = await openBenchHub(backend, 'pyout');
const app = await createServer({ hub, logger: false });
await app.listen({ host: '127.0.0.1', port: 0 });
const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
const worker = spawn(PYTHON, [join(import.meta.dirname, 'python_stream_worker.py'), 'py-bench', String(TASKS)], {
  stdio: ['ignore', 'ignore', 'inherit'],
  env: { ...process.env, TASKHUB_URL: url, PYTHONPATH: process.env.TASKHUB_PYTHON_CLIENT ?? join(import.meta.dirname, '..', 'clients', 'python') },
});

async function run(chunks: number): Promise<number> {
  const started = performance.now();
  const tasks = await hub.enqueueMany(Array.from({ length: TASKS }, (_, i) => ({ type: 'py-bench-stream', payload: { i, chunks } })));
  for (;;) {
    const states = await Promise.all(tasks.map((t) => hub.get(t.id)));
    if (states.every((t) => t.status === 'completed')) break;
    if (states.some((t) => t.status === 'failed')) throw new Error(`a task failed: ${JSON.stringify(states.map((t) => t.error))}`);
    await sleep(5);
  }
  const ms = performance.now() - started;
  for (const [i, task] of tasks.entries()) {
    const stored = (await hub.events(task.id, 0, chunks + 10)).filter((e) => e.kind === 'output').map((e) => (e.data as { chunk: string }).chunk);
    if (stored.length !== chunks || !stored.every((chunk, c) => chunk.startsWith(`t${i} c${c} `))) throw new Error(`task ${i}: chunks missing or out of order`);
  }
  return ms;
}

// The handler processes start with the worker; a short round first, so the figure is the streaming's.
await run(10);
const ms = await run(CHUNKS);
console.log(JSON.stringify({ system: `taskhub-${backend}`, mode: 'python-output', tasks: TASKS, chunksPerTask: CHUNKS, ms: Math.round(ms), chunksPerSec: Math.round((TASKS * CHUNKS) / (ms / 1000)) }));
worker.kill('SIGTERM');
await once(worker, 'exit');
await app.close();
await hub.close({ graceMs: 0 });
await dispose();
