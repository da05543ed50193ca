// Enqueue inside the application's own PostgreSQL transaction: the task exists if and only if the business row does.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { Client } from 'pg';
import pino from 'pino';
import { Taskhub } from '../src/index.ts';
import { dropSchema, freshSchema, PG_URL, requirePostgres, storeUrl } from './helpers/postgres.ts';
import { openTestHub } from './helpers/hub.ts';

it('hub.enqueueIn commits and rolls back with the caller\'s transaction', async (t) => {
  if (!(await requirePostgres(t))) return;
  const schema = freshSchema('enqueue_in');
  const hub = await Taskhub.open({ store: storeUrl(schema), logger: pino({ level: 'silent' }), autoStart: false });
  const client = new Client({ connectionString: PG_URL });
  await client.connect();
  try {
    await client.query(`CREATE TABLE "${schema}".orders (id serial PRIMARY KEY, item text NOT NULL)`);
    await client.query('BEGIN');
    const { rows } = await client.query(`INSERT INTO "${schema}".orders (item) VALUES ('book') RETURNING id`);
    const kept = await hub.enqueueIn(client, 'ship-order', { orderId: rows[0].id }, { priority: 3 });
    await client.query('COMMIT');
    assert.equal((await hub.get(kept.id)).priority, 3);

    await client.query('BEGIN');
    await client.query(`INSERT INTO "${schema}".orders (item) VALUES ('lamp')`);
    const dropped = await hub.enqueueIn(client, 'ship-order', { orderId: 2 });
    await client.query('ROLLBACK');
    await assert.rejects(hub.get(dropped.id), /does not exist/);
    assert.deepEqual((await hub.list({ type: 'ship-order' })).tasks.map((x) => x.id), [kept.id]);
    await assert.rejects(hub.enqueueIn(client, 'bad type!', null), /type:/);
  } finally {
    await client.end();
    await hub.close();
    await dropSchema(schema);
  }
});

it('hub.enqueueIn says plainly that SQLite cannot take part in an outside transaction', async () => {
  const hub = await openTestHub({ autoStart: false });
  try {
    await assert.rejects(hub.enqueueIn({ query: () => undefined }, 'x'), /needs the PostgreSQL store; this one is sqlite/);
  } finally {
    await hub.dispose();
  }
});
