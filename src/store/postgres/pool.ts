// The pooled connections of a PostgreSQL store, and how statements run on them: named prepared statements, one
// transaction helper, connection failures turned into StoreUnavailableError.
import pg, { Pool, type PoolClient, type QueryConfig, type QueryResult, type QueryResultRow } from 'pg';
import { StoreUnavailableError, ValidationError } from '../../core/errors.ts';
import { isUnavailable, translateError } from './errors.ts';
import type { ColumnIndex } from './rows.ts';
import type { Statement } from './sql.ts';

export interface PostgresStoreOptions {
  /** `postgres://user:password@host:port/database?...` */
  connectionString: string;
  /** The PostgreSQL schema that holds Taskhub's tables (created by migrate()). Default `taskhub`. */
  schema?: string;
  /** Connections in the pool, besides the one that LISTENs. Default 10. */
  poolSize?: number;
}

/** Anything that runs a query: the store's pool, or a client of the application (createTasksIn). */
export interface Queryable {
  query<R extends QueryResultRow>(config: QueryConfig<unknown[]>): Promise<QueryResult<R>>;
}

export const CONNECT_TIMEOUT_MS = 10_000;
/** PostgreSQL truncates longer identifiers, which would silently put two schemas' tables in one. */
const MAX_SCHEMA_NAME_BYTES = 63;

/**
 * Session settings of the pooled connections. Generic plans: every statement of sql/ is a named prepared statement
 * meant to be planned once per connection, but PostgreSQL's default re-plans a statement on every execution when it
 * estimates the generic plan costlier than one made for the values at hand, which it does for the claim: planning
 * its CTEs then cost more than running them. No statement of sql/ needs its parameters' values to find its plan;
 * the one whose plan depends on values (listTasks) inlines them as literals.
 * Random page reads priced near sequential ones (1.1, the usual setting for SSDs and cached data, against the
 * default 4): a generic plan made for a batch then probes the primary key per request on a large table rather than
 * reading the whole table, and hashes the batch against a small one rather than rescanning it per row
 * (docs/postgres.md, "Batches and the planner's estimate").
 */
const POOL_SESSION_OPTIONS = '-c plan_cache_mode=force_generic_plan -c random_page_cost=1.1';

const INT8_OID = 20;

/**
 * The pool's type parsers: pg's own, except that bigint columns arrive as numbers, not strings that each row
 * mapping converts (pg checks each against a regular expression first: a claim returns six per task). Every bigint
 * of the schema holds epoch milliseconds, a count or a sum of costs, far below 2^53, so the numbers are exact.
 */
const POOL_TYPES = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === INT8_OID && format !== 'binary' ? Number : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
};

/** pg lets an `options` parameter of the URL replace the config's `options`: merge the two instead. */
function withPoolSessionOptions(connectionString: string): { connectionString: string; options: string } {
  let url: URL;
  try {
    url = new URL(connectionString);
  } catch {
    return { connectionString, options: POOL_SESSION_OPTIONS };
  }
  const given = url.searchParams.get('options');
  if (given === null) return { connectionString, options: POOL_SESSION_OPTIONS };
  url.searchParams.delete('options');
  return { connectionString: url.toString(), options: `${given} ${POOL_SESSION_OPTIONS}` };
}

/** The options with their defaults, checked. */
export function checkedOptions(options: PostgresStoreOptions): Required<PostgresStoreOptions> {
  const schema = options.schema ?? 'taskhub';
  if (schema.length === 0 || Buffer.byteLength(schema) > MAX_SCHEMA_NAME_BYTES) {
    throw new ValidationError(`schema: "${schema}" must be 1-${MAX_SCHEMA_NAME_BYTES} bytes`, 'schema');
  }
  const poolSize = options.poolSize ?? 10;
  if (!Number.isInteger(poolSize) || poolSize < 1) throw new ValidationError('poolSize: must be a positive integer', 'poolSize');
  return { connectionString: options.connectionString, schema, poolSize };
}

export class PgPool {
  readonly #pool: Pool;
  readonly #size: number;
  #closed = false;
  /** Where each column of a statement read with queryArrays is, by statement name. */
  readonly #columns = new Map<string, ColumnIndex>();

  constructor(connectionString: string, poolSize: number) {
    this.#size = poolSize;
    this.#pool = new Pool({
      ...withPoolSessionOptions(connectionString),
      max: poolSize,
      application_name: 'taskhub',
      keepAlive: true,
      connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
      types: POOL_TYPES,
    });
    // An idle connection that dies (server restart, network cut) is dropped by the pool and replaced on demand; the
    // error must not crash the process, and callers see it as StoreUnavailableError on their next query if it lasts.
    this.#pool.on('error', () => {});
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** The rows of a statement, on the pool or on `on` (a transaction's client, or the application's). */
  async query<R extends QueryResultRow>(statement: Statement | string, values: unknown[], on?: Queryable): Promise<R[]> {
    if (this.#closed && on === undefined) throw new StoreUnavailableError('the PostgreSQL store is closed');
    const config: QueryConfig<unknown[]> =
      typeof statement === 'string' ? { text: statement, values } : { name: statement.name, text: statement.text, values };
    try {
      return (await (on ?? this.#pool).query<R>(config)).rows;
    } catch (error) {
      throw translateError(error);
    }
  }

  /**
   * The rows of a prepared statement as arrays of values, and where each column is: for statements that return
   * hundreds of wide rows (the claim), which pg's row objects make slow to receive (rows.ts, Cells).
   */
  async queryArrays(statement: Statement, values: unknown[]): Promise<{ rows: unknown[][]; at: ColumnIndex }> {
    if (this.#closed) throw new StoreUnavailableError('the PostgreSQL store is closed');
    let result: QueryResult<unknown[]>;
    try {
      result = await this.#pool.query<unknown[]>({ name: statement.name, text: statement.text, values, rowMode: 'array' });
    } catch (error) {
      throw translateError(error);
    }
    // A statement's columns are the same at every run: placed once.
    let at = this.#columns.get(statement.name);
    if (!at) this.#columns.set(statement.name, (at = Object.fromEntries(result.fields.map((field, i) => [field.name, i]))));
    return { rows: result.rows, at };
  }

  /** How many rows a DELETE or UPDATE (without RETURNING) affected. */
  async affected(statement: Statement, values: unknown[]): Promise<number> {
    if (this.#closed) throw new StoreUnavailableError('the PostgreSQL store is closed');
    try {
      const result = await this.#pool.query({ name: statement.name, text: statement.text, values });
      return result.rowCount ?? 0;
    } catch (error) {
      throw translateError(error);
    }
  }

  /** Runs fn inside BEGIN ... COMMIT on one pooled connection; ROLLBACK when it throws. */
  async transaction<T>(fn: (client: PoolClient) => Promise<T>): Promise<T> {
    if (this.#closed) throw new StoreUnavailableError('the PostgreSQL store is closed');
    let client: PoolClient;
    try {
      client = await this.#pool.connect();
    } catch (error) {
      throw translateError(error);
    }
    let failure: unknown;
    try {
      await client.query('BEGIN');
      const value = await fn(client);
      await client.query('COMMIT');
      return value;
    } catch (error) {
      failure = error;
      await client.query('ROLLBACK').catch(() => {});
      throw translateError(error);
    } finally {
      // A connection that failed at the connection level is dropped from the pool rather than reused.
      client.release(isUnavailable(failure));
    }
  }

  /**
   * Opens up to `connections` connections at once (no more than the pool holds) and runs each statement once on
   * each, in order: what they run next is then parsed and planned there already. A connection plans a statement the
   * first time it runs it; for the claim that takes 10-13 ms (docs/benchmarks.md, seventeenth session).
   */
  async warm(runs: readonly { statement: Statement; values: unknown[] }[], connections: number): Promise<void> {
    if (this.#closed) return;
    const clients = await Promise.all(Array.from({ length: Math.min(connections, this.#size) }, () => this.#pool.connect()));
    let failure: unknown;
    try {
      await Promise.all(
        clients.map(async (client) => {
          for (const { statement, values } of runs) await client.query({ name: statement.name, text: statement.text, values });
        }),
      );
    } catch (error) {
      failure = error;
      throw translateError(error);
    } finally {
      for (const client of clients) client.release(isUnavailable(failure));
    }
  }

  /** From now on, statements on the pool fail with StoreUnavailableError (close() ends the connections). */
  stop(): void {
    this.#closed = true;
  }

  async close(): Promise<void> {
    this.#closed = true;
    await this.#pool.end();
  }
}
