// The Python worker's progress and output in flight (clients/python/taskhub/_events.py): ctx.output and ctx.progress
// return once queued and go to the server in batches (POST /worker/events), stored in the order written, with the
// attempt's outcome and its durable calls after them; a refused chunk is raised by the next call, or fails an attempt
// whose handler returned first. The server holds each batch for a few milliseconds, so a handler always writes faster
// than its batches go. Needs python3 (3.9+), or TASKHUB_PYTHON naming another interpreter.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Taskhub, TaskEvent } from '../src/index.ts';
import { createServer } from '../src/server/server.ts';
import { openTestHub, waitUntil } from './helpers/hub.ts';

const PYTHON = process.env.TASKHUB_PYTHON ?? 'python3';
const ROOT = join(import.meta.dirname, '..');
const BATCH_HELD_MS = 5;

describe('Python worker: progress and output in flight', () => {
  let hub: Taskhub & { dispose(): Promise<void> };
  let close: () => Promise<void>;
  let child: ChildProcess;
  let log = '';
  /** Requests the worker made, by route. */
  const requests = new Map<string, number>();

  before(async () => {
    hub = await openTestHub({ autoStart: false });
    const app = await createServer({ hub, logger: false });
    app.addHook('preHandler', async (request) => {
      const route = request.routeOptions.url ?? request.url;
      requests.set(route, (requests.get(route) ?? 0) + 1);
      if (route.endsWith('/worker/events')) await sleep(BATCH_HELD_MS);
    });
    await app.listen({ port: 0, host: '127.0.0.1' });
    close = () => app.close();
    const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
    child = spawn(PYTHON, [join(ROOT, 'test', 'fixtures', 'python', 'output_worker.py'), 'py-output'], {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, TASKHUB_URL: url, PYTHONPATH: join(ROOT, 'clients', 'python'), PYTHONUNBUFFERED: '1', PYTHONDONTWRITEBYTECODE: '1' },
    });
    child.stderr?.on('data', (chunk: Buffer) => (log += chunk.toString()));
    await waitUntil(async () => (await hub.workers()).some((w) => w.id === 'py-output'), 15_000, `the worker registered; its log: ${log}`);
  });

  after(async () => {
    if (child.exitCode === null) {
      child.kill('SIGTERM');
      await once(child, 'exit');
    }
    await close();
    await hub.dispose();
  });

  const finished = async (id: string) => {
    await waitUntil(async () => ['completed', 'failed'].includes((await hub.get(id)).status), 30_000, `task ${id} finished; worker log: ${log}`);
    return hub.get(id);
  };
  const history = async (id: string): Promise<TaskEvent[]> => hub.events(id, 0, 10_000);
  const chunksOf = (events: TaskEvent[]) => events.filter((e) => e.kind === 'output').map((e) => (e.data as { chunk: string }).chunk);

  it('streams 500 chunks and 5 progress reports in batches, stored in the order written, the outcome after them', async () => {
    const before = { events: requests.get('/api/v1/worker/events') ?? 0, output: requests.get('/api/v1/worker/tasks/:id/output') ?? 0 };
    const task = await hub.enqueue('py-stream', { chunks: 500 });
    assert.equal((await finished(task.id)).status, 'completed', log);
    const events = await history(task.id);
    assert.deepEqual(chunksOf(events), Array.from({ length: 500 }, (_, i) => `c${i} `));
    // Each progress report right after the chunk it followed in the handler.
    const order = events.filter((e) => e.kind === 'output' || e.kind === 'progress').map((e) => (e.kind === 'progress' ? `p:${(e.data as { message: string }).message}` : (e.data as { chunk: string }).chunk));
    for (const at of [0, 100, 200, 300, 400]) assert.equal(order[order.indexOf(`c${at} `) + 1], `p:at ${at}`, `progress at ${at}`);
    assert.equal(events.at(-1)?.kind, 'completed');
    const batches = (requests.get('/api/v1/worker/events') ?? 0) - before.events;
    assert.equal((requests.get('/api/v1/worker/tasks/:id/output') ?? 0) - before.output, 0, 'no request per chunk');
    // At most 8 entries unstored: 505 entries take at least 64 batches; one request per entry would be 505.
    assert.ok(batches >= 64 && batches <= 505 / 2, `505 entries in ${batches} requests`);
  });

  it('a durable call waits for the output written before it', async () => {
    const task = await hub.enqueue('py-then-checkpoint', {});
    assert.equal((await finished(task.id)).status, 'completed', log);
    const kinds = (await history(task.id)).map((e) => e.kind).filter((k) => k === 'output' || k === 'checkpoint');
    assert.deepEqual(kinds, [...Array.from({ length: 20 }, () => 'output'), 'checkpoint']);
  });

  it('each handler process keeps no thread of an attempt that ended', async () => {
    const results = [];
    for (let i = 0; i < 6; i++) {
      const task = await hub.enqueue('py-stream', { chunks: 20 });
      const done = await finished(task.id);
      assert.equal(done.status, 'completed', log);
      results.push((done.result as { threads: number }).threads);
    }
    // Two handler processes took the six attempts: a thread kept per attempt would show as more than three.
    assert.ok(results.every((threads) => threads <= 3), `threads per handler process: ${results.join(', ')}`);
  });

  it('stores chunks of wide characters that a batch could not carry together, each in a batch of its own', async () => {
    const alone = requests.get('/api/v1/worker/tasks/:id/output') ?? 0;
    const task = await hub.enqueue('py-wide', {});
    assert.equal((await finished(task.id)).status, 'completed', log);
    const chunks = chunksOf(await history(task.id));
    assert.deepEqual(chunks.map((c) => [c[0], c.length]), [0, 1, 2, 3, 4, 5].map((i) => [`${i}`, 120_001]));
    // Batches sized by their JSON's bytes, not by characters: none was refused as too large and sent again alone.
    assert.equal((requests.get('/api/v1/worker/tasks/:id/output') ?? 0) - alone, 0);
  });

  it('a durable call waits for the output written before it, not for what another thread writes after', async () => {
    const task = await hub.enqueue('py-checkpoint-beside-a-writer', {});
    const done = await finished(task.id);
    assert.equal(done.status, 'completed', log);
    const { took, written } = done.result as { took: number; written: number };
    assert.ok(written >= 10, `the writer thread wrote ${written} chunks`);
    assert.ok(took < 1.5, `the checkpoint took ${took} s while a writer went on for up to 3 s`);
  });

  it('a soft time limit lands while ctx.output waits, and the sender goes on working', async () => {
    // The server holds each batch, so these handlers spend their time waiting in ctx.output when the limit comes.
    const tasks = await Promise.all(Array.from({ length: 6 }, () => hub.enqueue('py-soft-limit-while-streaming', {})));
    for (const task of tasks) {
      const done = await finished(task.id);
      assert.equal(done.status, 'completed', log);
      const written = done.result as number;
      const events = await history(task.id);
      const chunks = chunksOf(events);
      // The limit may land as the call that queued a chunk returns (as it may just after any call): that chunk is
      // stored though its call raised.
      const streamed = chunks.length - 1;
      assert.ok(streamed === written || streamed === written + 1, `${streamed} chunks stored, ${written} calls returned`);
      assert.deepEqual(chunks, [...Array.from({ length: streamed }, (_, i) => `s${i} `), 'after the soft limit']);
      assert.equal(events.filter((e) => e.kind === 'output' || e.kind === 'checkpoint').at(-1)?.kind, 'checkpoint');
    }
  });

  it('a malformed chunk fails its own call; the chunks around it are stored', async () => {
    const task = await hub.enqueue('py-invalid-chunk', {});
    const done = await finished(task.id);
    assert.equal(done.status, 'completed', log);
    assert.equal(done.result, 'raised at the call: chunk');
    assert.deepEqual(chunksOf(await history(task.id)), ['fine ', 'after ']);
  });

  it('a chunk refused after the handler returned fails the attempt; the chunks before it are stored', async () => {
    const task = await hub.enqueue('py-refused-unheard', {}, { maxAttempts: 1 });
    const done = await finished(task.id);
    assert.equal(done.status, 'failed', log);
    // The server refuses the request (413), and closes the connection while the body is still coming: the worker
    // hears either, from its batch.
    assert.match(done.error?.message ?? '', /^POST \/worker\/events: /);
    assert.deepEqual(chunksOf(await history(task.id)), ['fine ']);
  });

  it('a handler that heard of a refusal from its next call decides itself', async () => {
    const task = await hub.enqueue('py-refused-heard', {});
    const done = await finished(task.id);
    assert.equal(done.status, 'completed', log);
    assert.match(String(done.result), /^heard: POST \/worker\/events: /);
    const events = await history(task.id);
    assert.deepEqual(chunksOf(events), ['fine ']);
    assert.equal(events.filter((e) => e.kind === 'checkpoint').length, 0);
  });
});
