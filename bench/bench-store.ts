// The store a Taskhub benchmark runs on: a SQLite file in a temporary directory, or a PostgreSQL schema of its own
// (PG_URL), both removed by dispose() so that runs never see each other's tasks.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import pino from 'pino';
import { Taskhub } from '../src/index.ts';
import { PostgresStore } from '../src/store/postgres/postgres-store.ts';

export const PG_URL = process.env.PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

export async function openBenchHub(backend: string, label: string): Promise<{ hub: Taskhub; dispose(): Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), `taskhub-${label}-`));
  const schema = `bench_${label}_${Date.now()}_${process.pid}`;
  const logger = pino({ level: 'silent' });
  let hub: Taskhub;
  if (backend === 'sqlite') hub = await Taskhub.open({ store: `sqlite:${join(dir, 'bench.db')}`, logger });
  else if (backend === 'postgres') {
    const store = new PostgresStore({ connectionString: PG_URL, schema });
    await store.migrate();
    hub = await Taskhub.open({ store, logger });
  } else throw new Error(`unknown backend ${backend}`);
  return {
    hub,
    async dispose() {
      rmSync(dir, { recursive: true, force: true });
      if (backend !== 'postgres') return;
      const client = new pg.Client({ connectionString: PG_URL });
      await client.connect();
      await client.query(`DROP SCHEMA IF EXISTS ${client.escapeIdentifier(schema)} CASCADE`);
      await client.end();
    },
  };
}
