// Durable execution's public HTTP side over a real server, on SQLite and on PostgreSQL: recover, derive, checkpoints,
// signals (API keys, follow tokens with and without the signal's right), ?parentId=, the waiting status in reads,
// streams, counts and metrics, and the cancel of a waiting parent. The handler API (ctx.*) is the worker side's; here
// a second store on the same database (unstable_openStore, as another process would) plays the worker: it claims,
// checkpoints, suspends and finishes through the Store calls that ctx.* makes.
import assert from 'node:assert/strict';
import { after, before, describe, it, type TestContext } from 'node:test';
import { Ajv, type ValidateFunction } from 'ajv';
import WebSocket from 'ws';
import { uuidv7 } from '../src/core/ids.ts';
import { DEFAULT_TASK_DEFAULTS, normalizeTaskSpec } from '../src/core/validate.ts';
import { type Task, type TaskEvent, unstable_openStore, type UnstableStore } from '../src/index.ts';
import { TaskhubClient, TaskhubHttpError } from '../src/client/index.ts';
import { createApiKey } from '../src/server/auth.ts';
import type { AttemptRef, Claim } from '../src/store/store.ts';
import { dropSchema, freshSchema, requirePostgres, storeUrl } from './helpers/postgres.ts';
import { waitUntil } from './helpers/hub.ts';
import { sseFrames, sleep, startServer, type TestServer } from './helpers/server.ts';
import { feedEvent } from '../src/server/routes/feed.ts';

interface Problem {
  status: number;
  code?: string;
  field?: string;
  detail: string;
}

type Headers = Record<string, string>;
const bearer = (token: string): Headers => ({ authorization: `Bearer ${token}` });

function durableHttpSuite(backend: 'sqlite' | 'postgres'): void {
  let s: TestServer;
  let store: UnstableStore;
  let schema: string | undefined;
  let schemas: Ajv;
  let skipped = false;
  const keys = {} as Record<'alice' | 'bob' | 'reader' | 'admin', Headers>;
  let n = 0;
  const freshType = () => `durable-${backend}-${++n}`;

  const conforms = (name: string, value: unknown) => {
    const validate = schemas.getSchema(`openapi#/components/schemas/${name}`) as ValidateFunction;
    assert.ok(validate, `schema ${name} is published`);
    assert.ok(validate(value), `${name}: ${schemas.errorsText(validate.errors)} in ${JSON.stringify(value)}`);
  };
  const json = async <T>(res: Response, status: number, schemaName?: string): Promise<T> => {
    const text = await res.text();
    assert.equal(res.status, status, text);
    const body = JSON.parse(text) as T;
    if (schemaName) conforms(schemaName, body);
    return body;
  };
  const problem = async (res: Response, status: number, code: string, field?: string) => {
    const body = await json<Problem>(res, status, 'Problem');
    assert.equal(body.code, code, body.detail);
    if (field !== undefined) assert.equal(body.field, field, body.detail);
    return body;
  };

  /** A task of alice's, submitted over HTTP. */
  const submit = async (body: Record<string, unknown>): Promise<Task> => json<Task>(await s.request('POST', '/api/v1/tasks', body, keys.alice), 202, 'Task');
  /** Claims the task (of its own type) from the other store: a worker's attempt. */
  const claim = async (type: string): Promise<Claim> => {
    const claims = await store.claim({ workerId: 'test-worker', types: [type], queues: null, max: 1, leaseMs: 30_000, now: Date.now() });
    assert.equal(claims.length, 1, `one ${type} task claimed`);
    return claims[0];
  };
  const refOf = (c: Claim): AttemptRef => ({ taskId: c.task.id, attemptToken: c.attemptToken });
  const running = async (spec: Record<string, unknown> = {}) => {
    const type = freshType();
    const task = await submit({ type, ...spec });
    return { type, task, claim: await claim(type) };
  };
  const get = async (id: string, headers = keys.alice) => json<Task>(await s.request('GET', `/api/v1/tasks/${id}`, undefined, headers), 200, 'Task');
  const events = async (id: string) =>
    (await json<{ events: TaskEvent[] }>(await s.request('GET', `/api/v1/tasks/${id}/events`, undefined, keys.alice), 200, 'EventList')).events;

  before(async (t) => {
    let url: string | undefined;
    if (backend === 'postgres') {
      if (!(await requirePostgres(t as unknown as TestContext))) {
        skipped = true;
        return;
      }
      schema = freshSchema('dapi');
      url = storeUrl(schema);
    }
    s = await startServer({ autoStart: false, ...(url ? { store: url } : {}) }, { auth: {} });
    store = await unstable_openStore(url ?? `sqlite:${s.hub.dbPath}`);
    keys.alice = bearer((await createApiKey(s.hub.keys, { owner: 'alice', scopes: ['tasks:read', 'tasks:write'] })).token);
    keys.bob = bearer((await createApiKey(s.hub.keys, { owner: 'bob', scopes: ['tasks:read', 'tasks:write'] })).token);
    keys.reader = bearer((await createApiKey(s.hub.keys, { owner: 'alice', scopes: ['tasks:read'] })).token);
    keys.admin = bearer((await createApiKey(s.hub.keys, { owner: 'ops', scopes: ['admin'] })).token);
    const doc = await json<{ components: object }>(await s.request('GET', '/openapi.json'), 200);
    schemas = new Ajv({ strict: false, allowUnionTypes: true });
    schemas.addSchema({ $id: 'openapi', components: doc.components });
  });

  after(async () => {
    if (skipped) return;
    await store?.close();
    await s?.close();
    if (schema) await dropSchema(schema);
  });

  it('lists and reads checkpoints, and recovers a failed task from an older version', async (t) => {
    if (skipped) return t.skip('no PostgreSQL');
    const { type, task, claim: first } = await running({ maxAttempts: 1 });
    for (const phase of [1, 2, 3]) await store.saveCheckpoint(refOf(first), { phase }, { label: `phase ${phase}`, size: 11 }, Date.now());
    const list = await json<{ checkpoints: unknown[] }>(await s.request('GET', `/api/v1/tasks/${task.id}/checkpoints`, undefined, keys.alice), 200, 'CheckpointList');
    assert.deepEqual(list.checkpoints.map((c) => (c as { version: number; label: string }).label), ['phase 1', 'phase 2', 'phase 3']);
    const latest = await json<{ version: number; state: unknown }>(await s.request('GET', `/api/v1/tasks/${task.id}/checkpoints/latest`, undefined, keys.alice), 200, 'Checkpoint');
    assert.deepEqual([latest.version, latest.state], [3, { phase: 3 }]);
    const two = await json<{ state: unknown }>(await s.request('GET', `/api/v1/tasks/${task.id}/checkpoints/2`, undefined, keys.alice), 200, 'Checkpoint');
    assert.deepEqual(two.state, { phase: 2 });
    await problem(await s.request('GET', `/api/v1/tasks/${task.id}/checkpoints/9`, undefined, keys.alice), 404, 'NOT_FOUND');
    await problem(await s.request('GET', `/api/v1/tasks/${task.id}/checkpoints/zero`, undefined, keys.alice), 400, 'VALIDATION');
    await problem(await s.request('GET', `/api/v1/tasks/${task.id}/checkpoints`, undefined, keys.bob), 404, 'NOT_FOUND');
    await problem(await s.request('GET', `/api/v1/tasks/${task.id}/checkpoints/latest`, undefined, keys.bob), 404, 'NOT_FOUND');
    assert.equal((await get(task.id)).checkpointVersion, 3);

    await problem(await s.request('POST', `/api/v1/tasks/${task.id}/recover`, undefined, keys.alice), 409, 'INVALID_STATE');
    const [finished] = await store.finish([{ ref: refOf(first), outcome: { status: 'failed', error: { message: 'phase 4 broke', retryable: false } } }], Date.now());
    assert.ok(finished.ok);
    await problem(await s.request('POST', `/api/v1/tasks/${task.id}/recover`, { fromVersion: 9 }, keys.alice), 400, 'VALIDATION', 'fromVersion');
    await problem(await s.request('POST', `/api/v1/tasks/${task.id}/recover`, { fromVersion: 1 }, keys.bob), 404, 'NOT_FOUND');
    await problem(await s.request('POST', `/api/v1/tasks/${task.id}/recover`, { fromVersion: 1 }, keys.reader), 403, 'FORBIDDEN');
    const recovered = await json<Task>(await s.request('POST', `/api/v1/tasks/${task.id}/recover`, { fromVersion: 1 }, keys.alice), 200, 'Task');
    assert.deepEqual([recovered.status, recovered.attempts, recovered.checkpointVersion, recovered.error], ['queued', 0, 4, null]);
    const copy = await json<{ label: string; state: unknown }>(await s.request('GET', `/api/v1/tasks/${task.id}/checkpoints/latest`, undefined, keys.alice), 200);
    assert.deepEqual([copy.label, copy.state], ['recover:1', { phase: 1 }]);
    const again = await claim(type);
    assert.deepEqual(again.resumeCheckpoint?.state, { phase: 1 }, 'the next attempt resumes from version 1');
    const retrying = (await events(task.id)).filter((e) => e.kind === 'retrying');
    assert.deepEqual(retrying.at(-1)?.data, { manual: true, recover: true, fromVersion: 1 });
    // A bare recover of a failed task resumes from the latest.
    await store.finish([{ ref: refOf(again), outcome: { status: 'cancelled', reason: 'stop' } }], Date.now());
    const bare = await json<Task>(await s.request('POST', `/api/v1/tasks/${task.id}/recover`, undefined, keys.alice), 200, 'Task');
    assert.equal(bare.checkpointVersion, 4);
  });

  it('derives a task: parentId, merged payload, the named checkpoint as its version 1, listed by ?parentId=', async (t) => {
    if (skipped) return t.skip('no PostgreSQL');
    const { task, claim: c } = await running({ payload: { prompt: 'a cat', size: 512 }, priority: 3, tags: { team: 'art' } });
    await store.saveCheckpoint(refOf(c), { step: 1 }, { label: 'sketch', size: 10 }, Date.now());
    await store.saveCheckpoint(refOf(c), { step: 2 }, { label: 'colour', size: 10 }, Date.now());
    const res = await s.request('POST', `/api/v1/tasks/${task.id}/derive`, { payload: { size: 1024, style: 'ink' }, fromCheckpoint: 1, priority: 5 }, keys.alice);
    const derived = await json<Task>(res, 202, 'Task');
    assert.equal(res.headers.get('location'), `/api/v1/tasks/${derived.id}`);
    assert.deepEqual(
      [derived.parentId, derived.payload, derived.priority, derived.type, derived.tags, derived.owner, derived.status, derived.checkpointVersion],
      [task.id, { prompt: 'a cat', size: 1024, style: 'ink' }, 5, task.type, { team: 'art' }, 'alice', 'queued', 1],
    );
    const start = await json<{ version: number; label: string; state: unknown }>(
      await s.request('GET', `/api/v1/tasks/${derived.id}/checkpoints/latest`, undefined, keys.alice),
      200,
      'Checkpoint',
    );
    assert.deepEqual([start.version, start.label, start.state], [1, `derived:${task.id}@1`, { step: 1 }]);
    assert.deepEqual((await events(derived.id)).map((e) => e.kind), ['created', 'checkpoint']);

    const plain = await json<Task>(await s.request('POST', `/api/v1/tasks/${task.id}/derive`, {}, keys.alice), 202, 'Task');
    assert.deepEqual([plain.parentId, plain.payload, plain.checkpointVersion], [task.id, task.payload, 0]);
    const fromLatest = await json<Task>(await s.request('POST', `/api/v1/tasks/${task.id}/derive`, { fromCheckpoint: 'latest', type: 'other-type' }, keys.alice), 202);
    assert.equal((await json<{ label: string }>(await s.request('GET', `/api/v1/tasks/${fromLatest.id}/checkpoints/1`, undefined, keys.alice), 200)).label, `derived:${task.id}@2`);
    assert.equal(fromLatest.type, 'other-type');

    const before = (await s.hub.list({ parentId: task.id })).tasks.length;
    await problem(await s.request('POST', `/api/v1/tasks/${task.id}/derive`, { fromCheckpoint: 7 }, keys.alice), 400, 'VALIDATION', 'fromCheckpoint');
    await problem(await s.request('POST', `/api/v1/tasks/${task.id}/derive`, { fromCheckpoint: 'first' }, keys.alice), 400, 'VALIDATION');
    await problem(await s.request('POST', `/api/v1/tasks/${task.id}/derive`, { priority: 10_000_000 }, keys.alice), 400, 'VALIDATION', 'priority');
    await problem(await s.request('POST', `/api/v1/tasks/${task.id}/derive`, {}, keys.bob), 404, 'NOT_FOUND');
    assert.equal((await s.hub.list({ parentId: task.id })).tasks.length, before, 'refused derives create nothing');

    const children = await json<{ tasks: Task[] }>(await s.request('GET', `/api/v1/tasks?parentId=${task.id}`, undefined, keys.alice), 200, 'TaskList');
    assert.deepEqual(children.tasks.map((x) => x.id), [fromLatest.id, plain.id, derived.id], 'newest first');
    const bobs = await json<{ tasks: Task[] }>(await s.request('GET', `/api/v1/tasks?parentId=${task.id}`, undefined, keys.bob), 200);
    assert.deepEqual(bobs.tasks, [], "another owner's lineage is not listed");
  });

  it('signals: API keys, follow tokens with and without the right, kept signals, finished tasks', async (t) => {
    if (skipped) return t.skip('no PostgreSQL');
    const { type, task, claim: c } = await running();
    const suspended = await store.suspend(refOf(c), { kind: 'signal', name: 'approval', timeoutAt: null }, Date.now());
    assert.equal(suspended.suspended, true);
    const waiting = await get(task.id);
    assert.deepEqual([waiting.status, waiting.waitingFor], ['waiting', { kind: 'signal', name: 'approval', timeoutAt: null }]);

    const token = async (body: unknown, headers = keys.alice) => s.request('POST', `/api/v1/tasks/${task.id}/token`, body, headers);
    const plainToken = (await json<{ token: string }>(await token({}), 200, 'FollowToken')).token;
    await problem(await s.request('POST', `/api/v1/tasks/${task.id}/signals/approval`, { data: 1 }, bearer(plainToken)), 403, 'FORBIDDEN');
    await problem(await token({ signals: ['approval'] }, keys.reader), 403, 'FORBIDDEN');
    await problem(await token({ signals: ['approval'] }, keys.bob), 404, 'NOT_FOUND');
    const approver = (await json<{ token: string }>(await token({ signals: ['approval'] }), 200, 'FollowToken')).token;
    // The token still reads its task, may send only its signal, and to its own task only.
    assert.equal((await get(task.id, bearer(approver))).id, task.id);
    await problem(await s.request('POST', `/api/v1/tasks/${task.id}/signals/other`, {}, bearer(approver)), 403, 'FORBIDDEN');
    const otherTask = await submit({ type: freshType() });
    await problem(await s.request('POST', `/api/v1/tasks/${otherTask.id}/signals/approval`, {}, bearer(approver)), 404, 'NOT_FOUND');
    await problem(await s.request('POST', `/api/v1/tasks/${task.id}/cancel`, {}, bearer(approver)), 403, 'FORBIDDEN');

    const sent = await json<{ resumed: boolean; task: Task }>(
      await s.request('POST', `/api/v1/tasks/${task.id}/signals/approval`, { data: { approved: true, by: 'ann' } }, bearer(approver)),
      202,
      'SignalResult',
    );
    assert.deepEqual([sent.resumed, sent.task.status, sent.task.waitingFor], [true, 'queued', null]);
    assert.deepEqual((await events(task.id)).slice(-2).map((e) => [e.kind, e.data]), [
      ['signal', { name: 'approval' }],
      ['resumed', { reason: 'signal', name: 'approval' }],
    ]);
    const rerun = await claim(type);
    const woke = await store.suspend(refOf(rerun), { kind: 'signal', name: 'approval', timeoutAt: null }, Date.now());
    assert.ok(!woke.suspended && woke.outcome.kind === 'signal', 'the re-run finds its signal');
    assert.deepEqual(woke.outcome.signal.data, { approved: true, by: 'ann' });

    // A signal sent before the wait is kept (resumed false, listed in the history), and the wait takes it at once.
    const early = await json<{ resumed: boolean; task: Task }>(await s.request('POST', `/api/v1/tasks/${task.id}/signals/second`, { data: 'early' }, keys.alice), 202, 'SignalResult');
    assert.deepEqual([early.resumed, early.task.status], [false, 'running']);
    assert.deepEqual((await events(task.id)).at(-1)?.data, { name: 'second' });
    const kept = await store.suspend(refOf(rerun), { kind: 'signal', name: 'second', timeoutAt: null }, Date.now());
    assert.equal(kept.suspended ? null : kept.outcome.kind === 'signal' && kept.outcome.signal.data, 'early');

    await problem(await s.request('POST', `/api/v1/tasks/${task.id}/signals/approval`, {}, keys.bob), 404, 'NOT_FOUND');
    await problem(await s.request('POST', `/api/v1/tasks/${task.id}/signals/approval`, {}, keys.reader), 403, 'FORBIDDEN');
    await store.finish([{ ref: refOf(rerun), outcome: { status: 'completed', result: 'done' } }], Date.now());
    await problem(await s.request('POST', `/api/v1/tasks/${task.id}/signals/approval`, {}, keys.alice), 409, 'INVALID_STATE');
    await problem(await s.request('POST', `/api/v1/tasks/${task.id}/signals/approval`, {}, bearer(approver)), 409, 'INVALID_STATE');

    const metrics = await (await s.request('GET', '/metrics', undefined, keys.admin)).text();
    assert.match(metrics, /taskhub_signals_total\{resumed="true"\} 1\b/);
    assert.match(metrics, /taskhub_signals_total\{resumed="false"\} 1\b/);
  });

  it('the client SDK: checkpoints, recover, derive, signal, follow tokens with signal rights', async (t) => {
    if (skipped) return t.skip('no PostgreSQL');
    const client = new TaskhubClient({ url: s.base, token: keys.alice.authorization.slice(7) });
    const { type, task, claim: c } = await running({ payload: { a: 1 } });
    assert.equal(await client.checkpoint(task.id), null, 'no checkpoint yet');
    await assert.rejects(client.checkpoint('no-such-task'), (e: unknown) => e instanceof TaskhubHttpError && e.status === 404);
    await store.saveCheckpoint(refOf(c), { half: true }, { label: 'half', size: 13 }, Date.now());
    assert.deepEqual((await client.checkpoints(task.id)).map((x) => [x.version, x.label, x.size]), [[1, 'half', 13]]);
    assert.deepEqual((await client.checkpoint(task.id, 1))?.state, { half: true });
    const derived = await client.derive(task.id, { payload: { b: 2 }, fromCheckpoint: 'latest', type: freshType() });
    assert.deepEqual([derived.parentId, derived.payload, derived.checkpointVersion], [task.id, { a: 1, b: 2 }, 1]);
    assert.deepEqual((await client.list({ parentId: task.id })).tasks.map((x) => x.id), [derived.id]);
    await store.suspend(refOf(c), { kind: 'signal', name: 'go', timeoutAt: null }, Date.now());
    const { token } = await client.followToken(task.id, { signals: ['go'] });
    const browser = new TaskhubClient({ url: s.base, token });
    const sent = await browser.signal(task.id, 'go', { ok: 1 });
    assert.deepEqual([sent.resumed, sent.task.status], [true, 'queued']);
    const again = await claim(type);
    await store.finish([{ ref: refOf(again), outcome: { status: 'failed', error: { message: 'x', retryable: false } } }], Date.now());
    const recovered = await client.recover(task.id, { fromVersion: 1 });
    assert.deepEqual([recovered.status, recovered.checkpointVersion], ['queued', 1]);
  });

  it('a waiting parent: status, waitingFor, counts, its stream stays open, and its cancel cascades to its children', async (t) => {
    if (skipped) return t.skip('no PostgreSQL');
    const queue = `q-${backend}-${n}`;
    const { task: parent, claim: c } = await running({ queue });
    const childType = freshType();
    const now = Date.now();
    const specs = [1, 2].map((i) => normalizeTaskSpec({ type: childType, payload: { i }, owner: 'alice', queue }, DEFAULT_TASK_DEFAULTS, now, () => uuidv7(now)));
    const suspended = await store.suspend(refOf(c), { kind: 'children', name: 'parts', tasks: specs }, now);
    assert.equal(suspended.suspended, true);
    const waiting = await get(parent.id);
    assert.deepEqual([waiting.status, waiting.waitingFor], ['waiting', { kind: 'children', name: 'parts', pending: 2, total: 2 }]);

    const kids = await json<{ tasks: Task[] }>(await s.request('GET', `/api/v1/tasks?parentId=${parent.id}`, undefined, keys.alice), 200, 'TaskList');
    assert.deepEqual(kids.tasks.map((k) => k.payload).reverse(), [{ i: 1 }, { i: 2 }]);
    const listed = await json<{ tasks: Task[] }>(await s.request('GET', `/api/v1/tasks?status=waiting&queue=${queue}`, undefined, keys.alice), 200, 'TaskList');
    assert.deepEqual(listed.tasks.map((x) => x.id), [parent.id]);
    const queues = await json<{ queues: { queue: string; counts: Record<string, number> }[] }>(await s.request('GET', '/api/v1/queues', undefined, keys.alice), 200);
    assert.equal(queues.queues.find((q) => q.queue === queue)?.counts.waiting, 1);
    s.hub.metrics.counts.invalidate();
    const metrics = await (await s.request('GET', '/metrics', undefined, keys.admin)).text();
    assert.match(metrics, new RegExp(`taskhub_queue_tasks\\{queue="${queue}",status="waiting"\\} 1\\b`));
    assert.match(metrics, new RegExp(`taskhub_queue_tasks\\{queue="${queue}",status="running"\\} 0\\b`));

    // The WebSocket and the SSE stream replay the history up to `waiting` and stay open (waiting is not terminal); the
    // cancel ends them.
    const socket = new WebSocket(`${s.base.replace('http', 'ws')}/api/v1/ws`, { headers: keys.alice });
    const messages: { type: string; event?: TaskEvent }[] = [];
    socket.on('message', (data) => messages.push(JSON.parse(String(data))));
    await new Promise((resolve, reject) => socket.once('open', resolve).once('error', reject));
    socket.send(JSON.stringify({ op: 'subscribe', taskId: parent.id }));
    await waitUntil(() => messages.some((m) => m.event?.kind === 'waiting'), 10_000, 'the waiting event over the WebSocket');
    await sleep(100);
    assert.ok(!messages.some((m) => m.type === 'end'), 'a waiting task has not ended');
    const stream = await fetch(`${s.base}/api/v1/tasks/${parent.id}/stream`, { headers: keys.alice });
    assert.equal(stream.status, 200);
    const seen: string[] = [];
    let cancelled = false;
    for await (const frame of sseFrames(stream.body as ReadableStream<Uint8Array>)) {
      if (!('data' in frame) || frame.data === '') continue;
      const event = JSON.parse(frame.data) as TaskEvent;
      seen.push(event.kind);
      if (event.kind === 'waiting' && !cancelled) {
        cancelled = true;
        const answer = await json<Task>(await s.request('POST', `/api/v1/tasks/${parent.id}/cancel`, {}, keys.alice), 200, 'Task');
        assert.equal(answer.status, 'cancelled');
      }
    }
    assert.deepEqual(seen, ['created', 'started', 'waiting', 'cancelled']);
    await waitUntil(() => messages.some((m) => m.type === 'end'), 10_000, 'the end over the WebSocket');
    assert.deepEqual(messages.flatMap((m) => (m.event ? [m.event.kind] : [])), ['created', 'started', 'waiting', 'cancelled']);
    socket.terminate();
    const after = await json<{ tasks: Task[] }>(await s.request('GET', `/api/v1/tasks?parentId=${parent.id}`, undefined, keys.alice), 200);
    assert.deepEqual(after.tasks.map((k) => k.status), ['cancelled', 'cancelled'], 'its unfinished children are cancelled too');
    assert.deepEqual(await store.claim({ workerId: 'w', types: [childType], queues: null, max: 5, leaseMs: 1000, now: Date.now() }), [], 'nothing is left to run');
  });
}

describe('the dashboard feed', () => {
  it('carries the durable events with their small fields, never states or signal data', () => {
    const at = Date.now();
    const of = (kind: TaskEvent['kind'], data: TaskEvent['data']) => feedEvent({ queue: 'q', owner: null, event: { taskId: 't', seq: 2, kind, data, at } })?.data;
    const waitingFor = { kind: 'signal', name: 'approval', timeoutAt: null };
    assert.deepEqual(of('waiting', { waitingFor }), { waitingFor });
    assert.deepEqual(of('resumed', { reason: 'signal', name: 'approval' }), { reason: 'signal', name: 'approval' });
    assert.deepEqual(of('signal', { name: 'approval', data: 'secret' }), { name: 'approval' });
    assert.deepEqual(of('checkpoint', { version: 2, label: 'l', size: 9, state: 'secret' }), { version: 2, label: 'l', size: 9 });
    assert.deepEqual(of('child-finished', { childId: 'c', name: 'n', status: 'completed', pending: 1 }), { childId: 'c', status: 'completed', pending: 1 });
  });
});

describe('durable execution over HTTP (SQLite)', () => durableHttpSuite('sqlite'));
describe('durable execution over HTTP (PostgreSQL)', () => durableHttpSuite('postgres'));
