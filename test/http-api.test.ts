// The REST API over real HTTP against a real SQLite file: every endpoint, every error answer, and the answers
// checked against the schemas /openapi.json publishes.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Ajv, type ValidateFunction } from 'ajv';
import type { Task, TaskEvent } from '../src/index.ts';
import { TaskSpec } from '../src/server/schemas/tasks.ts';
import { openStore } from '../src/store/open.ts';
import { tempDir, waitUntil } from './helpers/hub.ts';
import { gate, startServer, type TestServer } from './helpers/server.ts';

interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  instance?: string;
  code?: string;
  field?: string;
}

const PROBLEM_JSON = 'application/problem+json; charset=utf-8';

/** The schemas of /openapi.json, once the first suite has read it. */
let schemas: Ajv | undefined;

/** Asserts the answer matches the named schema of /openapi.json. */
const conforms = (name: string, value: unknown) => {
  if (!schemas) return;
  const validate = schemas.getSchema(`openapi#/components/schemas/${name}`) as ValidateFunction;
  assert.ok(validate, `schema ${name} is published`);
  assert.ok(validate(value), `${name}: ${schemas.errorsText(validate.errors)} in ${JSON.stringify(value)}`);
};

const json = async <T>(res: Response, status: number, schema?: string): Promise<T> => {
  const text = await res.text();
  assert.equal(res.status, status, text);
  const body = JSON.parse(text) as T;
  if (schema) conforms(schema, body);
  return body;
};

/** A problem answer: status, content type, the schema, and the code and field it names. */
const problem = async (res: Response, status: number, code: string, field?: string): Promise<Problem> => {
  assert.equal(res.headers.get('content-type'), PROBLEM_JSON);
  const body = await json<Problem>(res, status, 'Problem');
  assert.equal(body.status, status);
  assert.equal(body.code, code, body.detail);
  assert.ok(body.detail.length > 10, `a useful detail: ${body.detail}`);
  assert.ok(body.type.startsWith('urn:taskhub:problem:'));
  if (field !== undefined) {
    assert.equal(body.field, field, body.detail);
    assert.ok(body.detail.includes(field), `detail names ${field}: ${body.detail}`);
  }
  return body;
};

describe('HTTP API', () => {
  let s: TestServer;
  let release = gate();

  const countTasks = async () => (await s.hub.list({ limit: 1000 })).tasks.length;

  /** The request is refused with this problem and nothing is stored. */
  const refused = async (send: () => Promise<Response>, status: number, code: string, field?: string) => {
    const before = await countTasks();
    const body = await problem(await send(), status, code, field);
    assert.equal(await countTasks(), before, 'a refused request stores nothing');
    return body;
  };

  const submit = async (body: unknown, headers?: Record<string, string>) =>
    json<Task>(await s.request('POST', '/api/v1/tasks', body, headers), 202, 'Task');

  const waitForStatus = (id: string, status: string) =>
    waitUntil(async () => (await s.hub.get(id)).status === status, 5000, `task ${id} ${status}`);

  before(async () => {
    s = await startServer({ worker: { pollIntervalMs: 50 } });
    s.hub.handle('echo', (payload) => ({ echoed: payload }));
    s.hub.handle('gated', async () => {
      await release.promise;
      return 'released';
    });
    s.hub.handle('fail', () => {
      throw new Error('always fails');
    });
    s.hub.handle('hang', (_payload, ctx) => new Promise((resolve) => ctx.signal.addEventListener('abort', resolve)));
    const doc = await json<{ components: object }>(await s.request('GET', '/openapi.json'), 200);
    schemas = new Ajv({ strict: false, allowUnionTypes: true });
    schemas.addSchema({ $id: 'openapi', components: doc.components });
  });

  after(async () => {
    release.open();
    await s.close();
  });

  describe('POST /api/v1/tasks', () => {
    it('answers 202 with the task and its Location', async () => {
      const res = await s.request('POST', '/api/v1/tasks', {
        type: 'echo',
        payload: { city: 'Shanghai' },
        queue: 'submits',
        priority: 5,
        maxAttempts: 2,
        backoff: { type: 'fixed', delayMs: 10 },
        timeoutMs: 5000,
        tags: { team: 'travel' },
      });
      const task = await json<Task>(res, 202, 'Task');
      assert.equal(res.headers.get('location'), `/api/v1/tasks/${task.id}`);
      assert.deepEqual(
        { type: task.type, payload: task.payload, queue: task.queue, priority: task.priority, maxAttempts: task.maxAttempts },
        { type: 'echo', payload: { city: 'Shanghai' }, queue: 'submits', priority: 5, maxAttempts: 2 },
      );
      assert.deepEqual(task.backoff, { type: 'fixed', delayMs: 10, maxDelayMs: 3_600_000, jitter: 0.2 });
      assert.deepEqual(task.tags, { team: 'travel' });
      assert.equal(task.owner, null);
      const fetched = await json<Task>(await fetch(s.base + res.headers.get('location')), 200, 'Task');
      assert.equal(fetched.id, task.id);
    });

    it('replays an Idempotency-Key (header or body) with 200 and the same task', async () => {
      const first = await s.request('POST', '/api/v1/tasks', { type: 'echo', payload: 1 }, { 'idempotency-key': 'order-17' });
      const created = await json<Task>(first, 202, 'Task');
      assert.equal(created.idempotencyKey, 'order-17');
      const again = await s.request('POST', '/api/v1/tasks', { type: 'echo', payload: 1 }, { 'idempotency-key': 'order-17' });
      const replayed = await json<Task>(again, 200, 'Task');
      assert.equal(replayed.id, created.id);
      assert.equal(again.headers.get('location'), `/api/v1/tasks/${created.id}`);
      const viaBody = await s.request('POST', '/api/v1/tasks', { type: 'echo', payload: 1, idempotencyKey: 'order-17' });
      assert.equal((await json<Task>(viaBody, 200)).id, created.id);

      const bodyFirst = await submit({ type: 'echo', idempotencyKey: 'order-18' });
      const bodyAgain = await s.request('POST', '/api/v1/tasks', { type: 'echo' }, { 'idempotency-key': 'order-18' });
      assert.equal((await json<Task>(bodyAgain, 200)).id, bodyFirst.id);

      await refused(
        () => s.request('POST', '/api/v1/tasks', { type: 'echo', idempotencyKey: 'a' }, { 'idempotency-key': 'b' }),
        400,
        'VALIDATION',
        'idempotencyKey',
      );
    });

    it('takes runAt as epoch ms or ISO 8601, and delayMs', async () => {
      const at = Date.now() + 3_600_000;
      const byMs = await submit({ type: 'echo', runAt: at });
      assert.equal(byMs.status, 'scheduled');
      assert.equal(byMs.runAt, at);
      const byIso = await submit({ type: 'echo', runAt: new Date(at).toISOString() });
      assert.equal(byIso.runAt, at);
      const delayed = await submit({ type: 'echo', delayMs: 60_000 });
      assert.equal(delayed.status, 'scheduled');
      await refused(() => s.request('POST', '/api/v1/tasks', { type: 'echo', runAt: 'next tuesday' }), 400, 'VALIDATION', 'runAt');
      await refused(
        () => s.request('POST', '/api/v1/tasks', { type: 'echo', runAt: at, delayMs: 5 }),
        400,
        'VALIDATION',
        'delayMs',
      );
      for (const task of [byMs, byIso, delayed]) await s.request('POST', `/api/v1/tasks/${task.id}/cancel`);
    });

    it('carries a W3C traceparent header into the task, and ignores a malformed one', async () => {
      const traceparent = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
      assert.equal((await submit({ type: 'echo' }, { traceparent })).traceparent, traceparent);
      assert.equal((await submit({ type: 'echo' }, { traceparent: 'garbage' })).traceparent, null);
    });

    it('refuses malformed JSON with 400 and what is wrong with it', async () => {
      const body = await refused(() => s.request('POST', '/api/v1/tasks', '{"type": "echo",'), 400, 'MALFORMED_JSON');
      assert.match(body.detail, /not valid JSON/);
      assert.equal(body.instance, '/api/v1/tasks');
      await refused(() => s.request('POST', '/api/v1/tasks', '{"__proto__": {"x": 1}, "type": "echo"}'), 400, 'MALFORMED_JSON');
    });

    it('refuses a wrong type with 400 naming the field (no coercion)', async () => {
      await refused(() => s.request('POST', '/api/v1/tasks', { type: 'echo', priority: '5' }), 400, 'VALIDATION', 'priority');
      await refused(() => s.request('POST', '/api/v1/tasks', { type: 42 }), 400, 'VALIDATION', 'type');
      await refused(() => s.request('POST', '/api/v1/tasks', { type: 'echo', tags: { a: 1 } }), 400, 'VALIDATION', 'tags.a');
      await refused(() => s.request('POST', '/api/v1/tasks', { type: 'echo', priority: 1.5 }), 400, 'VALIDATION', 'priority');
      const notObject = await refused(() => s.request('POST', '/api/v1/tasks', [{ type: 'echo' }]), 400, 'VALIDATION');
      assert.match(notObject.detail, /JSON object/);
    });

    it('refuses an unknown field with 400 naming it, also nested', async () => {
      await refused(() => s.request('POST', '/api/v1/tasks', { type: 'echo', prority: 5 }), 400, 'VALIDATION', 'prority');
      await refused(
        () => s.request('POST', '/api/v1/tasks', { type: 'echo', backoff: { delay: 5 } }),
        400,
        'VALIDATION',
        'backoff.delay',
      );
      // Fields the server decides (owner comes from the caller's credentials) are not accepted from the body.
      await refused(() => s.request('POST', '/api/v1/tasks', { type: 'echo', owner: 'someone' }), 400, 'VALIDATION', 'owner');
    });

    it('refuses what the task model forbids with 400 naming the field', async () => {
      await refused(() => s.request('POST', '/api/v1/tasks', {}), 400, 'VALIDATION', 'type');
      await refused(() => s.request('POST', '/api/v1/tasks', { type: 'no spaces' }), 400, 'VALIDATION', 'type');
      await refused(() => s.request('POST', '/api/v1/tasks', { type: 'echo', maxAttempts: 0 }), 400, 'VALIDATION', 'maxAttempts');
      await refused(
        () => s.request('POST', '/api/v1/tasks', { type: 'echo', priority: 10_000_000 }),
        400,
        'VALIDATION',
        'priority',
      );
      await refused(() => s.request('POST', '/api/v1/tasks'), 400, 'VALIDATION');
      await refused(() => s.request('POST', '/api/v1/tasks', ''), 400, 'VALIDATION');
    });

    it('refuses a body over the size limit with 413', async () => {
      const body = await refused(
        () => s.request('POST', '/api/v1/tasks', { type: 'echo', payload: 'x'.repeat(1024 * 1024) }),
        413,
        'PAYLOAD_TOO_LARGE',
      );
      assert.match(body.detail, /1048576 bytes/);
    });

    it('refuses a body that is not JSON with 415', async () => {
      const res = await fetch(`${s.base}/api/v1/tasks`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'type=echo' });
      await problem(res, 415, 'UNSUPPORTED_MEDIA_TYPE');
    });
  });

  describe('POST /api/v1/tasks/batch', () => {
    it('creates every task, in order', async () => {
      const res = await s.request('POST', '/api/v1/tasks/batch', {
        tasks: [{ type: 'echo', payload: 'a', queue: 'batch' }, { type: 'echo', payload: 'b', queue: 'batch', priority: 2 }],
      });
      const { tasks } = await json<{ tasks: Task[] }>(res, 202, 'BatchResponse');
      assert.deepEqual(tasks.map((t) => t.payload), ['a', 'b']);
      assert.equal(tasks[1].priority, 2);
    });

    it('is all or nothing: one bad task stores none, and the answer names it', async () => {
      await refused(
        () => s.request('POST', '/api/v1/tasks/batch', { tasks: [{ type: 'echo' }, { type: 'echo', maxAttempts: 0 }] }),
        400,
        'VALIDATION',
        'tasks[1].maxAttempts',
      );
      await refused(
        () => s.request('POST', '/api/v1/tasks/batch', { tasks: [{ type: 'echo' }, { type: 'echo' }, { type: 'echo', extra: 1 }] }),
        400,
        'VALIDATION',
        'tasks[2].extra',
      );
      await refused(
        () => s.request('POST', '/api/v1/tasks/batch', { tasks: [{ type: 'echo', runAt: 'soon' }] }),
        400,
        'VALIDATION',
        'tasks[0].runAt',
      );
      await refused(() => s.request('POST', '/api/v1/tasks/batch', { tasks: 'all' }), 400, 'VALIDATION', 'tasks');
      await refused(
        () => s.request('POST', '/api/v1/tasks/batch', { tasks: [] }, { 'idempotency-key': 'k' }),
        400,
        'VALIDATION',
        'Idempotency-Key',
      );
    });

    it('answers 200 when every task replays an idempotency key', async () => {
      const tasks = [{ type: 'echo', idempotencyKey: 'batch-1' }, { type: 'echo', idempotencyKey: 'batch-2' }];
      const first = await json<{ tasks: Task[] }>(await s.request('POST', '/api/v1/tasks/batch', { tasks }), 202);
      const again = await json<{ tasks: Task[] }>(await s.request('POST', '/api/v1/tasks/batch', { tasks }), 200);
      assert.deepEqual(again.tasks.map((t) => t.id), first.tasks.map((t) => t.id));
    });
  });

  describe('reading tasks', () => {
    it('GET /api/v1/tasks/:id answers 404 for an unknown task', async () => {
      const body = await problem(await s.request('GET', '/api/v1/tasks/01900000-0000-7000-8000-000000000000'), 404, 'NOT_FOUND');
      assert.match(body.detail, /does not exist/);
      for (const path of ['result', 'events', 'stream']) {
        await problem(await s.request('GET', `/api/v1/tasks/nope/${path}`), 404, 'NOT_FOUND');
      }
      for (const path of ['cancel', 'retry']) {
        await problem(await s.request('POST', `/api/v1/tasks/nope/${path}`), 404, 'NOT_FOUND');
      }
      await problem(await s.request('GET', '/api/v1/nothing-here'), 404, 'NOT_FOUND');
    });

    it('GET /result waits until the task finishes', async () => {
      release = gate();
      const task = await submit({ type: 'gated' });
      await waitForStatus(task.id, 'running');
      const t0 = Date.now();
      setTimeout(() => release.open(), 200);
      const res = await s.request('GET', `/api/v1/tasks/${task.id}/result?wait=10`);
      const body = await json<{ status: string; result: unknown }>(res, 200, 'TaskResult');
      const took = Date.now() - t0;
      assert.deepEqual(body, { status: 'completed', result: 'released', error: null });
      assert.ok(took >= 150 && took < 3000, `answered ${took} ms after the request, right when the task finished`);
    });

    it('GET /result answers 202 when the wait runs out, at once without wait, and 200 with the error of a failed task', async () => {
      release = gate();
      const task = await submit({ type: 'gated' });
      await waitForStatus(task.id, 'running');
      const t0 = Date.now();
      const timedOut = await json<{ status: string }>(await s.request('GET', `/api/v1/tasks/${task.id}/result?wait=0.3`), 202, 'TaskResult');
      const took = Date.now() - t0;
      assert.deepEqual(timedOut, { status: 'running', result: null, error: null });
      assert.ok(took >= 280 && took < 2000, `waited ${took} ms`);
      const t1 = Date.now();
      await json(await s.request('GET', `/api/v1/tasks/${task.id}/result`), 202);
      assert.ok(Date.now() - t1 < 500, 'no wait without ?wait');
      await problem(await s.request('GET', `/api/v1/tasks/${task.id}/result?wait=-1`), 400, 'VALIDATION', 'wait');
      release.open();

      const failing = await submit({ type: 'fail', maxAttempts: 1 });
      // Any wait above the cap is accepted and capped.
      const failed = await json<{ status: string; error: { message: string } }>(
        await s.request('GET', `/api/v1/tasks/${failing.id}/result?wait=3600`),
        200,
        'TaskResult',
      );
      assert.equal(failed.status, 'failed');
      assert.equal(failed.error.message, 'always fails');
    });

    it('GET /events pages through the history', async () => {
      const task = await submit({ type: 'echo', payload: 'history' });
      await waitForStatus(task.id, 'completed');
      const all = await json<{ events: TaskEvent[] }>(await s.request('GET', `/api/v1/tasks/${task.id}/events`), 200, 'EventList');
      assert.deepEqual(all.events.map((e) => e.kind), ['created', 'started', 'completed']);
      const tail = await json<{ events: TaskEvent[] }>(
        await s.request('GET', `/api/v1/tasks/${task.id}/events?after=1&limit=1`),
        200,
        'EventList',
      );
      assert.deepEqual(tail.events.map((e) => e.seq), [2]);
      await problem(await s.request('GET', `/api/v1/tasks/${task.id}/events?after=x`), 400, 'VALIDATION', 'after');
      await problem(await s.request('GET', `/api/v1/tasks/${task.id}/events?limit=0`), 400, 'VALIDATION', 'limit');
    });

    it('GET /api/v1/tasks lists newest first, with filters and cursor paging', async () => {
      const created: Task[] = [];
      for (let i = 0; i < 7; i++) created.push(await submit({ type: 'echo', queue: 'paging', tags: { n: String(i % 2) }, delayMs: 60_000 }));
      const seen: string[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const query: string = `queue=paging&limit=3${cursor ? `&cursor=${cursor}` : ''}`;
        const page: { tasks: Task[]; nextCursor: string | null } = await json(await s.request('GET', `/api/v1/tasks?${query}`), 200, 'TaskList');
        assert.ok(page.tasks.length <= 3);
        seen.push(...page.tasks.map((t) => t.id));
        cursor = page.nextCursor;
        pages++;
      } while (cursor);
      assert.equal(pages, 3);
      assert.deepEqual(seen, created.map((t) => t.id).reverse(), 'newest first, each once');

      const tagged = await json<{ tasks: Task[] }>(await s.request('GET', '/api/v1/tasks?queue=paging&tag=n:1'), 200);
      assert.deepEqual(tagged.tasks.map((t) => t.id), [created[5].id, created[3].id, created[1].id]);
      const scheduled = await json<{ tasks: Task[] }>(await s.request('GET', '/api/v1/tasks?queue=paging&status=scheduled&type=echo'), 200);
      assert.equal(scheduled.tasks.length, 7);
      const none = await json<{ tasks: Task[] }>(await s.request('GET', '/api/v1/tasks?queue=paging&status=running'), 200);
      assert.equal(none.tasks.length, 0);

      await problem(await s.request('GET', '/api/v1/tasks?status=done'), 400, 'VALIDATION', 'status');
      await problem(await s.request('GET', '/api/v1/tasks?limit=5000'), 400, 'VALIDATION', 'limit');
      await problem(await s.request('GET', '/api/v1/tasks?tag=novalue'), 400, 'VALIDATION', 'tag');
      await problem(await s.request('GET', '/api/v1/tasks?qeue=paging'), 400, 'VALIDATION', 'qeue');
      for (const task of created) await s.request('POST', `/api/v1/tasks/${task.id}/cancel`);
    });
  });

  describe('cancel and retry', () => {
    it('cancels a queued task at once (200) and records the reason', async () => {
      const task = await submit({ type: 'echo', delayMs: 60_000 });
      const res = await s.request('POST', `/api/v1/tasks/${task.id}/cancel`, { reason: 'changed my mind' });
      const cancelled = await json<Task>(res, 200, 'Task');
      assert.equal(cancelled.status, 'cancelled');
      assert.equal(cancelled.error?.message, 'changed my mind');
    });

    it('asks a running task to stop (202); it ends cancelled', async () => {
      const task = await submit({ type: 'hang' });
      await waitForStatus(task.id, 'running');
      // A bodiless POST with a JSON content type, as many clients send it.
      const res = await fetch(`${s.base}/api/v1/tasks/${task.id}/cancel`, { method: 'POST', headers: { 'content-type': 'application/json' } });
      const asked = await json<Task>(res, 202, 'Task');
      assert.equal(asked.cancelRequested, true);
      await waitForStatus(task.id, 'cancelled');
    });

    it('refuses to cancel a finished task with 409', async () => {
      const task = await submit({ type: 'echo' });
      await waitForStatus(task.id, 'completed');
      const body = await problem(await s.request('POST', `/api/v1/tasks/${task.id}/cancel`), 409, 'INVALID_STATE');
      assert.match(body.detail, /completed/);
      assert.equal((await s.hub.get(task.id)).status, 'completed', 'unchanged');
      await problem(await s.request('POST', `/api/v1/tasks/${task.id}/cancel`, { reason: 5 }), 400, 'VALIDATION', 'reason');
    });

    it('retries a failed task, and refuses to retry one that has not failed with 409', async () => {
      const task = await submit({ type: 'fail', maxAttempts: 1 });
      await waitForStatus(task.id, 'failed');
      const retried = await json<Task>(await s.request('POST', `/api/v1/tasks/${task.id}/retry`), 200, 'Task');
      assert.ok(['queued', 'running'].includes(retried.status), retried.status);
      assert.equal(retried.error, null);
      await waitForStatus(task.id, 'failed');

      const pending = await submit({ type: 'echo', delayMs: 60_000 });
      const body = await problem(await s.request('POST', `/api/v1/tasks/${pending.id}/retry`), 409, 'INVALID_STATE');
      assert.match(body.detail, /scheduled/);
      await s.request('POST', `/api/v1/tasks/${pending.id}/cancel`);
    });
  });

  describe('queues, health, documentation', () => {
    it('GET /api/v1/queues and /queues/:name count tasks by status', async () => {
      await submit({ type: 'echo', queue: 'counted', delayMs: 60_000 });
      await submit({ type: 'echo', queue: 'counted', delayMs: 60_000 });
      const { queues } = await json<{ queues: { queue: string; counts: Record<string, number> }[] }>(
        await s.request('GET', '/api/v1/queues'),
        200,
        'QueueList',
      );
      assert.equal(queues.find((q) => q.queue === 'counted')?.counts.scheduled, 2);
      const one = await json<{ counts: Record<string, number> }>(await s.request('GET', '/api/v1/queues/counted'), 200, 'QueueCounts');
      assert.deepEqual(one.counts, { scheduled: 2, queued: 0, running: 0, waiting: 0, completed: 0, failed: 0, cancelled: 0 });
      const empty = await json<{ counts: Record<string, number> }>(await s.request('GET', '/api/v1/queues/never-used'), 200, 'QueueCounts');
      assert.equal(empty.counts.queued, 0);
    });

    it('GET /healthz and /readyz', async () => {
      assert.deepEqual(await json(await s.request('GET', '/healthz'), 200, 'HealthStatus'), { status: 'ok' });
      assert.deepEqual(await json(await s.request('GET', '/readyz'), 200, 'HealthStatus'), { status: 'ready' });
    });

    it('GET /openapi.json publishes the schemas the routes validate with', async () => {
      const doc = await json<{
        openapi: string;
        paths: Record<string, Record<string, { requestBody?: { content: Record<string, { schema: unknown }> } }>>;
        components: { schemas: Record<string, unknown> };
      }>(await s.request('GET', '/openapi.json'), 200);
      assert.equal(doc.openapi, '3.1.0');
      const operations = Object.entries(doc.paths).flatMap(([path, methods]) => Object.keys(methods).map((m) => `${m.toUpperCase()} ${path}`));
      for (const expected of [
        'POST /api/v1/tasks', 'POST /api/v1/tasks/batch', 'GET /api/v1/tasks', 'GET /api/v1/tasks/{id}',
        'GET /api/v1/tasks/{id}/result', 'GET /api/v1/tasks/{id}/events', 'GET /api/v1/tasks/{id}/stream',
        'POST /api/v1/tasks/{id}/cancel', 'POST /api/v1/tasks/{id}/retry', 'GET /api/v1/queues',
        'GET /api/v1/queues/{name}', 'GET /api/v1/ws', 'GET /healthz', 'GET /readyz',
      ]) {
        assert.ok(operations.includes(expected), `${expected} is documented`);
      }
      assert.deepEqual(doc.paths['/api/v1/tasks'].post.requestBody?.content['application/json'].schema, {
        $ref: '#/components/schemas/TaskSpec',
      });
      // The published TaskSpec is the validation schema itself (its backoff as a reference).
      const published = doc.components.schemas.TaskSpec as { properties: Record<string, unknown> };
      assert.deepEqual(Object.keys(published.properties), Object.keys(TaskSpec.properties));
      assert.deepEqual(published.properties.backoff, { $ref: '#/components/schemas/BackoffInput' });
      assert.deepEqual(published.properties.priority, TaskSpec.properties.priority);
    });

    it('GET /docs is a self-contained page', async () => {
      const res = await s.request('GET', '/docs');
      assert.equal(res.status, 200);
      assert.match(res.headers.get('content-type') ?? '', /^text\/html/);
      const html = await res.text();
      assert.match(html, /openapi\.json/);
      assert.doesNotMatch(html, /(src|href)="https?:/, 'nothing loaded from elsewhere');
    });
  });
});

describe('HTTP API when the store is unavailable', () => {
  it('answers 503 on /readyz and on requests, and recovers nothing it cannot reach', async () => {
    const tmp = tempDir();
    const store = await openStore(`sqlite:${join(tmp.dir, 'taskhub.db')}`);
    const s = await startServer({ store });
    try {
      const task = await json(await s.request('POST', '/api/v1/tasks', { type: 'echo', delayMs: 60_000 }), 202);
      await store.close();
      const ready = await s.request('GET', '/readyz');
      assert.equal(ready.status, 503);
      assert.equal(ready.headers.get('content-type'), PROBLEM_JSON);
      assert.equal(((await ready.json()) as Problem).code, 'STORE_UNAVAILABLE');
      for (const res of [
        await s.request('GET', `/api/v1/tasks/${(task as Task).id}`),
        await s.request('POST', '/api/v1/tasks', { type: 'echo' }),
        await s.request('GET', '/api/v1/queues'),
      ]) {
        assert.equal(res.status, 503);
        assert.equal(((await res.json()) as Problem).code, 'STORE_UNAVAILABLE');
      }
      assert.equal((await s.request('GET', '/healthz')).status, 200, 'the process itself is alive');
    } finally {
      await s.close();
      tmp.remove();
    }
  });
});

describe('HTTP API options', () => {
  it('applies bodyLimitBytes', async () => {
    const s = await startServer({}, { bodyLimitBytes: 200 });
    try {
      const res = await s.request('POST', '/api/v1/tasks', { type: 'echo', payload: 'x'.repeat(300) });
      assert.equal(res.status, 413);
      assert.match(((await res.json()) as Problem).detail, /200 bytes/);
      assert.equal((await s.request('POST', '/api/v1/tasks', { type: 'echo', delayMs: 1000 })).status, 202);
    } finally {
      await s.close();
    }
  });

  it('allows CORS for the configured origins only', async () => {
    const s = await startServer({}, { corsOrigins: ['http://app.example'] });
    try {
      const preflight = await fetch(`${s.base}/api/v1/tasks`, {
        method: 'OPTIONS',
        headers: { origin: 'http://app.example', 'access-control-request-method': 'POST' },
      });
      assert.equal(preflight.status, 204);
      assert.equal(preflight.headers.get('access-control-allow-origin'), 'http://app.example');
      assert.match(preflight.headers.get('access-control-allow-headers') ?? '', /Idempotency-Key/);
      const allowed = await fetch(`${s.base}/healthz`, { headers: { origin: 'http://app.example' } });
      assert.equal(allowed.headers.get('access-control-allow-origin'), 'http://app.example');
      const other = await fetch(`${s.base}/healthz`, { headers: { origin: 'http://evil.example' } });
      assert.equal(other.headers.get('access-control-allow-origin'), null);
    } finally {
      await s.close();
    }
    const closed = await startServer();
    try {
      const res = await fetch(`${closed.base}/healthz`, { headers: { origin: 'http://app.example' } });
      assert.equal(res.headers.get('access-control-allow-origin'), null, 'no CORS by default');
    } finally {
      await closed.close();
    }
  });
});
