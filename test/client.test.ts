// The client SDK against a real server: REST calls, result waiting, and following a task over SSE through dropped
// connections and without streaming at all.
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { clientModuleSource } from '../src/client/browser-bundle.ts';
import {
  TaskhubClient,
  TaskhubHttpError,
  TaskhubTimeoutError,
  type TaskEvent,
} from '../src/client/index.ts';
import { NonRetryableError, type TaskContext } from '../src/index.ts';
import { createServer } from '../src/server/server.ts';
import { openTestHub } from './helpers/hub.ts';
import { startProxy, type TestProxy } from './helpers/proxy.ts';

type Hub = Awaited<ReturnType<typeof openTestHub>>;
type App = Awaited<ReturnType<typeof createServer>>;

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => {
      clearTimeout(timer);
      reject(signal.reason);
    }, { once: true });
  });

interface ChattyPayload {
  chunks: number;
  delayMs?: number;
  fail?: boolean;
}

/** Emits progress and output events at a pace, so a follower sees them live; optionally fails at the end. */
async function chatty(payload: ChattyPayload, ctx: TaskContext) {
  for (let i = 1; i <= payload.chunks; i++) {
    await sleep(payload.delayMs ?? 5, ctx.signal);
    await ctx.output(`chunk ${i} – 上海\n`);
    if (i % 4 === 0) await ctx.progress(Math.round((i / payload.chunks) * 100), `chunk ${i}`);
  }
  if (payload.fail) throw new NonRetryableError('failed on purpose', 'ON_PURPOSE');
  return { chunks: payload.chunks };
}

async function collect(iterable: AsyncIterable<TaskEvent>, onEvent?: (event: TaskEvent, index: number) => void): Promise<TaskEvent[]> {
  const out: TaskEvent[] = [];
  for await (const event of iterable) {
    out.push(event);
    onEvent?.(event, out.length);
  }
  return out;
}

/** Every event exactly once, in order, matching the stored history, ending with the terminal one. */
async function assertWholeHistory(hub: Hub, id: string, events: TaskEvent[], afterSeq = 0): Promise<void> {
  const stored = (await hub.events(id)).filter((e) => e.seq > afterSeq);
  assert.deepEqual(
    events.map((e) => e.seq),
    stored.map((e) => e.seq),
    'seqs: each once, in order, none missing',
  );
  assert.deepEqual(events, stored);
  assert.ok(['completed', 'failed', 'cancelled'].includes(events.at(-1)?.kind ?? ''), `ends with a terminal event, not ${events.at(-1)?.kind}`);
}

describe('TaskhubClient against a real server', () => {
  let hub: Hub;
  let app: App;
  let baseUrl: string;
  let client: TaskhubClient;

  before(async () => {
    hub = await openTestHub({ worker: { pollIntervalMs: 50 } });
    hub.handle('echo', (payload) => ({ echoed: payload }));
    hub.handle('chatty', chatty, { concurrency: 20 });
    hub.handle('sleepy', async (payload: { ms: number }, ctx) => {
      await sleep(payload.ms, ctx.signal);
      return 'rested';
    });
    app = await createServer({ hub, sseHeartbeatMs: 200 });
    await app.listen({ port: 0, host: '127.0.0.1' });
    baseUrl = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
    client = new TaskhubClient({ url: baseUrl, reconnectDelayMs: 20, pollIntervalMs: 20 });
  });

  after(async () => {
    await app?.close();
    await hub?.dispose();
  });

  it('submits with options, gets and lists', async () => {
    const task = await client.submit('echo', { n: 1 }, { queue: 'client-q', priority: 7, tags: { team: 'sdk' }, maxAttempts: 2, timeoutMs: 5000 });
    assert.equal(task.type, 'echo');
    assert.equal(task.queue, 'client-q');
    assert.equal(task.priority, 7);
    assert.equal(task.maxAttempts, 2);
    assert.equal(task.timeoutMs, 5000);
    assert.deepEqual(task.tags, { team: 'sdk' });
    assert.deepEqual(task.payload, { n: 1 });

    const got = await client.get(task.id);
    assert.equal(got.id, task.id);

    await client.submit('echo', 2, { queue: 'client-q' });
    await client.submit('echo', 3, { queue: 'client-q' });
    const page1 = await client.list({ queue: 'client-q', limit: 2 });
    assert.equal(page1.tasks.length, 2);
    assert.ok(page1.nextCursor, 'a cursor to the next page');
    const page2 = await client.list({ queue: 'client-q', limit: 2, cursor: page1.nextCursor });
    assert.equal(page2.tasks.length, 1);
    assert.equal(page2.nextCursor, null);
    assert.equal(page2.tasks[0].id, task.id, 'newest first, so the first submitted comes last');
    const onlyEcho = await client.list({ type: 'echo', queue: 'client-q', status: 'completed', limit: 100 });
    for (const t of onlyEcho.tasks) assert.equal(t.status, 'completed');
  });

  it('delays with delayMs and runAt', async () => {
    const delayed = await client.submit('echo', null, { delayMs: 60_000 });
    assert.equal(delayed.status, 'scheduled');
    const at = new Date(Date.now() + 120_000);
    const atTask = await client.submit('echo', null, { runAt: at });
    assert.equal(atTask.status, 'scheduled');
    assert.equal(atTask.runAt, at.getTime());
    await client.cancel(delayed.id);
    await client.cancel(atTask.id);
  });

  it('sends Idempotency-Key: the same key returns the same task', async () => {
    const first = await client.create({ type: 'echo', payload: 'once', idempotencyKey: 'client-key-1' });
    assert.equal(first.created, true);
    const again = await client.create({ type: 'echo', payload: 'once', idempotencyKey: 'client-key-1' });
    assert.equal(again.created, false);
    assert.equal(again.task.id, first.task.id);
    const viaSubmit = await client.submit('echo', 'once', { idempotencyKey: 'client-key-1' });
    assert.equal(viaSubmit.id, first.task.id);
  });

  it('submits many at once', async () => {
    const tasks = await client.submitMany([
      { type: 'echo', payload: 'a', queue: 'batch-q' },
      { type: 'echo', payload: 'b', queue: 'batch-q', priority: 3 },
    ]);
    assert.equal(tasks.length, 2);
    assert.deepEqual(tasks.map((t) => t.payload), ['a', 'b']);
    const done = await Promise.all(tasks.map((t) => client.result(t.id, { timeoutMs: 5000 })));
    assert.deepEqual(done.map((t) => t.result), [{ echoed: 'a' }, { echoed: 'b' }]);
  });

  it('waits for the result, also of a failed task, and times out with a typed error', async () => {
    const task = await client.submit('echo', { hello: 'world' });
    const done = await client.result(task.id, { timeoutMs: 5000 });
    assert.equal(done.status, 'completed');
    assert.deepEqual(done.result, { echoed: { hello: 'world' } });
    assert.equal(done.id, task.id);

    const failing = await client.submit('chatty', { chunks: 1, fail: true });
    const failed = await client.result(failing.id, { timeoutMs: 5000 });
    assert.equal(failed.status, 'failed');
    assert.equal(failed.error?.message, 'failed on purpose');

    const slow = await client.submit('sleepy', { ms: 5000 });
    const t0 = Date.now();
    await assert.rejects(client.result(slow.id, { timeoutMs: 400 }), (error: unknown) => {
      assert.ok(error instanceof TaskhubTimeoutError);
      assert.equal(error.taskId, slow.id);
      assert.ok(error.status === 'running' || error.status === 'queued', `status ${error.status}`);
      return true;
    });
    const took = Date.now() - t0;
    assert.ok(took >= 390 && took < 1500, `timed out after ${took} ms`);
    await client.cancel(slow.id);
  });

  it('cancels a running task and retries it', async () => {
    const task = await client.submit('sleepy', { ms: 10_000 });
    const deadline = Date.now() + 5000;
    while ((await client.get(task.id)).status !== 'running' && Date.now() < deadline) await sleep(10);
    await client.cancel(task.id);
    const cancelled = await client.result(task.id, { timeoutMs: 5000 });
    assert.equal(cancelled.status, 'cancelled');

    const retried = await client.retry(task.id);
    assert.ok(retried.status === 'queued' || retried.status === 'running', retried.status);
    await client.cancel(task.id);
  });

  it('throws TaskhubHttpError with the problem details', async () => {
    await assert.rejects(client.get('no-such-task'), (error: unknown) => {
      assert.ok(error instanceof TaskhubHttpError);
      assert.equal(error.status, 404);
      assert.ok(error.title.length > 0);
      assert.match(error.detail, /no-such-task/);
      return true;
    });
    await assert.rejects(client.submit('echo', null, { priority: 1.5 }), (error: unknown) => {
      assert.ok(error instanceof TaskhubHttpError);
      assert.equal(error.status, 400);
      assert.match(error.detail, /priority/);
      return true;
    });
    const done = await client.submit('echo', 1);
    await client.result(done.id, { timeoutMs: 5000 });
    await assert.rejects(client.cancel(done.id), (error: unknown) => error instanceof TaskhubHttpError && error.status === 409);
    await assert.rejects(collect(client.follow('no-such-task')), (error: unknown) => error instanceof TaskhubHttpError && error.status === 404);
  });

  it('lists the history with events(id, after)', async () => {
    const task = await client.submit('chatty', { chunks: 4, delayMs: 1 });
    await client.result(task.id, { timeoutMs: 5000 });
    const all = await client.events(task.id);
    assert.deepEqual(all, await hub.events(task.id));
    const tail = await client.events(task.id, 3);
    assert.deepEqual(tail.map((e) => e.seq), all.filter((e) => e.seq > 3).map((e) => e.seq));
  });

  it('follows a task live over SSE to its terminal event', async () => {
    const task = await client.submit('chatty', { chunks: 30, delayMs: 5 });
    const events = await collect(client.follow(task.id));
    await assertWholeHistory(hub, task.id, events);
    assert.equal(events.filter((e) => e.kind === 'output').length, 30);
    assert.equal(events.at(-1)?.kind, 'completed');

    // A failing task ends the follow too, with `failed`.
    const failing = await client.submit('chatty', { chunks: 2, fail: true });
    const failedEvents = await collect(client.follow(failing.id));
    assert.equal(failedEvents.at(-1)?.kind, 'failed');
  });

  it('resumes after afterSeq, and returns at once when that is past the end', async () => {
    const task = await client.submit('chatty', { chunks: 8, delayMs: 2 });
    const events = await collect(client.follow(task.id, { afterSeq: 3 }));
    assert.equal(events[0].seq, 4);
    await assertWholeHistory(hub, task.id, events, 3);
    const none = await collect(client.follow(task.id, { afterSeq: events.at(-1)!.seq }));
    assert.deepEqual(none, []);
  });

  it('stops quietly when the signal aborts or the loop breaks', async () => {
    const task = await client.submit('sleepy', { ms: 10_000 });
    const abort = new AbortController();
    const events = await collect(client.follow(task.id, { signal: abort.signal }), () => abort.abort());
    assert.equal(events.length, 1);
    for await (const event of client.follow(task.id)) {
      assert.equal(event.seq, 1);
      break;
    }
    await client.cancel(task.id);
  });

  describe('through a proxy that drops connections', () => {
    let proxy: TestProxy;
    before(async () => {
      proxy = await startProxy(baseUrl);
    });
    after(async () => {
      await proxy?.close();
    });

    it('reconnects with Last-Event-ID and yields every event exactly once, in order', async () => {
      const viaProxy = new TaskhubClient({ url: proxy.url, reconnectDelayMs: 20 });
      const task = await viaProxy.submit('chatty', { chunks: 40, delayMs: 10 });
      let drops = 0;
      const events = await collect(viaProxy.follow(task.id), (_event, n) => {
        // Cut the connection a few times while the task is running.
        if (n === 5 || n === 15 || n === 30) drops += proxy.dropStreams();
      });
      await assertWholeHistory(hub, task.id, events);
      assert.equal(drops, 3, 'three live connections were cut');
      const streamRequests = proxy.requests.filter((r) => r.url.includes(`/tasks/${task.id}/stream`));
      assert.ok(streamRequests.length >= 4, `${streamRequests.length} stream requests`);
      assert.equal(streamRequests[0].headers['last-event-id'], undefined);
      for (const r of streamRequests.slice(1)) assert.match(String(r.headers['last-event-id']), /^[1-9][0-9]*$/);
    });

    it('survives the server side going away before it answers', async () => {
      // Drops on a timer, regardless of where the stream is: before headers, mid-event, between events.
      const viaProxy = new TaskhubClient({ url: proxy.url, reconnectDelayMs: 5 });
      const task = await viaProxy.submit('chatty', { chunks: 30, delayMs: 8 });
      let drops = 0;
      const timer = setInterval(() => (drops += proxy.dropStreams()), 37);
      try {
        const events = await collect(viaProxy.follow(task.id));
        await assertWholeHistory(hub, task.id, events);
        assert.ok(drops >= 2, `${drops} connections cut`);
      } finally {
        clearInterval(timer);
      }
    });
  });

  it('reconnects when a stream body breaks in the middle of an event', async () => {
    // Each stream response delivers a few hundred bytes (one or two frames), then errors: every connection ends
    // inside a frame, at a different offset each time, sometimes inside a multi-byte character.
    let streamCalls = 0;
    const cutting: typeof fetch = async (input, init) => {
      const res = await fetch(input, init);
      if (!String(input).includes('/stream') || !res.body) return res;
      streamCalls++;
      const limit = 400 + ((streamCalls * 37) % 90);
      const reader = res.body.getReader();
      let sent = 0;
      const body = new ReadableStream<Uint8Array>({
        async pull(controller) {
          const { done, value } = await reader.read();
          if (done) return controller.close();
          const room = limit - sent;
          if (value.byteLength >= room) {
            controller.enqueue(value.subarray(0, room));
            controller.error(new TypeError('terminated (test cut)'));
            await reader.cancel();
            return;
          }
          sent += value.byteLength;
          controller.enqueue(value);
        },
        cancel: (reason) => reader.cancel(reason),
      });
      return new Response(body, { status: res.status, headers: res.headers });
    };
    const cut = new TaskhubClient({ url: baseUrl, fetch: cutting, reconnectDelayMs: 1 });
    const task = await cut.submit('chatty', { chunks: 20, delayMs: 3 });
    const events = await collect(cut.follow(task.id));
    await assertWholeHistory(hub, task.id, events);
    assert.ok(streamCalls > 5, `${streamCalls} connections`);
  });

  it('falls back to polling /events when the stream answers 404', async () => {
    const seen: string[] = [];
    const noStream: typeof fetch = async (input, init) => {
      const url = String(input);
      seen.push(new URL(url).pathname);
      if (url.includes('/stream')) {
        return new Response(JSON.stringify({ type: 'about:blank', title: 'Not Found', status: 404, detail: 'no SSE here' }), {
          status: 404,
          headers: { 'content-type': 'application/problem+json' },
        });
      }
      return fetch(input, init);
    };
    const polling = new TaskhubClient({ url: baseUrl, fetch: noStream, pollIntervalMs: 10 });
    const task = await polling.submit('chatty', { chunks: 25, delayMs: 4 });
    const events = await collect(polling.follow(task.id));
    await assertWholeHistory(hub, task.id, events);
    assert.equal(seen.filter((p) => p.endsWith('/stream')).length, 1, 'tried the stream once');
    assert.ok(seen.filter((p) => p.endsWith('/events')).length > 2, 'then polled');
  });

  it('falls back to polling when the answer is not an event stream', async () => {
    for (const fake of [
      () => new Response(null, { status: 200, headers: { 'content-type': 'text/event-stream' } }), // no body
      () => new Response('<html>buffered by a proxy</html>', { status: 200, headers: { 'content-type': 'text/html' } }),
    ]) {
      const wrapped: typeof fetch = async (input, init) => (String(input).includes('/stream') ? fake() : fetch(input, init));
      const polling = new TaskhubClient({ url: baseUrl, fetch: wrapped, pollIntervalMs: 10 });
      const task = await polling.submit('chatty', { chunks: 6, delayMs: 3 });
      await assertWholeHistory(hub, task.id, await collect(polling.follow(task.id)));
    }
  });

  it('sends the token as a Bearer header, and in no URL unless asked to', async () => {
    const seen: Array<{ url: string; auth: string | null }> = [];
    const recording: typeof fetch = async (input, init) => {
      seen.push({ url: String(input), auth: new Headers(init?.headers).get('authorization') });
      return fetch(input, init);
    };
    const withToken = new TaskhubClient({ url: `${baseUrl}/`, token: 'sekret', fetch: recording });
    const task = await withToken.submit('echo', null);
    await collect(withToken.follow(task.id));
    assert.ok(seen.length >= 2);
    for (const s of seen) assert.equal(s.auth, 'Bearer sekret');
    assert.ok(!seen.some((s) => s.url.includes('access_token')), 'no URL carries the token');
    const inUrl = new TaskhubClient({ url: baseUrl, token: 'sekret', fetch: recording, tokenInStreamUrl: true });
    seen.length = 0;
    await collect(inUrl.follow(task.id));
    const stream = seen.find((s) => s.url.includes('/stream'));
    assert.equal(new URL(stream!.url).searchParams.get('access_token'), 'sekret');
  });

  it('serves a self-contained browser module that works the same', async () => {
    const source = await clientModuleSource();
    assert.doesNotMatch(source, /from\s+['"]/, 'no imports left');
    assert.doesNotMatch(source, /['"]node:/, 'no node: modules');
    const mod = (await import(`data:text/javascript;base64,${Buffer.from(source).toString('base64')}`)) as typeof import('../src/client/index.ts');
    assert.deepEqual(Object.keys(mod).sort(), ['SseParser', 'TaskhubClient', 'TaskhubClientError', 'TaskhubHttpError', 'TaskhubNetworkError', 'TaskhubSingletonConflictError', 'TaskhubTimeoutError', 'readSse']);
    const bundled = new mod.TaskhubClient({ url: baseUrl, reconnectDelayMs: 20 });
    const task = await bundled.submit('chatty', { chunks: 5, delayMs: 2 });
    await assertWholeHistory(hub, task.id, await collect(bundled.follow(task.id)));
    assert.equal((await bundled.result(task.id, { timeoutMs: 5000 })).status, 'completed');
    await assert.rejects(bundled.get('nope'), (error: unknown) => error instanceof mod.TaskhubHttpError && error.status === 404);
    assert.equal(await clientModuleSource(), source, 'built once, then cached');
  });
});
