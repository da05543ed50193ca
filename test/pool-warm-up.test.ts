// A PostgreSQL hub whose worker waits for work prepares its store's connections (Store.warmUp), so that the first
// tasks do not wait while new connections plan the claim; a hub without a worker (a CLI command, a producer) does not
// open connections for it.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client } from 'pg';
import pino from 'pino';
import { Taskhub } from '../src/index.ts';
import { buildSql } from '../src/store/postgres/sql.ts';
import { waitUntil } from './helpers/hub.ts';
import { dropSchema, freshSchema, PG_URL, requirePostgres, storeUrl } from './helpers/postgres.ts';

/** Idle pooled connections whose last statement was the schema's completeMany, the warm-up's last (by prefix). */
async function warmedConnections(schema: string): Promise<number> {
  const client = new Client({ connectionString: PG_URL });
  await client.connect();
  try {
    const { rows } = await client.query<{ n: number }>(
      `SELECT count(*)::integer AS n FROM pg_stat_activity
       WHERE datname = current_database() AND application_name = 'taskhub' AND state = 'idle'
         AND length(query) > 100 AND starts_with($1::text, query)`,
      [buildSql(schema).completeMany.text],
    );
    return rows[0].n;
  } finally {
    await client.end();
  }
}

it('warms the pool of a PostgreSQL hub once its worker waits for work, and not that of a hub without one', async (t) => {
  if (!(await requirePostgres(t))) return;
  const logger = pino({ level: 'silent' });
  const schema = freshSchema('warm_hub');
  const producer = await Taskhub.open({ store: storeUrl(schema), logger });
  try {
    await producer.enqueue('elsewhere', null);
    await sleep(300);
    assert.equal(await warmedConnections(schema), 0, 'a hub without a worker warmed its pool');

    const worker = await Taskhub.open({ store: storeUrl(schema), logger });
    try {
      const ran: string[] = [];
      worker.handle('warm-hub', (payload: string) => void ran.push(payload));
      await waitUntil(async () => (await warmedConnections(schema)) === 3, 10_000, 'three warmed connections');
      const task = await producer.enqueue('warm-hub', 'first');
      await waitUntil(async () => (await worker.get(task.id)).status === 'completed', 10_000, 'the first task completed');
      assert.deepEqual(ran, ['first']);
    } finally {
      await worker.close();
    }
  } finally {
    await producer.close();
    await dropSchema(schema);
  }
});
