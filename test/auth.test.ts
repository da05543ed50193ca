// Access control over real HTTP against a real SQLite file: the authorization matrix (every endpoint against every
// kind of caller, the expected answers written down below), owner isolation in lists, queues and WebSocket queue
// subscriptions, JWTs with public keys, follow tokens (expiry, every node), revoked keys, rate limits, CORS, security
// headers, and tokens kept out of answers and logs.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { decodeJwt, exportJWK, exportSPKI, generateKeyPair, SignJWT } from 'jose';
import pino from 'pino';
import WebSocket from 'ws';
import { TaskhubClient, TaskhubHttpError } from '../src/client/index.ts';
import type { Task } from '../src/index.ts';
import { createApiKey } from '../src/server/auth.ts';
import { createServer } from '../src/server/server.ts';
import { openTestHub, waitUntil } from './helpers/hub.ts';
import { sleep, startServer, type TestServer } from './helpers/server.ts';

const JWT_SECRET = 'a-test-secret-that-is-at-least-32-characters-long';
const WRONG_SECRET = 'another-secret-that-is-at-least-32-characters-long';
const PROBLEM_JSON = 'application/problem+json; charset=utf-8';

async function jwt(claims: Record<string, unknown>, options: { secret?: string; expiresIn?: number; sub?: string } = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const token = new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).setIssuedAt(now).setExpirationTime(now + (options.expiresIn ?? 3600));
  if (options.sub !== undefined) token.setSubject(options.sub);
  return token.sign(new TextEncoder().encode(options.secret ?? JWT_SECRET));
}

type Headers = Record<string, string>;
const bearer = (token: string): Headers => ({ authorization: `Bearer ${token}` });

/** The outcome of a WebSocket "connect, then subscribe to the task": the refused upgrade's status, or 101 subscribed, or 404. */
async function wsOutcome(base: string, taskId: string, headers: Headers, query = ''): Promise<number> {
  const socket = new WebSocket(`${base.replace('http', 'ws')}/api/v1/ws${query}`, { headers });
  try {
    return await new Promise<number>((resolve, reject) => {
      socket.on('unexpected-response', (_request, response) => resolve(response.statusCode ?? 0));
      socket.on('error', reject);
      socket.on('open', () => socket.send(JSON.stringify({ op: 'subscribe', taskId })));
      socket.on('message', (data) => {
        const message = JSON.parse(String(data)) as { type: string; detail?: string };
        if (message.type === 'subscribed') resolve(101);
        else if (message.type === 'error') resolve(/does not exist/.test(message.detail ?? '') ? 404 : 500);
      });
    });
  } finally {
    socket.terminate();
  }
}

// ---------------------------------------------------------------------------------------------------------------------
// The authorization matrix. Columns (callers):
//   none      no Authorization header
//   malformed `Authorization: Bearer not-a-token`
//   badsig    a JWT for the owner with every scope, signed with the wrong secret
//   expired   a JWT for the owner with every scope, expired an hour ago
//   scope     a valid token of the owner without the scope the route needs (write-only for reads and follow routes,
//             read-only for changes and public routes, read+write for admin and worker routes)
//   other     another owner (bob: JWT with tasks:read tasks:write)
//   owner     the owner (alice: API key with tasks:read tasks:write)
//   admin     an API key with the admin scope (owner "ops")
//   fthis     a follow token for the row's task (`?access_token=` on GETs and the WebSocket, Bearer on POSTs)
//   fother    a follow token for another task of the same owner
// Rows: `:id` is a fresh task of alice's (queued; cancelled for retry). WS = connect, then subscribe to the task:
// 101 subscribed, 404 "does not exist" over the socket, 401/403 the refused upgrade.
// ---------------------------------------------------------------------------------------------------------------------
const MATRIX = `
needs        method path                                 none malformed badsig expired scope other owner admin fthis fother
tasks:write  POST   /api/v1/tasks                        401  401       401    401     403   202   202   202   403   403
tasks:write  POST   /api/v1/tasks/batch                  401  401       401    401     403   202   202   202   403   403
tasks:read   GET    /api/v1/tasks                        401  401       401    401     403   200   200   200   403   403
follow       GET    /api/v1/tasks/:id                    401  401       401    401     403   404   200   200   200   404
follow       GET    /api/v1/tasks/:id/result?wait=0      401  401       401    401     403   404   202   202   202   404
follow       GET    /api/v1/tasks/:id/events             401  401       401    401     403   404   200   200   200   404
follow       GET    /api/v1/tasks/:id/stream             401  401       401    401     403   404   200   200   200   404
follow       WS     /api/v1/ws                           401  401       401    401     403   404   101   101   101   404
tasks:write  POST   /api/v1/tasks/:id/cancel             401  401       401    401     403   404   200   200   403   403
tasks:write  POST   /api/v1/tasks/:id/retry              401  401       401    401     403   404   200   200   403   403
tasks:write  DELETE /api/v1/tasks/:id                    401  401       401    401     403   404   204   204   403   403
tasks:read   POST   /api/v1/tasks/:id/token              401  401       401    401     403   404   200   200   403   403
tasks:write  POST   /api/v1/tasks/:id/recover            401  401       401    401     403   404   200   200   403   403
tasks:write  POST   /api/v1/tasks/:id/derive             401  401       401    401     403   404   202   202   403   403
tasks:read   GET    /api/v1/tasks/:id/checkpoints        401  401       401    401     403   404   200   200   403   403
signal       POST   /api/v1/tasks/:id/signals/approval   401  401       401    401     403   404   202   202   403   404
tasks:write  POST   /api/v1/events                       401  401       401    401     403   202   202   202   403   403
tasks:read   GET    /api/v1/queues                       401  401       401    401     403   200   200   200   403   403
tasks:read   GET    /api/v1/queues/default               401  401       401    401     403   200   200   200   403   403
tasks:read   GET    /api/v1/feed                         401  401       401    401     403   200   200   200   403   403
admin        POST   /api/v1/queues/matrix-paused/pause   401  401       401    401     403   403   403   200   403   403
admin        GET    /api/v1/subscriptions                401  401       401    401     403   403   403   200   403   403
admin        GET    /api/v1/schedules                    401  401       401    401     403   403   403   200   403   403
admin        GET    /api/v1/types                        401  401       401    401     403   403   403   200   403   403
admin        GET    /api/v1/workers                      401  401       401    401     403   403   403   200   403   403
admin        GET    /api/v1/stats                        401  401       401    401     403   403   403   200   403   403
admin        GET    /metrics                             401  401       401    401     403   403   403   200   403   403
worker       POST   /api/v1/worker/claim                 401  401       401    401     403   403   403   200   403   403
public       GET    /healthz                             200  200       200    200     200   200   200   200   200   200
public       GET    /openapi.json                        200  200       200    200     200   200   200   200   200   200
public       GET    /dashboard                           200  200       200    200     200   200   200   200   200   200
`;

const COLUMNS = ['none', 'malformed', 'badsig', 'expired', 'scope', 'other', 'owner', 'admin', 'fthis', 'fother'] as const;
type Column = (typeof COLUMNS)[number];

interface Row {
  needs: string;
  method: string;
  path: string;
  expected: Record<Column, number>;
}

function parseMatrix(text: string): Row[] {
  const [header, ...lines] = text.trim().split('\n').map((line) => line.trim().split(/\s+/));
  assert.deepEqual(header.slice(3), [...COLUMNS], 'the table header names the columns in order');
  return lines.map(([needs, method, path, ...cells]) => {
    assert.equal(cells.length, COLUMNS.length, `${method} ${path}: one cell per column`);
    return { needs, method, path, expected: Object.fromEntries(COLUMNS.map((c, i) => [c, Number(cells[i])])) as Record<Column, number> };
  });
}

const BODIES: Record<string, unknown> = {
  'POST /api/v1/tasks': { type: 'matrix' },
  'POST /api/v1/tasks/batch': { tasks: [{ type: 'matrix' }, { type: 'matrix' }] },
  'POST /api/v1/events': { topic: 'matrix.published', payload: { n: 1 } },
  'POST /api/v1/worker/claim': { workerId: 'matrix-worker', types: ['nothing-runs-this'], waitMs: 0 },
};

describe('access control', () => {
  let s: TestServer;
  const tokens = {} as Record<'owner' | 'readOnly' | 'writeOnly' | 'readWrite' | 'other' | 'admin' | 'worker' | 'badsig' | 'expired', string>;

  /** A fresh task of alice's, as the store has it; `cancelled` for rows that retry. */
  const aliceTask = async (cancelled = false): Promise<Task> => {
    const { task } = await s.hub.submit({ type: 'matrix', owner: 'alice' });
    return cancelled ? s.hub.cancel(task.id) : task;
  };

  const followToken = async (taskId: string, ttlSeconds?: number): Promise<string> => {
    const res = await s.request('POST', `/api/v1/tasks/${taskId}/token`, ttlSeconds === undefined ? undefined : { ttlSeconds }, bearer(tokens.owner));
    assert.equal(res.status, 200, await res.clone().text());
    return ((await res.json()) as { token: string }).token;
  };

  before(async () => {
    s = await startServer({ autoStart: false }, { auth: { jwtSecret: JWT_SECRET } });
    const store = s.hub.keys;
    tokens.owner = (await createApiKey(store, { owner: 'alice', scopes: ['tasks:read', 'tasks:write'], name: 'alice' })).token;
    tokens.admin = (await createApiKey(store, { owner: 'ops', scopes: ['admin'] })).token;
    tokens.worker = (await createApiKey(store, { owner: 'workers', scopes: ['worker'] })).token;
    tokens.readOnly = await jwt({ scope: 'tasks:read' }, { sub: 'alice' });
    tokens.writeOnly = await jwt({ scope: 'tasks:write' }, { sub: 'alice' });
    tokens.readWrite = await jwt({ scope: 'tasks:read tasks:write' }, { sub: 'alice' });
    tokens.other = await jwt({ scope: 'tasks:read tasks:write' }, { sub: 'bob' });
    tokens.badsig = await jwt({ scope: 'tasks:read tasks:write admin worker' }, { sub: 'alice', secret: WRONG_SECRET });
    tokens.expired = await jwt({ scope: 'tasks:read tasks:write admin worker' }, { sub: 'alice', expiresIn: -3600 });
  });

  after(() => s.close());

  const wrongScopeToken = (needs: string): string => {
    if (needs === 'tasks:read' || needs === 'follow') return tokens.writeOnly;
    if (needs === 'tasks:write' || needs === 'signal' || needs === 'public') return tokens.readOnly;
    return tokens.readWrite;
  };

  /** Runs one cell and answers its status. */
  async function runCell(row: Row, column: Column): Promise<number> {
    const target = row.path.includes(':id') ? await aliceTask(/\/(retry|recover)$/.test(row.path)) : await aliceTask();
    const path = row.path.replace(':id', target.id);
    let headers: Headers = {};
    let token: string | undefined;
    switch (column) {
      case 'none':
        break;
      case 'malformed':
        headers = bearer('not-a-token');
        break;
      case 'badsig':
      case 'expired':
      case 'other':
      case 'admin':
        headers = bearer(tokens[column]);
        break;
      case 'owner':
        headers = bearer(tokens.owner);
        break;
      case 'scope':
        headers = bearer(wrongScopeToken(row.needs));
        break;
      case 'fthis':
        token = await followToken(target.id);
        break;
      case 'fother':
        token = await followToken((await aliceTask()).id);
        break;
    }
    // Follow tokens ride in the URL on the routes that read one task (what EventSource must do), else as Bearer.
    let query = '';
    if (token !== undefined) {
      if (row.needs === 'follow') query = `${path.includes('?') ? '&' : '?'}access_token=${token}`;
      else headers = bearer(token);
    }
    if (row.method === 'WS') return wsOutcome(s.base, target.id, headers, query);
    const abort = new AbortController();
    const body = BODIES[`${row.method} ${row.path}`];
    const res = await fetch(s.base + path + query, {
      method: row.method,
      headers: body === undefined ? headers : { ...headers, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: abort.signal,
    });
    if (res.status >= 400) {
      assert.equal(res.headers.get('content-type'), PROBLEM_JSON, `${row.method} ${row.path} as ${column}: problem+json`);
      const problem = (await res.json()) as { status: number; code: string; instance?: string };
      assert.equal(problem.status, res.status);
      if (token !== undefined) assert.ok(!problem.instance?.includes(token), 'the problem does not echo the token');
      if (res.status === 401) assert.match(res.headers.get('www-authenticate') ?? '', /^Bearer realm="taskhub"/);
    }
    // A stream stays open: its status is all this cell needs.
    abort.abort();
    return res.status;
  }

  it('answers every endpoint as the matrix says', async () => {
    const rows = parseMatrix(MATRIX);
    const mismatches: string[] = [];
    for (const row of rows) {
      for (const column of COLUMNS) {
        const status = await runCell(row, column);
        if (status !== row.expected[column]) mismatches.push(`${row.method} ${row.path} as ${column}: ${status}, expected ${row.expected[column]}`);
      }
    }
    assert.deepEqual(mismatches, []);
  });

  it('accepts a follow token as Bearer on the read routes too, and nowhere as ?access_token= but there', async () => {
    const task = await aliceTask();
    const token = await followToken(task.id);
    assert.equal((await s.request('GET', `/api/v1/tasks/${task.id}`, undefined, bearer(token))).status, 200);
    assert.equal((await s.request('GET', `/api/v1/tasks/${task.id}/events`, undefined, bearer(token))).status, 200);
    // An API key in the URL of a route that does not take one is simply not a credential.
    assert.equal((await s.request('GET', `/api/v1/tasks?access_token=${tokens.owner}`)).status, 401);
    assert.equal((await s.request('POST', `/api/v1/tasks/${task.id}/cancel?access_token=${token}`)).status, 401);
    // A header that is not Bearer is refused, not ignored.
    assert.equal((await s.request('GET', `/api/v1/tasks/${task.id}`, undefined, { authorization: `Basic ${btoa('alice:pw')}` })).status, 401);
  });

  it('stamps the caller as owner, and shows each owner only its own tasks', async () => {
    const mine = (await (await s.request('POST', '/api/v1/tasks', { type: 'iso', queue: 'iso-q' }, bearer(tokens.owner))).json()) as Task;
    const batch = (await (await s.request('POST', '/api/v1/tasks/batch', { tasks: [{ type: 'iso', queue: 'iso-q' }] }, bearer(tokens.other))).json()) as { tasks: Task[] };
    assert.equal(mine.owner, 'alice');
    assert.equal(batch.tasks[0].owner, 'bob');
    const list = async (token: string) => ((await (await s.request('GET', '/api/v1/tasks?queue=iso-q', undefined, bearer(token))).json()) as { tasks: Task[] }).tasks.map((t) => t.id);
    assert.deepEqual(await list(tokens.owner), [mine.id]);
    assert.deepEqual(await list(tokens.other), [batch.tasks[0].id]);
    assert.deepEqual((await list(tokens.admin)).sort(), [mine.id, batch.tasks[0].id].sort());
    const counts = async (token: string) => ((await (await s.request('GET', '/api/v1/queues/iso-q', undefined, bearer(token))).json()) as { counts: { queued: number } }).counts.queued;
    assert.equal(await counts(tokens.owner), 1, "a tenant's queue view counts its own tasks");
    assert.equal(await counts(tokens.admin), 2);
    const all = (await (await s.request('GET', '/api/v1/queues', undefined, bearer(tokens.other))).json()) as { queues: { queue: string }[] };
    assert.ok(!all.queues.some((q) => q.queue === 'matrix'), "bob's queue list does not show queues with only alice's tasks");
    // The same idempotency key is each owner's own.
    const a = (await (await s.request('POST', '/api/v1/tasks', { type: 'iso' }, { ...bearer(tokens.owner), 'idempotency-key': 'k1' })).json()) as Task;
    const b = (await (await s.request('POST', '/api/v1/tasks', { type: 'iso' }, { ...bearer(tokens.other), 'idempotency-key': 'k1' })).json()) as Task;
    assert.notEqual(a.id, b.id);
  });

  it('stamps the publisher as owner of the tasks a publish creates', async () => {
    assert.equal((await s.request('PUT', '/api/v1/subscriptions/audit', { pattern: 'orders.#', type: 'audit' }, bearer(tokens.admin))).status, 201);
    const res = await s.request('POST', '/api/v1/events', { topic: 'orders.created', payload: {} }, bearer(tokens.owner));
    const { tasks } = (await res.json()) as { tasks: Task[] };
    assert.equal(tasks.length, 1);
    assert.equal(tasks[0].owner, 'alice');
    assert.equal((await s.request('GET', `/api/v1/tasks/${tasks[0].id}`, undefined, bearer(tokens.other))).status, 404);
  });

  it('delivers a WebSocket queue subscription only the caller\'s own tasks, and refuses it to a follow token', async () => {
    const open = (headers: Headers, query = '') =>
      new Promise<{ socket: WebSocket; messages: { type: string; taskId?: string; queue?: string }[] }>((resolve, reject) => {
        const socket = new WebSocket(`${s.base.replace('http', 'ws')}/api/v1/ws${query}`, { headers });
        const messages: { type: string; taskId?: string }[] = [];
        socket.on('message', (data) => messages.push(JSON.parse(String(data))));
        socket.on('open', () => resolve({ socket, messages }));
        socket.on('error', reject);
      });
    const alice = await open(bearer(tokens.owner));
    const bob = await open(bearer(tokens.other));
    const admin = await open(bearer(tokens.admin));
    try {
      for (const c of [alice, bob, admin]) c.socket.send(JSON.stringify({ op: 'subscribe', queue: 'ws-q' }));
      await waitUntil(() => [alice, bob, admin].every((c) => c.messages.some((m) => m.type === 'subscribed')));
      const { task: hers } = await s.hub.submit({ type: 'ws', queue: 'ws-q', owner: 'alice' });
      const { task: his } = await s.hub.submit({ type: 'ws', queue: 'ws-q', owner: 'bob' });
      const eventsOf = (c: { messages: { type: string; taskId?: string }[] }) => c.messages.filter((m) => m.type === 'event').map((m) => m.taskId);
      await waitUntil(() => eventsOf(admin).length === 2, 5000, 'admin sees both');
      await waitUntil(() => eventsOf(alice).length >= 1 && eventsOf(bob).length >= 1);
      await sleep(100);
      assert.deepEqual(eventsOf(alice), [hers.id]);
      assert.deepEqual(eventsOf(bob), [his.id]);

      const follow = await open({}, `?access_token=${await followToken(hers.id)}`);
      try {
        follow.socket.send(JSON.stringify({ op: 'subscribe', queue: 'ws-q' }));
        await waitUntil(() => follow.messages.some((m) => m.type === 'error'));
        assert.ok(!follow.messages.some((m) => m.type === 'subscribed'));
      } finally {
        follow.socket.terminate();
      }
    } finally {
      for (const c of [alice, bob, admin]) c.socket.terminate();
    }
  });

  it('lets a worker token run the worker protocol and nothing else', async () => {
    const claim = await s.request('POST', '/api/v1/worker/claim', BODIES['POST /api/v1/worker/claim'], bearer(tokens.worker));
    assert.equal(claim.status, 200, await claim.text());
    assert.equal((await s.request('GET', '/api/v1/tasks', undefined, bearer(tokens.worker))).status, 403);
    assert.equal((await s.request('POST', '/api/v1/tasks', { type: 'x' }, bearer(tokens.worker))).status, 403);
  });

  it('refuses a JWT without exp, without sub, not yet valid, or unsigned', async () => {
    const key = new TextEncoder().encode(JWT_SECRET);
    const now = Math.floor(Date.now() / 1000);
    const noExp = await new SignJWT({ scope: 'tasks:read' }).setProtectedHeader({ alg: 'HS256' }).setSubject('alice').sign(key);
    const noSub = await new SignJWT({ scope: 'tasks:read' }).setProtectedHeader({ alg: 'HS256' }).setExpirationTime(now + 60).sign(key);
    const early = await new SignJWT({ scope: 'tasks:read' }).setProtectedHeader({ alg: 'HS256' }).setSubject('alice').setNotBefore(now + 600).setExpirationTime(now + 900).sign(key);
    const unsigned = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from(JSON.stringify({ sub: 'alice', scope: 'admin', exp: now + 60 })).toString('base64url')}.`;
    for (const [what, token, detail] of [
      ['no exp', noExp, /exp/],
      ['no sub', noSub, /sub/],
      ['nbf in the future', early, /not valid yet/],
      ['alg none', unsigned, /algorithm|not accept/],
      ['expired', tokens.expired, /expired/],
      ['bad signature', tokens.badsig, /signature/],
    ] as const) {
      const res = await s.request('GET', '/api/v1/tasks', undefined, bearer(token));
      assert.equal(res.status, 401, what);
      assert.match(((await res.json()) as { detail: string }).detail, detail, what);
    }
    const ok = await jwt({ scope: ['tasks:read'] }, { sub: 'alice' });
    assert.equal((await s.request('GET', '/api/v1/tasks', undefined, bearer(ok))).status, 200, 'a scope claim given as an array works too');
  });

  it('refuses an expired follow token', async () => {
    const task = await aliceTask();
    const res = await s.request('POST', `/api/v1/tasks/${task.id}/token`, { ttlSeconds: 1 }, bearer(tokens.owner));
    const { token, expiresAt } = (await res.json()) as { token: string; expiresAt: number };
    assert.ok(expiresAt > Date.now() - 1000 && expiresAt <= Date.now() + 1000, 'expiresAt is epoch ms, a second away');
    assert.equal((await s.request('GET', `/api/v1/tasks/${task.id}?access_token=${token}`)).status, 200);
    await sleep(Math.max(0, expiresAt - Date.now()) + 1100);
    const expired = await s.request('GET', `/api/v1/tasks/${task.id}/stream?access_token=${token}`);
    assert.equal(expired.status, 401);
    assert.match(((await expired.json()) as { detail: string }).detail, /expired/);
    const defaults = (await (await s.request('POST', `/api/v1/tasks/${task.id}/token`, undefined, bearer(tokens.owner))).json()) as { expiresAt: number };
    assert.ok(Math.abs(defaults.expiresAt - (Date.now() + 900_000)) < 5000, 'default lifetime 900 s');
    assert.equal((await s.request('POST', `/api/v1/tasks/${task.id}/token`, { ttlSeconds: 0 }, bearer(tokens.owner))).status, 400);
    // Whoever issues it, a follow token acts for the task's owner.
    const byAdmin = (await (await s.request('POST', `/api/v1/tasks/${task.id}/token`, {}, bearer(tokens.admin))).json()) as { token: string };
    assert.equal(decodeJwt(byAdmin.token).sub, 'alice');
    assert.equal(decodeJwt(byAdmin.token).task, task.id);
  });

  it('never echoes a token in an answer', async () => {
    const task = await aliceTask();
    const token = await followToken(task.id);
    const res = await s.request('GET', `/api/v1/tasks/${task.id}/stream?access_token=${token}&after=soon`);
    assert.equal(res.status, 400);
    const text = await res.text();
    assert.ok(!text.includes(token), text);
    assert.match(text, /access_token=REDACTED/);
  });

  it('sets security headers on answers and refusals', async () => {
    for (const res of [await s.request('GET', '/api/v1/tasks', undefined, bearer(tokens.owner)), await s.request('GET', '/api/v1/tasks')]) {
      assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
      assert.equal(res.headers.get('x-frame-options'), 'DENY');
      assert.equal(res.headers.get('referrer-policy'), 'no-referrer');
      assert.equal(res.headers.get('content-security-policy'), "default-src 'none'; frame-ancestors 'none'");
      assert.equal(res.headers.get('cache-control'), 'no-store');
    }
  });
});

describe('access control across API nodes', () => {
  let s: TestServer;
  let second: { app: Awaited<ReturnType<typeof createServer>>; base: string; close(): Promise<void> };

  before(async () => {
    s = await startServer({ autoStart: false }, { auth: {} });
    // A second API node on the same store: another process in production, another hub and server here.
    const hub = await openTestHub({ store: `sqlite:${s.hub.dbPath}`, autoStart: false });
    const app = await createServer({ hub, logger: false, auth: {} });
    await app.listen({ port: 0, host: '127.0.0.1' });
    second = {
      app,
      base: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`,
      async close() {
        await app.close();
        await hub.close({ graceMs: 0 });
      },
    };
  });

  after(async () => {
    await second.close();
    await s.close();
  });

  it('refuses a revoked key at once on every node, with the follow tokens it issued', async () => {
    const { key, token } = await createApiKey(s.hub.keys, { owner: 'carol', scopes: ['tasks:read', 'tasks:write'] });
    const created = await s.request('POST', '/api/v1/tasks', { type: 'x' }, bearer(token));
    const task = (await created.json()) as Task;
    const follow = ((await (await s.request('POST', `/api/v1/tasks/${task.id}/token`, {}, bearer(token))).json()) as { token: string }).token;
    const get = (base: string, t: string) => fetch(`${base}/api/v1/tasks/${task.id}`, { headers: bearer(t) });
    for (const base of [s.base, second.base]) {
      assert.equal((await get(base, token)).status, 200, 'the key works on both nodes');
      assert.equal((await get(base, follow)).status, 200, 'so does its follow token, signed with the shared key');
    }
    const revoke = spawnSync(process.execPath, [join(import.meta.dirname, '..', 'bin', 'taskhub.js'), 'keys', 'revoke', key.id, '--json', '--store', `sqlite:${s.hub.dbPath}`], { encoding: 'utf8' });
    assert.equal(revoke.status, 0, revoke.stderr);
    assert.deepEqual(JSON.parse(revoke.stdout), { id: key.id, revoked: true });
    for (const base of [s.base, second.base]) {
      const res = await get(base, token);
      assert.equal(res.status, 401, 'refused at once');
      assert.match(((await res.json()) as { detail: string }).detail, /revoked/);
      assert.equal((await get(base, follow)).status, 401, 'and its follow tokens with it');
    }
  });

  it('accepts API keys only when no JWT option is given', async () => {
    const token = await jwt({ scope: 'admin' }, { sub: 'mallory' });
    const res = await s.request('GET', '/api/v1/tasks', undefined, bearer(token));
    assert.equal(res.status, 401);
    assert.match(((await res.json()) as { detail: string }).detail, /API keys, not JWTs/);
    assert.equal((await s.request('GET', '/api/v1/tasks', undefined, bearer('thk_0123456789abcdef_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'))).status, 401);
  });
});

describe('the client SDK with a follow token', () => {
  it('gets, follows and waits for the result of its task, and does nothing else', async () => {
    const s = await startServer({ worker: { pollIntervalMs: 20 } }, { auth: {} });
    try {
      s.hub.handle('slow-echo', async (payload, ctx) => {
        await ctx.progress(50, 'halfway');
        await ctx.output('partial');
        return { echoed: payload };
      });
      const { token: key } = await createApiKey(s.hub.keys, { owner: 'gina', scopes: ['tasks:read', 'tasks:write'] });
      const backend = new TaskhubClient({ url: s.base, token: key });
      const task = await backend.submit('slow-echo', { n: 1 });
      const { token, expiresAt } = await backend.followToken(task.id, { ttlSeconds: 120 });
      assert.ok(expiresAt > Date.now() + 100_000);
      const browser = new TaskhubClient({ url: s.base, token });
      const kinds: string[] = [];
      for await (const event of browser.follow(task.id)) kinds.push(event.kind);
      assert.deepEqual(kinds, ['created', 'started', 'progress', 'output', 'completed']);
      assert.deepEqual((await browser.result(task.id)).result, { echoed: { n: 1 } });
      assert.equal((await browser.get(task.id)).status, 'completed');
      const other = await backend.submit('slow-echo', { n: 2 });
      await assert.rejects(browser.get(other.id), (e: unknown) => e instanceof TaskhubHttpError && e.status === 404);
      await assert.rejects(browser.list(), (e: unknown) => e instanceof TaskhubHttpError && e.status === 403);
      await assert.rejects(browser.submit('slow-echo'), (e: unknown) => e instanceof TaskhubHttpError && e.status === 403);
      await assert.rejects(browser.cancel(task.id), (e: unknown) => e instanceof TaskhubHttpError && e.status === 403);
    } finally {
      await s.close();
    }
  });
});

describe('JWT audience and issuer', () => {
  it('refuses tokens for another audience or from another issuer when they are configured', async () => {
    const s = await startServer({ autoStart: false }, { auth: { jwtSecret: JWT_SECRET, jwtAudience: 'taskhub-prod', jwtIssuer: 'https://id.example' } });
    try {
      const key = new TextEncoder().encode(JWT_SECRET);
      const sign = (aud: string, iss: string) =>
        new SignJWT({ scope: 'tasks:read' }).setProtectedHeader({ alg: 'HS256' }).setSubject('hal').setAudience(aud).setIssuer(iss).setExpirationTime('5m').sign(key);
      const status = async (token: string) => (await s.request('GET', '/api/v1/tasks', undefined, bearer(token))).status;
      assert.equal(await status(await sign('taskhub-prod', 'https://id.example')), 200);
      assert.equal(await status(await sign('billing', 'https://id.example')), 401);
      assert.equal(await status(await sign('taskhub-prod', 'https://evil.example')), 401);
      assert.equal(await status(await jwt({ scope: 'tasks:read' }, { sub: 'hal' })), 401, 'no aud at all');
    } finally {
      await s.close();
    }
  });
});

describe('JWTs verified with a public key', () => {
  for (const alg of ['RS256', 'ES256', 'EdDSA'] as const) {
    it(`accepts ${alg} tokens signed by the matching private key, and nothing else`, async () => {
      const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true });
      const other = await generateKeyPair(alg, { extractable: true });
      // PEM for two of them, JWK for the third: the file may hold either.
      const jwtPublicKey = alg === 'ES256' ? JSON.stringify(await exportJWK(publicKey)) : await exportSPKI(publicKey);
      const s = await startServer({ autoStart: false }, { auth: { jwtPublicKey } });
      try {
        const sign = (key: CryptoKey, claims: Record<string, unknown> = { scope: 'tasks:write' }) =>
          new SignJWT(claims).setProtectedHeader({ alg }).setSubject('dave').setExpirationTime('5m').sign(key);
        const ok = await s.request('POST', '/api/v1/tasks', { type: 'x' }, bearer(await sign(privateKey)));
        assert.equal(ok.status, 202, await ok.clone().text());
        assert.equal(((await ok.json()) as Task).owner, 'dave');
        assert.equal((await s.request('POST', '/api/v1/tasks', { type: 'x' }, bearer(await sign(other.privateKey)))).status, 401);
        assert.equal((await s.request('GET', '/api/v1/tasks', undefined, bearer(await sign(privateKey)))).status, 403, 'tasks:write does not read');
        // An HS256 token signed with the public key's bytes (the classic algorithm confusion) is refused.
        const confused = await jwt({ scope: 'admin' }, { sub: 'dave', secret: String(jwtPublicKey).padEnd(32, '=') });
        assert.equal((await s.request('GET', '/api/v1/tasks', undefined, bearer(confused))).status, 401);
      } finally {
        await s.close();
      }
    });
  }
});

describe('rate limits', () => {
  it('answers 429 with Retry-After per token, for submits and reads separately', async () => {
    const s = await startServer({ autoStart: false }, { auth: {}, rateLimits: { submit: { max: 3, windowMs: 60_000 }, read: { max: 5, windowMs: 60_000 } } });
    try {
      const store = s.hub.keys;
      const a = (await createApiKey(store, { owner: 'erin', scopes: ['tasks:read', 'tasks:write'] })).token;
      const b = (await createApiKey(store, { owner: 'erin', scopes: ['tasks:read', 'tasks:write'] })).token;
      const submit = (token: string) => s.request('POST', '/api/v1/tasks', { type: 'x' }, bearer(token));
      for (let i = 0; i < 3; i++) assert.equal((await submit(a)).status, 202);
      const limited = await submit(a);
      assert.equal(limited.status, 429);
      assert.equal(limited.headers.get('content-type'), PROBLEM_JSON);
      const retryAfter = Number(limited.headers.get('retry-after'));
      assert.ok(retryAfter > 0 && retryAfter <= 60, `Retry-After ${retryAfter}`);
      const problem = (await limited.json()) as { code: string; detail: string };
      assert.equal(problem.code, 'RATE_LIMITED');
      assert.match(problem.detail, /at most 3 per 60 s/);
      assert.equal((await s.hub.list({ limit: 100 })).tasks.length, 3, 'the refused submit stored nothing');
      assert.equal((await s.request('GET', '/api/v1/tasks', undefined, bearer(a))).status, 200, 'reads are counted apart');
      assert.equal((await submit(b)).status, 202, 'another token has its own counter');
      for (let i = 0; i < 4; i++) assert.equal((await s.request('GET', '/api/v1/tasks', undefined, bearer(a))).status, 200);
      assert.equal((await s.request('GET', '/api/v1/tasks', undefined, bearer(a))).status, 429);
      assert.equal((await s.request('GET', '/healthz')).status, 200, 'health checks are never limited');
    } finally {
      await s.close();
    }
  });

  it('counts per client address without auth', async () => {
    const s = await startServer({ autoStart: false }, { rateLimits: { submit: { max: 2, windowMs: 60_000 } } });
    try {
      assert.equal((await s.request('POST', '/api/v1/tasks', { type: 'x' })).status, 202);
      assert.equal((await s.request('POST', '/api/v1/tasks', { type: 'x' })).status, 202);
      assert.equal((await s.request('POST', '/api/v1/tasks', { type: 'x' })).status, 429);
      assert.equal((await s.request('GET', '/api/v1/tasks')).status, 200, 'reads have no limit here');
    } finally {
      await s.close();
    }
  });
});

describe('CORS under auth', () => {
  it('answers configured origins only, refusals and preflights included', async () => {
    const s = await startServer({ autoStart: false }, { auth: {}, corsOrigins: ['https://app.example'] });
    try {
      const preflight = await s.request('OPTIONS', '/api/v1/tasks', undefined, {
        origin: 'https://app.example',
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'authorization, content-type',
      });
      assert.equal(preflight.status, 204, 'a preflight needs no token');
      assert.equal(preflight.headers.get('access-control-allow-origin'), 'https://app.example');
      assert.match(preflight.headers.get('access-control-allow-headers') ?? '', /Authorization/);
      const refused = await s.request('GET', '/api/v1/tasks', undefined, { origin: 'https://app.example' });
      assert.equal(refused.status, 401);
      assert.equal(refused.headers.get('access-control-allow-origin'), 'https://app.example', 'the browser can read the 401');
      const elsewhere = await s.request('GET', '/api/v1/tasks', undefined, { origin: 'https://evil.example' });
      assert.equal(elsewhere.headers.get('access-control-allow-origin'), null);
    } finally {
      await s.close();
    }
  });
});

describe('logs', () => {
  it('never carry a token', async () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk, _encoding, done) {
        lines.push(String(chunk));
        done();
      },
    });
    const hub = await openTestHub({ autoStart: false });
    const app = await createServer({ hub, logger: pino({ level: 'trace' }, sink), auth: {} });
    await app.listen({ port: 0, host: '127.0.0.1' });
    const base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
    try {
      const { token } = await createApiKey(hub.keys, { owner: 'frank', scopes: ['tasks:read', 'tasks:write'] });
      const created = (await (await fetch(`${base}/api/v1/tasks`, { method: 'POST', headers: { ...bearer(token), 'content-type': 'application/json' }, body: '{"type":"x"}' })).json()) as Task;
      const follow = ((await (await fetch(`${base}/api/v1/tasks/${created.id}/token`, { method: 'POST', headers: bearer(token) })).json()) as { token: string }).token;
      await fetch(`${base}/api/v1/tasks/${created.id}?access_token=${follow}`);
      await fetch(`${base}/api/v1/tasks/${created.id}/events?access_token=${follow}&after=x`);
      await fetch(`${base}/api/v1/tasks`, { headers: bearer(`${token}x`) });
      const log = lines.join('');
      assert.match(log, /access_token=REDACTED/, 'the request was logged');
      assert.match(log, /"subject":"key:/, 'with who asked');
      const secret = token.split('_').slice(2).join('_');
      for (const [what, value] of [['API key secret', secret], ['follow token', follow], ['follow token signature', follow.split('.')[2] as string]] as const) {
        assert.ok(!log.includes(value), `the log holds no ${what}`);
      }
    } finally {
      await app.close();
      await hub.dispose();
    }
  });
});
