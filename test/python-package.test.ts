// The Python package (clients/python) installed offline into a fresh venv, then used against a real server with API
// keys: the client end to end (submit, follow through a cut connection with Last-Event-ID, result, batch, cancel,
// retry, typed errors, follow tokens, publish, the polling fallback); the Celery-style layer end to end (delay,
// apply_async with countdown and priority, get, retries, follow, soft and hard time limits, cancel); and
// examples/python/brand_diagnosis.py. Needs python3 (3.9+), or TASKHUB_PYTHON naming another interpreter.
import assert from 'node:assert/strict';
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { createApiKey } from '../src/server/auth.ts';
import { tempDir } from './helpers/hub.ts';
import { type LocalRoute, startProxy, type TestProxy } from './helpers/proxy.ts';
import { gate, startServer, type TestServer } from './helpers/server.ts';

const run = promisify(execFile);
const PYTHON = process.env.TASKHUB_PYTHON ?? 'python3';
const ROOT = join(import.meta.dirname, '..');
const FIXTURES = join(import.meta.dirname, 'fixtures', 'python');

// biome-ignore lint/suspicious/noExplicitAny: JSON lines from Python, checked field by field below
type Line = Record<string, any>;

/** A Python process whose stdout is JSON lines; `next(step)` waits for the next line of that step. */
class PythonRun {
  readonly lines: Line[] = [];
  stderr = '';
  readonly exited: Promise<number | null>;
  #waiters: (() => void)[] = [];
  readonly child: ChildProcess;

  constructor(child: ChildProcess) {
    this.child = child;
    createInterface({ input: child.stdout! }).on('line', (line) => {
      try {
        this.lines.push(JSON.parse(line) as Line);
      } catch {
        this.lines.push({ step: 'text', text: line });
      }
      for (const wake of this.#waiters.splice(0)) wake();
    });
    child.stderr!.on('data', (chunk: Buffer) => (this.stderr += chunk.toString()));
    this.exited = once(child, 'exit').then(([code]) => {
      for (const wake of this.#waiters.splice(0)) wake();
      return code as number | null;
    });
  }

  async next(step: string, timeoutMs = 15_000): Promise<Line> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.lines.find((l) => l.step === step && !l.taken);
      if (found) {
        found.taken = true;
        return found;
      }
      if (this.child.exitCode !== null || Date.now() > deadline) {
        throw new Error(`no "${step}" line (exit ${this.child.exitCode}); stdout: ${JSON.stringify(this.lines)}\nstderr: ${this.stderr}`);
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 100);
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  send(line: string): void {
    this.child.stdin!.write(`${line}\n`);
  }
}

describe('Python package (clients/python) in a fresh venv', () => {
  let s: TestServer;
  let proxy: TestProxy;
  /** Paths the proxy answers itself; filled in by a test. */
  const routes: Record<string, LocalRoute> = {};
  const venv = tempDir('taskhub-venv-');
  const python = join(venv.dir, 'bin', 'python');
  let admin = '';
  const children: ChildProcess[] = [];
  const released = gate();

  const env = () => ({
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? '',
    TASKHUB_URL: s.base,
    TASKHUB_TOKEN: admin,
    PYTHONUNBUFFERED: '1',
    PYTHONDONTWRITEBYTECODE: '1',
  });

  const start = (args: string[], cwd = FIXTURES) => {
    const child = spawn(python, args, { cwd, env: env(), stdio: ['pipe', 'pipe', 'pipe'] });
    children.push(child);
    return new PythonRun(child);
  };

  before(async () => {
    s = await startServer({ worker: { pollIntervalMs: 50 } }, { auth: {}, sseHeartbeatMs: 200 });
    admin = (await createApiKey(s.hub.keys, { owner: 'ops', scopes: ['admin'] })).token;
    s.hub.handle('gated', async (payload, ctx) => {
      await ctx.progress(10, 'waiting at the gate');
      await released.promise;
      await ctx.output('after the cut');
      await ctx.progress(100, 'done');
      return { ok: true, payload };
    });
    proxy = await startProxy(s.base, routes);
    // Offline: nothing comes from an index; the package builds with its own standard-library backend.
    await run(PYTHON, ['-m', 'venv', venv.dir]);
    await run(python, ['-m', 'pip', 'install', '--no-index', '--disable-pip-version-check', '-q', join(ROOT, 'clients', 'python')], { env: { ...process.env, PIP_NO_INDEX: '1' } });
  });

  after(async () => {
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await proxy?.close();
    await s?.close();
    venv.remove();
  });

  it('installs from the folder without an index and imports from the venv', async () => {
    const { stdout } = await run(python, ['-c', 'import taskhub, taskhub_worker, sys; print(taskhub.__file__); print(taskhub_worker.__file__); print(sys.version_info >= (3, 9))'], { cwd: venv.dir });
    const [pkg, shim, recent] = stdout.trim().split('\n');
    assert.ok(pkg?.startsWith(venv.dir), pkg);
    assert.ok(shim?.startsWith(venv.dir), shim);
    assert.equal(recent, 'True');
  });

  it('client: submit, follow through a cut connection, result, batch, cancel, retry, typed errors, follow token, publish, polling', async () => {
    const py = start(['client_flow.py', proxy.url, admin]);
    const installed = await py.next('installed');
    assert.ok(String(installed.file).startsWith(venv.dir), 'the venv copy runs');

    const submitted = await py.next('submitted');
    assert.equal(submitted.created, true);
    assert.equal(submitted.createdAgain, false, 'the idempotency key gave the same task');
    assert.equal(submitted.againId, submitted.id);
    assert.equal(submitted.task.priority, 5);
    assert.equal(submitted.task.maxAttempts, 2);
    assert.equal(submitted.task.timeoutMs, 30_000);
    assert.deepEqual(submitted.task.tags, { team: 'py' });

    // Cut the live stream once the follower has seen the first progress event, then let the handler go on.
    for (;;) {
      const event = await py.next('event');
      if (event.kind === 'progress') break;
    }
    assert.equal(proxy.dropStreams(), 1, 'one live stream was cut');
    released.open();
    const result = await py.next('result');
    assert.equal(result.status, 'completed');
    assert.deepEqual(result.result, { ok: true, payload: { n: 1 } });
    const seen = py.lines.filter((l) => l.step === 'event');
    const history = await s.hub.events(submitted.id);
    assert.deepEqual(seen.map((e) => e.seq), history.map((e) => e.seq), 'every event once, in order, across the cut');
    assert.deepEqual(seen.map((e) => e.kind), history.map((e) => e.kind));
    const streams = proxy.requests.filter((r) => r.url.includes(`/tasks/${submitted.id}/stream`));
    assert.ok(streams.length >= 2, `${streams.length} stream requests`);
    assert.equal(streams[0]?.headers['last-event-id'], undefined);
    const progressSeq = seen.find((e) => e.kind === 'progress')?.seq;
    assert.equal(streams[1]?.headers['last-event-id'], String(progressSeq), 'resumed after the last event it had');

    const batch = await py.next('batch');
    assert.deepEqual(batch.statuses, ['scheduled', 'queued']);
    assert.ok(batch.runAtDelta >= 59_000 && batch.runAtDelta <= 61_000, `delay 60 s: ${batch.runAtDelta}`);
    assert.equal(batch.queue, 'py-q');
    assert.equal(batch.cancelled, 'cancelled');
    assert.equal(batch.retried, 'queued');
    assert.deepEqual(await py.next('timeout'), { step: 'timeout', raised: true, isTimeoutError: true, taskStatus: 'queued', taken: true });

    const errors = await py.next('errors');
    assert.equal(errors.bad.cls, 'BadRequestError');
    assert.equal(errors.bad.status, 400);
    assert.equal(errors.bad.field, 'priority');
    assert.match(errors.bad.detail, /priority/);
    assert.match(errors.bad.type, /^urn:taskhub:problem:/);
    assert.ok(errors.bad.title && errors.bad.isTaskhubError);
    assert.equal(errors.missing.cls, 'NotFoundError');
    assert.equal(errors.missing.status, 404);
    assert.equal(errors.conflict.cls, 'ConflictError');
    assert.equal(errors.conflict.status, 409);
    assert.equal(errors.unauthorized.cls, 'UnauthorizedError');
    assert.equal(errors.unauthorized.status, 401);

    const follow = await py.next('follow-token');
    assert.ok(follow.expiresAt > Date.now() + 50_000 && follow.expiresAt <= Date.now() + 61_000);
    assert.equal(follow.status, 'completed');
    assert.deepEqual(follow.kinds, history.map((e) => e.kind), 'the follow token streams its task');
    assert.deepEqual(follow.denied, { other: 404, submit: 403 });

    const published = await py.next('published');
    assert.deepEqual(published, { step: 'published', topic: 'brand.created', tasks: ['never-handled'], payload: { brand: 'acme' }, taken: true });

    // The stream of that task now answers 503 with HTML (a proxy that blocks SSE): follow polls GET /events instead.
    const target = await py.next('await-poll-route');
    proxy.requests.length = 0;
    routes[`/api/v1/tasks/${target.id}/stream`] = (_req, res) => {
      res.writeHead(503, { 'content-type': 'text/html' });
      res.end('<html>streams are not allowed here</html>');
    };
    py.send('go');
    const polled = await py.next('polled');
    assert.deepEqual(polled.kinds, history.map((e) => e.kind));
    assert.ok(proxy.requests.some((r) => r.url.includes(`/tasks/${target.id}/events`)), 'it polled the history');
    const queues = await py.next('queues');
    assert.ok(queues.queues['py-q'].queued >= 1);
    assert.equal(await py.exited, 0, py.stderr);
  });

  it('Celery-style layer: delay, apply_async with countdown and priority, get, retries, follow, time limits, cancel', async () => {
    const py = start(['celery_flow.py']);
    const code = await py.exited;
    assert.equal(code, 0, py.stderr);
    const out = py.lines.at(-1) as Line;
    assert.deepEqual(out.names, ['celery_tasks.add', 'celery_tasks.stamp', 'reports.chatty'], 'module.qualname, or name=');
    assert.deepEqual(out.before, { status: 'queued', state: 'PENDING', laterStatus: 'scheduled', timeout: true });

    // Priority: submitted low first, high second, before any worker ran; one slot takes the higher one first.
    assert.ok(out.priority.high.startedAt < out.priority.low.startedAt, JSON.stringify(out.priority));
    const low = await s.hub.get((await s.hub.list({ type: 'celery_tasks.stamp' })).tasks.find((t) => (t.payload as { args: string[] }).args[0] === 'low')?.id ?? '');
    assert.equal(low.priority, 1);
    assert.equal(low.queue, 'math');
    assert.deepEqual(low.payload, { args: ['low'], kwargs: {} }, 'the documented payload encoding');

    assert.equal(out.delay.sum, 42);
    assert.equal(out.delay.countdown, 5);
    const later = await s.hub.get(out.delay.laterId);
    assert.ok(later.runAt - later.createdAt >= 990 && later.runAt - later.createdAt <= 1100, `countdown=1: runAt - createdAt = ${later.runAt - later.createdAt}`);
    assert.ok((later.startedAt ?? 0) >= later.runAt, 'it did not start before its countdown');
    assert.equal(out.send_task, 2);

    // Retries: max_retries=3 is four attempts; this one succeeded on the third.
    assert.deepEqual(out.flaky.result, { attempt: 3, retries: 2 });
    assert.equal(out.flaky.state, 'SUCCESS');
    const flaky = await s.hub.get(out.flaky.id);
    assert.equal(flaky.maxAttempts, 4);
    assert.equal(flaky.attempts, 3);
    assert.equal((await s.hub.events(out.flaky.id)).filter((e) => e.kind === 'retrying').length, 2);
    assert.deepEqual(out.always_fails, { raised: 'TaskFailedError', code: null, message: 'always', attempts: 2 });
    assert.deepEqual(out.refuses, { raised: 'TaskFailedError', code: 'BAD_INPUT', message: 'bad input', attempts: 1 });

    assert.deepEqual(out.follow.kinds, ['created', 'started', 'output', 'progress', 'output', 'progress', 'output', 'progress', 'completed']);
    assert.equal(out.follow.result, 3);
    assert.equal(out.follow.info, 3);

    // The hard limit: the hung handler's process is killed at 1 s and the one slot runs the next task at once.
    assert.equal(out.hard.hung.raised, 'TaskFailedError');
    assert.equal(out.hard.hung.code, 'TIMEOUT');
    const hung = await s.hub.get(out.hard.hungId);
    assert.equal(hung.timeoutMs, 1000);
    const limitAt = (hung.startedAt ?? 0) + 1000;
    const nextStarted = out.hard.next.startedAt as number;
    assert.ok(nextStarted > limitAt && nextStarted - limitAt < 1500, `the next task started ${(nextStarted - limitAt).toFixed(0)} ms after the limit`);
    if (process.env.TASKHUB_TEST_VERBOSE) console.log(`hard limit: next handler ran ${(nextStarted - limitAt).toFixed(0)} ms after the limit`);
    const pidEvent = (await s.hub.events(out.hard.hungId)).find((e) => e.kind === 'output');
    const hungPid = Number((pidEvent?.data as { chunk?: string } | undefined)?.chunk);
    assert.ok(hungPid > 0);
    assert.throws(() => process.kill(hungPid, 0), /ESRCH/, 'the hung handler\'s process is gone');
    assert.notEqual(out.hard.next.pid, hungPid, 'a fresh process took the slot');

    // A cancel the handler ignores: cancelled at once; its process killed after cancel_grace; the slot runs on.
    assert.deepEqual({ ...out.cancel, askedAt: 0, next: 0, stuckId: 0 }, { raised: 'TaskCancelledError', status: 'cancelled', state: 'REVOKED', askedAt: 0, next: 0, stuckId: 0 });
    assert.ok(out.cancel.next.startedAt - out.cancel.askedAt < 1500, `after the cancel the slot was free in ${(out.cancel.next.startedAt - out.cancel.askedAt).toFixed(0)} ms`);
    assert.equal((await s.hub.get(out.cancel.stuckId)).error?.code, 'CANCELLED');

    // The soft limit raises SoftTimeLimitExceeded inside the handler: caught, the task returns; not caught, it fails.
    assert.equal(out.soft.caught.stoppedAt, 'soft limit');
    assert.ok(out.soft.caught.done >= 2 && out.soft.caught.done <= 8, `${out.soft.caught.done} steps in 0.3 s`);
    assert.equal(out.soft.ignored.code, 'SOFT_TIME_LIMIT');
    assert.equal(out.workerStopped, true);
  });

  it('python -m taskhub worker --app runs an app\'s tasks (celery -A proj worker) and stops on SIGTERM', async () => {
    const py = start(['-m', 'taskhub', 'worker', '--app', 'celery_tasks:app', '-Q', 'math', '-c', '1', '--claim-wait', '5', '--worker-id', 'py-cli']);
    const res = await s.request('POST', '/api/v1/tasks', { type: 'celery_tasks.add', queue: 'math', payload: { args: [40], kwargs: { y: 2 } } }, { authorization: `Bearer ${admin}` });
    assert.equal(res.status, 202);
    const { id } = (await res.json()) as { id: string };
    const done = await s.hub.wait(id, 15_000);
    assert.equal(done.status, 'completed', py.stderr);
    assert.equal(done.result, 42);
    py.child.kill('SIGTERM');
    assert.equal(await py.exited, 0, py.stderr);
    assert.match(py.stderr, /worker py-cli stopped/);
  });

  it('examples/python/brand_diagnosis.py runs the whole flow and exits 0', async () => {
    const py = start([join(ROOT, 'examples', 'python', 'brand_diagnosis.py'), '--url', s.base, '--token', admin], ROOT);
    const code = await py.exited;
    const text = py.lines.map((l) => l.text).join('\n');
    assert.equal(code, 0, `${text}\n${py.stderr}`);
    for (const expected of ['the same idempotency key gives the same task', 'initech succeeded on its second attempt', 'the running diagnosis ended cancelled', 'the hard limit (time_limit=1) killed the hung handler', 'cleanup_expired ran from the schedule', 'diagnosis ']) {
      assert.ok(text.includes(expected), `${expected}: ${text}`);
    }
    assert.match(text, /^done$/m);
    await assert.rejects(s.request('GET', '/api/v1/schedules/brand-cleanup', undefined, { authorization: `Bearer ${admin}` }).then(async (r) => {
      if (r.status !== 404) throw new Error(String(r.status));
      throw new Error('deleted');
    }), /deleted/, 'the example removed its schedule');
  });
});
