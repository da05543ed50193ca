// Topics, subscriptions, schedules, queue controls and task type settings over real HTTP (issue 5), with API keys:
// every endpoint, every error answer (400 naming the field, 404 for an unknown name, 401 and 403), and the answers
// checked against the schemas /openapi.json publishes.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Ajv, type ValidateFunction } from 'ajv';
import type { Task } from '../src/index.ts';
import { createApiKey } from '../src/server/auth.ts';
import { waitUntil } from './helpers/hub.ts';
import { startServer, type TestServer } from './helpers/server.ts';

interface Problem {
  status: number;
  code?: string;
  field?: string;
  detail: string;
}

type Who = 'admin' | 'tenant' | 'reader' | 'worker' | 'nobody';

describe('topics, schedules, queue controls and types over HTTP', () => {
  let s: TestServer;
  let schemas: Ajv;
  const tokens: Record<Who, string> = { admin: '', tenant: '', reader: '', worker: '', nobody: '' };

  const send = (who: Who, method: string, path: string, body?: unknown, headers: Record<string, string> = {}) =>
    s.request(method, path, body, who === 'nobody' ? headers : { authorization: `Bearer ${tokens[who]}`, ...headers });
  const admin = (method: string, path: string, body?: unknown) => send('admin', method, path, body);

  const json = async <T>(res: Response, status: number, schema?: string): Promise<T> => {
    const text = await res.text();
    assert.equal(res.status, status, text);
    const body = JSON.parse(text) as T;
    if (schema) {
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
    if (field !== undefined) {
      assert.equal(body.field, field, body.detail);
      assert.ok(body.detail.includes(field), `the detail names ${field}: ${body.detail}`);
    }
    return body;
  };

  before(async () => {
    s = await startServer({ autoStart: false }, { auth: {} });
    const store = s.hub.keys;
    tokens.admin = (await createApiKey(store, { owner: 'ops', scopes: ['admin'] })).token;
    tokens.tenant = (await createApiKey(store, { owner: 'tenant-a', scopes: ['tasks:write', 'tasks:read'] })).token;
    tokens.reader = (await createApiKey(store, { owner: 'tenant-a', scopes: ['tasks:read'] })).token;
    tokens.worker = (await createApiKey(store, { owner: 'ops', scopes: ['worker'] })).token;
    const doc = (await (await s.request('GET', '/openapi.json')).json()) as { components: object };
    schemas = new Ajv({ strict: false, allowUnionTypes: true });
    schemas.addSchema({ $id: 'openapi', components: doc.components });
  });
  after(() => s.close());

  describe('subscriptions', () => {
    it('creates (201), replaces (200), reads, lists and deletes a subscription', async () => {
      const created = await json<{ name: string; pattern: string; queue: string; type: string }>(
        await admin('PUT', '/api/v1/subscriptions/audit', { pattern: 'orders.#' }),
        201,
        'Subscription',
      );
      assert.deepEqual({ ...created, createdAt: 0, updatedAt: 0 }, { name: 'audit', pattern: 'orders.#', queue: 'default', type: 'audit', createdAt: 0, updatedAt: 0 });
      const replaced = await json<{ queue: string; type: string }>(
        await admin('PUT', '/api/v1/subscriptions/audit', { pattern: 'orders.#', queue: 'audits', type: 'audit-log' }),
        200,
        'Subscription',
      );
      assert.deepEqual([replaced.queue, replaced.type], ['audits', 'audit-log']);
      const read = await json<{ type: string }>(await admin('GET', '/api/v1/subscriptions/audit'), 200, 'Subscription');
      assert.equal(read.type, 'audit-log');
      await json(await admin('PUT', '/api/v1/subscriptions/email', { pattern: 'orders.*.created', type: 'send-email', queue: 'emails' }), 201);
      const list = await json<{ subscriptions: { name: string }[] }>(await admin('GET', '/api/v1/subscriptions'), 200, 'SubscriptionList');
      assert.deepEqual(list.subscriptions.map((x) => x.name).sort(), ['audit', 'email']);
      assert.equal((await admin('DELETE', '/api/v1/subscriptions/email')).status, 204);
      await problem(await admin('DELETE', '/api/v1/subscriptions/email'), 404, 'NOT_FOUND');
      await problem(await admin('GET', '/api/v1/subscriptions/email'), 404, 'NOT_FOUND');
    });

    it('refuses bad subscriptions with 400 naming the field, and stores nothing', async () => {
      const put = (name: string, body: unknown) => admin('PUT', `/api/v1/subscriptions/${name}`, body);
      await problem(await put('bad', { pattern: 'orders..created' }), 400, 'VALIDATION', 'pattern');
      await problem(await put('bad', { pattern: 'orders.#', queue: 'no spaces' }), 400, 'VALIDATION', 'queue');
      await problem(await put('bad', { pattern: 'orders.#', type: 'bad type!' }), 400, 'VALIDATION', 'type');
      await problem(await put('bad', {}), 400, 'VALIDATION', 'pattern');
      await problem(await put('bad', { pattern: 'a', colour: 'red' }), 400, 'VALIDATION', 'colour');
      await problem(await put('bad', { pattern: 7 }), 400, 'VALIDATION', 'pattern');
      await problem(await put('bad%20name', { pattern: 'a' }), 400, 'VALIDATION', 'name');
      await problem(await admin('GET', '/api/v1/subscriptions/bad'), 404, 'NOT_FOUND');
    });
  });

  describe('POST /api/v1/events', () => {
    it('creates one task per matching subscription, owned by the publisher, and 202 with none when nobody listens', async () => {
      await json(await admin('PUT', '/api/v1/subscriptions/billing', { pattern: 'orders.*.created', type: 'bill', queue: 'billing' }), 201);
      const res = await send('tenant', 'POST', '/api/v1/events', { topic: 'orders.eu.created', payload: { orderId: 7 } });
      const published = await json<{ topic: string; tasks: Task[] }>(res, 202, 'PublishResponse');
      assert.equal(published.topic, 'orders.eu.created');
      assert.deepEqual(published.tasks.map((t) => [t.type, t.queue, t.tags.subscription, t.owner]).sort(), [
        ['audit-log', 'audits', 'audit', 'tenant-a'],
        ['bill', 'billing', 'billing', 'tenant-a'],
      ]);
      assert.ok(published.tasks.every((t) => (t.payload as { orderId: number }).orderId === 7 && t.tags.topic === 'orders.eu.created'));
      // The tenant sees its copies.
      const own = await json<Task>(await send('tenant', 'GET', `/api/v1/tasks/${published.tasks[0]?.id}`), 200, 'Task');
      assert.equal(own.owner, 'tenant-a');

      const nobody = await json<{ tasks: Task[] }>(await send('tenant', 'POST', '/api/v1/events', { topic: 'nobody.listens' }), 202, 'PublishResponse');
      assert.deepEqual(nobody.tasks, []);
    });

    it('publishes once per idempotency key (header or body)', async () => {
      const first = await json<{ tasks: Task[] }>(
        await send('tenant', 'POST', '/api/v1/events', { topic: 'orders.us.created', payload: 1 }, { 'idempotency-key': 'evt-1' }),
        202,
      );
      assert.equal(first.tasks.length, 2);
      const again = await json<{ tasks: Task[] }>(await send('tenant', 'POST', '/api/v1/events', { topic: 'orders.us.created', payload: 1, idempotencyKey: 'evt-1' }), 202);
      assert.deepEqual(again.tasks.map((t) => t.id), first.tasks.map((t) => t.id));
      await problem(
        await send('tenant', 'POST', '/api/v1/events', { topic: 'orders.us.created', idempotencyKey: 'a' }, { 'idempotency-key': 'b' }),
        400,
        'VALIDATION',
        'idempotencyKey',
      );
    });

    it('refuses a bad event with 400 naming the field, and creates no copy at all', async () => {
      const count = async () => (await s.hub.list({ limit: 1000 })).tasks.length;
      const before = await count();
      const publish = (body: unknown) => send('tenant', 'POST', '/api/v1/events', body);
      await problem(await publish({ topic: 'orders..created' }), 400, 'VALIDATION', 'topic');
      await problem(await publish({ payload: 1 }), 400, 'VALIDATION', 'topic');
      await problem(await publish({ topic: 'a', extra: true }), 400, 'VALIDATION', 'extra');
      // One subscriber's payload schema refuses the event: neither subscriber gets a copy.
      await json(await admin('PUT', '/api/v1/types/bill', { payloadSchema: { type: 'object', required: ['amount'] } }), 201);
      const refused = await problem(await publish({ topic: 'orders.eu.created', payload: { orderId: 8 } }), 400, 'VALIDATION', 'payload.amount');
      assert.match(refused.detail, /subscription billing/);
      assert.equal(await count(), before, 'nothing was created');
      assert.equal((await admin('DELETE', '/api/v1/types/bill')).status, 204);
    });

    it('needs tasks:write', async () => {
      await problem(await send('reader', 'POST', '/api/v1/events', { topic: 'orders.eu.created' }), 403, 'FORBIDDEN');
      await problem(await send('worker', 'POST', '/api/v1/events', { topic: 'orders.eu.created' }), 403, 'FORBIDDEN');
      await problem(await send('nobody', 'POST', '/api/v1/events', { topic: 'orders.eu.created' }), 401, 'UNAUTHORIZED');
    });
  });

  describe('schedules', () => {
    const nightly = { cron: '0 3 * * *', timezone: 'Europe/Berlin', task: { type: 'report', payload: { kind: 'daily' }, queue: 'reports' } };

    it('creates (201), replaces (200), reads, lists, pauses and deletes a schedule', async () => {
      const created = await json<{ name: string; nextRunAt: number | null; timezone: string; missedPolicy: string; paused: boolean }>(
        await admin('PUT', '/api/v1/schedules/nightly', nightly),
        201,
        'Schedule',
      );
      assert.equal(created.timezone, 'Europe/Berlin');
      assert.equal(created.missedPolicy, 'skip');
      assert.ok(created.nextRunAt !== null && created.nextRunAt > Date.now());
      // 03:00 in Berlin is 01:00 or 02:00 UTC.
      assert.ok([1, 2].includes(new Date(created.nextRunAt).getUTCHours()), new Date(created.nextRunAt).toISOString());
      const paused = await json<{ nextRunAt: number | null; paused: boolean; missedPolicy: string }>(
        await admin('PUT', '/api/v1/schedules/nightly', { ...nightly, paused: true, missedPolicy: 'run-once' }),
        200,
        'Schedule',
      );
      assert.deepEqual([paused.paused, paused.nextRunAt, paused.missedPolicy], [true, null, 'run-once']);
      const read = await json<{ task: { type: string; queue: string } }>(await admin('GET', '/api/v1/schedules/nightly'), 200, 'Schedule');
      assert.deepEqual([read.task.type, read.task.queue], ['report', 'reports']);
      const list = await json<{ schedules: { name: string }[] }>(await admin('GET', '/api/v1/schedules'), 200, 'ScheduleList');
      assert.deepEqual(list.schedules.map((x) => x.name), ['nightly']);
      assert.equal((await admin('DELETE', '/api/v1/schedules/nightly')).status, 204);
      await problem(await admin('DELETE', '/api/v1/schedules/nightly'), 404, 'NOT_FOUND');
      await problem(await admin('GET', '/api/v1/schedules/nightly'), 404, 'NOT_FOUND');
    });

    it('fires a schedule created over HTTP', async () => {
      await json(await admin('PUT', '/api/v1/schedules/every-second', { cron: '* * * * * *', task: { type: 'tick', queue: 'ticks' } }), 201);
      await waitUntil(async () => (await s.hub.list({ type: 'tick' })).tasks.length > 0, 5000, 'a tick task');
      const [tick] = (await s.hub.list({ type: 'tick' })).tasks;
      assert.equal(tick?.tags.schedule, 'every-second');
      assert.equal(tick?.queue, 'ticks');
      assert.equal((await admin('DELETE', '/api/v1/schedules/every-second')).status, 204);
    });

    it('refuses bad schedules with 400 naming the field, and stores nothing', async () => {
      const put = (body: unknown) => admin('PUT', '/api/v1/schedules/bad', body);
      await problem(await put({ ...nightly, cron: 'every day at 3' }), 400, 'VALIDATION', 'cron');
      await problem(await put({ ...nightly, timezone: 'Mars/Olympus_Mons' }), 400, 'VALIDATION', 'timezone');
      await problem(await put({ cron: nightly.cron }), 400, 'VALIDATION', 'task');
      await problem(await put({ ...nightly, task: { payload: 1 } }), 400, 'VALIDATION', 'task.type');
      await problem(await put({ ...nightly, task: { type: 'bad type!' } }), 400, 'VALIDATION', 'task.type');
      await problem(await put({ ...nightly, task: { type: 'r', queue: 'bad queue' } }), 400, 'VALIDATION', 'task.queue');
      await problem(await put({ ...nightly, task: { type: 'r', maxAttempts: 0 } }), 400, 'VALIDATION', 'task.maxAttempts');
      await problem(await put({ ...nightly, missedPolicy: 'sometimes' }), 400, 'VALIDATION', 'missedPolicy');
      await problem(await put({ ...nightly, paused: 'yes' }), 400, 'VALIDATION', 'paused');
      await problem(await admin('GET', '/api/v1/schedules/bad'), 404, 'NOT_FOUND');
    });
  });

  describe('queue controls', () => {
    it('pauses and resumes a queue: no claims while paused', async () => {
      const task = await json<Task>(await send('tenant', 'POST', '/api/v1/tasks', { type: 'queued-work', queue: 'pausable' }), 202);
      const paused = await json<{ name: string; paused: boolean }>(await admin('POST', '/api/v1/queues/pausable/pause'), 200, 'QueueSettings');
      assert.deepEqual([paused.name, paused.paused], ['pausable', true]);
      const none = await json<{ claims: unknown[] }>(await send('worker', 'POST', '/api/v1/worker/claim', { workerId: 'w', types: ['queued-work'] }), 200);
      assert.deepEqual(none.claims, []);
      const resumed = await json<{ paused: boolean }>(await admin('POST', '/api/v1/queues/pausable/resume'), 200, 'QueueSettings');
      assert.equal(resumed.paused, false);
      const some = await json<{ claims: { task: Task; attemptToken: string }[] }>(
        await send('worker', 'POST', '/api/v1/worker/claim', { workerId: 'w', types: ['queued-work'] }),
        200,
      );
      assert.equal(some.claims[0]?.task.id, task.id);
    });

    it('sets and removes the concurrency cap and rate limit', async () => {
      const set = await json<{ maxConcurrency: number | null; rateLimit: { count: number; intervalMs: number } | null }>(
        await admin('PUT', '/api/v1/queues/capped/limits', { maxConcurrency: 1, rateLimit: { count: 10, intervalMs: 1000 } }),
        200,
        'QueueSettings',
      );
      assert.deepEqual([set.maxConcurrency, set.rateLimit], [1, { count: 10, intervalMs: 1000 }]);
      // The cap holds for claims over HTTP.
      await send('tenant', 'POST', '/api/v1/tasks', { type: 'capped-work', queue: 'capped' });
      await send('tenant', 'POST', '/api/v1/tasks', { type: 'capped-work', queue: 'capped' });
      const taken = await json<{ claims: unknown[] }>(await send('worker', 'POST', '/api/v1/worker/claim', { workerId: 'w', types: ['capped-work'], max: 5 }), 200);
      assert.equal(taken.claims.length, 1);
      const onlyRate = await json<{ maxConcurrency: number | null; rateLimit: unknown }>(await admin('PUT', '/api/v1/queues/capped/limits', { maxConcurrency: null }), 200);
      assert.deepEqual([onlyRate.maxConcurrency, onlyRate.rateLimit], [null, { count: 10, intervalMs: 1000 }]);
      const cleared = await json<{ rateLimit: unknown }>(await admin('PUT', '/api/v1/queues/capped/limits', { rateLimit: null }), 200);
      assert.equal(cleared.rateLimit, null);
    });

    it('refuses bad limits and names with 400 naming the field', async () => {
      const put = (body: unknown, name = 'capped') => admin('PUT', `/api/v1/queues/${name}/limits`, body);
      await problem(await put({}), 400, 'VALIDATION', 'maxConcurrency');
      await problem(await put({ maxConcurrency: 0 }), 400, 'VALIDATION', 'maxConcurrency');
      await problem(await put({ maxConcurrency: 1.5 }), 400, 'VALIDATION', 'maxConcurrency');
      await problem(await put({ rateLimit: { count: 1 } }), 400, 'VALIDATION', 'rateLimit.intervalMs');
      await problem(await put({ rateLimit: { count: 0, intervalMs: 10 } }), 400, 'VALIDATION', 'rateLimit.count');
      await problem(await put({ burst: 3 }), 400, 'VALIDATION', 'burst');
      await problem(await put({ maxConcurrency: 2 }, 'bad%20queue'), 400, 'VALIDATION', 'queue');
      await problem(await admin('POST', '/api/v1/queues/bad%20queue/pause'), 400, 'VALIDATION', 'queue');
    });
  });

  describe('task types', () => {
    it('creates (201), replaces (200), reads, lists and deletes type settings; submits follow them', async () => {
      const created = await json<{ type: string; defaults: { maxAttempts?: number } }>(
        await admin('PUT', '/api/v1/types/signup', {
          defaults: { maxAttempts: 5, backoff: { type: 'fixed', delayMs: 100 }, timeoutMs: 60_000, queue: 'signups' },
          payloadSchema: { type: 'object', required: ['email'], properties: { email: { type: 'string' } } },
        }),
        201,
        'TypeSettings',
      );
      assert.equal(created.defaults.maxAttempts, 5);
      const refused = await problem(await send('tenant', 'POST', '/api/v1/tasks', { type: 'signup', payload: { name: 'Ada' } }), 400, 'VALIDATION', 'payload.email');
      assert.match(refused.detail, /required/);
      await problem(await send('tenant', 'POST', '/api/v1/tasks', { type: 'signup', payload: { email: 7 } }), 400, 'VALIDATION', 'payload.email');
      const task = await json<Task>(await send('tenant', 'POST', '/api/v1/tasks', { type: 'signup', payload: { email: 'ada@example.com' } }), 202, 'Task');
      assert.deepEqual([task.maxAttempts, task.queue, task.timeoutMs, task.backoff.type], [5, 'signups', 60_000, 'fixed']);

      const replaced = await json<{ payloadSchema: unknown }>(await admin('PUT', '/api/v1/types/signup', { defaults: { maxAttempts: 2 } }), 200, 'TypeSettings');
      assert.equal(replaced.payloadSchema, null);
      await json(await send('tenant', 'POST', '/api/v1/tasks', { type: 'signup', payload: { name: 'no email now' } }), 202);
      const read = await json<{ defaults: { maxAttempts?: number } }>(await admin('GET', '/api/v1/types/signup'), 200, 'TypeSettings');
      assert.equal(read.defaults.maxAttempts, 2);
      const list = await json<{ types: { type: string }[] }>(await admin('GET', '/api/v1/types'), 200, 'TypeSettingsList');
      assert.ok(list.types.some((t) => t.type === 'signup'));
      assert.equal((await admin('DELETE', '/api/v1/types/signup')).status, 204);
      await problem(await admin('DELETE', '/api/v1/types/signup'), 404, 'NOT_FOUND');
      await problem(await admin('GET', '/api/v1/types/signup'), 404, 'NOT_FOUND');
    });

    it('refuses bad settings with 400 naming the field, and stores nothing', async () => {
      const put = (body: unknown, type = 'typed') => admin('PUT', `/api/v1/types/${type}`, body);
      await problem(await put({ defaults: { maxAttempts: 0 } }), 400, 'VALIDATION', 'defaults.maxAttempts');
      await problem(await put({ defaults: { retries: 3 } }), 400, 'VALIDATION', 'defaults.retries');
      await problem(await put({ defaults: { backoff: { type: 'linear' } } }), 400, 'VALIDATION', 'defaults.backoff.type');
      await problem(await put({ defaults: { queue: 'bad queue' } }), 400, 'VALIDATION', 'defaults.queue');
      await problem(await put({ payloadSchema: { type: 'nope' } }), 400, 'VALIDATION', 'payloadSchema');
      await problem(await put({ payloadSchema: 'string' }), 400, 'VALIDATION', 'payloadSchema');
      await problem(await put({ schema: {} }), 400, 'VALIDATION', 'schema');
      await problem(await put({}, 'bad%20type'), 400, 'VALIDATION', 'type');
      await problem(await admin('GET', '/api/v1/types/typed'), 404, 'NOT_FOUND');
    });
  });

  it('needs the admin scope for every management route, and a token for all', async () => {
    const routes: [string, string, unknown?][] = [
      ['GET', '/api/v1/subscriptions'],
      ['GET', '/api/v1/subscriptions/audit'],
      ['PUT', '/api/v1/subscriptions/audit', { pattern: 'x' }],
      ['DELETE', '/api/v1/subscriptions/audit'],
      ['GET', '/api/v1/schedules'],
      ['GET', '/api/v1/schedules/x'],
      ['PUT', '/api/v1/schedules/x', { cron: '* * * * *', task: { type: 'x' } }],
      ['DELETE', '/api/v1/schedules/x'],
      ['POST', '/api/v1/queues/default/pause'],
      ['POST', '/api/v1/queues/default/resume'],
      ['PUT', '/api/v1/queues/default/limits', { maxConcurrency: 1 }],
      ['GET', '/api/v1/types'],
      ['GET', '/api/v1/types/x'],
      ['PUT', '/api/v1/types/x', {}],
      ['DELETE', '/api/v1/types/x'],
      ['GET', '/api/v1/workers'],
    ];
    for (const [method, path, body] of routes) {
      for (const who of ['tenant', 'reader', 'worker'] as const) await problem(await send(who, method, path, body), 403, 'FORBIDDEN');
      await problem(await send('nobody', method, path, body), 401, 'UNAUTHORIZED');
    }
    // Nothing changed: the subscription made above is still there, no schedule or type settings appeared.
    assert.equal((await json<{ pattern: string }>(await admin('GET', '/api/v1/subscriptions/audit'), 200)).pattern, 'orders.#');
    await problem(await admin('GET', '/api/v1/schedules/x'), 404, 'NOT_FOUND');
    await problem(await admin('GET', '/api/v1/types/x'), 404, 'NOT_FOUND');
  });

  it('documents every route in /openapi.json', async () => {
    const doc = (await (await s.request('GET', '/openapi.json')).json()) as { paths: Record<string, Record<string, unknown>> };
    const expected: [string, string][] = [
      ['/api/v1/events', 'post'],
      ['/api/v1/subscriptions', 'get'],
      ['/api/v1/subscriptions/{name}', 'get'],
      ['/api/v1/subscriptions/{name}', 'put'],
      ['/api/v1/subscriptions/{name}', 'delete'],
      ['/api/v1/schedules', 'get'],
      ['/api/v1/schedules/{name}', 'get'],
      ['/api/v1/schedules/{name}', 'put'],
      ['/api/v1/schedules/{name}', 'delete'],
      ['/api/v1/queues/{name}/pause', 'post'],
      ['/api/v1/queues/{name}/resume', 'post'],
      ['/api/v1/queues/{name}/limits', 'put'],
      ['/api/v1/types', 'get'],
      ['/api/v1/types/{type}', 'get'],
      ['/api/v1/types/{type}', 'put'],
      ['/api/v1/types/{type}', 'delete'],
    ];
    for (const [path, method] of expected) assert.ok(doc.paths[path]?.[method], `${method} ${path}`);
  });
});
