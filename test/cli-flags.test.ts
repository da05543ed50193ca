// Every flag that `taskhub serve --help` and `taskhub worker --help` list has an observable effect (issue 14, point 8:
// serve once passed no worker options on, so --queues and --poll-interval-ms did nothing). One row per flag (or a few
// flags that only make sense together): the process is started with it and the effect is checked from outside,
// through the HTTP API, the workers list, task histories, timing, files or the process's output. A guard test fails
// when --help lists a flag the table does not cover.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { exportSPKI, generateKeyPair, SignJWT } from 'jose';
import pino from 'pino';
import { Taskhub, type Task } from '../src/index.ts';
import { createApiKey } from '../src/server/auth.ts';
import { tempDir, waitUntil } from './helpers/hub.ts';
import { startServer, type TestServer } from './helpers/server.ts';

const ROOT = join(import.meta.dirname, '..');
const CLI = join(ROOT, 'bin', 'taskhub.js');
const HANDLERS = join(ROOT, 'test', 'fixtures', 'flag-handlers.ts');
const SECRET = 'a-test-secret-of-at-least-32-characters!!';

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** A running `taskhub serve` or `taskhub worker`, with what it printed. */
interface Run {
  child: ChildProcess;
  out(): string;
  /** The HTTP API to check against: the serve process's own, or the test server a worker works for. */
  base: string;
  dir: string;
  request(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<Response>;
  submit(type: string, extra?: Record<string, unknown>): Promise<Task>;
  task(id: string): Promise<Task>;
}

interface Row {
  /** The flags this row shows the effect of. */
  flags: string[];
  command: 'serve' | 'worker';
  args(dir: string): string[] | Promise<string[]>;
  check(run: Run): Promise<void>;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const startedGap = (a: Task, b: Task) => Math.abs((b.startedAt as number) - (a.startedAt as number));

async function hs256(claims: Record<string, unknown>, secret = SECRET): Promise<string> {
  return new SignJWT({ scope: 'tasks:read tasks:write', ...claims }).setProtectedHeader({ alg: 'HS256' }).setSubject('alice').setIssuedAt().setExpirationTime('5m').sign(new TextEncoder().encode(secret));
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

const ROWS: Row[] = [
  {
    flags: ['host'],
    command: 'serve',
    args: () => ['--host', '127.0.0.2'],
    check: async (run) => assert.match(run.base, /^http:\/\/127\.0\.0\.2:/),
  },
  {
    flags: ['port'],
    command: 'serve',
    args: async () => {
      keys.port = await freePort();
      return ['--port', String(keys.port)];
    },
    check: async (run) => assert.equal(new URL(run.base).port, String(keys.port)),
  },
  {
    flags: ['cors-origin'],
    command: 'serve',
    args: () => ['--cors-origin', 'https://app.example'],
    check: async (run) => {
      const res = await run.request('GET', '/api/v1/tasks', undefined, { origin: 'https://app.example' });
      assert.equal(res.headers.get('access-control-allow-origin'), 'https://app.example');
    },
  },
  {
    flags: ['body-limit'],
    command: 'serve',
    args: () => ['--body-limit', '300'],
    check: async (run) => {
      assert.equal((await run.request('POST', '/api/v1/tasks', { type: 'echo', payload: 'x'.repeat(1000) })).status, 413);
      assert.equal((await run.request('POST', '/api/v1/tasks', { type: 'echo', payload: 'small' })).status, 202);
    },
  },
  {
    flags: ['auth'],
    command: 'serve',
    args: () => ['--auth'],
    check: async (run) => assert.equal((await run.request('GET', '/api/v1/tasks')).status, 401),
  },
  {
    flags: ['jwt-secret'],
    command: 'serve',
    args: () => ['--jwt-secret', SECRET],
    check: async (run) => {
      assert.equal((await run.request('GET', '/api/v1/tasks', undefined, bearer(await hs256({})))).status, 200);
      assert.equal((await run.request('GET', '/api/v1/tasks', undefined, bearer(await hs256({}, `${SECRET}-other`)))).status, 401);
    },
  },
  {
    flags: ['jwt-public-key'],
    command: 'serve',
    args: async (dir) => {
      const { publicKey, privateKey } = await generateKeyPair('ES256');
      writeFileSync(join(dir, 'key.pem'), await exportSPKI(publicKey));
      keys.es256 = await new SignJWT({ scope: 'tasks:read' }).setProtectedHeader({ alg: 'ES256' }).setSubject('bob').setExpirationTime('5m').sign(privateKey);
      return ['--jwt-public-key', join(dir, 'key.pem')];
    },
    check: async (run) => {
      assert.equal((await run.request('GET', '/api/v1/tasks', undefined, bearer(keys.es256))).status, 200);
      assert.equal((await run.request('GET', '/api/v1/tasks', undefined, bearer(await hs256({})))).status, 401);
    },
  },
  {
    flags: ['jwt-audience'],
    command: 'serve',
    args: () => ['--jwt-secret', SECRET, '--jwt-audience', 'taskhub-test'],
    check: async (run) => {
      assert.equal((await run.request('GET', '/api/v1/tasks', undefined, bearer(await hs256({ aud: 'taskhub-test' })))).status, 200);
      assert.equal((await run.request('GET', '/api/v1/tasks', undefined, bearer(await hs256({ aud: 'another' })))).status, 401);
    },
  },
  {
    flags: ['jwt-issuer'],
    command: 'serve',
    args: () => ['--jwt-secret', SECRET, '--jwt-issuer', 'https://idp.example'],
    check: async (run) => {
      assert.equal((await run.request('GET', '/api/v1/tasks', undefined, bearer(await hs256({ iss: 'https://idp.example' })))).status, 200);
      assert.equal((await run.request('GET', '/api/v1/tasks', undefined, bearer(await hs256({ iss: 'https://elsewhere' })))).status, 401);
    },
  },
  {
    flags: ['rate-limit-submit'],
    command: 'serve',
    args: () => ['--rate-limit-submit', '2/60000'],
    check: async (run) => {
      const statuses = [];
      for (let i = 0; i < 3; i++) statuses.push((await run.request('POST', '/api/v1/tasks', { type: 'echo' })).status);
      assert.deepEqual(statuses, [202, 202, 429]);
    },
  },
  {
    flags: ['rate-limit-read'],
    command: 'serve',
    args: () => ['--rate-limit-read', '2/60000'],
    check: async (run) => {
      const statuses = [];
      for (let i = 0; i < 3; i++) statuses.push((await run.request('GET', '/api/v1/tasks')).status);
      assert.deepEqual(statuses, [200, 200, 429]);
    },
  },
  {
    flags: ['rate-limit-control'],
    command: 'serve',
    // Its own budget: reads and submits are not counted against it, and it is not counted against theirs.
    args: () => ['--rate-limit-control', '2/60000'],
    check: async (run) => {
      const statuses = [];
      for (let i = 0; i < 3; i++) statuses.push((await run.request('POST', '/api/v1/queues/flags/pause')).status);
      assert.deepEqual(statuses, [200, 200, 429]);
      assert.equal((await run.request('GET', '/api/v1/tasks')).status, 200);
      assert.equal((await run.request('POST', '/api/v1/tasks', { type: 'echo' })).status, 202);
    },
  },
  {
    flags: ['checkpoint-max-bytes'],
    command: 'serve',
    args: () => ['--handlers', HANDLERS, '--checkpoint-max-bytes', '100'],
    check: async (run) => {
      const small = await run.submit('snapshot', { payload: { size: 10 }, maxAttempts: 1 });
      const large = await run.submit('snapshot', { payload: { size: 200 }, maxAttempts: 1 });
      await waitUntil(async () => (await run.task(large.id)).status === 'failed', 10_000, 'the large checkpoint refused');
      assert.equal((await run.task(large.id)).error?.code, 'CHECKPOINT_TOO_LARGE');
      await waitUntil(async () => (await run.task(small.id)).status === 'completed', 10_000, 'the small checkpoint stored');
    },
  },
  {
    flags: ['handlers'],
    command: 'serve',
    args: () => ['--handlers', HANDLERS],
    check: async (run) => {
      const task = await run.submit('echo', { payload: { hello: 'flags' } });
      await waitUntil(async () => (await run.task(task.id)).status === 'completed', 10_000, 'echo completed');
      assert.deepEqual((await run.task(task.id)).result, { hello: 'flags' });
    },
  },
  {
    flags: ['concurrency'],
    command: 'serve',
    args: () => ['--handlers', HANDLERS, '--concurrency', '3'],
    check: async (run) => {
      const { workers } = (await (await run.request('GET', '/api/v1/workers')).json()) as { workers: { concurrency: number; types: string[] }[] };
      assert.equal(workers[0]?.concurrency, 3 * workers[0].types.length);
    },
  },
  {
    flags: ['queues'],
    command: 'serve',
    args: () => ['--handlers', HANDLERS, '--queues', 'only-this'],
    check: async (run) => {
      const other = await run.submit('echo', { queue: 'default' });
      const mine = await run.submit('echo', { queue: 'only-this' });
      await waitUntil(async () => (await run.task(mine.id)).status === 'completed', 10_000, 'the only-this task');
      await sleep(500);
      assert.equal((await run.task(other.id)).status, 'queued', 'a task of another queue is left alone');
    },
  },
  {
    flags: ['shutdown-grace'],
    command: 'serve',
    args: () => ['--handlers', HANDLERS, '--shutdown-grace', '200'],
    check: async (run) => {
      const task = await run.submit('slow');
      await waitUntil(async () => (await run.task(task.id)).status === 'running', 10_000, 'slow running');
      const t0 = performance.now();
      run.child.kill('SIGTERM');
      await once(run.child, 'exit');
      // The handler takes 8 s; the default grace (10 s) would wait for it.
      assert.ok(performance.now() - t0 < 5000, `exited ${Math.round(performance.now() - t0)} ms after SIGTERM`);
    },
  },
  {
    flags: ['poll-interval-ms'],
    command: 'serve',
    // A rate-limited queue's next window is the one thing no notice announces: the worker finds it at its next poll.
    args: async (dir) => {
      await limitQueue(dir);
      return ['--handlers', HANDLERS, '--poll-interval-ms', '4000'];
    },
    check: async (run) => {
      const [a, b] = [await run.submit('echo', { queue: 'limited' }), await run.submit('echo', { queue: 'limited' })];
      await waitUntil(async () => (await run.task(b.id)).status === 'completed', 15_000, 'the second limited task');
      const gap = startedGap(await run.task(a.id), await run.task(b.id));
      assert.ok(gap >= 2500, `second start ${gap} ms after the first: the 4 s poll, not the 1 s default`);
    },
  },
  {
    flags: ['lease-ms'],
    command: 'serve',
    args: () => ['--lease-ms', '700'],
    check: async (run) => {
      await run.submit('echo');
      const t0 = Date.now();
      const { claims } = (await (await run.request('POST', '/api/v1/worker/claim', { workerId: 'probe', types: ['echo'] })).json()) as { claims: { leaseExpiresAt: number }[] };
      assert.ok(claims[0].leaseExpiresAt - t0 <= 1500, `lease of ${claims[0].leaseExpiresAt - t0} ms`);
    },
  },
  {
    flags: ['heartbeat-interval-ms'],
    command: 'serve',
    // Heartbeats slower than the lease: the running task's lease expires and it is retried; lease/3 (the default) holds it.
    args: () => ['--handlers', HANDLERS, '--lease-ms', '600', '--heartbeat-interval-ms', '5000'],
    check: async (run) => {
      const task = await run.submit('slow', { maxAttempts: 5 });
      await waitUntil(async () => (await run.task(task.id)).attempts >= 2, 10_000, 'a second attempt after the lease expired');
    },
  },
  {
    flags: ['log-level'],
    command: 'serve',
    args: () => ['--log-level', 'warn'],
    check: async (run) => assert.ok(!run.out().includes('"msg":"taskhub listening'), run.out()),
  },
  {
    flags: ['log-format'],
    command: 'serve',
    args: () => ['--log-format', 'pretty'],
    check: async (run) => {
      assert.match(run.out(), /INFO/);
      assert.ok(!run.out().split('\n').some((line) => line.startsWith('{')), run.out());
    },
  },
  {
    flags: ['store'],
    command: 'serve',
    args: (dir) => ['--store', `sqlite:${join(dir, 'elsewhere.db')}`],
    check: async (run) => assert.ok(existsSync(join(run.dir, 'elsewhere.db'))),
  },
  {
    flags: ['retain-completed', 'retention-interval'],
    command: 'serve',
    args: () => ['--handlers', HANDLERS, '--retain-completed', '1ms', '--retention-interval', '300ms'],
    check: async (run) => {
      const task = await run.submit('echo');
      await waitUntil(async () => (await run.request('GET', `/api/v1/tasks/${task.id}`)).status === 404, 10_000, 'the completed task deleted');
    },
  },
  {
    flags: ['retain-failed'],
    command: 'serve',
    args: () => ['--handlers', HANDLERS, '--retain-failed', '1ms', '--retention-interval', '300ms'],
    check: async (run) => {
      const kept = await run.submit('echo');
      const task = await run.submit('bad');
      await waitUntil(async () => (await run.request('GET', `/api/v1/tasks/${task.id}`)).status === 404, 10_000, 'the failed task deleted');
      assert.equal((await run.task(kept.id)).status, 'completed', 'completed tasks are kept');
    },
  },
  {
    flags: ['retain-cancelled'],
    command: 'serve',
    args: () => ['--retain-cancelled', '1ms', '--retention-interval', '300ms'],
    check: async (run) => {
      const task = await run.submit('echo');
      assert.equal((await run.request('POST', `/api/v1/tasks/${task.id}/cancel`, {})).status, 200);
      await waitUntil(async () => (await run.request('GET', `/api/v1/tasks/${task.id}`)).status === 404, 10_000, 'the cancelled task deleted');
    },
  },
  // ---- taskhub worker: against the store (a test server shares its SQLite file), or a server with --url ----
  {
    flags: ['handlers', 'store'],
    command: 'worker',
    args: () => ['--handlers', HANDLERS, '--store', `sqlite:${server.hub.dbPath}`],
    check: async (run) => {
      const task = await run.submit('echo', { payload: 7 });
      await waitUntil(async () => (await run.task(task.id)).status === 'completed', 10_000, 'echo completed by the worker');
    },
  },
  {
    flags: ['checkpoint-max-bytes'],
    command: 'worker',
    args: () => ['--handlers', HANDLERS, '--store', `sqlite:${server.hub.dbPath}`, '--checkpoint-max-bytes', '100'],
    check: async (run) => {
      const large = await run.submit('snapshot', { payload: { size: 200 }, maxAttempts: 1 });
      await waitUntil(async () => (await run.task(large.id)).status === 'failed', 10_000, 'the large checkpoint refused');
      assert.equal((await run.task(large.id)).error?.code, 'CHECKPOINT_TOO_LARGE');
    },
  },
  {
    flags: ['concurrency'],
    command: 'worker',
    args: () => ['--handlers', HANDLERS, '--store', `sqlite:${server.hub.dbPath}`, '--concurrency', '2'],
    check: async (run) => {
      const { workers } = (await (await run.request('GET', '/api/v1/workers')).json()) as { workers: { concurrency: number; types: string[] }[] };
      assert.equal(workers[0]?.concurrency, 2 * workers[0].types.length);
    },
  },
  {
    flags: ['queues'],
    command: 'worker',
    args: () => ['--handlers', HANDLERS, '--store', `sqlite:${server.hub.dbPath}`, '--queues', 'only-this'],
    check: async (run) => {
      const other = await run.submit('echo', { queue: 'default' });
      const mine = await run.submit('echo', { queue: 'only-this' });
      await waitUntil(async () => (await run.task(mine.id)).status === 'completed', 10_000, 'the only-this task');
      await sleep(500);
      assert.equal((await run.task(other.id)).status, 'queued');
      await server.hub.cancel(other.id);
    },
  },
  {
    flags: ['shutdown-grace'],
    command: 'worker',
    args: () => ['--handlers', HANDLERS, '--store', `sqlite:${server.hub.dbPath}`, '--shutdown-grace', '200'],
    check: async (run) => {
      const task = await run.submit('slow');
      await waitUntil(async () => (await run.task(task.id)).status === 'running', 10_000, 'slow running');
      const t0 = performance.now();
      run.child.kill('SIGTERM');
      await once(run.child, 'exit');
      assert.ok(performance.now() - t0 < 5000, `exited ${Math.round(performance.now() - t0)} ms after SIGTERM`);
      assert.equal((await run.task(task.id)).status, 'queued', 'given back');
      await server.hub.cancel(task.id);
    },
  },
  {
    flags: ['poll-interval-ms'],
    command: 'worker',
    args: () => ['--handlers', HANDLERS, '--store', `sqlite:${server.hub.dbPath}`, '--poll-interval-ms', '4000'],
    check: async (run) => {
      await server.hub.setQueueLimits('limited-w', { rateLimit: { count: 1, intervalMs: 300 } });
      const [a, b] = [await run.submit('echo', { queue: 'limited-w' }), await run.submit('echo', { queue: 'limited-w' })];
      await waitUntil(async () => (await run.task(b.id)).status === 'completed', 15_000, 'the second limited task');
      const gap = startedGap(await run.task(a.id), await run.task(b.id));
      assert.ok(gap >= 2500, `second start ${gap} ms after the first`);
    },
  },
  {
    flags: ['lease-ms', 'heartbeat-interval-ms'],
    command: 'worker',
    args: () => ['--handlers', HANDLERS, '--store', `sqlite:${server.hub.dbPath}`, '--lease-ms', '600', '--heartbeat-interval-ms', '5000'],
    check: async (run) => {
      const task = await run.submit('slow', { maxAttempts: 5 });
      await waitUntil(async () => (await run.task(task.id)).status === 'running', 10_000, 'slow running');
      await waitUntil(async () => (await run.task(task.id)).attempts >= 2, 10_000, 'a second attempt after the lease expired');
      await server.hub.cancel(task.id);
    },
  },
  {
    flags: ['log-level'],
    command: 'worker',
    // At the default (info) the worker logs "worker started"; at warn it says nothing while all is well.
    args: () => ['--handlers', HANDLERS, '--store', `sqlite:${server.hub.dbPath}`, '--log-level', 'warn'],
    check: async (run) => {
      await sleep(700);
      assert.ok(!run.out().includes('worker started'), run.out());
    },
  },
  {
    flags: ['log-format'],
    command: 'worker',
    args: () => ['--handlers', HANDLERS, '--store', `sqlite:${server.hub.dbPath}`, '--log-format', 'pretty'],
    check: async (run) => {
      await waitUntil(() => /INFO/.test(run.out()), 5000, 'a pretty log line');
      assert.ok(!run.out().split('\n').some((line) => line.startsWith('{')), run.out());
    },
  },
  {
    flags: ['metrics-port'],
    command: 'worker',
    args: async () => {
      keys.metricsPort = await freePort();
      return ['--handlers', HANDLERS, '--store', `sqlite:${server.hub.dbPath}`, '--metrics-port', String(keys.metricsPort)];
    },
    check: async (run) => {
      await waitUntil(async () => (await fetch(`http://127.0.0.1:${keys.metricsPort}/metrics`).catch(() => null))?.status === 200, 5000, 'metrics served');
      assert.match(await (await fetch(`http://127.0.0.1:${keys.metricsPort}/metrics`)).text(), /taskhub_/);
      void run;
    },
  },
  {
    flags: ['url', 'token'],
    command: 'worker',
    args: () => ['--handlers', HANDLERS, '--url', authServer.base, '--token', keys.worker, '--store', 'sqlite:/nonexistent/never.db'],
    check: async (run) => {
      const task = await authServer.hub.enqueue('echo', 'remote');
      await waitUntil(async () => (await authServer.hub.get(task.id)).status === 'completed', 10_000, 'run over HTTP');
      void run;
    },
  },
  {
    flags: ['claim-wait-ms'],
    command: 'worker',
    // The idle long-poll ends after claim-wait-ms and claims again: a rate-limited queue's next window is found then.
    args: () => ['--handlers', HANDLERS, '--url', authServer.base, '--token', keys.worker, '--claim-wait-ms', '600'],
    check: async () => {
      await authServer.hub.setQueueLimits('limited-r', { rateLimit: { count: 1, intervalMs: 300 } });
      const a = await authServer.hub.enqueue('echo', 1, { queue: 'limited-r' });
      const b = await authServer.hub.enqueue('echo', 2, { queue: 'limited-r' });
      await waitUntil(async () => (await authServer.hub.get(b.id)).status === 'completed', 15_000, 'the second limited task');
      const gap = startedGap(await authServer.hub.get(a.id), await authServer.hub.get(b.id));
      assert.ok(gap < 2500, `second start ${gap} ms after the first (the long-poll's 5 s slices would allow up to 5 s)`);
    },
  },
];

const keys = { es256: '', worker: '', admin: '', metricsPort: 0, port: 0 };
let server: TestServer;
let authServer: TestServer;

/** Opens the serve row's store file first, to give queue `limited` a rate limit of 1 start per 300 ms. */
async function limitQueue(dir: string): Promise<void> {
  const hub = await Taskhub.open({ store: `sqlite:${join(dir, 'taskhub.db')}`, logger: pino({ level: 'silent' }), autoStart: false });
  await hub.setQueueLimits('limited', { rateLimit: { count: 1, intervalMs: 300 } });
  await hub.close();
}

async function start(row: Row, dir: string): Promise<Run> {
  const args = await row.args(dir);
  const env: NodeJS.ProcessEnv = { ...process.env, TASKHUB_STORE: `sqlite:${join(dir, 'taskhub.db')}`, TASKHUB_PORT: '0' };
  for (const name of Object.keys(env)) if (name.startsWith('TASKHUB_') && !['TASKHUB_STORE', 'TASKHUB_PORT'].includes(name)) delete env[name];
  const child = spawn(process.execPath, [CLI, row.command, ...args], { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout?.on('data', (chunk: Buffer) => (out += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (out += chunk.toString()));
  let base = '';
  let headers: Record<string, string> = {};
  if (row.command === 'serve') {
    await waitUntil(() => /Taskhub listening on (\S+)/.test(out) || child.exitCode !== null, 20_000, `serve started: ${out}`);
    assert.equal(child.exitCode, null, out);
    base = (/Taskhub listening on (\S+)/.exec(out) as RegExpExecArray)[1];
  } else {
    const target = args.includes('--url') ? authServer : server;
    base = target.base;
    if (target === authServer) headers = bearer(keys.admin);
    await waitUntil(async () => child.exitCode !== null || (await target.hub.workers()).length > 0, 20_000, `worker registered: ${out}`);
    assert.equal(child.exitCode, null, out);
  }
  const request = (method: string, path: string, body?: unknown, extra: Record<string, string> = {}) =>
    fetch(`${base}${path}`, { method, headers: { ...headers, ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...extra }, body: body === undefined ? undefined : JSON.stringify(body) });
  return {
    child,
    out: () => out,
    base,
    dir,
    request,
    async submit(type, extra = {}) {
      const res = await request('POST', '/api/v1/tasks', { type, ...extra });
      assert.equal(res.status, 202, await res.clone().text());
      return (await res.json()) as Task;
    },
    async task(id) {
      return (await (await request('GET', `/api/v1/tasks/${id}`)).json()) as Task;
    },
  };
}

function helpFlags(command: string): string[] {
  const r = spawnSync(process.execPath, [CLI, command, '--help'], { encoding: 'utf8', timeout: 30_000 });
  assert.equal(r.status, 0);
  assert.match(r.stdout, new RegExp(`usage: taskhub ${command}`));
  return [...r.stdout.matchAll(/^\s+(?:-\w, )?--([\w-]+)/gm)].map((m) => m[1]);
}

describe('every CLI flag has an effect', () => {
  before(async () => {
    server = await startServer({ autoStart: false });
    authServer = await startServer({ autoStart: false }, { auth: {} });
    keys.worker = (await createApiKey(authServer.hub.keys, { owner: 'ops', scopes: ['worker'] })).token;
    keys.admin = (await createApiKey(authServer.hub.keys, { owner: 'ops', scopes: ['admin'] })).token;
  });
  after(async () => {
    await server.close();
    await authServer.close();
  });

  it('covers every flag --help lists (and --help itself prints the usage)', () => {
    for (const command of ['serve', 'worker'] as const) {
      const covered = new Set(ROWS.filter((r) => r.command === command).flatMap((r) => r.flags));
      const missing = helpFlags(command).filter((flag) => flag !== 'help' && !covered.has(flag));
      assert.deepEqual(missing, [], `taskhub ${command} flags without a row`);
    }
  });

  for (const row of ROWS) {
    it(`${row.command} --${row.flags.join(' --')}`, async () => {
      const tmp = tempDir('taskhub-flags-');
      let run: Run | undefined;
      try {
        run = await start(row, tmp.dir);
        await row.check(run);
      } finally {
        if (run && run.child.exitCode === null && run.child.signalCode === null) {
          run.child.kill('SIGKILL');
          await once(run.child, 'exit');
        }
        // A killed worker stays listed until it is stale: take it off, so the next row waits for its own.
        for (const s of [server, authServer]) for (const w of await s.hub.workers()) await s.hub.attempts.forgetWorker(w.id);
        tmp.remove();
      }
    });
  }
});
