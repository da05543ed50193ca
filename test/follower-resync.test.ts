// Issue 14, fault 1: followers must not stall after the server's notice connection to PostgreSQL comes back.
// The server reaches PostgreSQL through a TCP proxy; the worker (another Taskhub, so its events reach the server only
// by NOTIFY) connects directly. The proxy is cut, every task finishes while the server cannot hear it, the proxy is
// restored: every SSE follower, WebSocket subscription (task and queue) and `result?wait=` waiter must then learn of
// its task's end within seconds, read from the store after the LISTEN connection returns (the resync).
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import pino from 'pino';
import { Taskhub, type Task, type TaskEvent } from '../src/index.ts';
import { createServer } from '../src/server/server.ts';
import { waitUntil } from './helpers/hub.ts';
import { dropSchema, freshSchema, requirePostgres, startTcpProxy, storeUrl } from './helpers/postgres.ts';
import { gate, sleep, sseFrames } from './helpers/server.ts';

const SSE_FOLLOWERS = 40;
const WS_SOCKETS = 4;
const WS_TASKS_EACH = 2;
const WAITERS = 4;
const TASKS = SSE_FOLLOWERS + WS_SOCKETS * WS_TASKS_EACH + WAITERS;
/** From the proxy's restore: the listener's reconnect backoff (up to a few seconds) plus the resync itself. */
const WITHIN_MS = 15_000;

interface WsMessage {
  type: string;
  taskId?: string;
  queue?: string;
  event?: TaskEvent;
}

function openSocket(base: string): Promise<{ socket: WebSocket; messages: WsMessage[] }> {
  const socket = new WebSocket(`${base.replace('http', 'ws')}/api/v1/ws`);
  const messages: WsMessage[] = [];
  socket.addEventListener('message', (e) => messages.push(JSON.parse(String(e.data)) as WsMessage));
  return new Promise((resolve, reject) => {
    socket.addEventListener('open', () => resolve({ socket, messages }), { once: true });
    socket.addEventListener('error', () => reject(new Error('WebSocket did not open')), { once: true });
  });
}

describe('followers after the notice connection comes back (PostgreSQL)', () => {
  it(`${SSE_FOLLOWERS} SSE followers, WebSocket subscriptions and result waiters all see the end of tasks finished while the server could not listen`, { timeout: 120_000 }, async (t) => {
    if (!(await requirePostgres(t))) return;
    const schema = freshSchema('resync');
    const proxy = await startTcpProxy();
    const logger = pino({ level: 'silent' });
    const release = gate();
    let server: Taskhub | undefined;
    let worker: Taskhub | undefined;
    let app: Awaited<ReturnType<typeof createServer>> | undefined;
    const sockets: WebSocket[] = [];
    const aborts = new AbortController();
    try {
      server = await Taskhub.open({ store: storeUrl(schema, proxy.address), logger });
      app = await createServer({ hub: server, logger: false, sseHeartbeatMs: 500 });
      await app.listen({ port: 0, host: '127.0.0.1' });
      const base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;

      worker = await Taskhub.open({ store: storeUrl(schema), logger, worker: { pollIntervalMs: 100 } });
      worker.handle('gap', async () => {
        await release.promise;
        return 'done';
      }, { concurrency: TASKS });

      const tasks: Task[] = [];
      for (let i = 0; i < TASKS; i++) {
        const res = await fetch(`${base}/api/v1/tasks`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ type: 'gap', queue: 'gapq' }) });
        assert.equal(res.status, 202);
        tasks.push((await res.json()) as Task);
      }
      await waitUntil(async () => (await worker!.list({ status: 'running', limit: 1000 })).tasks.length === TASKS, 30_000, 'every task to be running');

      // SSE followers, one per task.
      const sseTasks = tasks.slice(0, SSE_FOLLOWERS);
      const sseSeen = sseTasks.map(() => [] as TaskEvent[]);
      const sseDone = sseTasks.map(async (task, i) => {
        const res = await fetch(`${base}/api/v1/tasks/${task.id}/stream`, { signal: aborts.signal });
        assert.equal(res.status, 200);
        for await (const frame of sseFrames(res.body!)) if ('data' in frame) sseSeen[i].push(JSON.parse(frame.data) as TaskEvent);
      });
      for (const p of sseDone) p.catch(() => {});

      // WebSocket: each socket follows two tasks; the first also watches the whole queue.
      const wsTasks = tasks.slice(SSE_FOLLOWERS, SSE_FOLLOWERS + WS_SOCKETS * WS_TASKS_EACH);
      const wsClients = await Promise.all(Array.from({ length: WS_SOCKETS }, () => openSocket(base)));
      sockets.push(...wsClients.map((c) => c.socket));
      wsClients[0].socket.send(JSON.stringify({ op: 'subscribe', queue: 'gapq' }));
      for (const [i, task] of wsTasks.entries()) wsClients[i % WS_SOCKETS].socket.send(JSON.stringify({ op: 'subscribe', taskId: task.id }));

      // result?wait= waiters.
      const waitTasks = tasks.slice(SSE_FOLLOWERS + wsTasks.length);
      const waiters = waitTasks.map(async (task) => {
        const res = await fetch(`${base}/api/v1/tasks/${task.id}/result?wait=60`, { signal: aborts.signal });
        return { status: res.status, body: (await res.json()) as { status: string; detail?: string } };
      });
      for (const p of waiters) p.catch(() => {});

      const followers = SSE_FOLLOWERS + wsTasks.length + WAITERS;
      await waitUntil(() => server!.followerCount === followers, 30_000, `${followers} followers on the server`);
      await waitUntil(() => sseSeen.every((seen) => seen.length >= 2), 30_000, 'every SSE follower to replay the history');
      await waitUntil(() => wsClients[0].messages.some((m) => m.type === 'subscribed' && m.queue === 'gapq'), 10_000, 'the queue subscription');
      // Followers count from their first store read (history); one still reading when the store goes away fails as it
      // would in any outage (SSE clients reconnect), which is not what this test is about: let those reads finish.
      await waitUntil(
        () => wsTasks.every((task, i) => wsClients[i % WS_SOCKETS].messages.filter((m) => m.type === 'event' && m.taskId === task.id).length >= 2),
        30_000,
        'every WebSocket subscription to replay the history',
      );
      await sleep(1000);

      // The server loses PostgreSQL (its pool and its LISTEN connection); the worker does not.
      proxy.cut();
      await waitUntil(async () => (await fetch(`${base}/readyz`)).status === 503, 20_000, 'the server to notice the outage');
      release.open();
      await waitUntil(async () => (await worker!.list({ status: 'completed', limit: 1000 })).tasks.length === TASKS, 30_000, 'every task to complete');
      await sleep(500);
      proxy.restore();
      const restoredAt = Date.now();

      const sseEnded = () => sseSeen.filter((seen) => seen.at(-1)?.kind === 'completed').length;
      const wsEnded = () => wsTasks.filter((task, i) => wsClients[i % WS_SOCKETS].messages.some((m) => m.type === 'end' && m.taskId === task.id)).length;
      const queueSeen = () => new Set(wsClients[0].messages.filter((m) => m.type === 'event' && m.event?.kind === 'completed').map((m) => m.taskId)).size;
      try {
        await waitUntil(() => sseEnded() === SSE_FOLLOWERS && wsEnded() === wsTasks.length && queueSeen() === TASKS, WITHIN_MS, 'every follower to see its task end');
      } catch (error) {
        assert.fail(
          `${(error as Error).message}: after ${Date.now() - restoredAt} ms, ${sseEnded()}/${SSE_FOLLOWERS} SSE followers, ` +
            `${wsEnded()}/${wsTasks.length} WebSocket task subscriptions and the queue subscription for ${queueSeen()}/${TASKS} tasks saw the end`,
        );
      }
      const settled = Date.now() - restoredAt;
      const answers = await Promise.race([Promise.all(waiters), sleep(WITHIN_MS).then(() => null)]);
      assert.ok(answers, 'every result waiter answered');
      for (const answer of answers) assert.deepEqual([answer.status, answer.body.status], [200, 'completed'], JSON.stringify(answer.body));
      await Promise.all(sseDone);

      for (const [i, seen] of sseSeen.entries()) {
        const stored = await server.events(sseTasks[i].id);
        assert.deepEqual(seen.map((e) => e.seq), stored.map((e) => e.seq), 'each SSE follower saw every event once, in order');
      }
      for (const [i, task] of wsTasks.entries()) {
        const seqs = wsClients[i % WS_SOCKETS].messages.filter((m) => m.type === 'event' && m.taskId === task.id).map((m) => m.event!.seq);
        // The first socket also watches the queue: an event reaches a connection once, whichever subscription it matches.
        assert.deepEqual([...new Set(seqs)], seqs, 'no event twice on one WebSocket');
        assert.equal(Math.max(...seqs), (await server.get(task.id)).lastEventSeq);
      }
      process.stdout.write(`# ${followers} followers and a queue subscription caught up ${settled} ms after the proxy was restored\n`);
    } finally {
      release.open();
      aborts.abort();
      for (const socket of sockets) socket.close();
      proxy.restore();
      await app?.close();
      await server?.close({ graceMs: 200 });
      await worker?.close({ graceMs: 200 });
      await proxy.close();
      await dropSchema(schema);
    }
  });
});
