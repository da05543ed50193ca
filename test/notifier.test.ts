// The backend-neutral notifier (store/notifier/notifier.ts) over a fake Listener: fan-out, ordered delivery,
// reconnect with backoff, and the resync signal after a gap. Then SQLite's poller behind it, on a real file.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { uuidv7 } from '../src/core/ids.ts';
import { DEFAULT_TASK_DEFAULTS, normalizeTaskSpec } from '../src/core/validate.ts';
import type { Listener, ListenerSink } from '../src/store/notifier/listener.ts';
import { canResync, Notifier, type Resync } from '../src/store/notifier/notifier.ts';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.ts';
import type { StoreNotice } from '../src/store/store.ts';

class FakeListener implements Listener {
  sink: ListenerSink | null = null;
  connects = 0;
  closes = 0;
  /** How many connect() calls fail before one succeeds. */
  failures = 0;
  missedNotices: StoreNotice[] = [];

  async connect(sink: ListenerSink): Promise<void> {
    this.connects++;
    if (this.failures > 0) {
      this.failures--;
      throw new Error('refused');
    }
    this.sink = sink;
  }
  async missed(): Promise<StoreNotice[]> {
    return this.missedNotices;
  }
  async close(): Promise<void> {
    this.closes++;
    this.sink = null;
  }
}

const ready = (queue: string | null): StoreNotice => ({ kind: 'ready', queue });
const cancel = (taskId: string): StoreNotice => ({ kind: 'cancel', taskId });
const fast = { minDelayMs: 1, maxDelayMs: 4 };

async function waitFor(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

describe('notifier', () => {
  it('fans out this process\'s notices to every listener at once', async () => {
    const notifier = new Notifier(new FakeListener());
    const [first, second]: StoreNotice[][] = [[], []];
    notifier.listen((n) => first.push(n));
    const stop = notifier.listen((n) => second.push(n));
    notifier.emit(ready('q'));
    stop();
    notifier.emit(ready('r'));
    assert.deepEqual(first, [ready('q'), ready('r')]);
    assert.deepEqual(second, [ready('q')]);
    assert.equal(notifier.size, 1);
    await notifier.close();
  });

  it('delivers other processes\' notices in arrival order, even when one must be read first', async () => {
    const listener = new FakeListener();
    const notifier = new Notifier(listener);
    const heard: StoreNotice[] = [];
    notifier.listen((n) => heard.push(n));
    await notifier.start();
    const sink = listener.sink;
    assert.ok(sink);
    sink.notice(ready('a'));
    sink.noticeLater(async () => {
      await new Promise((resolve) => setTimeout(resolve, 10));
      return cancel('slow');
    });
    sink.notice(ready('b'));
    sink.noticeLater(async () => null);
    sink.noticeLater(() => Promise.reject(new Error('gone')));
    sink.notice(ready('c'));
    await waitFor(() => heard.length === 4, 'four notices');
    assert.deepEqual(heard, [ready('a'), cancel('slow'), ready('b'), ready('c')]);
    // Nothing pending: delivered at once again.
    sink.notice(ready('d'));
    await new Promise((resolve) => setTimeout(resolve, 5));
    sink.notice(ready('e'));
    assert.deepEqual(heard.at(-1), ready('e'));
    await notifier.close();
  });

  it('reconnects after a lost connection, then re-announces: ready for every queue, what was missed, resync', async () => {
    const listener = new FakeListener();
    let clock = 1000;
    const notifier = new Notifier(listener, { ...fast, now: () => clock });
    const heard: StoreNotice[] = [];
    const resyncs: Resync[] = [];
    notifier.listen((n) => heard.push(n));
    notifier.onResync((r) => resyncs.push(r));
    await notifier.start();
    assert.equal(notifier.listening, true);
    assert.deepEqual(resyncs, [], 'no resync on the first connection');

    const first = listener.sink;
    assert.ok(first);
    listener.missedNotices = [cancel('t1')];
    listener.failures = 2;
    first.lost();
    assert.equal(notifier.listening, false);
    clock = 2000;
    await waitFor(() => resyncs.length === 1, 'the resync');
    assert.equal(listener.connects, 4, 'one connection, two refused attempts, one more');
    assert.deepEqual(heard, [ready(null), cancel('t1')]);
    assert.deepEqual(resyncs, [{ since: 1000, at: 2000 }]);
    assert.equal(notifier.listening, true);

    // The old connection's sink is dead: a late notice or loss from it changes nothing.
    first.notice(ready('stale'));
    first.lost();
    assert.equal(notifier.listening, true);
    assert.equal(heard.length, 2);
    await notifier.close();
  });

  it('resyncs after a first connection that could not be opened', async () => {
    const listener = new FakeListener();
    listener.failures = 1;
    const notifier = new Notifier(listener, fast);
    let resyncs = 0;
    notifier.onResync(() => resyncs++);
    await notifier.start();
    await waitFor(() => resyncs === 1, 'the resync');
    await notifier.close();
  });

  it('stops retrying once closed', async () => {
    const listener = new FakeListener();
    listener.failures = 1_000;
    const notifier = new Notifier(listener, fast);
    await notifier.start();
    await notifier.close();
    const connects = listener.connects;
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(listener.connects, connects);
  });

  it('without listenWhileIdle, disconnects when the last listener leaves and connects for the next', async () => {
    const listener = new FakeListener();
    const notifier = new Notifier(listener, { listenWhileIdle: false });
    const stop = notifier.listen(() => {});
    await waitFor(() => notifier.listening, 'listening');
    stop();
    assert.equal(notifier.listening, false);
    assert.equal(listener.closes, 1);
    notifier.listen(() => {});
    await waitFor(() => notifier.listening, 'listening again');
    assert.equal(listener.connects, 2);
    await notifier.close();
  });
});

describe('SQLite poller behind the notifier', () => {
  /** Two stores on one new file, as two processes would be: `mine` listens, `theirs` writes. */
  async function twoStores(): Promise<{ dir: string; mine: SqliteStore; theirs: SqliteStore }> {
    const dir = mkdtempSync(join(tmpdir(), 'taskhub-notifier-'));
    const open = async () => {
      const store = new SqliteStore({ path: join(dir, 'db'), pollIntervalMs: 5 });
      await store.migrate();
      return store;
    };
    return { dir, mine: await open(), theirs: await open() };
  }

  it('hears another connection\'s commits, and offers the resync hook', async () => {
    const { dir, mine, theirs } = await twoStores();
    try {
      assert.ok(canResync(mine));
      const heard: StoreNotice[] = [];
      const stop = mine.listen((n) => heard.push(n));
      const now = Date.now();
      const [{ task }] = await theirs.createTasks([normalizeTaskSpec({ type: 't' }, DEFAULT_TASK_DEFAULTS, now, () => uuidv7(now))]);
      await waitFor(() => heard.some((n) => n.kind === 'event' && n.event.taskId === task.id), 'the other store\'s event');
      assert.ok(heard.some((n) => n.kind === 'ready' && n.queue === null));
      stop();
    } finally {
      await mine.close();
      await theirs.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('catches up with another connection\'s backlog of output, compacted or not, in order and at once', async () => {
    // A server process following the output a worker process streams into the same file. The poller once read its
    // backlog a page at a time, each page re-reading all of it and every task: this backlog took it about ten seconds.
    const { dir, mine, theirs } = await twoStores();
    const TASKS = 600;
    const CHUNKS = 100;
    try {
      const now = Date.now();
      const created = await theirs.createTasks(Array.from({ length: TASKS }, () => normalizeTaskSpec({ type: 'stream' }, DEFAULT_TASK_DEFAULTS, now, () => uuidv7(now))));
      const refs = [];
      while (refs.length < TASKS) {
        const claims = await theirs.claim({ workerId: 'w', types: ['stream'], queues: null, max: 100, leaseMs: 60_000, now });
        refs.push(...claims.map((c) => ({ taskId: c.task.id, attemptToken: c.attemptToken })));
      }
      // One chunk of every task per write, as tasks streaming side by side make them: 60,000 events, compacted into
      // blocks every few thousand.
      for (let c = 0; c < CHUNKS; c++) {
        const results = await theirs.appendAttemptEvents(refs.map((ref) => ({ ref, chunk: `chunk ${c}` })), now);
        assert.ok(results.every((r) => r.ok));
      }
      const chunks = new Map<string, string[]>(created.map(({ task }) => [task.id, []]));
      let heard = 0;
      const started = performance.now();
      const stop = mine.listen((n) => {
        if (n.kind !== 'event' || n.event.kind !== 'output') return;
        chunks.get(n.event.taskId)?.push((n.event.data as { chunk: string }).chunk);
        heard++;
      });
      await waitFor(() => heard >= TASKS * CHUNKS, 'the backlog');
      const tookMs = performance.now() - started;
      stop();
      const inOrder = Array.from({ length: CHUNKS }, (_, c) => `chunk ${c}`);
      for (const [taskId, got] of chunks) assert.deepEqual(got, inOrder, `task ${taskId}'s output, once and in order`);
      assert.ok(tookMs < 3000, `the backlog took ${Math.round(tookMs)} ms to reach the listener`);
    } finally {
      await mine.close();
      await theirs.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
