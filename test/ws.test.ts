// GET /api/v1/ws: task subscriptions (history, live, end), queue subscriptions (live, only that queue), each event
// at most once per connection, and refusals explained. The client is Node's own WebSocket.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Task, TaskEvent } from '../src/index.ts';
import { waitUntil } from './helpers/hub.ts';
import { gate, sleep, startServer, type TestServer } from './helpers/server.ts';

interface ServerMessage {
  type: 'subscribed' | 'unsubscribed' | 'event' | 'end' | 'error';
  taskId?: string;
  queue?: string;
  event?: TaskEvent;
  detail?: string;
}

/** A WebSocket client that keeps every message, for tests to wait on. */
class TestSocket {
  readonly messages: ServerMessage[] = [];
  readonly #socket: WebSocket;
  closed: { code: number; reason: string } | null = null;

  private constructor(socket: WebSocket) {
    this.#socket = socket;
    socket.addEventListener('message', (e) => this.messages.push(JSON.parse(String(e.data)) as ServerMessage));
    socket.addEventListener('close', (e) => {
      this.closed = { code: e.code, reason: e.reason };
    });
  }

  static async open(base: string): Promise<TestSocket> {
    const socket = new WebSocket(`${base.replace('http', 'ws')}/api/v1/ws`);
    await new Promise<void>((resolve, reject) => {
      socket.addEventListener('open', () => resolve(), { once: true });
      socket.addEventListener('error', () => reject(new Error('WebSocket did not open')), { once: true });
    });
    return new TestSocket(socket);
  }

  send(message: unknown): void {
    this.#socket.send(typeof message === 'string' ? message : JSON.stringify(message));
  }

  /** The first message from `from` on that matches. */
  async next(match: (m: ServerMessage) => boolean, from = 0, what = 'a message'): Promise<ServerMessage> {
    let found: ServerMessage | undefined;
    await waitUntil(() => (found = this.messages.slice(from).find(match)) !== undefined, 5000, what);
    return found!;
  }

  events(taskId?: string): TaskEvent[] {
    return this.messages.filter((m) => m.type === 'event' && (!taskId || m.taskId === taskId)).map((m) => m.event!);
  }

  close(): void {
    this.#socket.close();
  }
}

describe('WebSocket', () => {
  let s: TestServer;
  let release = gate();
  const sockets: TestSocket[] = [];
  const open = async () => {
    const socket = await TestSocket.open(s.base);
    sockets.push(socket);
    return socket;
  };
  const submit = async (body: unknown): Promise<Task> => {
    const res = await s.request('POST', '/api/v1/tasks', body);
    assert.equal(res.status, 202);
    return (await res.json()) as Task;
  };

  before(async () => {
    s = await startServer({ worker: { pollIntervalMs: 50 } }, { sseHeartbeatMs: 100 });
    s.hub.handle('gated', async (payload: string, ctx) => {
      await ctx.progress(50, 'waiting');
      await release.promise;
      await ctx.output(`out ${payload}`);
      return payload;
    });
    s.hub.handle('echo', (payload) => payload);
  });

  after(async () => {
    for (const socket of sockets) socket.close();
    release.open();
    await s.close();
  });

  it('task subscription: acknowledged, history then live, then end', async () => {
    release = gate();
    const task = await submit({ type: 'gated', payload: 'a' });
    await waitUntil(async () => (await s.hub.get(task.id)).progress !== null, 5000, 'progress');
    const ws = await open();
    ws.send({ op: 'subscribe', taskId: task.id });
    const ack = await ws.next((m) => m.type === 'subscribed');
    assert.deepEqual(ack, { type: 'subscribed', taskId: task.id });
    await ws.next((m) => m.event?.kind === 'progress', 0, 'the history');
    assert.equal(ws.messages[0].type, 'subscribed', 'the acknowledgement comes first');
    release.open();
    await ws.next((m) => m.type === 'end', 0, 'the end');
    const events = ws.events(task.id);
    assert.deepEqual(events, await s.hub.events(task.id), 'every event once, in order');
    assert.deepEqual(events.map((e) => e.kind), ['created', 'started', 'progress', 'output', 'completed']);
    const first = ws.messages.find((m) => m.type === 'event')!;
    assert.equal(first.queue, 'default');
    assert.equal(first.taskId, task.id);
    assert.equal(ws.messages.at(-1)?.type, 'end');
  });

  it('task subscription resumes after afterSeq, and a finished task that was fully seen just ends', async () => {
    const task = await submit({ type: 'echo', payload: 1 });
    const done = await s.hub.wait(task.id, 5000);
    const ws = await open();
    ws.send({ op: 'subscribe', taskId: task.id, afterSeq: 1 });
    await ws.next((m) => m.type === 'end');
    assert.deepEqual(ws.events(task.id).map((e) => e.seq), [2, 3]);
    const mark = ws.messages.length;
    ws.send({ op: 'subscribe', taskId: task.id, afterSeq: done.lastEventSeq });
    await ws.next((m) => m.type === 'end', mark);
    assert.deepEqual(ws.messages.slice(mark).map((m) => m.type), ['subscribed', 'end']);
  });

  it('queue subscription: live events of that queue only', async () => {
    const ws = await open();
    ws.send({ op: 'subscribe', queue: 'watched' });
    await ws.next((m) => m.type === 'subscribed' && m.queue === 'watched');
    const a = await submit({ type: 'echo', queue: 'watched', payload: 'a' });
    const b = await submit({ type: 'echo', queue: 'other', payload: 'b' });
    const c = await submit({ type: 'echo', queue: 'watched', payload: 'c' });
    await Promise.all([a, b, c].map((t) => s.hub.wait(t.id, 5000)));
    await ws.next((m) => m.taskId === c.id && m.event?.kind === 'completed', 0, 'the last event');
    await sleep(100);
    const events = ws.messages.filter((m) => m.type === 'event');
    assert.ok(events.every((m) => m.queue === 'watched'));
    assert.deepEqual(ws.events(a.id), await s.hub.events(a.id));
    assert.deepEqual(ws.events(c.id), await s.hub.events(c.id));
    assert.equal(ws.events(b.id).length, 0);
    const keys = events.map((m) => `${m.taskId}:${m.event!.seq}`);
    assert.equal(new Set(keys).size, keys.length, 'no event twice');

    ws.send({ op: 'unsubscribe', queue: 'watched' });
    await ws.next((m) => m.type === 'unsubscribed' && m.queue === 'watched');
    const mark = ws.messages.length;
    const d = await submit({ type: 'echo', queue: 'watched' });
    await s.hub.wait(d.id, 5000);
    await sleep(100);
    assert.equal(ws.messages.length, mark, 'nothing after unsubscribing');
  });

  it('an event matching both a task and a queue subscription arrives once', async () => {
    release = gate();
    const ws = await open();
    ws.send({ op: 'subscribe', queue: 'both' });
    await ws.next((m) => m.type === 'subscribed');
    const task = await submit({ type: 'gated', queue: 'both', payload: 'x' });
    ws.send({ op: 'subscribe', taskId: task.id });
    await ws.next((m) => m.type === 'subscribed' && m.taskId === task.id);
    await ws.next((m) => m.event?.kind === 'progress');
    release.open();
    await ws.next((m) => m.type === 'end');
    await sleep(50);
    const seqs = ws.events(task.id).map((e) => e.seq);
    assert.deepEqual([...seqs].sort((x, y) => x - y), (await s.hub.events(task.id)).map((e) => e.seq), 'each event exactly once');
  });

  it('unsubscribing from a task stops its events', async () => {
    release = gate();
    const task = await submit({ type: 'gated', payload: 'u' });
    const ws = await open();
    ws.send({ op: 'subscribe', taskId: task.id });
    await ws.next((m) => m.event?.kind === 'progress');
    ws.send({ op: 'unsubscribe', taskId: task.id });
    await ws.next((m) => m.type === 'unsubscribed');
    const mark = ws.messages.length;
    release.open();
    await s.hub.wait(task.id, 5000);
    await sleep(100);
    assert.deepEqual(ws.messages.slice(mark), []);
    await waitUntil(() => s.hub.followerCount === 0, 2000, 'the follower to stop');
  });

  it('explains refused messages and keeps the connection open', async () => {
    const ws = await open();
    const refusals: [unknown, RegExp][] = [
      ['{not json', /not valid JSON/],
      [{ op: 'follow', taskId: 'x' }, /op: must be one of "subscribe", "unsubscribe"/],
      [{ op: 'subscribe' }, /exactly one of taskId and queue/],
      [{ op: 'subscribe', taskId: 'a', queue: 'b' }, /exactly one of taskId and queue/],
      [{ op: 'subscribe', taskId: 'a', extra: 1 }, /extra: is not a known field/],
      [{ op: 'subscribe', taskId: 7 }, /taskId: must be string/],
      [{ op: 'subscribe', queue: 'bad queue' }, /queue: must be/],
      [{ op: 'subscribe', queue: 'q', afterSeq: 3 }, /afterSeq/],
      [{ op: 'subscribe', taskId: 'no-such-task' }, /does not exist/],
    ];
    for (const [message, expected] of refusals) {
      const mark = ws.messages.length;
      ws.send(message);
      const error = await ws.next((m) => m.type === 'error', mark, `an error for ${JSON.stringify(message)}`);
      assert.match(error.detail ?? '', expected);
    }
    assert.equal(ws.closed, null);
    const task = await submit({ type: 'echo' });
    ws.send({ op: 'subscribe', taskId: task.id });
    await ws.next((m) => m.type === 'end', 0, 'a working subscription after the errors');
  });

  it('counts open connections and releases everything on close', async () => {
    release = gate();
    const task = await submit({ type: 'gated', payload: 'c' });
    const before = s.app.streamConnections.count('ws');
    const ws = await open();
    ws.send({ op: 'subscribe', taskId: task.id });
    ws.send({ op: 'subscribe', queue: 'default' });
    await ws.next((m) => m.event?.kind === 'progress');
    assert.equal(s.app.streamConnections.count('ws'), before + 1);
    ws.close();
    await waitUntil(() => s.app.streamConnections.count('ws') === before, 2000, 'the gauge to drop');
    await waitUntil(() => s.hub.followerCount === 0, 2000, 'the follower to stop');
    release.open();
  });

  it('answers a request that is not an upgrade with 426', async () => {
    const res = await s.request('GET', '/api/v1/ws');
    assert.equal(res.status, 426);
    assert.equal(res.headers.get('upgrade'), 'websocket');
    assert.equal(((await res.json()) as { code: string }).code, 'UPGRADE_REQUIRED');
  });

  it('closes its WebSockets when the server closes', async () => {
    const own = await startServer();
    const ws = await TestSocket.open(own.base);
    ws.send({ op: 'subscribe', queue: 'default' });
    await ws.next((m) => m.type === 'subscribed');
    const t0 = Date.now();
    await own.close();
    await waitUntil(() => ws.closed !== null, 2000, 'the close');
    assert.equal(ws.closed?.code, 1001);
    assert.ok(Date.now() - t0 < 2000);
  });
});
