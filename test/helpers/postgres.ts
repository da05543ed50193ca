// PostgreSQL for tests: the local service (TASKHUB_TEST_POSTGRES_URL, default postgres://postgres@127.0.0.1:5432/test),
// a throwaway schema per test (or a SQLite file, for tests run on both backends), and a TCP proxy in front of it that a
// test can cut to play a lost database.
import { createServer, type Server, type Socket, connect } from 'node:net';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { Client } from 'pg';
import { tempDir } from './hub.ts';

export const PG_URL = process.env.TASKHUB_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const required = [process.env.CI, process.env.TASKHUB_REQUIRE_SERVICES].some((v) => v !== undefined && v !== '' && v !== '0' && v !== 'false');

/** Skips the test when PostgreSQL is unreachable, or fails it when CI requires services. Returns false to skip. */
export async function requirePostgres(t: TestContext): Promise<boolean> {
  const client = new Client({ connectionString: PG_URL, connectionTimeoutMillis: 3000 });
  client.on('error', () => {});
  try {
    await client.connect();
    await client.query('SELECT 1');
    return true;
  } catch (error) {
    if (required) throw new Error(`PostgreSQL is required (CI) but unreachable at ${PG_URL}: ${(error as Error).message}`);
    t.skip(`PostgreSQL unreachable: ${(error as Error).message}`);
    return false;
  } finally {
    await client.end().catch(() => {});
  }
}

export function freshSchema(label: string): string {
  return `taskhub_test_${label}_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
}

/** The store URL for a schema, optionally through another host:port (a proxy). */
export function storeUrl(schema: string, via?: string): string {
  const url = new URL(PG_URL);
  if (via) url.host = via;
  url.searchParams.set('schema', schema);
  return url.toString();
}

export async function dropSchema(schema: string): Promise<void> {
  const client = new Client({ connectionString: PG_URL });
  await client.connect();
  try {
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  } finally {
    await client.end();
  }
}

/**
 * Idle pooled connections (application_name `taskhub`) whose last statement was `text`. pg_stat_activity keeps the
 * first track_activity_query_size bytes of each connection's last statement, so a long one matches by prefix.
 */
export async function connectionsThatRan(text: string): Promise<number> {
  const client = new Client({ connectionString: PG_URL });
  await client.connect();
  try {
    const { rows } = await client.query<{ n: number }>(
      `SELECT count(*)::integer AS n FROM pg_stat_activity
       WHERE datname = current_database() AND application_name = 'taskhub' AND state = 'idle'
         AND length(query) > 100 AND starts_with($1::text, query)`,
      [text],
    );
    return rows[0].n;
  } finally {
    await client.end();
  }
}

export interface TcpProxy {
  /** host:port to connect to instead of PostgreSQL's. */
  address: string;
  /** Drops every open connection and refuses new ones, as a database that went away. */
  cut(): void;
  restore(): void;
  close(): Promise<void>;
}

export async function startTcpProxy(target = new URL(PG_URL)): Promise<TcpProxy> {
  const sockets = new Set<Socket>();
  let down = false;
  const server: Server = createServer((client) => {
    if (down) {
      client.destroy();
      return;
    }
    const upstream = connect(Number(target.port || 5432), target.hostname);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => {});
    }
    client.pipe(upstream);
    upstream.pipe(client);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    address: `127.0.0.1:${port}`,
    cut() {
      down = true;
      for (const s of sockets) s.destroy();
    },
    restore() {
      down = false;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/**
 * A store URL on a fresh database of the backend: a SQLite file in a temporary directory, or a PostgreSQL schema
 * of its own; null when PostgreSQL is missing and the test may skip (requirePostgres). cleanup() removes it.
 */
export async function storeFor(backend: 'sqlite' | 'postgres', t: TestContext, label = 'store'): Promise<{ url: string; cleanup(): Promise<void> } | null> {
  if (backend === 'sqlite') {
    const tmp = tempDir();
    return { url: `sqlite:${join(tmp.dir, 'taskhub.db')}`, cleanup: async () => tmp.remove() };
  }
  if (!(await requirePostgres(t))) return null;
  const schema = freshSchema(label);
  return { url: storeUrl(schema), cleanup: () => dropSchema(schema) };
}
