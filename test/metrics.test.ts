// GET /metrics after a known workload: run counters by outcome, run and wait histograms, queue gauges (and their cap),
// live connections, unmatched publishes and process metrics; each attempt counted once across processes sharing one
// store; the admin scope required under auth.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createApiKey } from '../src/server/auth.ts';
import { serveMetrics } from '../src/observability/metrics-server.ts';
import { Taskhub, type Task } from '../src/index.ts';
import pino from 'pino';
import { openTestHub, waitUntil } from './helpers/hub.ts';
import { startServer, type TestServer } from './helpers/server.ts';

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

function parse(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    assert.ok(m, `a sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const pair of (m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[pair[1]] = pair[2];
    samples.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return samples;
}

/** The value of the one sample with this name whose labels include `labels`; 0 when there is none. */
function value(samples: Sample[], name: string, labels: Record<string, string> = {}): number {
  const found = samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  assert.ok(found.length <= 1, `${name} ${JSON.stringify(labels)} names one sample, not ${found.length}`);
  return found[0]?.value ?? 0;
}

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => {
      clearTimeout(timer);
      resolve();
    });
  });

describe('metrics', () => {
  let s: TestServer;
  const scrape = async (headers: Record<string, string> = {}): Promise<Sample[]> => {
    const res = await s.request('GET', '/metrics', undefined, headers);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    return parse(await res.text());
  };

  before(async () => {
    s = await startServer({ worker: { pollIntervalMs: 20 }, metrics: { queueCounts: { ttlMs: 0 } } });
  });
  after(() => s.close());

  it('counts a known workload: runs by outcome, run and wait times, tasks by queue and status', async () => {
    const { hub } = s;
    hub.handle('ok', async () => 'done');
    hub.handle('bad', async () => {
      throw new Error('always');
    });
    hub.handle('slow', async (_payload, ctx) => sleep(2000, ctx.signal));
    hub.handle('hang', async (_payload, ctx) => sleep(60_000, ctx.signal));
    await hub.pauseQueue('held');

    const submit = async (body: object): Promise<Task> => (await (await s.request('POST', '/api/v1/tasks', body)).json()) as Task;
    const tasks = [
      await submit({ type: 'ok', queue: 'm' }),
      await submit({ type: 'ok', queue: 'm' }),
      await submit({ type: 'ok', queue: 'm' }),
      await submit({ type: 'bad', queue: 'm', maxAttempts: 2, backoff: { delayMs: 10, jitter: 0 } }),
      await submit({ type: 'slow', queue: 'm', maxAttempts: 1, timeoutMs: 50 }),
    ];
    const hang = await submit({ type: 'hang', queue: 'm' });
    await submit({ type: 'ok', queue: 'm', delayMs: 3_600_000 });
    await submit({ type: 'ok', queue: 'held' });
    await submit({ type: 'ok', queue: 'held' });
    await waitUntil(async () => (await hub.get(hang.id)).status === 'running', 5000, 'the hanging task to start');
    assert.equal((await s.request('POST', `/api/v1/tasks/${hang.id}/cancel`)).status, 202);
    for (const task of [...tasks, hang]) {
      await waitUntil(async () => ['completed', 'failed', 'cancelled'].includes((await hub.get(task.id)).status), 5000, `${task.type} to finish`);
    }
    assert.equal((await (await s.request('POST', '/api/v1/events', { topic: 'nobody.listens', payload: null })).json() as { tasks: unknown[] }).tasks.length, 0);

    const m = await scrape();
    const runs = (type: string, outcome: string) => value(m, 'taskhub_task_runs_total', { queue: 'm', type, outcome });
    assert.deepEqual(
      { ok: runs('ok', 'completed'), badRetried: runs('bad', 'retried'), badFailed: runs('bad', 'failed'), slow: runs('slow', 'timed_out'), hang: runs('hang', 'cancelled') },
      { ok: 3, badRetried: 1, badFailed: 1, slow: 1, hang: 1 },
    );
    assert.equal(m.filter((x) => x.name === 'taskhub_task_runs_total').reduce((n, x) => n + x.value, 0), 7, 'seven attempts in all');
    assert.equal(value(m, 'taskhub_task_duration_seconds_count', { queue: 'm', type: 'ok' }), 3);
    assert.equal(value(m, 'taskhub_task_duration_seconds_count', { queue: 'm', type: 'bad' }), 2);
    assert.ok(value(m, 'taskhub_task_duration_seconds_sum', { queue: 'm', type: 'slow' }) >= 0.04, 'the timed-out run lasted its time limit');
    assert.equal(value(m, 'taskhub_task_duration_seconds_bucket', { queue: 'm', type: 'ok', le: '+Inf' }), 3);
    assert.equal(value(m, 'taskhub_task_wait_seconds_count', { queue: 'm' }), 7, 'one wait per claim');
    assert.equal(value(m, 'taskhub_task_wait_seconds_count', { queue: 'held' }), 0, 'nothing started in the paused queue');

    const tasksIn = (queue: string, status: string) => value(m, 'taskhub_queue_tasks', { queue, status });
    assert.deepEqual(
      Object.fromEntries(['scheduled', 'queued', 'running', 'completed', 'failed', 'cancelled'].map((st) => [st, tasksIn('m', st)])),
      { scheduled: 1, queued: 0, running: 0, completed: 3, failed: 2, cancelled: 1 },
    );
    assert.equal(tasksIn('held', 'queued'), 2);
    assert.equal(value(m, 'taskhub_queue_paused', { queue: 'held' }), 1);
    assert.equal(value(m, 'taskhub_queue_tasks_capped', { status: 'completed' }), 0);
    assert.equal(value(m, 'taskhub_queue_tasks_cap'), 10_000);
    assert.equal(value(m, 'taskhub_publishes_unmatched_total'), 1);
    assert.equal(value(m, 'taskhub_worker_slots', { state: 'running' }), 0);
    assert.equal(value(m, 'taskhub_worker_slots', { state: 'capacity' }), 40, 'four types, ten slots each');
    // Process metrics come along.
    assert.ok(value(m, 'process_cpu_user_seconds_total') > 0);
    assert.ok(value(m, 'nodejs_heap_size_used_bytes') > 0);
    assert.ok(m.some((x) => x.name === 'nodejs_eventloop_lag_p99_seconds'));
  });

  it('reports open SSE and WebSocket connections', async () => {
    const before = await scrape();
    assert.equal(value(before, 'taskhub_stream_connections', { kind: 'sse' }), 0);
    assert.equal(value(before, 'taskhub_stream_connections', { kind: 'ws' }), 0);
    const abort = new AbortController();
    const feed = await fetch(`${s.base}/api/v1/feed`, { signal: abort.signal });
    assert.equal(feed.status, 200);
    const ws = new WebSocket(`${s.base.replace('http', 'ws')}/api/v1/ws`);
    await new Promise((resolve, reject) => {
      ws.onopen = resolve;
      ws.onerror = reject;
    });
    try {
      await waitUntil(() => s.app.streamConnections.count('ws') === 1 && s.app.streamConnections.count('sse') === 1, 2000, 'both connections');
      const during = await scrape();
      assert.equal(value(during, 'taskhub_stream_connections', { kind: 'sse' }), 1);
      assert.equal(value(during, 'taskhub_stream_connections', { kind: 'ws' }), 1);
    } finally {
      ws.close();
      abort.abort();
    }
    await waitUntil(() => s.app.streamConnections.count('ws') === 0 && s.app.streamConnections.count('sse') === 0, 2000, 'both to close');
    const afterwards = await scrape();
    assert.equal(value(afterwards, 'taskhub_stream_connections', { kind: 'sse' }), 0);
  });

  it('counts at most `cap` tasks of a status, and says so', async () => {
    const hub = await openTestHub({ metrics: { queueCounts: { cap: 2, ttlMs: 0 } } });
    try {
      await hub.pauseQueue('big');
      for (let i = 0; i < 5; i++) await hub.enqueue('nothing', null, { queue: 'big' });
      const m = parse((await hub.metrics.exposition()).text);
      assert.equal(value(m, 'taskhub_queue_tasks', { queue: 'big', status: 'queued' }), 2);
      assert.equal(value(m, 'taskhub_queue_tasks_capped', { status: 'queued' }), 1);
      assert.equal(value(m, 'taskhub_queue_tasks_capped', { status: 'failed' }), 0);
      assert.equal(value(m, 'taskhub_queue_tasks_cap'), 2);
    } finally {
      await hub.dispose();
    }
  });
});

describe('metrics across processes sharing one store', () => {
  it('counts each attempt once: where it ended, lease expiries included', async () => {
    // Two Taskhubs on one SQLite file, as two processes would be: A serves the API and sweeps; B runs the handlers
    // (and sweeps too). B serves its metrics on a port of its own, as `taskhub worker --metrics-port` does.
    const a = await startServer({ leaseMs: 150, sweepIntervalMs: 20, autoStart: false, metrics: { queueCounts: { ttlMs: 0 } } });
    const b = await Taskhub.open({ store: `sqlite:${a.hub.dbPath}`, logger: pino({ level: 'silent' }), sweepIntervalMs: 20, worker: { pollIntervalMs: 20 } });
    const bMetrics = await serveMetrics(b.metrics, { port: 0 });
    try {
      b.handle('job', async () => 'done');
      const jobs = await Promise.all(Array.from({ length: 5 }, () => a.hub.enqueue('job', null, { queue: 'c' })));
      // An attempt whose worker died: claimed through A's engine by a worker that never reports back.
      await a.hub.enqueue('orphan', null, { queue: 'c' });
      const [ghost] = await a.hub.attempts.claim({ workerId: 'ghost', types: ['orphan'], max: 1 });
      assert.ok(ghost, 'the orphan is claimed');
      for (const job of jobs) await waitUntil(async () => (await a.hub.get(job.id)).status === 'completed', 5000, 'the jobs');
      await waitUntil(async () => (await a.hub.get(ghost.task.id)).status === 'queued', 5000, 'the lease to expire and the task to go back');
      // Both processes sweep every 20 ms: give the loser of that race time to (not) count it too.
      await new Promise((resolve) => setTimeout(resolve, 200));

      const fromA = parse(await (await a.request('GET', '/metrics')).text());
      const fromB = parse(await (await fetch(bMetrics.url)).text());
      const total = (name: string, labels: Record<string, string>) => value(fromA, name, labels) + value(fromB, name, labels);
      assert.equal(value(fromB, 'taskhub_task_runs_total', { queue: 'c', type: 'job', outcome: 'completed' }), 5, 'B ended the jobs');
      assert.equal(value(fromA, 'taskhub_task_runs_total', { queue: 'c', type: 'job', outcome: 'completed' }), 0, 'A ran none');
      assert.equal(total('taskhub_task_runs_total', { queue: 'c', type: 'orphan', outcome: 'retried' }), 1, 'the expired lease counted once');
      assert.equal(total('taskhub_task_wait_seconds_count', { queue: 'c' }), 6, 'six claims in all');
      assert.equal(value(fromA, 'taskhub_task_wait_seconds_count', { queue: 'c' }), 1, 'the ghost claim was A\'s');
      // Gauges come from the shared store: both processes see the same counts.
      assert.equal(value(fromA, 'taskhub_queue_tasks', { queue: 'c', status: 'completed' }), 5);
      assert.equal(value(fromB, 'taskhub_queue_tasks', { queue: 'c', status: 'queued' }), 1);
    } finally {
      await bMetrics.close();
      await b.close({ graceMs: 100 });
      await a.close();
    }
  });
});

describe('metrics under auth', () => {
  let s: TestServer;
  before(async () => {
    s = await startServer({ autoStart: false }, { auth: { jwtSecret: 'x'.repeat(32) } });
  });
  after(() => s.close());

  it('needs the admin scope', async () => {
    const reader = (await createApiKey(s.hub.keys, { owner: 'alice', scopes: ['tasks:read'] })).token;
    const admin = (await createApiKey(s.hub.keys, { owner: 'ops', scopes: ['admin'] })).token;
    assert.equal((await s.request('GET', '/metrics')).status, 401);
    assert.equal((await s.request('GET', '/metrics', undefined, { authorization: `Bearer ${reader}` })).status, 403);
    const res = await s.request('GET', '/metrics', undefined, { authorization: `Bearer ${admin}` });
    assert.equal(res.status, 200);
    assert.match(await res.text(), /^# HELP /m);
  });
});
