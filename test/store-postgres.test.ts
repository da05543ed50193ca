// The store conformance suite, unchanged, against PostgreSQL, plus what only this backend has: enqueueing inside the
// application's own transaction, and a LISTEN connection that survives losing its backend. Each run works in a
// throwaway schema and drops it at the end.
//
// Needs a server: TASKHUB_TEST_POSTGRES_URL, default postgres://postgres@127.0.0.1:5432/test. Unreachable, the tests
// are skipped, unless CI or TASKHUB_REQUIRE_SERVICES is set: then they fail.
import assert from 'node:assert/strict';
import { after, before, describe, it, test } from 'node:test';
import { Client } from 'pg';
import { StoreUnavailableError } from '../src/core/errors.ts';
import { uuidv7 } from '../src/core/ids.ts';
import type { TaskSpec } from '../src/core/task.ts';
import { DEFAULT_TASK_DEFAULTS, type NewTask, normalizeTaskSpec } from '../src/core/validate.ts';
import { storeConformance } from '../src/store/conformance/suite.ts';
import { appendOutput } from '../src/store/conformance/helpers.ts';
import { PostgresStore } from '../src/store/postgres/postgres-store.ts';
import { decodeNotices, encodeNotices } from '../src/store/postgres/wire.ts';
import { buildSql, MAX_NOTIFY_BYTES, migrations, noticeChannel } from '../src/store/postgres/sql.ts';
import type { StoreNotice } from '../src/store/store.ts';
import { connectionsThatRan } from './helpers/postgres.ts';

const url = process.env.TASKHUB_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const required = [process.env.CI, process.env.TASKHUB_REQUIRE_SERVICES].some((v) => v !== undefined && v !== '' && v !== '0' && v !== 'false');

/** The URL without its password, for messages. */
function shown(connectionString: string): string {
  try {
    const parsed = new URL(connectionString);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return '(unparsable URL)';
  }
}

async function unreachableReason(): Promise<string | null> {
  const client = new Client({ connectionString: url, connectionTimeoutMillis: 3000 });
  client.on('error', () => {});
  try {
    await client.connect();
    await client.query('SELECT 1');
    return null;
  } catch (error) {
    return (error as Error).message || String(error);
  } finally {
    await client.end().catch(() => {});
  }
}

/** Runs SQL on a connection of its own, outside any store. */
async function admin<T>(fn: (client: Client) => Promise<T>): Promise<T> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

const freshSchema = (label: string) => `taskhub_test_${label}_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;

async function dropSchema(schema: string): Promise<void> {
  await admin((c) => c.query(`DROP SCHEMA IF EXISTS ${c.escapeIdentifier(schema)} CASCADE`));
}

async function openStore(schema: string): Promise<PostgresStore> {
  const store = new PostgresStore({ connectionString: url, schema, poolSize: 4 });
  await store.migrate();
  return store;
}

function newTask(spec: Partial<TaskSpec> = {}, now = Date.now()): NewTask {
  return normalizeTaskSpec({ type: 'work', ...spec }, DEFAULT_TASK_DEFAULTS, now, () => uuidv7(now));
}

async function waitFor(condition: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

test('packs notices into NOTIFY messages under the size limit, and reads them back', () => {
  const big = 'x'.repeat(20_000);
  const notices: StoreNotice[] = [
    ...Array.from({ length: 200 }, (_, i): StoreNotice => ({
      kind: 'event',
      queue: 'default',
      owner: null,
      event: { taskId: `t${i}`, seq: 1, kind: 'created', data: { status: 'queued', runAt: i }, at: i },
    })),
    { kind: 'event', queue: 'q', owner: 'ann', event: { taskId: 'big', seq: 7, kind: 'output', data: { chunk: big }, at: 1 } },
    { kind: 'ready', queue: 'default' },
    { kind: 'cancel', taskId: 't3' },
  ];
  const messages = encodeNotices('me', notices);
  assert.ok(messages.length > 1);
  for (const message of messages) assert.ok(Buffer.byteLength(message) <= MAX_NOTIFY_BYTES);
  const decoded = messages.flatMap((m) => decodeNotices(m)?.notices ?? []);
  assert.deepEqual(decoded.slice(0, 200), notices.slice(0, 200));
  // The event too large for a message travels as a stub, to be read from the store.
  assert.deepEqual(decoded[200], { kind: 'event', queue: 'q', owner: 'ann', taskId: 'big', seq: 7 });
  assert.deepEqual(decoded.slice(201), notices.slice(201));
  assert.equal(decodeNotices(messages[0])?.origin, 'me');
  assert.equal(decodeNotices('{"something":"else"}'), null);
});

const unreachable = await unreachableReason();

if (unreachable !== null) {
  const message = `PostgreSQL is unreachable at ${shown(url)} (${unreachable})`;
  if (required) {
    test('PostgreSQL store: server reachable', () => {
      assert.fail(`${message}; CI or TASKHUB_REQUIRE_SERVICES is set, so the PostgreSQL tests must run`);
    });
  } else {
    test('PostgreSQL store', { skip: `${message}; set TASKHUB_TEST_POSTGRES_URL to run these tests` }, () => {});
  }
} else {
  let conformanceSchema = '';
  storeConformance('postgres', {
    async open() {
      conformanceSchema = freshSchema('conformance');
      return openStore(conformanceSchema);
    },
    openAnother: () => openStore(conformanceSchema),
    cleanup: () => dropSchema(conformanceSchema),
  });

  describe('PostgreSQL store: beyond the contract', () => {
    const schema = freshSchema('extra');
    let store: PostgresStore;
    before(async () => {
      store = await openStore(schema);
    });
    after(async () => {
      await store.close();
      await dropSchema(schema);
    });

    it('migrates safely when many processes start at once', async () => {
      const racing = freshSchema('race');
      const stores = Array.from({ length: 6 }, () => new PostgresStore({ connectionString: url, schema: racing, poolSize: 1 }));
      try {
        await Promise.all(stores.map((s) => s.migrate()));
        await stores[0].migrate();
        const versions = await admin((c) => c.query(`SELECT version FROM ${c.escapeIdentifier(racing)}.schema_migrations ORDER BY version`));
        assert.deepEqual(
          versions.rows.map((r) => r.version),
          migrations('"any"').map((_, i) => i + 1),
        );
      } finally {
        await Promise.all(stores.map((s) => s.close()));
        await dropSchema(racing);
      }
    });

    it('enqueues inside the application transaction: a task exists if and only if it commits', async () => {
      const type = `in-tx-${Math.random().toString(36).slice(2, 8)}`;
      const heard: StoreNotice[] = [];
      const stop = store.listen((n) => heard.push(n));
      try {
        await admin(async (client) => {
          await client.query('CREATE TEMP TABLE orders (id integer PRIMARY KEY)');

          await client.query('BEGIN');
          await client.query('INSERT INTO orders VALUES (1)');
          const [committed] = await store.createTasksIn(client, [newTask({ type, payload: { order: 1 } })]);
          assert.equal(committed.created, true);
          // Not committed yet: invisible to the store's own connections.
          assert.equal(await store.getTask(committed.task.id), null);
          await client.query('COMMIT');
          assert.equal((await store.getTask(committed.task.id))?.status, 'queued');

          await client.query('BEGIN');
          await client.query('INSERT INTO orders VALUES (2)');
          const [rolledBack] = await store.createTasksIn(client, [newTask({ type, payload: { order: 2 } })]);
          await client.query('ROLLBACK');
          assert.equal(await store.getTask(rolledBack.task.id), null);

          const claims = await store.claim({ workerId: 'w', types: [type], queues: null, max: 10, leaseMs: 30_000, now: Date.now() });
          assert.deepEqual(
            claims.map((c) => c.task.id),
            [committed.task.id],
          );
          // The commit reached this process's listeners through NOTIFY.
          await waitFor(
            () => heard.some((n) => n.kind === 'event' && n.event.taskId === committed.task.id && n.event.kind === 'created'),
            'the created event of the committed task',
          );
          assert.ok(!heard.some((n) => n.kind === 'event' && n.event.taskId === rolledBack.task.id));
        });
      } finally {
        stop();
      }
    });

    it('delivers events too large for a NOTIFY payload, read back from the store', async () => {
      const other = await openStore(schema);
      const type = `big-${Math.random().toString(36).slice(2, 8)}`;
      const heard: StoreNotice[] = [];
      const stop = store.listen((n) => heard.push(n));
      try {
        await other.createTasks([newTask({ type })]);
        const [claim] = await other.claim({ workerId: 'w', types: [type], queues: null, max: 1, leaseMs: 30_000, now: Date.now() });
        const chunk = 'x'.repeat(50_000);
        const sent = await appendOutput(other, { taskId: claim.task.id, attemptToken: claim.attemptToken }, chunk, Date.now());
        await waitFor(
          () => heard.some((n) => n.kind === 'event' && n.event.taskId === claim.task.id && n.event.seq === sent.seq),
          'the large output event',
        );
        const notice = heard.find((n) => n.kind === 'event' && n.event.seq === sent.seq && n.event.taskId === claim.task.id);
        assert.ok(notice?.kind === 'event');
        assert.deepEqual(notice.event, sent);
        // Delivered in order: started before output.
        const seqs = heard.flatMap((n) => (n.kind === 'event' && n.event.taskId === claim.task.id ? [n.event.seq] : []));
        assert.deepEqual(seqs, [1, 2, 3]);
      } finally {
        stop();
        await other.close();
      }
    });

    it('keeps listening after its connection is killed, and tells waiters to re-check', async () => {
      const other = await openStore(schema);
      const heard: StoreNotice[] = [];
      const stop = store.listen((n) => heard.push(n));
      try {
        const killed = await admin((c) =>
          c.query(
            `SELECT pg_terminate_backend(pid) AS done FROM pg_stat_activity
             WHERE datname = current_database() AND application_name = 'taskhub-listener' AND query = $1 AND pid <> pg_backend_pid()`,
            [`LISTEN ${c.escapeIdentifier(noticeChannel(schema))}`],
          ),
        );
        // Two stores listen on this schema (this one and `other`): both lose their connection.
        assert.equal(killed.rowCount, 2);
        await waitFor(() => heard.some((n) => n.kind === 'ready' && n.queue === null), 'the ready notice after reconnecting');
        const type = `after-kill-${Math.random().toString(36).slice(2, 8)}`;
        const [{ task }] = await other.createTasks([newTask({ type })]);
        await waitFor(() => heard.some((n) => n.kind === 'event' && n.event.taskId === task.id), 'an event from the other store');
      } finally {
        stop();
        await other.close();
      }
    });

    it('judges several finish requests for one task in batch order, as if run one by one', async () => {
      const type = `twice-${Math.random().toString(36).slice(2, 8)}`;
      await store.createTasks([newTask({ type }), newTask({ type })]);
      const [a, b] = await store.claim({ workerId: 'w', types: [type, type], queues: null, max: 2, leaseMs: 30_000, now: Date.now() });
      assert.ok(a && b, 'a type named twice still yields two tasks');
      const refA = { taskId: a.task.id, attemptToken: a.attemptToken };
      const results = await store.finish(
        [
          { ref: refA, outcome: { status: 'completed', result: 1 } },
          { ref: refA, outcome: { status: 'completed', result: 2 } },
          { ref: { taskId: b.task.id, attemptToken: 'stale' }, outcome: { status: 'completed', result: 3 } },
          { ref: { taskId: b.task.id, attemptToken: b.attemptToken }, outcome: { status: 'failed', error: { message: 'x', retryable: false } } },
        ],
        Date.now(),
      );
      assert.deepEqual(
        results.map((r) => (r.ok ? r.task.status : r.error.name)),
        ['completed', 'StaleAttemptError', 'StaleAttemptError', 'failed'],
      );
      assert.equal((await store.getTask(a.task.id))?.result, 1);
      assert.deepEqual(
        (await store.listEvents(a.task.id, 0, 10)).map((e) => e.seq),
        [1, 2, 3],
      );
    });

    it('holds a queue cap under many concurrent claimers, and a full queue crowds out no other', async () => {
      const type = `capped-${Math.random().toString(36).slice(2, 8)}`;
      const capped = `q-${type}`;
      await store.updateQueueSettings(capped, { maxConcurrency: 3 }, Date.now());
      // The capped queue's tasks outrank the default queue's, so every claim's best candidates lie in it.
      await store.createTasks(Array.from({ length: 30 }, () => newTask({ type, queue: capped, priority: 10 })));
      await store.createTasks(Array.from({ length: 30 }, () => newTask({ type })));
      const others = [await openStore(schema), await openStore(schema)];
      try {
        const claims = (
          await Promise.all(
            [store, ...others].flatMap((s) =>
              Array.from({ length: 4 }, () =>
                s.claim({ workerId: 'w', types: [type], queues: null, max: 4, leaseMs: 30_000, now: Date.now() }),
              ),
            ),
          )
        ).flat();
        const byQueue = Map.groupBy(claims, (c) => c.task.queue);
        assert.equal(byQueue.get(capped)?.length, 3, 'exactly the cap, across stores');
        assert.equal(byQueue.get('default')?.length, claims.length - 3);
        assert.ok(claims.length > 3, 'the full queue did not starve the default queue');
        assert.equal(new Set(claims.map((c) => c.task.id)).size, claims.length);
      } finally {
        await Promise.all(others.map((o) => o.close()));
      }
    });

    it('sends no NOTIFY while no other process listens, and publishes once one says it does', async () => {
      const lonely = freshSchema('alone');
      const channel = noticeChannel(lonely);
      // A listener that the stores cannot find in pg_stat_activity (its LISTEN is not theirs, letter for letter).
      const spy = new Client({ connectionString: url });
      await spy.connect();
      const payloads: string[] = [];
      spy.on('notification', (m) => m.channel === channel && m.payload && payloads.push(m.payload));
      await spy.query(`listen ${spy.escapeIdentifier(channel)}`);
      const alone = await openStore(lonely);
      try {
        // For its first second of listening it publishes anyway (others answer its join meanwhile).
        await new Promise((resolve) => setTimeout(resolve, 1500));
        const heard: StoreNotice[] = [];
        const stop = alone.listen((n) => heard.push(n));
        const [{ task: first }] = await alone.createTasks([newTask({ type: 'lonely' })]);
        // Its own listeners hear it at once, as always.
        assert.ok(heard.some((n) => n.kind === 'event' && n.event.taskId === first.id));
        stop();
        await new Promise((resolve) => setTimeout(resolve, 300));
        assert.deepEqual(
          payloads.filter((p) => p.includes(first.id)),
          [],
        );
        // Another process joins: its first message (any message) is enough.
        await spy.query(`NOTIFY ${spy.escapeIdentifier(channel)}, '{"origin":"another","notices":[]}'`);
        await new Promise((resolve) => setTimeout(resolve, 200));
        const [{ task: second }] = await alone.createTasks([newTask({ type: 'lonely' })]);
        await waitFor(() => payloads.some((p) => p.includes(second.id)), 'the NOTIFY of the second task');
      } finally {
        await alone.close();
        await spy.end();
        await dropSchema(lonely);
      }
    });

    it('is heard by a store that starts listening after it had the channel to itself', async () => {
      const shared = freshSchema('join');
      const first = await openStore(shared);
      let second: PostgresStore | undefined;
      try {
        // Alone, and past its first second: it publishes nothing now.
        await new Promise((resolve) => setTimeout(resolve, 1500));
        second = await openStore(shared);
        const heard: StoreNotice[] = [];
        second.listen((n) => heard.push(n));
        // The newcomer's join reaches the first store within moments.
        await new Promise((resolve) => setTimeout(resolve, 200));
        const [{ task }] = await first.createTasks([newTask({ type: 'joined' })]);
        await waitFor(() => heard.some((n) => n.kind === 'event' && n.event.taskId === task.id), 'the first store\'s notice');
      } finally {
        await second?.close();
        await first.close();
        await dropSchema(shared);
      }
    });

    it('refuses finish requests for ids that need quoting in an array, and applies the others', async () => {
      const type = `quoted-${Math.random().toString(36).slice(2, 8)}`;
      await store.createTasks([newTask({ type })]);
      const [claim] = await store.claim({ workerId: 'w', types: [type], queues: null, max: 1, leaseMs: 30_000, now: Date.now() });
      const odd = 'a"b\\c{d,e} NULL';
      const results = await store.finish(
        [
          { ref: { taskId: odd, attemptToken: 'x"y' }, outcome: { status: 'completed', result: null } },
          { ref: { taskId: claim.task.id, attemptToken: claim.attemptToken }, outcome: { status: 'completed', result: { ok: '"\\' } } },
        ],
        Date.now(),
      );
      assert.equal(results[0].ok, false);
      assert.ok(results[1].ok);
      assert.deepEqual((await store.getTask(claim.task.id))?.result, { ok: '"\\' });
    });

    it('lists tasks by filters that no task can match without failing (U+0000)', async () => {
      assert.deepEqual(await store.listTasks({ queue: 'a\u0000b', limit: 10 }), { tasks: [], nextCursor: null });
      assert.deepEqual(await store.listTasks({ tag: { key: 'k', value: '\u0000' }, limit: 10 }), { tasks: [], nextCursor: null });
    });

    it("warmUp plans the statements of a task's life on three connections, changing nothing", async () => {
      const warmed = freshSchema('warm');
      const first = await openStore(warmed);
      const now = Date.now();
      const [{ task: queued }, { task: scheduled }] = await first.createTasks([
        newTask({ type: 'warm-up' }, now),
        newTask({ type: 'warm-up', runAt: now + 100 }, now),
      ]);
      assert.equal(scheduled.status, 'scheduled');
      await first.close();
      // Due by now, and promoted by no one yet: a claim run at any time later than 0 would promote it.
      await new Promise((resolve) => setTimeout(resolve, 200));
      const second = await openStore(warmed);
      try {
        await second.warmUp();
        assert.equal(await connectionsThatRan(buildSql(warmed).completeMany.text), 3);
        assert.equal((await second.getTask(scheduled.id))?.status, 'scheduled', 'the warm-up claim promoted nothing');
        const stillQueued = await second.getTask(queued.id);
        assert.equal(stillQueued?.status, 'queued', 'the warm-up claim claimed nothing');
        assert.equal(stillQueued?.attempts, 0);
        assert.deepEqual((await second.listEvents(queued.id, 0, 10)).map((e) => e.kind), ['created']);
        assert.deepEqual((await second.listEvents(scheduled.id, 0, 10)).map((e) => e.kind), ['created']);
      } finally {
        await second.close();
        await dropSchema(warmed);
      }
    });

    it('answers ping with StoreUnavailableError when the server cannot be reached', async () => {
      const nowhere = new PostgresStore({ connectionString: 'postgres://postgres@127.0.0.1:1/none', schema: 'unused' });
      try {
        await assert.rejects(nowhere.ping(), StoreUnavailableError);
        await assert.rejects(nowhere.getTask(uuidv7()), StoreUnavailableError);
      } finally {
        await nowhere.close();
      }
      await store.ping();
    });
  });
}
