// Picks the backend from a store URL: `sqlite:PATH` (the default), `sqlite::memory:`, or `postgres://...`.
import { ValidationError } from '../core/errors.ts';
import { SqliteStore } from './sqlite/sqlite-store.ts';
import type { Store } from './store.ts';

export const DEFAULT_STORE_URL = 'sqlite:./taskhub.db';

export async function openStore(url: string = DEFAULT_STORE_URL): Promise<Store> {
  let store: Store;
  if (url.startsWith('sqlite:')) {
    store = new SqliteStore({ path: url.slice('sqlite:'.length) || './taskhub.db' });
  } else if (url.startsWith('postgres://') || url.startsWith('postgresql://')) {
    const { PostgresStore } = await import('./postgres/postgres-store.ts');
    // Taskhub's own settings ride in the URL (`?schema=taskhub&poolSize=10`); the driver gets the rest.
    const parsed = new URL(url);
    const schema = parsed.searchParams.get('schema');
    const poolSize = parsed.searchParams.get('poolSize');
    parsed.searchParams.delete('schema');
    parsed.searchParams.delete('poolSize');
    store = new PostgresStore({
      connectionString: parsed.toString(),
      ...(schema ? { schema } : {}),
      ...(poolSize ? { poolSize: Number(poolSize) } : {}),
    });
  } else {
    throw new ValidationError(`store: "${url}" is not a store URL (use sqlite:PATH or postgres://...)`, 'store');
  }
  await store.migrate();
  return store;
}
