// Notices of attempts starting and completing, built only when someone reads them (ListenOptions in store/store.ts):
// a worker process that nobody follows skips two notices per task, while histories stay exact and every follower and
// waiter still sees each event, live or from the store.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import pino from 'pino';
import { Taskhub } from '../src/index.ts';
import { claimRequest, newTask, T0 } from '../src/store/conformance/helpers.ts';
import { NoticeHub } from '../src/store/notifier/notice-hub.ts';
import { openStore } from '../src/store/open.ts';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.ts';
import type { StoreNotice } from '../src/store/store.ts';
import { tempDir } from './helpers/hub.ts';
import { storeFor } from './helpers/postgres.ts';

const kindsHeard = (heard: StoreNotice[]) => heard.flatMap((n) => (n.kind === 'event' ? [n.event.kind] : []));

describe('start and completion notices on demand', () => {
  it('leaves them out while no listener wants them, and no one else polls; the history keeps them (SQLite)', async () => {
    const tmp = tempDir();
    const store = new SqliteStore({ path: join(tmp.dir, 'taskhub.db') });
    await store.migrate();
    let wanted = false;
    const heard: StoreNotice[] = [];
    const stop = store.listen((n) => heard.push(n), { wantsStartsAndCompletions: () => wanted });
    try {
      const run = async (now: number) => {
        const [{ task }] = await store.createTasks([newTask({ type: 'quiet' })]);
        const [claim] = await store.claim(claimRequest({ types: ['quiet'], workerId: 'w1', now }));
        const [done] = await store.finish([{ ref: { taskId: task.id, attemptToken: claim.attemptToken }, outcome: { status: 'completed', result: 1 } }], now + 1);
        assert.ok(done.ok);
        return task.id;
      };
      const quiet = await run(T0 + 1);
      await new Promise((resolve) => setTimeout(resolve, 20));
      assert.deepEqual(kindsHeard(heard), ['created'], 'neither started nor completed was announced');
      assert.deepEqual((await store.listEvents(quiet, 0, 10)).map((e) => e.kind), ['created', 'started', 'completed']);

      heard.length = 0;
      wanted = true;
      await run(T0 + 10);
      await new Promise((resolve) => setTimeout(resolve, 20));
      assert.deepEqual(kindsHeard(heard), ['created', 'started', 'completed']);

      // A listener that says nothing wants every notice, so both hear them.
      heard.length = 0;
      wanted = false;
      const plain: StoreNotice[] = [];
      const stopPlain = store.listen((n) => plain.push(n));
      await run(T0 + 20);
      await new Promise((resolve) => setTimeout(resolve, 20));
      stopPlain();
      assert.deepEqual(kindsHeard(plain), ['created', 'started', 'completed']);
      assert.deepEqual(kindsHeard(heard), ['created', 'started', 'completed']);
    } finally {
      stop();
      await store.close();
      tmp.remove();
    }
  });

  it('asks every listener; one added twice wants them if either addition does; a throwing answer counts as yes', () => {
    const thrown: unknown[] = [];
    const hub = new NoticeHub((error) => thrown.push(error));
    assert.equal(hub.wantsStartsAndCompletions(), false, 'nobody listens');
    const quiet = () => {};
    const removeQuiet = hub.add(quiet, { wantsStartsAndCompletions: () => false });
    assert.equal(hub.wantsStartsAndCompletions(), false);
    hub.add(quiet);
    assert.equal(hub.wantsStartsAndCompletions(), true, 'the second addition wants every notice');
    removeQuiet();
    assert.equal(hub.size, 0);
    assert.equal(hub.wantsStartsAndCompletions(), false);

    hub.add(() => {}, { wantsStartsAndCompletions: () => { throw new Error('broken listener'); } });
    assert.equal(hub.wantsStartsAndCompletions(), true);
    assert.deepEqual(thrown.map((e) => (e as Error).message), ['broken listener']);
  });

  for (const backend of ['sqlite', 'postgres'] as const) {
    it(`a follower and a waiter that come during a drain nobody followed see every event (${backend})`, async (t) => {
      const place = await storeFor(backend, t, 'start_notices');
      if (!place) return;
      const store = await openStore(place.url);
      await store.migrate();
      const hub = await Taskhub.open({ store, logger: pino({ level: 'silent' }) });
      try {
        await hub.enqueueMany(Array.from({ length: 300 }, (_, i) => ({ type: 'drained', payload: { i } })));
        const followed = await hub.enqueue('drained', { i: 'followed' }, { priority: -1 });
        let ran = 0;
        let release = () => {};
        const gate = new Promise<void>((resolve) => (release = resolve));
        hub.handle('drained', async (payload: { i: number | string }) => {
          ran++;
          // The last task waits, so that its follower and waiter join while it runs.
          if (payload.i === 'followed') await gate;
          return payload.i;
        }, { concurrency: 20 });
        while (ran < 301) await new Promise((resolve) => setTimeout(resolve, 5));
        const live: string[] = [];
        const follower = (async () => {
          for await (const event of hub.follow(followed.id)) live.push(event.kind);
        })();
        const waited = hub.wait(followed.id, 10_000);
        await new Promise((resolve) => setTimeout(resolve, 50));
        release();
        assert.equal((await waited).status, 'completed');
        await follower;
        assert.deepEqual(live, ['created', 'started', 'completed']);
        const { tasks } = await hub.list({ type: 'drained', limit: 1 });
        assert.deepEqual((await hub.events(tasks[0].id)).map((e) => e.kind), ['created', 'started', 'completed']);
      } finally {
        await hub.close({ graceMs: 1000 });
        await place.cleanup();
      }
    });
  }
});
