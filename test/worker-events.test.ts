// Progress and output in batches over the worker protocol (POST /worker/events, routes/worker-events.ts) against a real
// server on a real SQLite file: per-entry results in order, each attempt's events stored in the order sent, stale
// attempts refused alone, malformed batches refused whole; and the HttpWorkerBackend sending its handlers' output in
// batches (worker/event-batches.ts), or one request each to a server without the route.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Task, TaskEvent } from '../src/index.ts';
import { HttpWorkerBackend } from '../src/worker/http-backend.ts';
import { Worker } from '../src/worker/worker.ts';
import { startServer, type TestServer } from './helpers/server.ts';

interface Claimed {
  task: Task;
  attemptToken: string;
}
interface Problem {
  status: number;
  code?: string;
  field?: string;
  detail: string;
}
interface EventsAnswer {
  results: Array<{ event?: TaskEvent; error?: Problem }>;
}

describe('POST /api/v1/worker/events', () => {
  let s: TestServer;
  before(async () => {
    s = await startServer({ autoStart: false });
  });
  after(() => s.close());

  const claimTwo = async (type: string): Promise<Claimed[]> => {
    await s.hub.enqueue(type, {});
    await s.hub.enqueue(type, {});
    const res = await s.request('POST', '/api/v1/worker/claim', { workerId: 'w', types: [type], max: 2 });
    const { claims } = (await res.json()) as { claims: Claimed[] };
    assert.equal(claims.length, 2);
    return claims;
  };
  const post = (events: unknown[]) => s.request('POST', '/api/v1/worker/events', { events });
  const kindsAndData = async (id: string) =>
    (await s.hub.events(id)).filter((e) => e.kind === 'output' || e.kind === 'progress').map((e) => [e.kind, e.data]);

  it("stores two attempts' interleaved output and progress, each in the order sent, and answers each entry", async () => {
    const [a, b] = await claimTwo('batched');
    const entry = (c: Claimed, body: object) => ({ taskId: c.task.id, attemptToken: c.attemptToken, ...body });
    const res = await post([
      entry(a, { chunk: 'a1' }),
      entry(b, { chunk: 'b1' }),
      entry(a, { progress: { percent: 50, message: 'half' } }),
      entry(a, { chunk: 'a2' }),
      entry(b, { chunk: 'b2' }),
    ]);
    assert.equal(res.status, 200);
    const { results } = (await res.json()) as EventsAnswer;
    assert.deepEqual(results.map((r) => [r.event?.taskId, r.event?.kind]), [
      [a.task.id, 'output'], [b.task.id, 'output'], [a.task.id, 'progress'], [a.task.id, 'output'], [b.task.id, 'output'],
    ]);
    const seqsOfA = [results[0], results[2], results[3]].map((r) => r.event?.seq ?? 0);
    assert.deepEqual(seqsOfA, [...seqsOfA].sort((x, y) => x - y), "a's events take seqs in the order sent");
    assert.deepEqual(await kindsAndData(a.task.id), [
      ['output', { chunk: 'a1' }], ['progress', { percent: 50, message: 'half' }], ['output', { chunk: 'a2' }],
    ]);
    assert.deepEqual(await kindsAndData(b.task.id), [['output', { chunk: 'b1' }], ['output', { chunk: 'b2' }]]);
    assert.equal((await s.hub.get(a.task.id)).progress?.percent, 50);
  });

  it('refuses the entries of an attempt that is not current with 409 STALE_ATTEMPT, and stores the others', async () => {
    const [a, b] = await claimTwo('stale-in-batch');
    await s.request('POST', `/api/v1/worker/tasks/${b.task.id}/complete`, { attemptToken: b.attemptToken, result: null });
    const res = await post([
      { taskId: a.task.id, attemptToken: a.attemptToken, chunk: 'kept' },
      { taskId: b.task.id, attemptToken: b.attemptToken, chunk: 'too late' },
      { taskId: a.task.id, attemptToken: 'not-a-token', chunk: 'forged' },
      { taskId: 'no-such-task', attemptToken: a.attemptToken, chunk: 'nowhere' },
    ]);
    assert.equal(res.status, 200);
    const { results } = (await res.json()) as EventsAnswer;
    assert.equal(results[0].event?.kind, 'output');
    for (const r of results.slice(1)) assert.equal(r.error?.code, 'STALE_ATTEMPT', JSON.stringify(r));
    assert.equal(results[1].error?.status, 409);
    assert.deepEqual(await kindsAndData(a.task.id), [['output', { chunk: 'kept' }]]);
    assert.deepEqual(await kindsAndData(b.task.id), []);
  });

  it('refuses a malformed batch whole with 400 naming the entry, and stores nothing of it', async () => {
    const [a] = await claimTwo('malformed');
    const good = { taskId: a.task.id, attemptToken: a.attemptToken, chunk: 'fine' };
    const refusals: Array<[unknown[], string]> = [
      [[good, { taskId: a.task.id, attemptToken: a.attemptToken, chunk: 'x', progress: { percent: 1 } }], 'events[1]'],
      [[good, { taskId: a.task.id, attemptToken: a.attemptToken }], 'events[1]'],
      [[good, { taskId: a.task.id, attemptToken: a.attemptToken, chunk: 'bad \u0000 byte' }], 'events[1].chunk'],
      [[good, { taskId: a.task.id, attemptToken: a.attemptToken, progress: { percent: 101 } }], 'events[1].progress.percent'],
      [[good, { taskId: a.task.id, attemptToken: a.attemptToken, chunk: 'x', extra: 1 }], 'events[1].extra'],
      [Array.from({ length: 1001 }, () => good), 'events'],
      [[], 'events'],
    ];
    for (const [events, field] of refusals) {
      const res = await post(events);
      const body = (await res.json()) as Problem;
      assert.equal(res.status, 400, JSON.stringify(body));
      assert.equal(body.code, 'VALIDATION');
      assert.equal(body.field, field, body.detail);
    }
    assert.deepEqual(await kindsAndData(a.task.id), [], 'nothing of a refused batch was stored');
  });

  it('is documented in /openapi.json', async () => {
    const doc = (await (await s.request('GET', '/openapi.json')).json()) as { paths: Record<string, Record<string, unknown>> };
    assert.ok(doc.paths['/api/v1/worker/events']?.post);
  });
});

describe('HttpWorkerBackend sends progress and output in batches', () => {
  /** Runs `tasks` tasks of `chunks` chunks through a remote Worker; counts the requests of each worker route. */
  async function stream(s: TestServer, tasks: number, chunks: number, fetchFor: (requests: Map<string, number>) => typeof fetch) {
    const requests = new Map<string, number>();
    const worker = new Worker(new HttpWorkerBackend({ url: s.base, fetch: fetchFor(requests) }), { pollIntervalMs: 200 });
    worker.handle('stream', async (payload: { i: number }, ctx) => {
      for (let c = 0; c < chunks; c++) {
        await ctx.output(`t${payload.i} c${c}`);
        if (c === chunks / 2) await ctx.progress(50);
      }
      return payload.i;
    }, { concurrency: tasks });
    const ids = (await s.hub.enqueueMany(Array.from({ length: tasks }, (_, i) => ({ type: 'stream', payload: { i } })))).map((t) => t.id);
    worker.start();
    try {
      for (const [i, id] of ids.entries()) {
        assert.equal((await s.hub.wait(id, 20_000)).status, 'completed');
        const events = await s.hub.events(id, 0, 1000);
        const expected = Array.from({ length: chunks }, (_, c) => `t${i} c${c}`);
        assert.deepEqual(events.filter((e) => e.kind === 'output').map((e) => (e.data as { chunk: string }).chunk), expected, `task ${i}'s output, in order`);
        const progressAt = events.findIndex((e) => e.kind === 'progress');
        assert.equal(events[progressAt - 1]?.data && (events[progressAt - 1].data as { chunk: string }).chunk, `t${i} c${chunks / 2}`);
      }
    } finally {
      await worker.stop(1000);
    }
    return requests;
  }
  const counting = (requests: Map<string, number>, answer?: (path: string) => Response | undefined): typeof fetch =>
    (input, init) => {
      const path = new URL(String(input)).pathname.replace(/\/tasks\/[^/]+\//, '/tasks/:id/');
      requests.set(path, (requests.get(path) ?? 0) + 1);
      return Promise.resolve(answer?.(path) ?? fetch(input, init));
    };

  it('carries the output of 20 tasks of 50 chunks in far fewer requests than chunks, each task in order', async () => {
    const s = await startServer({ autoStart: false });
    try {
      const requests = await stream(s, 20, 50, (r) => counting(r));
      const batches = requests.get('/api/v1/worker/events') ?? 0;
      assert.ok(batches > 0 && batches <= 200, `1,020 events in ${batches} requests`);
      assert.equal(requests.get('/api/v1/worker/tasks/:id/output'), undefined);
    } finally {
      await s.close();
    }
  });

  it('under a body limit lower than its batches, fails only the entry too large and stores the rest', async () => {
    const s = await startServer({ autoStart: false }, { bodyLimitBytes: 2000 });
    const worker = new Worker(new HttpWorkerBackend({ url: s.base }), { pollIntervalMs: 200 });
    worker.handle('mixed', async (payload: { big: boolean }, ctx) => {
      if (payload.big) await ctx.output('x'.repeat(3000));
      else for (let c = 0; c < 20; c++) await ctx.output(`small ${c} `.padEnd(100, '.'));
    }, { concurrency: 2 });
    const [small, big] = await s.hub.enqueueMany([{ type: 'mixed', payload: { big: false } }, { type: 'mixed', payload: { big: true }, maxAttempts: 1 }]);
    worker.start();
    try {
      assert.equal((await s.hub.wait(small.id, 10_000)).status, 'completed');
      // The handler returned before its chunk was refused: the attempt fails rather than completing without it.
      const failed = await s.hub.wait(big.id, 10_000);
      assert.equal(failed.status, 'failed');
      assert.equal(failed.error?.code, 'PAYLOAD_TOO_LARGE', failed.error?.message);
      const outputs = async (id: string) => (await s.hub.events(id, 0, 1000)).filter((e) => e.kind === 'output').map((e) => (e.data as { chunk: string }).chunk);
      assert.deepEqual(await outputs(small.id), Array.from({ length: 20 }, (_, c) => `small ${c} `.padEnd(100, '.')));
      assert.deepEqual(await outputs(big.id), []);
    } finally {
      await worker.stop(1000);
      await s.close();
    }
  });

  it('sends one request per event, still in order, to a server without /worker/events', async () => {
    const s = await startServer({ autoStart: false });
    const notFound = () =>
      new Response(JSON.stringify({ type: 'urn:taskhub:problem:not-found', title: 'Not found', status: 404, code: 'NOT_FOUND', detail: 'no route' }), {
        status: 404,
        headers: { 'content-type': 'application/problem+json; charset=utf-8' },
      });
    try {
      const requests = await stream(s, 4, 10, (r) => counting(r, (path) => (path === '/api/v1/worker/events' ? notFound() : undefined)));
      assert.equal(requests.get('/api/v1/worker/events'), 1, 'asked once, then no more');
      assert.equal(requests.get('/api/v1/worker/tasks/:id/output'), 40);
      assert.equal(requests.get('/api/v1/worker/tasks/:id/progress'), 4);
    } finally {
      await s.close();
    }
  });
});
