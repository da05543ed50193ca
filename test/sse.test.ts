// GET /api/v1/tasks/{id}/stream: history then live events, resuming with Last-Event-ID, heartbeats, the end of the
// stream, and what happens to the server side when a client goes away.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Task, TaskContext, TaskEvent } from '../src/index.ts';
import { waitUntil } from './helpers/hub.ts';
import { gate, type SseEvent, sleep, sseFrames, startServer, type TestServer } from './helpers/server.ts';

interface ChattyPayload {
  chunks: number;
  delayMs: number;
}

async function chatty(payload: ChattyPayload, ctx: TaskContext) {
  for (let i = 1; i <= payload.chunks; i++) {
    await sleep(payload.delayMs);
    await ctx.output(`chunk ${i}\n`);
  }
  return { chunks: payload.chunks };
}

const isEvent = (frame: SseEvent | { comment: string }): frame is SseEvent => !('comment' in frame);

/** Every event frame of a stream, checking that each frame's id and event agree with its data; `onEvent` false stops. */
async function readEvents(res: Response, onEvent?: (event: TaskEvent) => boolean): Promise<TaskEvent[]> {
  assert.equal(res.status, 200);
  const events: TaskEvent[] = [];
  for await (const frame of sseFrames(res.body!)) {
    if (!isEvent(frame)) continue;
    const event = JSON.parse(frame.data) as TaskEvent;
    assert.equal(frame.id, String(event.seq));
    assert.equal(frame.event, event.kind);
    events.push(event);
    if (onEvent?.(event) === false) break;
  }
  return events;
}

describe('SSE stream', () => {
  let s: TestServer;
  let release = gate();

  const submit = async (body: unknown): Promise<Task> => {
    const res = await s.request('POST', '/api/v1/tasks', body);
    assert.equal(res.status, 202);
    return (await res.json()) as Task;
  };
  const stream = (id: string, headers: Record<string, string> = {}, query = '', signal?: AbortSignal) =>
    fetch(`${s.base}/api/v1/tasks/${id}/stream${query}`, { headers, signal });

  before(async () => {
    s = await startServer({ worker: { pollIntervalMs: 50 } }, { sseHeartbeatMs: 50 });
    s.hub.handle('chatty', chatty, { concurrency: 10 });
    s.hub.handle('gated', async (_payload, ctx) => {
      await ctx.progress(10, 'waiting');
      await release.promise;
      await ctx.output('after the gate');
      return 'done';
    });
    s.hub.handle('flaky', () => {
      throw new Error('not this time');
    });
  });

  after(async () => {
    release.open();
    await s.close();
  });

  it('replays history, then goes live, and ends after the terminal event', async () => {
    release = gate();
    const task = await submit({ type: 'gated' });
    await waitUntil(async () => (await s.hub.get(task.id)).progress !== null, 5000, 'progress');
    const res = await stream(task.id);
    assert.equal(res.headers.get('content-type'), 'text/event-stream; charset=utf-8');
    assert.equal(res.headers.get('cache-control'), 'no-cache');
    assert.equal(res.headers.get('x-accel-buffering'), 'no');
    const events = await readEvents(res, (event) => {
      // History is in; what follows must arrive live.
      if (event.kind === 'progress') release.open();
      return true;
    });
    assert.deepEqual(events.map((e) => e.kind), ['created', 'started', 'progress', 'output', 'completed']);
    assert.deepEqual(events, await s.hub.events(task.id), 'exactly the stored history');
    assert.equal(s.app.streamConnections.count('sse'), 0);
  });

  it('resumes with Last-Event-ID after a dropped connection: every event exactly once, in order', async () => {
    const task = await submit({ type: 'chatty', payload: { chunks: 30, delayMs: 8 } });
    const seen: TaskEvent[] = [];
    const first = new AbortController();
    await readEvents(await stream(task.id, {}, '', first.signal), (event) => {
      seen.push(event);
      return seen.length < 8;
    }).catch(() => {});
    first.abort();
    // Events keep coming while the client is away.
    await sleep(60);
    const lastId = String(seen.at(-1)!.seq);
    const rest = await readEvents(await stream(task.id, { 'last-event-id': lastId }));
    const all = [...seen, ...rest];
    assert.deepEqual(all.map((e) => e.seq), Array.from({ length: all.length }, (_, i) => i + 1), 'each seq once, in order');
    assert.deepEqual(all, await s.hub.events(task.id));
    assert.equal(all.at(-1)?.kind, 'completed');
    assert.ok(rest.length > 10, 'most events came after the reconnect');
  });

  it('takes ?after= too; Last-Event-ID wins when both are given', async () => {
    const task = await submit({ type: 'chatty', payload: { chunks: 3, delayMs: 1 } });
    await s.hub.wait(task.id, 5000);
    const fromQuery = await readEvents(await stream(task.id, {}, '?after=3'));
    assert.deepEqual(fromQuery.map((e) => e.seq), [4, 5, 6]);
    const both = await readEvents(await stream(task.id, { 'last-event-id': '5' }, '?after=1'));
    assert.deepEqual(both.map((e) => e.seq), [6]);
    const bad = await stream(task.id, { 'last-event-id': 'five' });
    assert.equal(bad.status, 400);
    const head = await fetch(`${s.base}/api/v1/tasks/${task.id}/stream`, { method: 'HEAD' });
    assert.equal(head.status, 404, 'no HEAD: it would open a stream that never ends');
  });

  it('answers 204 when the task has finished and every event was seen (EventSource then stops reconnecting)', async () => {
    const task = await submit({ type: 'chatty', payload: { chunks: 1, delayMs: 1 } });
    const done = await s.hub.wait(task.id, 5000);
    const res = await stream(task.id, { 'last-event-id': String(done.lastEventSeq) });
    assert.equal(res.status, 204);
    assert.equal(await res.text(), '');
  });

  it('sends heartbeat comments while nothing happens', async () => {
    release = gate();
    const task = await submit({ type: 'gated' });
    const controller = new AbortController();
    const res = await stream(task.id, {}, '', controller.signal);
    let pings = 0;
    const t0 = Date.now();
    for await (const frame of sseFrames(res.body!)) {
      if (!isEvent(frame) && frame.comment === 'ping' && ++pings === 3) break;
    }
    assert.ok(Date.now() - t0 < 2000);
    controller.abort();
    release.open();
    await s.hub.wait(task.id, 5000);
  });

  it('stops following when the client disconnects', async () => {
    release = gate();
    const task = await submit({ type: 'gated' });
    const controllers = Array.from({ length: 5 }, () => new AbortController());
    const responses = await Promise.all(controllers.map((c) => stream(task.id, {}, '', c.signal)));
    await waitUntil(() => s.hub.followerCount === 5 && s.app.streamConnections.count('sse') === 5, 2000, 'followers');
    for (const c of controllers) c.abort();
    await Promise.all(responses.map((r) => r.body?.cancel().catch(() => {})));
    await waitUntil(() => s.hub.followerCount === 0, 2000, 'followers to leave');
    await waitUntil(() => s.app.streamConnections.count('sse') === 0, 2000, 'the gauge to drop');
    release.open();
    await s.hub.wait(task.id, 5000);
  });

  it('streams the whole history of a failed task that was retried by hand, up to its final end', async () => {
    const task = await submit({ type: 'flaky', maxAttempts: 1 });
    await waitUntil(async () => (await s.hub.get(task.id)).status === 'failed', 5000, 'failure');
    const retry = await s.request('POST', `/api/v1/tasks/${task.id}/retry`);
    assert.equal(retry.status, 200);
    const events = await readEvents(await stream(task.id));
    assert.deepEqual(events.map((e) => e.kind), ['created', 'started', 'failed', 'retrying', 'started', 'failed']);
  });

  it('ends open streams when the server closes', async () => {
    const own = await startServer({}, { sseHeartbeatMs: 1000 });
    const task = (await (await own.request('POST', '/api/v1/tasks', { type: 'nobody-handles-this' })).json()) as Task;
    const open = await fetch(`${own.base}/api/v1/tasks/${task.id}/stream`);
    const reading = readEvents(open);
    await waitUntil(() => own.app.streamConnections.count('sse') === 1, 2000, 'the stream');
    const t0 = Date.now();
    await own.close();
    const events = await reading;
    assert.deepEqual(events.map((e) => e.kind), ['created']);
    assert.ok(Date.now() - t0 < 2000, 'closing did not wait for the client');
  });
});
