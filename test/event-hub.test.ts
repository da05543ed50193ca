// The event hub (engine/event-hub.ts) over a real SQLite store whose notices it is not told: what a lost notice
// connection looks like from above. resync() brings followers and queue watchers up to date, one store read per task;
// a follower that does not take its events has a bounded buffer and catches up from the store, in order.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { Task, TaskEvent } from '../src/index.ts';
import type { Store } from '../src/store/store.ts';
import { unstable_openStore } from '../src/index.ts';
import { approxJsonBytes, eventBytes, type QueueEvent, TaskEventHub } from '../src/engine/event-hub.ts';
import { openTestHub, waitUntil } from './helpers/hub.ts';
import { gate, sleep } from './helpers/server.ts';

/** A second store on the hub's file that counts its event reads: the event hub reads through it and hears nothing. */
async function deafStore(dbPath: string): Promise<{ store: Store; reads: () => number }> {
  const store = await unstable_openStore(`sqlite:${join(dbPath)}`);
  let reads = 0;
  const listEvents = store.listEvents.bind(store);
  store.listEvents = (taskId, afterSeq, limit) => {
    reads++;
    return listEvents(taskId, afterSeq, limit);
  };
  return { store, reads: () => reads };
}

async function collect(follow: AsyncGenerator<TaskEvent>, into: TaskEvent[]): Promise<void> {
  for await (const event of follow) into.push(event);
}

describe('event hub', () => {
  it('measures JSON without recursion', () => {
    assert.ok(approxJsonBytes('x'.repeat(1000)) >= 1000);
    let deep: unknown = 1;
    for (let i = 0; i < 100_000; i++) deep = [deep];
    assert.ok(approxJsonBytes(deep) > 100_000);
  });

  it("counts an output chunk's bytes as the walk of its data would", () => {
    for (const chunk of ['', 'token', 'é€😀'.repeat(50), 'x'.repeat(70_000)]) {
      const event: TaskEvent = { taskId: 't', seq: 3, kind: 'output', data: { chunk }, at: 0 };
      assert.equal(eventBytes(event), 80 + approxJsonBytes(event.data));
    }
    const odd: TaskEvent = { taskId: 't', seq: 3, kind: 'output', data: null, at: 0 };
    assert.equal(eventBytes(odd), 80 + approxJsonBytes(null), 'output data of another shape is walked');
  });

  it('resync brings every follower and queue watcher up to date with one read per task', async () => {
    const hub = await openTestHub({ worker: { pollIntervalMs: 20 } });
    const { store, reads } = await deafStore(hub.dbPath);
    const events = new TaskEventHub(store);
    const release = gate();
    try {
      hub.handle('held', async (_payload, ctx) => {
        await release.promise;
        await ctx.progress(50);
        return 'ok';
      }, { concurrency: 10 });
      const tasks: Task[] = [];
      for (let i = 0; i < 5; i++) tasks.push(await hub.enqueue('held', i));
      await waitUntil(async () => (await Promise.all(tasks.map((t) => hub.get(t.id)))).every((t) => t.status === 'running'), 5000, 'tasks to run');

      // 200 followers of 5 tasks, and a queue watcher that saw each task's `started` live.
      const seen = Array.from({ length: 200 }, () => [] as TaskEvent[]);
      const following = seen.map((into, i) => collect(events.follow(tasks[i % 5].id), into));
      const watched: QueueEvent[] = [];
      events.watchAll((e) => watched.push(e));
      for (const task of tasks) {
        const [started] = await store.listEvents(task.id, 1, 1);
        events.onNotice({ kind: 'event', queue: task.queue, owner: task.owner, event: started });
      }
      await waitUntil(() => seen.every((s) => s.length === 2), 5000, 'histories');

      release.open();
      await waitUntil(async () => (await Promise.all(tasks.map((t) => hub.get(t.id)))).every((t) => t.status === 'completed'), 5000, 'tasks to finish');
      await sleep(100);
      assert.ok(seen.every((s) => s.length === 2), 'without notices, nobody heard of the ends');

      const before = reads();
      await events.resync();
      await Promise.all(following);
      assert.equal(reads() - before, 5, 'one read per distinct task');
      for (const [i, s] of seen.entries()) {
        assert.deepEqual(s.map((e) => e.kind), ['created', 'started', 'progress', 'completed'], `follower ${i}`);
      }
      for (const task of tasks) {
        const kinds = watched.filter((e) => e.event.taskId === task.id).map((e) => e.event.kind);
        assert.deepEqual(kinds, ['started', 'progress', 'completed'], 'the watcher got what it missed, once');
      }
      assert.equal(events.followerCount, 0);

      // Nothing is sent twice on a second resync: finished tasks are forgotten.
      await events.resync();
      assert.equal(watched.length, 15);
    } finally {
      release.open();
      await store.close();
      await hub.dispose();
    }
  });

  it('resync since a gap tells queue watchers of the tasks created during it, and not of older ones', async () => {
    const hub = await openTestHub({ autoStart: false });
    const { store } = await deafStore(hub.dbPath);
    const events = new TaskEventHub(store);
    try {
      const old = await hub.enqueue('gap', 'before');
      await sleep(20);
      const gapStart = Date.now();
      const during = [await hub.enqueue('gap', 1, { queue: 'q1' }), await hub.enqueue('gap', 2, { queue: 'q2' })];
      await hub.cancel(during[1].id);
      const watched: QueueEvent[] = [];
      events.watchAll((e) => watched.push(e));
      // GAP_SLACK_MS reaches 2 s back: a task created 20 ms before the gap is within it, so look from well after it.
      await events.resync(gapStart + 1_990);
      const byTask = (id: string) => watched.filter((e) => e.event.taskId === id).map((e) => e.event.kind);
      assert.deepEqual(byTask(during[0].id), ['created']);
      assert.deepEqual(byTask(during[1].id), ['created', 'cancelled']);
      assert.deepEqual(watched.find((e) => e.event.taskId === during[1].id)?.queue, 'q2');
      assert.deepEqual(byTask(old.id), [], 'a task created before the gap is not replayed');
      // A later gap does not replay them: they were created before it (watchers dedupe by seq within the slack).
      await events.resync(Date.now() + 2_000);
      assert.equal(watched.length, 3);
    } finally {
      await store.close();
      await hub.dispose();
    }
  });

  it('a follower that does not take its events buffers a bounded amount, then reads the store in order', async () => {
    const hub = await openTestHub();
    const { store } = await deafStore(hub.dbPath);
    const events = new TaskEventHub(store, { maxBufferedEvents: 10, maxBufferedBytes: 64 * 1024 });
    const release = gate();
    try {
      hub.handle('chatty', async (_payload, ctx) => {
        await release.promise;
        for (let i = 0; i < 200; i++) await ctx.output(`line ${i} ${'x'.repeat(1000)}`);
        return 'done';
      });
      const task = await hub.enqueue('chatty', null);
      await waitUntil(async () => (await hub.get(task.id)).status === 'running', 5000, 'the task to run');
      let overflows = 0;
      const follow = events.follow(task.id, { onOverflow: () => overflows++ });
      // Take the history, then stop pulling while every live event is announced.
      const history = [(await follow.next()).value as TaskEvent, (await follow.next()).value as TaskEvent];
      release.open();
      await waitUntil(async () => (await hub.get(task.id)).status === 'completed', 10_000, 'the task to finish');
      for (const event of await store.listEvents(task.id, 2, 1000)) events.onNotice({ kind: 'event', queue: task.queue, owner: null, event });
      assert.ok(overflows >= 1, 'the follower was told it fell behind');

      const rest: TaskEvent[] = [];
      for await (const event of follow) rest.push(event);
      assert.deepEqual([...history, ...rest].map((e) => e.seq), Array.from({ length: 203 }, (_, i) => i + 1));
      assert.equal(rest.at(-1)?.kind, 'completed');
    } finally {
      release.open();
      await store.close();
      await hub.dispose();
    }
  });
});
