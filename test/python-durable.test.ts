// Issue 15 point 6 in the Python client (clients/python installed into a fresh venv): durable handlers in the Python
// worker (child process per slot) against a real server on SQLite. Resume from a checkpoint after a failure (retry and
// recover), steps that run once across attempts, 20 children fanned in on one slot, ChildTaskFailedError and
// settle=True, a sleep that frees the slot, signals sent through the Python client (a follow token with the signal
// right, one sent before the wait, a token without the right refused), a signal timeout, derive and the checkpoint
// reads, the Celery-style layer's bound ctx, and kill -9 of the worker after step 2 of 4 (the next worker runs steps 3
// and 4 only). Needs python3 (3.9+), or TASKHUB_PYTHON naming another interpreter.
import assert from 'node:assert/strict';
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import type { Task } from '../src/index.ts';
import { createApiKey } from '../src/server/auth.ts';
import { tempDir, waitUntil } from './helpers/hub.ts';
import { startServer, type TestServer } from './helpers/server.ts';

const run = promisify(execFile);
const PYTHON = process.env.TASKHUB_PYTHON ?? 'python3';
const ROOT = join(import.meta.dirname, '..');
const FIXTURES = join(import.meta.dirname, 'fixtures', 'python');

// biome-ignore lint/suspicious/noExplicitAny: JSON from Python, checked field by field below
type Answer = Record<string, any>;

describe('Python client: durable execution', () => {
  let s: TestServer;
  let admin = '';
  let worker: ChildProcess | undefined;
  let workerOutput = '';
  const venv = tempDir('taskhub-durable-venv-');
  const files = tempDir('taskhub-durable-files-');
  const python = join(venv.dir, 'bin', 'python');
  let fileCount = 0;
  const file = (name: string) => join(files.dir, `${name}-${++fileCount}`);
  const lines = (path: string) => readFileSync(path, 'utf8').trim().split('\n');

  const env = () => ({
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? '',
    TASKHUB_URL: s.base,
    TASKHUB_TOKEN: admin,
    PYTHONUNBUFFERED: '1',
    PYTHONDONTWRITEBYTECODE: '1',
  });

  const submit = async (body: Record<string, unknown>): Promise<Task> => {
    const res = await s.request('POST', '/api/v1/tasks', { backoff: { type: 'fixed', delayMs: 10 }, ...body }, { authorization: `Bearer ${admin}` });
    assert.equal(res.status, 202, await res.clone().text());
    return (await res.json()) as Task;
  };
  const finished = async (id: string, timeoutMs = 30_000): Promise<Task> => {
    const task = await s.hub.wait(id, timeoutMs).catch((error: unknown) => {
      throw new Error(`task ${id} did not finish: ${String(error)}\nworker: ${workerOutput}`);
    });
    return task;
  };
  /** One call through the Python client (durable_client.py); its answer or its error. */
  const client = async (call: string, args: Answer, token = admin): Promise<Answer> => {
    const { stdout } = await run(python, ['durable_client.py', s.base, token, call, JSON.stringify(args)], { cwd: FIXTURES, env: env() });
    return JSON.parse(stdout.trim().split('\n').at(-1) as string) as Answer;
  };

  const steps = async (id: string): Promise<[string, unknown][]> => {
    const res = await s.request('GET', `/api/v1/worker/tasks/${id}/steps`, undefined, { authorization: `Bearer ${admin}` });
    assert.equal(res.status, 200);
    return ((await res.json()) as { steps: { name: string; result: unknown }[] }).steps.map((st) => [st.name, st.result]);
  };

  const startWorker = async (): Promise<ChildProcess> => {
    const started = workerOutput.split('worker py-durable started').length;
    const child = spawn(python, ['durable_worker.py', '1'], { cwd: FIXTURES, env: env(), stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout!.on('data', (chunk: Buffer) => (workerOutput += chunk.toString()));
    child.stderr!.on('data', (chunk: Buffer) => (workerOutput += chunk.toString()));
    await waitUntil(() => workerOutput.split('worker py-durable started').length > started, 30_000, `the Python worker started: ${workerOutput}`);
    return child;
  };

  before(async () => {
    s = await startServer({ autoStart: false, leaseMs: 5000, checkpointMaxBytes: 4096 }, { auth: {} });
    admin = (await createApiKey(s.hub.keys, { owner: 'ops', scopes: ['admin'] })).token;
    await run(PYTHON, ['-m', 'venv', venv.dir]);
    await run(python, ['-m', 'pip', 'install', '--no-index', '--disable-pip-version-check', '-q', join(ROOT, 'clients', 'python')], { env: { ...process.env, PIP_NO_INDEX: '1' } });
    // One worker process with one slot for every test: a handler that held its slot while waiting would stall it.
    worker = await startWorker();
  });

  after(async () => {
    if (worker && worker.exitCode === null) {
      const exited = once(worker, 'exit');
      worker.kill('SIGTERM');
      const timer = setTimeout(() => worker?.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    }
    await s?.close();
    venv.remove();
    files.remove();
  });

  it('resumes from the checkpoint after a failure: phase 4 of 5 fails once, the retry starts at 4', async () => {
    const log = file('phases');
    const task = await submit({ type: 'py-phases', payload: { log, flag: file('flag') }, maxAttempts: 2 });
    const done = await finished(task.id);
    assert.equal(done.status, 'completed', JSON.stringify(done.error));
    assert.deepEqual(done.result, { done: 5, startedAt: 4 });
    assert.deepEqual(lines(log), ['start 1 attempt 1 version 0', 'phase 1', 'phase 2', 'phase 3', 'phase 4', 'start 4 attempt 2 version 3', 'phase 4', 'phase 5']);
    const listed = await client('checkpoints', { args: [task.id] });
    assert.deepEqual(listed.answer.map((c: Answer) => [c.version, c.label]), [[1, 'phase-1'], [2, 'phase-2'], [3, 'phase-3'], [4, 'phase-4'], [5, 'phase-5']]);
    const latest = await client('checkpoint', { args: [task.id] });
    assert.deepEqual([latest.answer.version, latest.answer.state], [5, { next: 6 }]);
    const second = await client('checkpoint', { args: [task.id, 2] });
    assert.deepEqual(second.answer.state, { next: 3 });
  });

  it('recover and derive through the Python client resume from the saved state; list(parent_id=) finds the derived task', async () => {
    const log = file('recover');
    const flag = file('flag');
    const task = await submit({ type: 'py-phases', payload: { log, flag }, maxAttempts: 1 });
    const failed = await finished(task.id);
    assert.equal(failed.status, 'failed');
    const refused = await client('recover', { args: [(await submit({ type: 'py-fan-child', payload: { i: 0 } })).id] });
    assert.equal(refused.ok, false);
    const recovered = await client('recover', { args: [task.id] });
    assert.equal(recovered.answer.status, 'queued');
    const done = await finished(task.id);
    assert.equal(done.status, 'completed', JSON.stringify(done.error));
    assert.deepEqual(lines(log), ['start 1 attempt 1 version 0', 'phase 1', 'phase 2', 'phase 3', 'phase 4', 'start 4 attempt 1 version 3', 'phase 4', 'phase 5']);

    // recover(from_version=2) of a finished task is refused (409); derive from version 2 starts at phase 3.
    const conflict = await client('recover', { args: [task.id], kwargs: { from_version: 2 } });
    assert.deepEqual([conflict.ok, conflict.cls, conflict.status], [false, 'ConflictError', 409]);
    const derivedLog = file('derived');
    const derived = await client('derive', { args: [task.id], kwargs: { payload: { log: derivedLog }, from_checkpoint: 2, priority: 3 } });
    assert.equal(derived.ok, true, JSON.stringify(derived));
    assert.equal(derived.answer.parentId, task.id);
    assert.equal(derived.answer.priority, 3);
    assert.deepEqual(derived.answer.payload, { log: derivedLog, flag }, 'the payload merged into the original\'s');
    const derivedDone = await finished(derived.answer.id);
    assert.equal(derivedDone.status, 'completed', JSON.stringify(derivedDone.error));
    assert.deepEqual(lines(derivedLog), ['start 3 attempt 1 version 1', 'phase 3', 'phase 4', 'phase 5']);
    const missing = await client('derive', { args: [task.id], kwargs: { from_checkpoint: 99 } });
    assert.deepEqual([missing.cls, missing.status], ['BadRequestError', 400]);
    const children = await client('list', { parent_id: task.id });
    assert.deepEqual(children.answer.tasks.map((t: Answer) => t.id), [derived.answer.id]);
  });

  it('steps run once across attempts', async () => {
    const log = file('steps');
    const task = await submit({ type: 'py-steps', payload: { log }, maxAttempts: 2 });
    const done = await finished(task.id);
    assert.equal(done.status, 'completed', JSON.stringify(done.error));
    assert.deepEqual(done.result, [10, 20, 30, 40]);
    assert.equal(done.attempts, 2);
    assert.deepEqual(lines(log), ['step 1', 'step 2', 'step 3', 'step 4']);
    assert.deepEqual(await steps(task.id), [['s1', 10], ['s2', 20], ['s3', 30], ['s4', 40]]);
  });

  it('fans in 20 children on one slot: the parent holds no slot while it waits; results in order', async () => {
    const log = file('fan');
    const parent = await submit({ type: 'py-fan-parent', payload: { log, n: 20 }, maxAttempts: 1 });
    const done = await finished(parent.id, 60_000);
    assert.equal(done.status, 'completed', JSON.stringify(done.error));
    assert.deepEqual(done.result, { results: Array.from({ length: 20 }, (_, i) => i * 10) }, 'TaskSuspended went through `except Exception`');
    assert.deepEqual(lines(log), ['parent run', 'parent run'], 'one run before the wait, one after');
    assert.equal(done.attempts, 1, 'a suspension gives its attempt back');
    const kinds = (await s.hub.events(parent.id)).map((e) => e.kind);
    assert.equal(kinds.filter((k) => k === 'waiting').length, 1);
    assert.equal(kinds.filter((k) => k === 'resumed').length, 1);
    assert.equal(kinds.filter((k) => k === 'child-finished').length, 20);
    assert.ok(!kinds.includes('failed') && !kinds.includes('retrying'), kinds.join(','));
    const listed = await client('list', { parent_id: parent.id });
    assert.equal(listed.answer.tasks.length, 20);
    assert.ok(listed.answer.tasks.every((t: Answer) => t.status === 'completed' && t.parentId === parent.id));
  });

  it('a failed child fails the parent with CHILD_FAILED (not retried); settle=True returns every outcome', async () => {
    const failing = await submit({ type: 'py-fan-failing', payload: {}, maxAttempts: 3 });
    const failed = await finished(failing.id);
    assert.equal(failed.status, 'failed');
    assert.equal(failed.error?.code, 'CHILD_FAILED');
    assert.equal(failed.error?.retryable, false);
    assert.match(failed.error?.message ?? '', /1 of 2 children of "children:1" did not complete: .* \(failed: child refused\)/);
    assert.equal(failed.attempts, 1);
    const settled = await submit({ type: 'py-fan-settled', payload: {}, maxAttempts: 1 });
    const done = await finished(settled.id);
    assert.equal(done.status, 'completed', JSON.stringify(done.error));
    assert.deepEqual(done.result, [{ status: 'completed', result: 10, code: null }, { status: 'failed', result: null, code: 'NOPE' }]);
  });

  it('a sleep frees the slot: another task runs on the one slot while the sleeper waits', async () => {
    const log = file('sleep');
    const sleeper = await submit({ type: 'py-sleeper', payload: { log, ms: 1500 } });
    await waitUntil(async () => (await s.hub.get(sleeper.id)).status === 'waiting', 15_000, `the sleeper waits: ${workerOutput}`);
    const waiting = await s.hub.get(sleeper.id);
    assert.equal(waiting.waitingFor?.kind, 'sleep');
    const other = await submit({ type: 'py-fan-child', payload: { i: 7 } });
    const otherDone = await finished(other.id);
    assert.equal(otherDone.result, 70);
    assert.equal((await s.hub.get(sleeper.id)).status, 'waiting', 'the other task finished while the sleeper still slept');
    const done = await finished(sleeper.id);
    assert.equal(done.status, 'completed', JSON.stringify(done.error));
    assert.deepEqual(done.result, { woke: true });
    const until = (await steps(sleeper.id)).find(([name]) => name === 'sleep:nap')?.[1] as number;
    assert.ok((done.completedAt ?? 0) >= until, 'it woke at the stored end time, not before');
    assert.ok(until - sleeper.createdAt >= 1500);
    assert.deepEqual(lines(log), ['sleeper run', 'sleeper run']);
  });

  it('a signal sent through the Python client wakes a waiting task; a follow token needs the signal right; one sent before the wait is kept', async () => {
    const log = file('signal');
    const task = await submit({ type: 'py-waiter', payload: { log } });
    await waitUntil(async () => (await s.hub.get(task.id)).status === 'waiting', 15_000, `the waiter waits: ${workerOutput}`);
    assert.deepEqual((await s.hub.get(task.id)).waitingFor, { kind: 'signal', name: 'approval', timeoutAt: null });
    const denied = await client('signal-with-plain-token', { id: task.id, name: 'approval', data: 'no' });
    assert.deepEqual([denied.cls, denied.status], ['ForbiddenError', 403]);
    const sent = await client('signal-with-token', { id: task.id, name: 'approval', data: { by: 'ana' } });
    assert.equal(sent.answer.resumed, true);
    const done = await finished(task.id);
    assert.equal(done.status, 'completed', JSON.stringify(done.error));
    assert.deepEqual(done.result, { approved: { by: 'ana' } });
    const late = await client('signal', { args: [task.id, 'approval', 1] });
    assert.deepEqual([late.cls, late.status], ['ConflictError', 409]);

    const earlyLog = file('early');
    const early = await submit({ type: 'py-waiter', payload: { log: earlyLog }, delayMs: 800 });
    const kept = await client('signal', { args: [early.id, 'approval', 'ahead'] });
    assert.equal(kept.answer.resumed, false, 'kept for the wait to come');
    const earlyDone = await finished(early.id);
    assert.deepEqual(earlyDone.result, { approved: 'ahead' });
    assert.deepEqual(lines(earlyLog), ['waiter run'], 'the wait found the signal: no suspension');
  });

  it('a wait that times out raises SignalTimeoutError: the task fails with SIGNAL_TIMEOUT, not retried', async () => {
    const log = file('timeout');
    const task = await submit({ type: 'py-waiter', payload: { log, timeoutMs: 300 }, maxAttempts: 3 });
    const done = await finished(task.id);
    assert.equal(done.status, 'failed');
    assert.equal(done.error?.code, 'SIGNAL_TIMEOUT');
    assert.equal(done.error?.retryable, false);
    assert.match(done.error?.message ?? '', /no signal "approval" came before its timeout/);
    assert.equal(done.attempts, 1);
    assert.deepEqual(lines(log), ['waiter run', 'waiter run', 'timeout SIGNAL_TIMEOUT False']);
  });

  it('the Celery-style layer: a bound task reaches the durable calls through self', async () => {
    const task = await submit({ type: 'py-celery-durable', payload: { args: [4], kwargs: {} } });
    const done = await finished(task.id);
    assert.equal(done.status, 'completed', JSON.stringify(done.error));
    assert.deepEqual(done.result, { doubled: 8, children: [40] });
  });

  it('CheckpointTooLargeError over the limit, STEP_EXISTS: the first result stands, a step name used twice is refused', async () => {
    const task = await submit({ type: 'py-edges', payload: {}, maxAttempts: 1 });
    const done = await finished(task.id);
    assert.equal(done.status, 'completed', JSON.stringify(done.error));
    const out = done.result as Answer;
    assert.deepEqual(out.tooLarge, ['CheckpointTooLargeError', 413, 'CHECKPOINT_TOO_LARGE']);
    assert.deepEqual(out.stepExists, [409, 'STEP_EXISTS']);
    assert.equal(out.raced, 'first');
    assert.match(out.twice, /step "warm" is used twice in one run/);
    assert.deepEqual({ ...out.checkpoint, created_at: 0 }, { version: 1, label: 'ok', size: 14, created_at: 0 });
    assert.ok(out.checkpoint.created_at > 0);
  });

  it('reported nothing for the suspended attempts (no stale complete or fail)', () => {
    assert.doesNotMatch(workerOutput, /could not (complete|fail)|lease lost|is no longer current/, workerOutput);
    assert.match(workerOutput, /suspended: waiting for children/);
  });

  it('kill -9 of the worker after step 2 of 4: the next worker runs steps 3 and 4 only', async () => {
    const log = file('kill');
    const task = await submit({ type: 'py-steps-kill', payload: { log, flag: file('flag') }, maxAttempts: 3 });
    const killed = worker as ChildProcess;
    await once(killed, 'exit');
    assert.equal(killed.signalCode, 'SIGKILL');
    worker = await startWorker();
    const done = await finished(task.id, 30_000);
    assert.equal(done.status, 'completed', JSON.stringify(done.error));
    assert.deepEqual(done.result, [1, 2, 3, 4]);
    const ran = lines(log).map((l) => l.split(' pid ') as [string, string]);
    assert.deepEqual(ran.map(([step]) => step), ['step 1', 'step 2', 'step 3', 'step 4']);
    assert.equal(ran[0]?.[1], ran[1]?.[1]);
    assert.notEqual(ran[1]?.[1], ran[2]?.[1], 'steps 3 and 4 ran in the next worker\'s process');
  });
});
