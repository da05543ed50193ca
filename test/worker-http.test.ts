// The worker protocol over real HTTP against a real SQLite file: the long-poll claim (wakes at once, times out empty,
// ends when the client goes away or the server closes), leases and stale tokens, cancel through heartbeats, progress
// and output seen live by an SSE follower, failure semantics, the workers list, validation and scopes.
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { Ajv, type ValidateFunction } from 'ajv';
import pino from 'pino';
import { type Task, type TaskEvent, Taskhub } from '../src/index.ts';
import type { Scope } from '../src/server/principal.ts';
import { createServer } from '../src/server/server.ts';
import { HttpWorkerBackend } from '../src/worker/http-backend.ts';
import { Worker } from '../src/worker/worker.ts';
import { openTestHub, waitUntil } from './helpers/hub.ts';
import { sleep, sseFrames, startServer, type TestServer } from './helpers/server.ts';

interface ClaimAnswer {
  claims: { task: Task; attemptToken: string; leaseExpiresAt: number }[];
}

interface Problem {
  status: number;
  code?: string;
  field?: string;
  detail: string;
}

let schemas: Ajv | undefined;

async function loadSchemas(s: TestServer): Promise<void> {
  const doc = (await (await s.request('GET', '/openapi.json')).json()) as { components: object };
  schemas = new Ajv({ strict: false, allowUnionTypes: true });
  schemas.addSchema({ $id: 'openapi', components: doc.components });
}

const json = async <T>(res: Response, status: number, schema?: string): Promise<T> => {
  const text = await res.text();
  assert.equal(res.status, status, text);
  const body = JSON.parse(text) as T;
  if (schema && schemas) {
    const validate = schemas.getSchema(`openapi#/components/schemas/${schema}`) as ValidateFunction;
    assert.ok(validate, `schema ${schema} is published`);
    assert.ok(validate(body), `${schema}: ${schemas.errorsText(validate.errors)} in ${text}`);
  }
  return body;
};

const problem = async (res: Response, status: number, code: string, field?: string): Promise<Problem> => {
  assert.equal(res.headers.get('content-type'), 'application/problem+json; charset=utf-8');
  const body = await json<Problem>(res, status, 'Problem');
  assert.equal(body.code, code, body.detail);
  if (field !== undefined) assert.equal(body.field, field, body.detail);
  return body;
};

describe('worker protocol over HTTP', () => {
  let s: TestServer;
  const claim = (body: Record<string, unknown>, signal?: AbortSignal) =>
    fetch(`${s.base}/api/v1/worker/claim`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ workerId: 'test-worker', ...body }),
      ...(signal ? { signal } : {}),
    });
  const claimOne = async (type: string, waitMs = 2000) => {
    const answer = await json<ClaimAnswer>(await claim({ types: [type], waitMs }), 200, 'ClaimResponse');
    assert.equal(answer.claims.length, 1, `a ${type} task was claimed`);
    return answer.claims[0] as ClaimAnswer['claims'][number];
  };
  const submit = async (type: string, extra: Record<string, unknown> = {}) =>
    json<Task>(await s.request('POST', '/api/v1/tasks', { type, ...extra }), 202, 'Task');
  const call = (id: string, action: string, body: Record<string, unknown>) => s.request('POST', `/api/v1/worker/tasks/${id}/${action}`, body);

  before(async () => {
    // Short leases so expiry is quick; no in-process handlers: every task here is run by hand over HTTP.
    s = await startServer({ autoStart: false, leaseMs: 400, sweepIntervalMs: 50 });
    await loadSchemas(s);
  });
  after(() => s.close());

  describe('POST /api/v1/worker/claim', () => {
    it('long-polls and answers as soon as a task is submitted by another request', async () => {
      const started = performance.now();
      const pending = claim({ types: ['wake'], waitMs: 10_000 });
      await sleep(200);
      const task = await submit('wake', { payload: { n: 1 } });
      const answer = await json<ClaimAnswer>(await pending, 200, 'ClaimResponse');
      const elapsed = performance.now() - started;
      assert.equal(answer.claims.length, 1);
      const [claimed] = answer.claims;
      assert.equal(claimed?.task.id, task.id);
      assert.equal(claimed?.task.status, 'running');
      assert.equal(claimed?.task.attempts, 1);
      assert.deepEqual(claimed?.task.payload, { n: 1 });
      assert.ok(claimed && claimed.leaseExpiresAt > Date.now() - 1000);
      assert.ok(elapsed < 1200, `woke at once, not on a poll: ${elapsed.toFixed(0)} ms`);
    });

    it('wakes at once for a task submitted by another process sharing the store', async () => {
      // A second Taskhub on the same SQLite file stands in for another API node: its submit reaches this server only
      // through the store's notices, not through this process's memory.
      const other = await Taskhub.open({ store: `sqlite:${s.hub.dbPath}`, logger: pino({ level: 'silent' }), autoStart: false });
      try {
        const pending = claim({ types: ['elsewhere'], waitMs: 10_000 });
        await sleep(200);
        const started = performance.now();
        const task = await other.enqueue('elsewhere', { from: 'another node' });
        const answer = await json<ClaimAnswer>(await pending, 200, 'ClaimResponse');
        const elapsed = performance.now() - started;
        assert.equal(answer.claims[0]?.task.id, task.id);
        assert.ok(elapsed < 1000, `woke on the store notice: ${elapsed.toFixed(0)} ms`);
        await call(task.id, 'complete', { attemptToken: answer.claims[0]?.attemptToken });
      } finally {
        await other.close();
      }
    });

    it('answers an empty list after waitMs when nothing comes', async () => {
      const started = performance.now();
      const answer = await json<ClaimAnswer>(await claim({ types: ['nothing'], waitMs: 300 }), 200, 'ClaimResponse');
      const elapsed = performance.now() - started;
      assert.deepEqual(answer.claims, []);
      assert.ok(elapsed >= 280 && elapsed < 2000, `waited about 300 ms: ${elapsed.toFixed(0)}`);
      const now = await json<ClaimAnswer>(await claim({ types: ['nothing'] }), 200);
      assert.deepEqual(now.claims, [], 'waitMs 0 answers at once');
    });

    it('takes up to max tasks, only of its types and queues, and ignores tasks of other queues', async () => {
      const mine = [await submit('multi', { queue: 'q1' }), await submit('multi', { queue: 'q1' }), await submit('multi', { queue: 'q1' })];
      const other = await submit('multi', { queue: 'q2' });
      const answer = await json<ClaimAnswer>(await claim({ types: ['multi'], queues: ['q1'], max: 2 }), 200, 'ClaimResponse');
      assert.deepEqual(answer.claims.map((c) => c.task.id), [mine[0]?.id, mine[1]?.id]);
      const rest = await json<ClaimAnswer>(await claim({ types: ['multi'], queues: ['q1'], max: 5 }), 200);
      assert.deepEqual(rest.claims.map((c) => c.task.id), [mine[2]?.id]);
      assert.equal((await s.hub.get(other.id)).status, 'queued');
      for (const c of [...answer.claims, ...rest.claims]) await call(c.task.id, 'complete', { attemptToken: c.attemptToken });
      await json(await claim({ types: ['multi'], max: 1 }), 200);
    });

    it('ends early when the client goes away, and claims nothing for it', async () => {
      const abort = new AbortController();
      const pending = claim({ types: ['dropped'], waitMs: 20_000 }, abort.signal).catch((error: unknown) => error);
      await sleep(150);
      abort.abort();
      assert.ok((await pending) instanceof Error);
      await sleep(100);
      const task = await submit('dropped');
      await sleep(300);
      assert.equal((await s.hub.get(task.id)).status, 'queued', 'the abandoned long-poll did not take it');
      const taken = await claimOne('dropped');
      await call(task.id, 'complete', { attemptToken: taken.attemptToken });
    });

    it('a long-poll its client cuts after the worker unregistered lists the worker no more', async () => {
      // The poll was on its way when the worker unregistered (so the unregister could not end it), and the worker cut
      // it after waiting 2 s for it to end: the poll's end must not count as a claim, or the worker is listed again.
      assert.equal((await s.request('POST', '/api/v1/worker/unregister', { workerId: 'departed-worker' })).status, 204);
      const abort = new AbortController();
      const pending = claim({ workerId: 'departed-worker', types: ['departed'], waitMs: 10_000 }, abort.signal).catch((error: unknown) => error);
      await sleep(2300);
      abort.abort();
      assert.ok((await pending) instanceof Error);
      await sleep(200);
      assert.deepEqual((await s.hub.workers()).filter((w) => w.id === 'departed-worker'), []);
    });

    it("ends a worker's long-polls with an answer when it unregisters, and only that worker's", async () => {
      // A stopping worker unregisters first, so that it never has to cut a poll whose answer may carry a claim.
      const started = performance.now();
      const stopping = claim({ workerId: 'stopping-worker', types: ['unregistering'], waitMs: 10_000 });
      const staying = claim({ workerId: 'staying-worker', types: ['unregistering-other'], waitMs: 1000 });
      await sleep(150);
      assert.equal((await s.request('POST', '/api/v1/worker/unregister', { workerId: 'stopping-worker' })).status, 204);
      const answer = await json<ClaimAnswer>(await stopping, 200, 'ClaimResponse');
      assert.deepEqual(answer.claims, []);
      assert.ok(performance.now() - started < 1000, `ended by the unregister: ${(performance.now() - started).toFixed(0)} ms`);
      const task = await submit('unregistering');
      assert.deepEqual((await json<ClaimAnswer>(await staying, 200)).claims, []);
      assert.ok(performance.now() - started >= 950, `the other worker's poll ran its full wait: ${(performance.now() - started).toFixed(0)} ms`);
      assert.equal((await s.hub.get(task.id)).status, 'queued', 'the ended poll claimed nothing after it');
      await s.hub.cancel(task.id);
    });

    it('gives back at once a claim that lands as its client goes away, never leaving it to lease expiry', async () => {
      // The client drops its long-poll just as a submit wakes it, a few hundred microseconds either side: whichever
      // comes first, the task must end up queued again by a release (or never claimed), not held until its lease ends.
      const tasks: Task[] = [];
      for (let i = 0; i < 40; i++) {
        const abort = new AbortController();
        let answered = false;
        const pending = claim({ types: ['raced'], waitMs: 20_000 }, abort.signal).then(
          (res) => {
            answered = true;
            return res;
          },
          () => null,
        );
        await sleep(30);
        const submitted = submit('raced');
        await new Promise((resolve) => setTimeout(resolve, i % 4));
        // As HttpWorkerBackend does: a request is cut only until its answer starts; an answer is read and used.
        if (!answered) abort.abort();
        tasks.push(await submitted);
        const res = await pending;
        const claims = res ? ((await res.json()) as ClaimAnswer).claims : [];
        for (const c of claims) await call(c.task.id, 'release', { attemptToken: c.attemptToken });
      }
      await sleep(600); // past the 400 ms lease: a claim lost with its response would have expired by now
      for (const task of tasks) {
        const events = await s.hub.events(task.id);
        const codes = events.filter((e) => e.kind === 'retrying').map((e) => (e.data as { error: { code: string } }).error.code);
        assert.ok(!codes.includes('LEASE_EXPIRED'), `task ${task.id}: ${JSON.stringify(events)}`);
        assert.equal((await s.hub.get(task.id)).status, 'queued');
      }
      for (const task of tasks) await s.hub.cancel(task.id);
    });

    it('wakes when a delayed task comes due', async () => {
      const task = await submit('later', { delayMs: 300 });
      const started = performance.now();
      const claimed = await claimOne('later', 5000);
      assert.equal(claimed.task.id, task.id);
      const elapsed = performance.now() - started;
      assert.ok(elapsed >= 200 && elapsed < 1500, `claimed when due: ${elapsed.toFixed(0)} ms`);
      await call(task.id, 'complete', { attemptToken: claimed.attemptToken });
    });

    it('refuses bad input with 400 naming the field', async () => {
      await problem(await claim({ types: [] }), 400, 'VALIDATION', 'types');
      await problem(await s.request('POST', '/api/v1/worker/claim', { types: ['x'] }), 400, 'VALIDATION', 'workerId');
      await problem(await claim({ types: ['x'], waitMs: 30_001 }), 400, 'VALIDATION', 'waitMs');
      await problem(await claim({ types: ['x'], max: 0 }), 400, 'VALIDATION', 'max');
      await problem(await claim({ types: ['x'], max: '2' }), 400, 'VALIDATION', 'max');
      await problem(await claim({ types: ['ok', 'bad type!'] }), 400, 'VALIDATION', 'types[1]');
      await problem(await claim({ types: ['x'], queues: ['no spaces'] }), 400, 'VALIDATION', 'queues[0]');
      await problem(await claim({ types: ['x'], wait: 10 }), 400, 'VALIDATION', 'wait');
    });
  });

  describe('attempts: heartbeat, progress, output, complete, fail, release', () => {
    it('streams progress, output and completion to an SSE follower', async () => {
      const task = await submit('streamed', { payload: { city: 'Shanghai' } });
      const stream = await fetch(`${s.base}/api/v1/tasks/${task.id}/stream`);
      assert.equal(stream.status, 200);
      const seen: TaskEvent[] = [];
      const reading = (async () => {
        for await (const frame of sseFrames(stream.body as ReadableStream<Uint8Array>)) {
          if ('comment' in frame) continue;
          seen.push(JSON.parse(frame.data) as TaskEvent);
        }
      })();
      const claimed = await claimOne('streamed');
      const token = claimed.attemptToken;
      const progress = await json<TaskEvent>(
        await call(task.id, 'progress', { attemptToken: token, percent: 40, message: 'calling the model', phase: 'generate', data: { tokens: 12 } }),
        200,
        'TaskEvent',
      );
      assert.equal(progress.kind, 'progress');
      const output = await json<TaskEvent>(await call(task.id, 'output', { attemptToken: token, chunk: 'Day 1: the Bund' }), 200, 'TaskEvent');
      assert.equal(output.kind, 'output');
      const lease = await json<{ leaseExpiresAt: number; cancelRequested: boolean }>(
        await call(task.id, 'heartbeat', { attemptToken: token }),
        200,
        'LeaseState',
      );
      assert.equal(lease.cancelRequested, false);
      assert.ok(lease.leaseExpiresAt >= claimed.leaseExpiresAt);
      const finished = await json<{ status: string }>(await call(task.id, 'complete', { attemptToken: token, result: { planId: 42 } }), 200, 'FinishedTask');
      assert.equal(finished.status, 'completed');
      await reading;
      assert.deepEqual(seen.map((e) => e.kind), ['created', 'started', 'progress', 'output', 'completed']);
      assert.deepEqual(seen[2]?.data, { percent: 40, message: 'calling the model', phase: 'generate', data: { tokens: 12 } });
      assert.deepEqual(seen[3]?.data, { chunk: 'Day 1: the Bund' });
      const done = await s.hub.get(task.id);
      assert.deepEqual(done.result, { planId: 42 });
      assert.deepEqual(done.progress, { percent: 40, message: 'calling the model', phase: 'generate', data: { tokens: 12 } });
    });

    it('answers 409 to a stale token after lease expiry and re-claim, and changes nothing', async () => {
      const task = await submit('slow', { backoff: { type: 'fixed', delayMs: 0, jitter: 0 } });
      const first = await claimOne('slow');
      // No heartbeat: the lease (400 ms) expires, the sweeper puts the task back, another worker claims it.
      await waitUntil(async () => (await s.hub.get(task.id)).status === 'queued', 5000, 'lease expiry');
      const second = await claimOne('slow');
      assert.notEqual(second.attemptToken, first.attemptToken);
      assert.equal(second.task.attempts, 2);
      const before = await s.hub.get(task.id);
      const stale = { attemptToken: first.attemptToken };
      await problem(await call(task.id, 'heartbeat', stale), 409, 'STALE_ATTEMPT');
      await problem(await call(task.id, 'progress', { ...stale, percent: 99 }), 409, 'STALE_ATTEMPT');
      await problem(await call(task.id, 'output', { ...stale, chunk: 'late' }), 409, 'STALE_ATTEMPT');
      await problem(await call(task.id, 'complete', { ...stale, result: 'overwritten' }), 409, 'STALE_ATTEMPT');
      await problem(await call(task.id, 'fail', { ...stale, error: { message: 'late failure' } }), 409, 'STALE_ATTEMPT');
      await problem(await call(task.id, 'release', stale), 409, 'STALE_ATTEMPT');
      const afterStale = await s.hub.get(task.id);
      assert.equal(afterStale.status, 'running');
      assert.equal(afterStale.lastEventSeq, before.lastEventSeq, 'no event was appended');
      assert.deepEqual(afterStale.progress, before.progress);
      // The current attempt is unaffected.
      await json(await call(task.id, 'complete', { attemptToken: second.attemptToken, result: 'second' }), 200);
      assert.equal((await s.hub.get(task.id)).result, 'second');
      await problem(await call(task.id, 'complete', { attemptToken: second.attemptToken }), 409, 'STALE_ATTEMPT');
    });

    it('answers 409 to an unknown token and to an unknown task', async () => {
      const task = await submit('unknown-token');
      const claimed = await claimOne('unknown-token');
      await problem(await call(task.id, 'heartbeat', { attemptToken: 'not-a-token' }), 409, 'STALE_ATTEMPT');
      await problem(await call(task.id, 'complete', { attemptToken: 'not-a-token' }), 409, 'STALE_ATTEMPT');
      const missing = '01a20645-0000-7000-8000-000000000000';
      for (const [action, body] of [
        ['heartbeat', {}],
        ['progress', { percent: 1 }],
        ['output', { chunk: 'x' }],
        ['complete', {}],
        ['fail', { error: { message: 'x' } }],
        ['release', {}],
      ] as const) {
        await problem(await call(missing, action, { attemptToken: 'whatever', ...body }), 409, 'STALE_ATTEMPT');
      }
      assert.equal((await s.hub.get(task.id)).status, 'running');
      await call(task.id, 'complete', { attemptToken: claimed.attemptToken });
    });

    it('shows a cancel request in the heartbeat answer; failing then ends the task cancelled', async () => {
      const task = await submit('cancellable');
      const claimed = await claimOne('cancellable');
      const cancel = await s.request('POST', `/api/v1/tasks/${task.id}/cancel`, { reason: 'user gave up' });
      assert.equal(cancel.status, 202);
      const lease = await json<{ cancelRequested: boolean }>(await call(task.id, 'heartbeat', { attemptToken: claimed.attemptToken }), 200, 'LeaseState');
      assert.equal(lease.cancelRequested, true);
      const finished = await json<{ status: string }>(
        await call(task.id, 'fail', { attemptToken: claimed.attemptToken, error: { message: 'stopped on request', code: 'CANCELLED', retryable: false } }),
        200,
        'FinishedTask',
      );
      assert.equal(finished.status, 'cancelled');
      const events = (await s.hub.events(task.id)).map((e) => e.kind);
      assert.equal(events.at(-1), 'cancelled');
    });

    it('retries a retryable failure and dead-letters a non-retryable one', async () => {
      const task = await submit('flaky', { maxAttempts: 3, backoff: { type: 'fixed', delayMs: 0, jitter: 0 } });
      const first = await claimOne('flaky');
      const retried = await json<{ status: string }>(
        await call(task.id, 'fail', { attemptToken: first.attemptToken, error: { message: 'model timed out', code: 'UPSTREAM' } }),
        200,
        'FinishedTask',
      );
      assert.ok(['queued', 'scheduled'].includes(retried.status), retried.status);
      const second = await claimOne('flaky');
      assert.equal(second.task.attempts, 2);
      assert.deepEqual(second.task.error, { message: 'model timed out', code: 'UPSTREAM', retryable: true });
      const failed = await json<{ status: string }>(
        await call(task.id, 'fail', { attemptToken: second.attemptToken, error: { message: 'bad input', retryable: false } }),
        200,
      );
      assert.equal(failed.status, 'failed');
      assert.deepEqual((await s.hub.get(task.id)).error, { message: 'bad input', retryable: false });
    });

    it('releases a task back to its queue without counting the attempt', async () => {
      const task = await submit('released');
      const first = await claimOne('released');
      const released = await json<{ status: string; attempts: number }>(
        await call(task.id, 'release', { attemptToken: first.attemptToken, reason: 'worker shutting down' }),
        200,
        'FinishedTask',
      );
      assert.equal(released.status, 'queued');
      assert.equal(released.attempts, 0);
      const again = await claimOne('released');
      assert.equal(again.task.attempts, 1);
      await call(task.id, 'complete', { attemptToken: again.attemptToken });
    });

    it('refuses bad input with 400 naming the field, and changes nothing', async () => {
      const task = await submit('strict');
      const { attemptToken } = await claimOne('strict');
      const seq = (await s.hub.get(task.id)).lastEventSeq;
      await problem(await call(task.id, 'progress', { attemptToken, percent: 101 }), 400, 'VALIDATION', 'percent');
      await problem(await call(task.id, 'progress', { attemptToken, percent: '50' }), 400, 'VALIDATION', 'percent');
      await problem(await call(task.id, 'progress', { attemptToken }), 400, 'VALIDATION', 'percent');
      await problem(await call(task.id, 'progress', { attemptToken, percent: 5, colour: 'red' }), 400, 'VALIDATION', 'colour');
      await problem(await call(task.id, 'output', { attemptToken, chunk: 42 }), 400, 'VALIDATION', 'chunk');
      await problem(await call(task.id, 'fail', { attemptToken }), 400, 'VALIDATION', 'error');
      await problem(await call(task.id, 'fail', { attemptToken, error: { code: 'X' } }), 400, 'VALIDATION', 'error.message');
      await problem(await call(task.id, 'fail', { attemptToken, error: { message: 'x', retryable: 'no' } }), 400, 'VALIDATION', 'error.retryable');
      await problem(await call(task.id, 'heartbeat', {}), 400, 'VALIDATION', 'attemptToken');
      await problem(await call(task.id, 'complete', { attemptToken: 7 }), 400, 'VALIDATION', 'attemptToken');
      await problem(await s.request('POST', `/api/v1/worker/tasks/${task.id}/complete`, '{"attemptToken":'), 400, 'MALFORMED_JSON');
      const after = await s.hub.get(task.id);
      assert.equal(after.status, 'running');
      assert.equal(after.lastEventSeq, seq);
      await call(task.id, 'complete', { attemptToken });
    });
  });

  describe('workers list', () => {
    it('lists remote workers that register, with local ones, and drops one that unregisters', async () => {
      const registration = {
        workerId: 'py-worker-1',
        host: 'gpu-box',
        pid: 4242,
        types: ['summarize', 'translate'],
        queues: ['ai'],
        concurrency: 4,
        running: 1,
      };
      const info = await json<{ id: string; lastSeenAt: number }>(await s.request('POST', '/api/v1/worker/register', registration), 200, 'WorkerInfo');
      assert.equal(info.id, 'py-worker-1');
      s.hub.handle('local-type', () => null).start();
      await waitUntil(async () => (await s.hub.workers()).some((w) => w.id === s.hub.worker.id), 5000, 'the local worker reported');
      const list = await json<{ workers: { id: string; host: string | null; pid: number | null; types: string[]; queues: string[] | null; concurrency: number; running: number }[] }>(
        await s.request('GET', '/api/v1/workers'),
        200,
        'WorkerList',
      );
      const remote = list.workers.find((w) => w.id === 'py-worker-1');
      assert.deepEqual(
        remote && { host: remote.host, pid: remote.pid, types: remote.types, queues: remote.queues, concurrency: remote.concurrency, running: remote.running },
        { host: 'gpu-box', pid: 4242, types: ['summarize', 'translate'], queues: ['ai'], concurrency: 4, running: 1 },
      );
      const local = list.workers.find((w) => w.id === s.hub.worker.id);
      assert.deepEqual(local?.types, ['local-type']);
      const bare = await json<{ host: string | null; pid: number | null; queues: string[] | null; concurrency: number }>(
        await s.request('POST', '/api/v1/worker/register', { workerId: 'curl-worker', types: ['x'] }),
        200,
      );
      assert.deepEqual(bare, { ...bare, host: null, pid: null, queues: null, concurrency: 1 });
      assert.equal((await s.request('POST', '/api/v1/worker/unregister', { workerId: 'py-worker-1' })).status, 204);
      const after = await json<{ workers: { id: string }[] }>(await s.request('GET', '/api/v1/workers'), 200);
      assert.ok(!after.workers.some((w) => w.id === 'py-worker-1'));
      assert.ok(after.workers.some((w) => w.id === 'curl-worker'));
      await s.hub.worker.stop(100);
    });

    it('refuses a bad registration with 400 naming the field', async () => {
      await problem(await s.request('POST', '/api/v1/worker/register', { workerId: 'w', types: [] }), 400, 'VALIDATION', 'types');
      await problem(await s.request('POST', '/api/v1/worker/register', { workerId: 'w', types: ['a'], pid: -1 }), 400, 'VALIDATION', 'pid');
      await problem(await s.request('POST', '/api/v1/worker/register', { workerId: 'bad id!', types: ['a'] }), 400, 'VALIDATION', 'workerId');
      await problem(await s.request('POST', '/api/v1/worker/unregister', {}), 400, 'VALIDATION', 'workerId');
    });
  });

  it('documents every worker route in /openapi.json', async () => {
    const doc = (await (await s.request('GET', '/openapi.json')).json()) as { paths: Record<string, Record<string, unknown>> };
    for (const path of ['claim', 'register', 'unregister']) assert.ok(doc.paths[`/api/v1/worker/${path}`]?.post, path);
    for (const action of ['heartbeat', 'progress', 'output', 'complete', 'fail', 'release']) {
      assert.ok(doc.paths[`/api/v1/worker/tasks/{id}/${action}`]?.post, action);
    }
    assert.ok(doc.paths['/api/v1/workers']?.get);
  });
});

describe('worker protocol: server shutdown and scopes', () => {
  it('ends a pending long-poll promptly when the server closes', async () => {
    const s = await startServer({ autoStart: false });
    try {
      const pending = fetch(`${s.base}/api/v1/worker/claim`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ workerId: 'w', types: ['never'], waitMs: 30_000 }),
      });
      await sleep(150);
      const started = performance.now();
      await s.app.close();
      const res = await pending;
      assert.equal(res.status, 200);
      assert.deepEqual(((await res.json()) as ClaimAnswer).claims, []);
      assert.ok(performance.now() - started < 2000, 'closed without waiting for the long-poll');
    } finally {
      await s.hub.dispose();
    }
  });

  it('requires the worker scope for the protocol and admin for the workers list', async () => {
    const hub = await openTestHub({ autoStart: false });
    const app = await createServer({ hub, logger: false });
    // Stands in for token resolution: the scopes come from a test header.
    app.addHook('onRequest', async (request) => {
      const scopes = request.headers['x-test-scopes'];
      if (typeof scopes === 'string') request.principal = { owner: 'tenant-a', admin: false, scopes: scopes.split(',').filter(Boolean) as Scope[] };
    });
    await app.listen({ port: 0, host: '127.0.0.1' });
    const base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
    const post = (path: string, body: unknown, scopes: string) =>
      fetch(base + path, { method: 'POST', headers: { 'content-type': 'application/json', 'x-test-scopes': scopes }, body: JSON.stringify(body) });
    try {
      const task = await hub.enqueue('scoped');
      for (const scopes of ['', 'tasks:read,tasks:write']) {
        await problem(await post('/api/v1/worker/claim', { workerId: 'w', types: ['scoped'] }, scopes), 403, 'FORBIDDEN');
        await problem(await post(`/api/v1/worker/tasks/${task.id}/heartbeat`, { attemptToken: 'x' }, scopes), 403, 'FORBIDDEN');
        await problem(await post('/api/v1/worker/register', { workerId: 'w', types: ['scoped'] }, scopes), 403, 'FORBIDDEN');
        await problem(await post('/api/v1/worker/events', { events: [{ taskId: task.id, attemptToken: 'x', chunk: 'c' }] }, scopes), 403, 'FORBIDDEN');
      }
      assert.equal((await hub.get(task.id)).status, 'queued', 'a refused claim took nothing');
      const answer = await json<ClaimAnswer>(await post('/api/v1/worker/claim', { workerId: 'w', types: ['scoped'] }, 'worker'), 200);
      assert.equal(answer.claims[0]?.task.id, task.id);
      const token = answer.claims[0]?.attemptToken;
      await json(await post(`/api/v1/worker/tasks/${task.id}/complete`, { attemptToken: token }, 'worker'), 200);
      const list = await fetch(`${base}/api/v1/workers`, { headers: { 'x-test-scopes': 'worker' } });
      await problem(list, 403, 'FORBIDDEN');
    } finally {
      await app.close();
      await hub.dispose();
    }
  });
});

describe('HttpWorkerBackend (the Worker runtime over HTTP, in process)', () => {
  it('long-polls for every handled type at once and runs whichever arrives without delay', async () => {
    const s = await startServer({ autoStart: false });
    const worker = new Worker(new HttpWorkerBackend({ url: s.base }), { pollIntervalMs: 10_000, heartbeatIntervalMs: 100 });
    try {
      worker.handle('alpha', async (payload: { n: number }) => ({ alpha: payload.n }), { concurrency: 2 });
      worker.handle('beta', async (payload: { n: number }, ctx) => {
        await ctx.progress(50, 'half');
        await ctx.output('b');
        return { beta: payload.n };
      });
      worker.start();
      await waitUntil(async () => (await s.hub.workers()).some((w) => w.id === worker.id), 5000, 'the worker registered');
      await sleep(300); // both claims came back empty: the worker is in its long-poll
      for (const [type, n] of [['beta', 1], ['alpha', 2], ['beta', 3]] as const) {
        const submitted = performance.now();
        const task = await s.hub.enqueue(type, { n });
        const done = await s.hub.wait(task.id, 5000);
        assert.equal(done.status, 'completed');
        assert.deepEqual(done.result, { [type]: n });
        assert.ok(performance.now() - submitted < 1000, `${type} ran at once: ${(performance.now() - submitted).toFixed(0)} ms`);
        await sleep(100);
      }
      const beta = (await s.hub.list({ type: 'beta' })).tasks[0];
      assert.deepEqual((await s.hub.events(beta?.id ?? '')).map((e) => e.kind), ['created', 'started', 'progress', 'output', 'completed']);
    } finally {
      await worker.stop(200);
      await s.close();
    }
    assert.equal(worker.running, false);
  });

  it('a wake-up during a long-poll whose answer is on its way keeps the claim it brings', async () => {
    const s = await startServer({ autoStart: false, leaseMs: 5000 });
    // Answers reach the client 200 ms late: the wake-up below lands while the claim's answer is in flight.
    const slow: typeof fetch = async (input, init) => {
      const response = await fetch(input, init);
      await sleep(200);
      return response;
    };
    const backend = new HttpWorkerBackend({ url: s.base, fetch: slow });
    try {
      const request = { workerId: 'late-reader', types: ['late'], max: 1 };
      assert.deepEqual(await backend.claim(request), []);
      const wake = new AbortController();
      const waiting = backend.waitForWork(backend.readyVersion, null, 5000, wake.signal);
      await sleep(100);
      const task = await s.hub.enqueue('late', {});
      await waitUntil(async () => (await s.hub.get(task.id)).status === 'running', 2000, 'the long-poll claimed the task');
      wake.abort();
      await waiting;
      await waitUntil(() => backend.readyVersion > 0, 2000, 'the long-poll answer was read');
      const [claim] = await backend.claim(request);
      assert.equal(claim?.task.id, task.id, 'the next claim hands out the task the long-poll brought');
      await backend.complete({ taskId: task.id, attemptToken: claim.attemptToken }, null);
      assert.equal((await s.hub.get(task.id)).status, 'completed');
    } finally {
      await backend.forgetWorker('late-reader');
      await s.close();
    }
  });
  it('a stopped worker sends no report after its unregister, even with one in flight as it stops', async () => {
    // A report every few ms is always on its way as the worker stops. One that reached the server after the unregister
    // would list the worker again until it went stale (15 s); the server ignores such a report for 2 s
    // (workers-seen.test.ts), and the worker does not send one: it waits for its report before it unregisters.
    const hub = await openTestHub({ autoStart: false });
    const app = await createServer({ hub, logger: false });
    const seen: string[] = [];
    app.addHook('preHandler', async (request) => {
      const workerId = (request.body as { workerId?: unknown } | undefined)?.workerId;
      if (request.url.endsWith('/worker/register') || request.url.endsWith('/worker/unregister')) seen.push(`${request.url.split('/').pop()} ${workerId}`);
    });
    await app.listen({ port: 0, host: '127.0.0.1' });
    const base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
    try {
      for (let round = 0; round < 15; round++) {
        const worker = new Worker(new HttpWorkerBackend({ url: base }), { reportIntervalMs: 2, heartbeatIntervalMs: 100 });
        worker.handle('alpha', async () => 'ok');
        worker.start();
        await waitUntil(async () => (await hub.workers()).some((w) => w.id === worker.id), 5000, 'the worker registered');
        await sleep(round % 5);
        await worker.stop(200);
        await sleep(50);
        const own = seen.filter((line) => line.endsWith(` ${worker.id}`));
        assert.equal(own.at(-1), `unregister ${worker.id}`, `round ${round}: ${own.slice(-3).join(', ')}`);
        assert.deepEqual((await hub.workers()).filter((w) => w.id === worker.id), [], `round ${round}: still listed after stop`);
      }
    } finally {
      await app.close();
      await hub.dispose();
    }
  });
});
