// A PostgreSQL hub whose worker waits for work prepares its store's connections (Store.warmUp), so that the first
// tasks do not wait while new connections plan the claim; a hub without a worker (a CLI command, a producer) does not
// open connections for it.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import pino from 'pino';
import { Taskhub } from '../src/index.ts';
import { buildSql } from '../src/store/postgres/sql.ts';
import { waitUntil } from './helpers/hub.ts';
import { connectionsThatRan, dropSchema, freshSchema, requirePostgres, storeUrl } from './helpers/postgres.ts';

it('warms the pool of a PostgreSQL hub once its worker waits for work, and not that of a hub without one', async (t) => {
  if (!(await requirePostgres(t))) return;
  const logger = pino({ level: 'silent' });
  const schema = freshSchema('warm_hub');
  const producer = await Taskhub.open({ store: storeUrl(schema), logger });
  try {
    await producer.enqueue('elsewhere', null);
    await sleep(300);
    assert.equal(await connectionsThatRan(buildSql(schema).completeMany.text), 0, 'a hub without a worker warmed its pool');

    const worker = await Taskhub.open({ store: storeUrl(schema), logger });
    try {
      const ran: string[] = [];
      worker.handle('warm-hub', (payload: string) => void ran.push(payload));
      await waitUntil(async () => (await connectionsThatRan(buildSql(schema).completeMany.text)) === 3, 10_000, 'three warmed connections');
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
