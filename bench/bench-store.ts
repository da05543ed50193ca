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

const logger = pino({ level: 'silent' });

/** A hub on a store of its own; `store` names that store for another process (`sqlite:PATH` or `postgres:SCHEMA`). */
export async function openBenchHub(backend: string, label: string): Promise<{ hub: Taskhub; store: string; dispose(): Promise<void> }> {
  if (backend === 'postgres') {
    const { hub, schema, dropSchema } = await openBenchPostgres(label);
    return { hub, store: `postgres:${schema}`, dispose: dropSchema };
  }
  if (backend !== 'sqlite') throw new Error(`unknown backend ${backend}`);
  const dir = mkdtempSync(join(tmpdir(), `taskhub-${label}-`));
  const store = `sqlite:${join(dir, 'bench.db')}`;
  const hub = await Taskhub.open({ store, logger });
  return { hub, store, dispose: async () => rmSync(dir, { recursive: true, force: true }) };
}

/**
 * A Taskhub on a PostgreSQL schema of its own, with its store and the schema's name for the statements a benchmark
 * runs itself; dropSchema() removes it (close the hub first).
 */
export async function openBenchPostgres(label: string): Promise<{ hub: Taskhub; store: PostgresStore; schema: string; dropSchema(): Promise<void> }> {
  const schema = `bench_${label}_${Date.now()}_${process.pid}`;
  const store = new PostgresStore({ connectionString: PG_URL, schema });
  await store.migrate();
  const hub = await Taskhub.open({ store, logger });
  return {
    hub,
    store,
    schema,
    async dropSchema() {
      const client = new pg.Client({ connectionString: PG_URL });
      await client.connect();
      await client.query(`DROP SCHEMA IF EXISTS ${client.escapeIdentifier(schema)} CASCADE`);
      await client.end();
    },
  };
}
