// HTTP figures on one process: submit rate and latency with 50 connections (autocannon), and many SSE followers of
// one task (memory, and the delay from an event's commit to the last follower receiving it).
// usage: node bench/http.ts [submit|sse] [N]   (sse: N followers, default 10000)
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fork, spawn } from 'node:child_process';
import pino from 'pino';
import { Taskhub } from '../src/index.ts';
import { createServer } from '../src/server/server.ts';

const [mode = 'submit', nArg] = process.argv.slice(2);
const dir = mkdtempSync(join(tmpdir(), 'taskhub-http-bench-'));
const hub = await Taskhub.open({ store: process.env.STORE ?? `sqlite:${join(dir, 'bench.db')}`, logger: pino({ level: 'silent' }) });
const app = await createServer({ hub, logger: false, sseHeartbeatMs: 60_000 });
const address = await app.listen({ host: '127.0.0.1', port: 0 });

if (mode === 'submit') {
  // The load comes from a second process, as a real client's would, sharing the same two cores.
  const body = JSON.stringify({ type: 'travel-plan', payload: { city: 'Shanghai', days: 3, prompt: 'plan a trip with food and museums' } });
  const cannon = spawn(join(import.meta.dirname, '..', 'node_modules', '.bin', 'autocannon'),
    ['-c', '50', '-d', String(nArg ?? 10), '-m', 'POST', '-H', 'content-type=application/json', '-b', body, '--json', `${address}/api/v1/tasks`],
    { stdio: ['ignore', 'pipe', 'ignore'] });
  let out = '';
  cannon.stdout.on('data', (c: Buffer) => (out += c));
  await new Promise((resolve) => cannon.on('exit', resolve));
  const result = JSON.parse(out) as { requests: { average: number }; latency: { p50: number; p99: number }; non2xx: number; errors: number };
  console.log(JSON.stringify({ mode, requestsPerSec: Math.round(result.requests.average), p50ms: result.latency.p50, p99ms: result.latency.p99, non2xx: result.non2xx, errors: result.errors }));
} else {
  // The followers live in a child process, as real clients would (and 10,000 sockets a side fit its fd limit);
  // times are epoch ms at sub-millisecond resolution so that both processes share one clock.
  const followers = Number(nArg ?? 10_000);
  const now = () => performance.timeOrigin + performance.now();
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const writtenAt = new Map<number, number>();
  hub.handle('fanout', async (_p, ctx) => {
    await gate;
    for (let i = 1; i <= 10; i++) {
      await ctx.progress(i * 10, `step ${i}`);
      writtenAt.set(i * 10, now());
      await new Promise((r) => setTimeout(r, 200));
    }
  });
  const task = await hub.enqueue('fanout');
  const rssBefore = process.memoryUsage().rss;
  let rssConnected = rssBefore;
  const child = fork(join(import.meta.dirname, 'sse-followers.ts'), [`${address}/api/v1/tasks/${task.id}/stream`, String(followers)]);
  const report = new Promise<{ received: number; lastArrival: Record<string, number> }>((resolve) => {
    child.on('message', (message: { connected?: boolean; received?: number; lastArrival?: Record<string, number> }) => {
      if (message.connected) {
        rssConnected = process.memoryUsage().rss;
        release();
      } else if (message.received !== undefined) resolve(message as { received: number; lastArrival: Record<string, number> });
    });
  });
  const { received, lastArrival } = await report;
  console.log(JSON.stringify({
    mode, followers, eventsExpected: followers * 10, eventsReceived: received,
    rssPerFollowerKB: Math.round(((rssConnected - rssBefore) / followers / 1024) * 10) / 10,
    // For each event, from the moment it was stored to the moment the last follower had it; the worst of ten.
    fanoutToLastFollowerMs: Math.round(Math.max(...[...writtenAt].map(([percent, at]) => (lastArrival[percent] ?? Number.NaN) - at))),
  }));
}
await app.close();
await hub.close({ graceMs: 0 });
rmSync(dir, { recursive: true, force: true });
process.exit(0);
