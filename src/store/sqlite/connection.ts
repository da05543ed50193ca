// One SQLite connection with a statement cache, write transactions, and notices that go out only after COMMIT.
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { DatabaseSync, type SQLInputValue, type StatementSync } from 'node:sqlite';
import { StoreUnavailableError } from '../../core/errors.ts';
import { NoticeHub } from '../notice-hub.ts';
import type { StoreNotice } from '../store.ts';
import { SQL } from './sql.ts';

export type Row = Record<string, string | number | null>;

export function parseJson<T>(text: string | number | null, fallback: T): T {
  return typeof text === 'string' ? (JSON.parse(text) as T) : fallback;
}

/**
 * Connections of this process with a group transaction open. Another connection here must not wait on their lock:
 * node:sqlite waits synchronously, so the group would never get the turn it needs to commit.
 */
const openGroups = new Set<SqliteConnection>();

export class SqliteConnection {
  readonly db: DatabaseSync;
  readonly notices = new NoticeHub();
  readonly #statements = new Map<string, StatementSync>();
  /** Notices of the current write call, delivered only once its transaction commits. */
  #pending: StoreNotice[] = [];
  /** Event rows of the current write call, written by one statement at its end. */
  #events: [taskId: string, seq: number, kind: string, data: string, at: number][] = [];
  /** The group transaction: open from the first write of an event-loop turn until its COMMIT on the next. */
  #group: { notices: StoreNotice[]; waiters: { resolve: () => void; reject: (error: unknown) => void }[] } | null = null;

  constructor(path: string, busyTimeoutMs: number) {
    try {
      if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
      this.db = new DatabaseSync(path, { timeout: busyTimeoutMs });
      this.db.exec(SQL.pragmas);
    } catch (error) {
      throw new StoreUnavailableError(`cannot open SQLite database ${path}: ${(error as Error).message}`, { cause: error });
    }
  }

  sql(text: string): StatementSync {
    let statement = this.#statements.get(text);
    if (!statement) {
      statement = this.db.prepare(text);
      this.#statements.set(text, statement);
    }
    return statement;
  }

  all(text: string, ...params: SQLInputValue[]): Row[] {
    return this.sql(text).all(...params) as Row[];
  }

  get(text: string, ...params: SQLInputValue[]): Row | undefined {
    return this.sql(text).get(...params) as Row | undefined;
  }

  run(text: string, ...params: SQLInputValue[]): number {
    return Number(this.sql(text).run(...params).changes);
  }

  /** Adds an event row to the current transaction. */
  appendEvent(taskId: string, seq: number, kind: string, data: string, at: number): void {
    this.#events.push([taskId, seq, kind, data, at]);
  }

  /** Queues a notice for delivery when the current transaction commits. */
  notify(notice: StoreNotice): void {
    this.#pending.push(notice);
  }

  /**
   * Runs fn atomically and resolves once it is durable. Group commit: every write made in the same event-loop turn
   * shares one transaction (BEGIN IMMEDIATE: no lock upgrades, so no deadlock between processes) and one fsync at
   * its COMMIT; each write is its own SAVEPOINT, so a write that throws is rolled back alone and the others stand.
   */
  write<T>(fn: () => T): Promise<T> {
    if (!this.#group) {
      for (const other of openGroups) other.flush();
      this.db.exec('BEGIN IMMEDIATE');
      this.#group = { notices: [], waiters: [] };
      openGroups.add(this);
      setImmediate(() => this.#commit());
    }
    const group = this.#group;
    this.db.exec('SAVEPOINT write');
    let value: T;
    try {
      value = fn();
      if (this.#events.length > 0) {
        // One statement for all of them: per-statement overhead, not SQLite's work, dominates small inserts.
        this.sql(SQL.insertEvents).run(JSON.stringify(this.#events));
      }
      this.db.exec('RELEASE write');
      group.notices.push(...this.#pending);
    } catch (error) {
      this.db.exec('ROLLBACK TO write');
      this.db.exec('RELEASE write');
      return Promise.reject(error);
    } finally {
      this.#pending = [];
      this.#events = [];
    }
    return new Promise<T>((resolve, reject) => group.waiters.push({ resolve: () => resolve(value), reject }));
  }

  #commit(): void {
    const group = this.#group;
    this.#group = null;
    if (!group) return;
    openGroups.delete(this);
    try {
      this.db.exec('COMMIT');
    } catch (error) {
      if (this.db.isTransaction) this.db.exec('ROLLBACK');
      for (const waiter of group.waiters) waiter.reject(error);
      return;
    }
    for (const notice of group.notices) this.notices.emit(notice);
    for (const waiter of group.waiters) waiter.resolve();
  }

  /** Commits at once what the current group holds (before closing the database). */
  flush(): void {
    this.#commit();
  }
}
