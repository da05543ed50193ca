// Issue 14 point 4: malformed input, as an outside test sent it, against a real server on SQLite and on PostgreSQL.
// Every case must answer a 4xx with a problem+json detail naming what is wrong, the same on both backends, and change
// nothing (no task stored, the running task untouched, queue settings and the workers list as they were).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ValidationError } from '../src/core/errors.ts';
import { dropSchema, freshSchema, requirePostgres, storeUrl } from './helpers/postgres.ts';
import { startServer, type TestServer } from './helpers/server.ts';

const NUL = '\u0000';
/** `[[[ … 1 … ]]]`, `depth` arrays deep, as text. */
const nested = (depth: number) => `${'['.repeat(depth)}1${']'.repeat(depth)}`;
/** A JSON value nested `depth` arrays deep. */
const nestedValue = (depth: number): unknown => JSON.parse(nested(depth));

interface Ctx {
  taskId: string;
  token: string;
}

interface Case {
  name: string;
  method?: string;
  path: string | ((c: Ctx) => string);
  /** An object is sent as JSON; a string as it is; a Buffer as its bytes. */
  body?: unknown;
  contentType?: string;
  status?: number;
  /** What the detail must say. */
  detail: RegExp;
}

const T = '/api/v1/tasks';
const w = (c: Ctx, call: string) => `/api/v1/worker/tasks/${c.taskId}/${call}`;

const CASES: Case[] = [
  // ---- numbers beyond what the columns hold ----
  { name: 'runAt 1e19', path: T, body: { type: 'a', runAt: 1e19 }, detail: /runAt.*9999/ },
  { name: 'runAt 1e300', path: T, body: '{"type":"a","runAt":1e300}', detail: /runAt/ },
  { name: 'runAt after year 9999 as a date', path: T, body: { type: 'a', runAt: '+275760-09-13T00:00:00.000Z' }, detail: /runAt.*9999/ },
  { name: 'runAt negative', path: T, body: { type: 'a', runAt: -1 }, detail: /runAt/ },
  { name: 'priority 1e20', path: T, body: { type: 'a', priority: 1e20 }, detail: /priority/ },
  { name: 'maxAttempts 1e20', path: T, body: { type: 'a', maxAttempts: 1e20 }, detail: /maxAttempts/ },
  { name: 'timeoutMs 1e20', path: T, body: { type: 'a', timeoutMs: 1e20 }, detail: /timeoutMs/ },
  { name: 'delayMs 1e20', path: T, body: { type: 'a', delayMs: 1e20 }, detail: /delayMs/ },
  { name: 'backoff.delayMs 1e20', path: T, body: { type: 'a', backoff: { delayMs: 1e20 } }, detail: /backoff\.delayMs/ },
  { name: 'a number beyond a double (1e400) in the payload', path: T, body: '{"type":"a","payload":{"n":1e400}}', detail: /payload\.n.*finite/ },
  { name: 'a batch with one runAt 1e19', path: `${T}/batch`, body: { tasks: [{ type: 'a' }, { type: 'a', runAt: 1e19 }] }, detail: /tasks\[1\]\.runAt/ },
  { name: 'events after=1e20', method: 'GET', path: (c) => `${T}/${c.taskId}/events?after=1e20`, detail: /after/ },
  { name: 'events after=2147483648', method: 'GET', path: (c) => `${T}/${c.taskId}/events?after=2147483648`, detail: /after/ },
  { name: 'events limit=1e20', method: 'GET', path: (c) => `${T}/${c.taskId}/events?limit=1e20`, detail: /limit/ },
  { name: 'stream after=1e20', method: 'GET', path: (c) => `${T}/${c.taskId}/stream?after=1e20`, detail: /after/ },
  { name: 'list limit=1e20', method: 'GET', path: `${T}?limit=1e20`, detail: /limit/ },
  { name: 'result wait=1e400', method: 'GET', path: (c) => `${T}/${c.taskId}/result?wait=1e400`, detail: /wait/ },
  { name: 'result wait=abc', method: 'GET', path: (c) => `${T}/${c.taskId}/result?wait=abc`, detail: /wait/ },
  { name: 'queue maxConcurrency 1e20', method: 'PUT', path: '/api/v1/queues/q/limits', body: { maxConcurrency: 1e20 }, detail: /maxConcurrency/ },
  { name: 'queue rateLimit.count 1e20', method: 'PUT', path: '/api/v1/queues/q/limits', body: { rateLimit: { count: 1e20, intervalMs: 1000 } }, detail: /rateLimit\.count/ },
  { name: 'queue rateLimit.intervalMs 1e20', method: 'PUT', path: '/api/v1/queues/q/limits', body: { rateLimit: { count: 1, intervalMs: 1e20 } }, detail: /rateLimit\.intervalMs/ },
  { name: "a worker's pid 1e20", path: '/api/v1/worker/register', body: { workerId: 'w2', types: ['a'], pid: 1e20 }, detail: /pid/ },
  { name: "a worker's startedAt 1e19", path: '/api/v1/worker/register', body: { workerId: 'w2', types: ['a'], startedAt: 1e19 }, detail: /startedAt/ },
  { name: 'claim waitMs 1e20', path: '/api/v1/worker/claim', body: { workerId: 'w2', types: ['a'], waitMs: 1e20 }, detail: /waitMs/ },
  { name: 'claim max 1e20', path: '/api/v1/worker/claim', body: { workerId: 'w2', types: ['a'], max: 1e20 }, detail: /max/ },
  { name: 'follow token ttlSeconds 1e20', path: (c) => `${T}/${c.taskId}/token`, body: { ttlSeconds: 1e20 }, detail: /ttlSeconds/ },
  // ---- U+0000 ----
  { name: 'U+0000 in a payload string', path: T, body: { type: 'a', payload: { s: `x${NUL}y` } }, detail: /payload\.s.*U\+0000/ },
  { name: 'U+0000 in a payload key', path: T, body: { type: 'a', payload: { [`k${NUL}`]: 1 } }, detail: /payload.*key.*U\+0000/ },
  { name: 'U+0000 in a tag value', path: T, body: { type: 'a', tags: { k: `v${NUL}` } }, detail: /tags\.k.*U\+0000/ },
  { name: 'U+0000 in a tag name', path: T, body: { type: 'a', tags: { [`k${NUL}`]: 'v' } }, detail: /tags.*U\+0000/ },
  { name: 'U+0000 in an idempotency key', path: T, body: { type: 'a', idempotencyKey: `k${NUL}` }, detail: /idempotencyKey.*U\+0000/ },
  { name: 'U+0000 in a parentId', path: T, body: { type: 'a', parentId: `p${NUL}` }, detail: /parentId.*U\+0000/ },
  { name: 'U+0000 in a type', path: T, body: { type: `a${NUL}` }, detail: /type/ },
  { name: 'U+0000 in a batch task', path: `${T}/batch`, body: { tasks: [{ type: 'a' }, { type: 'a', payload: NUL }] }, detail: /tasks\[1\]\.payload.*U\+0000/ },
  { name: 'U+0000 in a published payload', path: '/api/v1/events', body: { topic: 'a.b', payload: [NUL] }, detail: /payload\[0\].*U\+0000/ },
  { name: 'U+0000 in a schedule payload', method: 'PUT', path: '/api/v1/schedules/s1', body: { cron: '* * * * *', task: { type: 'a', payload: NUL } }, detail: /task\.payload.*U\+0000/ },
  { name: 'U+0000 in a cancel reason', path: (c) => `${T}/${c.taskId}/cancel`, body: { reason: `r${NUL}` }, detail: /reason.*U\+0000/ },
  { name: 'U+0000 in an id (%00), get', method: 'GET', path: `${T}/a%00b`, detail: /%00/ },
  { name: 'U+0000 in an id (%00), cancel', path: `${T}/a%00b/cancel`, detail: /%00/ },
  { name: 'U+0000 in an id (%00), delete', method: 'DELETE', path: `${T}/a%00b`, detail: /%00/ },
  { name: 'U+0000 in an id (%00), complete', path: `/api/v1/worker/tasks/a%00/complete`, body: { attemptToken: 't' }, detail: /%00/ },
  { name: 'U+0000 in a query parameter', method: 'GET', path: `${T}?queue=q%00`, detail: /%00/ },
  { name: 'U+0000 in a result', path: (c) => w(c, 'complete'), body: (c: Ctx) => ({ attemptToken: c.token, result: { r: NUL } }), detail: /result\.r.*U\+0000/ },
  { name: 'U+0000 in progress data', path: (c) => w(c, 'progress'), body: (c: Ctx) => ({ attemptToken: c.token, percent: 1, data: [NUL] }), detail: /data\[0\].*U\+0000/ },
  { name: 'U+0000 in a progress message', path: (c) => w(c, 'progress'), body: (c: Ctx) => ({ attemptToken: c.token, percent: 1, message: NUL }), detail: /message.*U\+0000/ },
  { name: 'U+0000 in an output chunk', path: (c) => w(c, 'output'), body: (c: Ctx) => ({ attemptToken: c.token, chunk: `a${NUL}` }), detail: /chunk.*U\+0000/ },
  { name: 'U+0000 in a fail error message', path: (c) => w(c, 'fail'), body: (c: Ctx) => ({ attemptToken: c.token, error: { message: `m${NUL}` } }), detail: /error\.message.*U\+0000/ },
  { name: 'U+0000 in an attempt token', path: (c) => w(c, 'heartbeat'), body: { attemptToken: `t${NUL}` }, detail: /attemptToken.*U\+0000/ },
  { name: "U+0000 in a worker's host", path: '/api/v1/worker/register', body: { workerId: 'w2', types: ['a'], host: `h${NUL}` }, detail: /host.*U\+0000/ },
  // ---- durable execution: checkpoints, steps, waits, signals ----
  { name: 'U+0000 in a checkpoint state', path: (c) => w(c, 'checkpoints'), body: (c: Ctx) => ({ attemptToken: c.token, state: { s: `x${NUL}` } }), detail: /state\.s.*U\+0000/ },
  { name: 'U+0000 in a checkpoint label', path: (c) => w(c, 'checkpoints'), body: (c: Ctx) => ({ attemptToken: c.token, state: 1, label: `l${NUL}` }), detail: /label.*U\+0000/ },
  { name: 'U+0000 in a step result', method: 'PUT', path: (c) => w(c, 'steps/s1'), body: (c: Ctx) => ({ attemptToken: c.token, result: { r: NUL } }), detail: /result\.r.*U\+0000/ },
  { name: 'U+0000 in a step name (%00)', method: 'PUT', path: (c) => w(c, 'steps/s%001'), body: (c: Ctx) => ({ attemptToken: c.token, result: 1 }), detail: /%00/ },
  { name: 'U+0000 in a wait name', path: (c) => w(c, 'suspend'), body: (c: Ctx) => ({ attemptToken: c.token, wait: { kind: 'sleep', name: `n${NUL}`, until: 253_402_300_799_999 } }), detail: /wait\.name.*U\+0000/ },
  { name: "U+0000 in a child's payload", path: (c) => w(c, 'suspend'), body: (c: Ctx) => ({ attemptToken: c.token, wait: { kind: 'children', name: 'c', tasks: [{ type: 'a', payload: NUL }] } }), detail: /tasks\[0\]\.payload.*U\+0000/ },
  { name: 'U+0000 in signal data', path: (c) => `${T}/${c.taskId}/signals/go`, body: { data: { d: `x${NUL}` } }, detail: /data\.d.*U\+0000/ },
  { name: 'U+0000 in a signal name (%00)', path: (c) => `${T}/${c.taskId}/signals/a%00b`, body: { data: 1 }, detail: /%00/ },
  // ---- encoding ----
  { name: 'invalid UTF-8 in the body', path: T, body: Buffer.from([...Buffer.from('{"type":"a","payload":"'), 0xff, 0xfe, ...Buffer.from('"}')]), detail: /UTF-8/ },
  { name: 'a truncated UTF-8 sequence', path: T, body: Buffer.from([...Buffer.from('{"type":"a","payload":"'), 0xe2, 0x82, ...Buffer.from('"}')]), detail: /UTF-8/ },
  { name: 'an unpaired surrogate escape in the payload', path: T, body: '{"type":"a","payload":"\\ud800"}', detail: /payload.*surrogate/ },
  { name: 'an unpaired surrogate escape in a result', path: (c) => w(c, 'complete'), body: (c: Ctx) => `{"attemptToken":"${c.token}","result":"\\udc00x"}`, detail: /result.*surrogate/ },
  // ---- nesting ----
  { name: '10,000-level nested payload', path: T, body: `{"type":"a","payload":${nested(10_000)}}`, detail: /nests deeper/ },
  { name: '65-level nested payload', path: T, body: { type: 'a', payload: nestedValue(65) }, detail: /payload.*nests deeper than 64/ },
  { name: '10,000-level nested result', path: (c) => w(c, 'complete'), body: (c: Ctx) => `{"attemptToken":"${c.token}","result":${nested(10_000)}}`, detail: /nests deeper/ },
  { name: '10,000-level nested progress data', path: (c) => w(c, 'progress'), body: (c: Ctx) => `{"attemptToken":"${c.token}","percent":5,"data":${nested(10_000)}}`, detail: /nests deeper/ },
  { name: '65-level nested progress data', path: (c) => w(c, 'progress'), body: (c: Ctx) => ({ attemptToken: c.token, percent: 5, data: nestedValue(65) }), detail: /data.*nests deeper than 64/ },
  { name: '65-level nested checkpoint state', path: (c) => w(c, 'checkpoints'), body: (c: Ctx) => ({ attemptToken: c.token, state: nestedValue(65) }), detail: /state.*nests deeper than 64/ },
  { name: '10,000-level nested checkpoint state', path: (c) => w(c, 'checkpoints'), body: (c: Ctx) => `{"attemptToken":"${c.token}","state":${nested(10_000)}}`, detail: /nests deeper/ },
  { name: '65-level nested step result', method: 'PUT', path: (c) => w(c, 'steps/s1'), body: (c: Ctx) => ({ attemptToken: c.token, result: nestedValue(65) }), detail: /result.*nests deeper than 64/ },
  { name: '100-level nested signal data', path: (c) => `${T}/${c.taskId}/signals/go`, body: `{"data":${nested(100)}}`, detail: /nests deeper/ },
  { name: '65-level nested signal data', path: (c) => `${T}/${c.taskId}/signals/go`, body: { data: nestedValue(65) }, detail: /data.*nests deeper than 64/ },
  // ---- duplicate keys ----
  { name: 'duplicate key at the top', path: T, body: '{"type":"a","type":"b"}', detail: /"type" appears twice/ },
  { name: 'duplicate key in the payload', path: T, body: '{"type":"a","payload":{"x":1,"y":{"z":[1,{"k":1,"k":2}]}}}', detail: /payload\.y\.z\[1\]\.k.*"k" appears twice/ },
  { name: 'duplicate key written with an escape', path: T, body: '{"type":"a","t\\u0079pe":"b"}', detail: /"type" appears twice/ },
  { name: 'duplicate key in a batch task', path: `${T}/batch`, body: '{"tasks":[{"type":"a"},{"type":"a","queue":"q","queue":"r"}]}', detail: /tasks\[1\]\.queue.*appears twice/ },
  { name: 'duplicate attemptToken in a completion', path: (c) => w(c, 'complete'), body: (c: Ctx) => `{"attemptToken":"${c.token}","attemptToken":"${c.token}"}`, detail: /"attemptToken" appears twice/ },
  // ---- the rest of the envelope ----
  { name: 'malformed JSON', path: T, body: '{"type":', detail: /not valid JSON/ },
  { name: '__proto__ key', path: T, body: '{"type":"a","payload":{"__proto__":{"x":1}}}', detail: /__proto__/ },
  { name: 'not JSON (text/plain)', path: T, body: 'type=a', contentType: 'text/plain', status: 415, detail: /application\/json/ },
  { name: 'a body over the size limit', path: T, body: `{"type":"a","payload":"${'x'.repeat(1024 * 1024)}"}`, status: 413, detail: /larger than the limit/ },
];

/**
 * The durable calls made in process (the SDK, the in-process worker): no body parser in front, so the engine's own
 * checks are all there is. Each must throw a ValidationError naming the problem, and change nothing.
 */
interface SdkCase {
  name: string;
  call: (hub: TestServer['hub'], c: Ctx) => Promise<unknown>;
  detail: RegExp;
}

const ref = (c: Ctx) => ({ taskId: c.taskId, attemptToken: c.token });

const SDK_CASES: SdkCase[] = [
  { name: 'checkpoint: U+0000 in the state', call: (h, c) => h.attempts.checkpoint(ref(c), { s: `x${NUL}` }), detail: /state\.s.*U\+0000/ },
  { name: 'checkpoint: an unpaired surrogate in a state key', call: (h, c) => h.attempts.checkpoint(ref(c), { ['\ud800']: 1 }), detail: /state.*surrogate/ },
  { name: 'checkpoint: Infinity in the state', call: (h, c) => h.attempts.checkpoint(ref(c), { n: Number.POSITIVE_INFINITY }), detail: /state\.n.*finite/ },
  { name: 'checkpoint: a 100-level nested state', call: (h, c) => h.attempts.checkpoint(ref(c), nestedValue(100) as never), detail: /state.*nests deeper than 64/ },
  { name: 'checkpoint: U+0000 in the label', call: (h, c) => h.attempts.checkpoint(ref(c), 1, `l${NUL}`), detail: /label.*U\+0000/ },
  { name: 'checkpoint: U+0000 in the attempt token', call: (h, c) => h.attempts.checkpoint({ ...ref(c), attemptToken: NUL }, 1), detail: /attemptToken.*U\+0000/ },
  { name: 'step: U+0000 in the name', call: (h, c) => h.attempts.saveStep(ref(c), `s${NUL}`, 1), detail: /name.*U\+0000/ },
  { name: 'step: U+0000 in the result', call: (h, c) => h.attempts.saveStep(ref(c), 's1', [NUL]), detail: /result\[0\].*U\+0000/ },
  { name: 'step: a 65-level nested result', call: (h, c) => h.attempts.saveStep(ref(c), 's1', nestedValue(65) as never), detail: /result.*nests deeper than 64/ },
  { name: 'steps: U+0000 in the task id', call: (h) => h.attempts.steps(`t${NUL}`), detail: /id.*U\+0000/ },
  { name: 'suspend: U+0000 in a wait name', call: (h, c) => h.attempts.suspend(ref(c), { kind: 'signal', name: `n${NUL}`, timeoutAt: null }), detail: /name.*U\+0000/ },
  { name: 'suspend: a sleep until after year 9999', call: (h, c) => h.attempts.suspend(ref(c), { kind: 'sleep', name: 'z', until: 1e19 }), detail: /until.*9999/ },
  { name: 'suspend: a signal timeout of NaN', call: (h, c) => h.attempts.suspend(ref(c), { kind: 'signal', name: 'z', timeoutAt: Number.NaN }), detail: /timeoutAt/ },
  { name: "suspend: U+0000 in a child's payload", call: (h, c) => h.attempts.suspend(ref(c), { kind: 'children', name: 'k', tasks: [{ type: 'a', payload: { p: NUL } }] }), detail: /tasks\[0\]\.payload\.p.*U\+0000/ },
  { name: "suspend: a 65-level nested child's payload", call: (h, c) => h.attempts.suspend(ref(c), { kind: 'children', name: 'k', tasks: [{ type: 'a', payload: nestedValue(65) as never }] }), detail: /tasks\[0\]\.payload.*nests deeper than 64/ },
  { name: 'signal: U+0000 in the name', call: (h, c) => h.signal(c.taskId, `a${NUL}`, 1), detail: /name.*U\+0000/ },
  { name: 'signal: U+0000 in the data', call: (h, c) => h.signal(c.taskId, 'go', { d: `x${NUL}` }), detail: /data\.d.*U\+0000/ },
  { name: 'signal: 100-level nested data', call: (h, c) => h.signal(c.taskId, 'go', nestedValue(100) as never), detail: /data.*nests deeper than 64/ },
  { name: 'signal: U+0000 in the task id', call: (h) => h.signal(`t${NUL}`, 'go', 1), detail: /id.*U\+0000/ },
  { name: 'recover: fromVersion beyond int4', call: (h, c) => h.recover(c.taskId, { fromVersion: 2 ** 31 }), detail: /fromVersion.*2147483647/ },
  { name: 'derive: fromCheckpoint beyond int4', call: (h, c) => h.derive(c.taskId, { fromCheckpoint: 2 ** 31 }), detail: /fromCheckpoint.*2147483647/ },
  { name: 'derive: U+0000 in the payload', call: (h, c) => h.derive(c.taskId, { payload: { p: NUL } }), detail: /payload\.p.*U\+0000/ },
  { name: 'checkpoint read: a version beyond int4', call: (h, c) => h.checkpoint(c.taskId, 2 ** 31), detail: /version.*2147483647/ },
  { name: 'checkpoints: U+0000 in the task id', call: (h) => h.checkpoints(`t${NUL}`), detail: /id.*U\+0000/ },
];

for (const backend of ['sqlite', 'postgres'] as const) {
  describe(`malformed input (${backend}): a 4xx naming the problem, and nothing changed`, () => {
    let s: TestServer | undefined;
    let schema: string | undefined;
    const ctx: Ctx = { taskId: '', token: '' };

    /** What a refused request must leave as it was. */
    const snapshot = async (server: TestServer) => {
      const tasks = (await server.hub.list({ limit: 1000 })).tasks;
      const held = await server.hub.get(ctx.taskId);
      const events = await server.hub.events(ctx.taskId);
      return {
        checkpoints: (await server.hub.checkpoints(ctx.taskId)).length,
        steps: (await server.hub.attempts.steps(ctx.taskId)).length,
        tasks: tasks.map((t) => `${t.id}:${t.status}:${t.lastEventSeq}`).sort(),
        held: { status: held.status, seq: held.lastEventSeq, progress: held.progress, result: held.result, error: held.error },
        events: events.length,
        queues: await server.hub.queueSettings(),
        schedules: (await server.hub.schedules.list()).length,
        workers: (await server.hub.workers()).map((x) => `${x.id}:${x.pid}:${x.host}`).sort(),
      };
    };

    before(async (t) => {
      if (backend === 'postgres') {
        if (!(await requirePostgres(t as never))) return;
        schema = freshSchema('bad_input');
      }
      s = await startServer({ autoStart: false, ...(schema ? { store: storeUrl(schema) } : {}) });
      // A running task for the worker calls, and for reads.
      await s.hub.enqueue('held', { n: 1 });
      const [claim] = await s.hub.attempts.claim({ workerId: 'w1', types: ['held'], max: 1 });
      ctx.taskId = claim.task.id;
      ctx.token = claim.attemptToken;
    });
    after(async () => {
      await s?.close();
      if (schema) await dropSchema(schema);
    });

    for (const c of CASES) {
      it(c.name, async (t) => {
        if (!s) return t.skip('no PostgreSQL');
        const server = s;
        const before = await snapshot(server);
        const path = typeof c.path === 'function' ? c.path(ctx) : c.path;
        const rawBody = typeof c.body === 'function' ? (c.body as (x: Ctx) => unknown)(ctx) : c.body;
        const body =
          rawBody === undefined ? undefined : typeof rawBody === 'string' || Buffer.isBuffer(rawBody) ? rawBody : JSON.stringify(rawBody);
        const method = c.method ?? 'POST';
        const headers: Record<string, string> = {};
        if (body !== undefined) headers['content-type'] = c.contentType ?? 'application/json';
        const res = await fetch(server.base + path, { method, headers, body: body as BodyInit | undefined });
        const text = await res.text();
        assert.equal(res.status, c.status ?? 400, `${method} ${path}: ${text.slice(0, 500)}`);
        assert.equal(res.headers.get('content-type'), 'application/problem+json; charset=utf-8');
        const problem = JSON.parse(text) as { status: number; detail: string; code: string };
        assert.equal(problem.status, c.status ?? 400);
        assert.match(problem.detail, c.detail, `the detail names the problem: ${problem.detail}`);
        assert.deepEqual(await snapshot(server), before, 'nothing changed');
      });
    }

    for (const c of SDK_CASES) {
      it(`in process, ${c.name}`, async (t) => {
        if (!s) return t.skip('no PostgreSQL');
        const before = await snapshot(s);
        await assert.rejects(
          c.call(s.hub, ctx),
          (error: unknown) => error instanceof ValidationError && c.detail.test(error.message),
          `a ValidationError matching ${c.detail}`,
        );
        assert.deepEqual(await snapshot(s), before, 'nothing changed');
      });
    }

    it('still accepts what is valid at the limits', async (t) => {
      if (!s) return t.skip('no PostgreSQL');
      const res = await s.request('POST', T, {
        type: 'a',
        runAt: 253_402_300_799_999,
        priority: 1_000_000,
        payload: { deep: nestedValue(63), text: 'é😀 "quoted": \\u0000 as text', colons: { 'a:b': '"x": 1' } },
        tags: { k: 'v' },
      });
      assert.equal(res.status, 202, await res.text());
      const limits = await s.request('PUT', '/api/v1/queues/q/limits', { maxConcurrency: 2_147_483_647, rateLimit: { count: 2_147_483_647, intervalMs: 2_147_483_647 } });
      assert.equal(limits.status, 200, await limits.text());
      const events = await s.request('GET', `${T}/${ctx.taskId}/events?after=2147483647`);
      assert.equal(events.status, 200, await events.text());
      // The durable calls at the limits (on the held task, last: they change it).
      const atLimit = { deep: nestedValue(63), text: 'é😀 \\u0000 as text' };
      const checkpoint = await s.request('POST', `/api/v1/worker/tasks/${ctx.taskId}/checkpoints`, { attemptToken: ctx.token, state: atLimit, label: 'é' });
      assert.equal(checkpoint.status, 200, await checkpoint.text());
      const step = await s.request('PUT', `/api/v1/worker/tasks/${ctx.taskId}/steps/s:1`, { attemptToken: ctx.token, result: atLimit });
      assert.equal(step.status, 200, await step.text());
      const signal = await s.request('POST', `${T}/${ctx.taskId}/signals/go`, { data: nestedValue(64) });
      assert.equal(signal.status, 202, await signal.text());
      assert.deepEqual((await s.hub.checkpoint(ctx.taskId, 'latest'))?.state, atLimit);
    });
  });
}
