// One SQLite connection with a statement cache, write transactions, and notices that go out only after COMMIT.
import { randomUUID } from 'node:crypto';
import { mkdirSync, readlinkSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname } from 'node:path';
import { DatabaseSync, type SQLInputValue, type SQLOutputValue, type StatementSync } from 'node:sqlite';
import { StoreUnavailableError } from '../../core/errors.ts';
import type { Json, TaskEvent, TaskEventKind } from '../../core/task.ts';
import type { StoreNotice } from '../store.ts';
import { Checkpointer, checkpointPlan } from './checkpointer.ts';
import { CompactionDue } from './compaction.ts';
import { type CommitDurability, Flusher } from './flusher.ts';
import type { ColumnIndex, Row } from './rows.ts';
import { SQL } from './sql.ts';

/** How long other processes' pollers can find the notices of events held by task rows (task_notices), in ms. */
const NOTICES_KEPT_MS = 10 * 60_000;
/** Notice rows a connection writes between two trims of task_notices. */
const TRIM_NOTICES_EVERY = 1000;
/** Most event rows one INSERT takes (5 values each: under SQLite's 32,766 bound values). */
const EVENTS_PER_INSERT = 128;
const EVENT_COLUMNS = 5;
/** Most rows of bound values one statement of eachValueRows takes. */
const VALUE_ROWS = 128;

/**
 * Which processes this one can see by pid (Linux: its pid namespace; elsewhere, the host): a poller checked in from
 * another namespace is taken to be alive, as this process cannot tell.
 */
export const PID_NAMESPACE = pidNamespace();

function pidNamespace(): string {
  try {
    return readlinkSync('/proc/self/ns/pid');
  } catch {
    return `host:${hostname()}`;
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it runs, as another user.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** One event of a task_notices row: task id, seq, kind, data, at, queue, owner. */
export type HeldNotice = [string, number, TaskEventKind, Json, number, string, string | null];

export class SqliteConnection {
  readonly db: DatabaseSync;
  /** This connection's poller's row in pollers: the one a writer need not tell of its own commits. */
  readonly pollerId = randomUUID();
  /** Whether this process's listeners want start and completion notices now (announcesStartsAndCompletions). */
  readonly #wantsStartsAndCompletions: () => boolean;
  /** This transaction's answers of #othersPoll and announcesStartsAndCompletions, once asked. */
  #othersPolling: boolean | undefined;
  #startsWanted: boolean | undefined;
  /** Delivers a committed transaction's notices to this process's listeners. */
  readonly #emit: (notice: StoreNotice) => void;
  readonly #statements = new Map<string, StatementSync>();
  /** Statements whose rows come as arrays (allArrays), and where their columns are. */
  readonly #arrayStatements = new Map<string, { statement: StatementSync; at: ColumnIndex }>();
  /** Notices of the open transaction, delivered only once it commits. */
  #pending: StoreNotice[] = [];
  /** The open transaction's event rows, five values each (EVENT_COLUMNS), written just before COMMIT. */
  #events: SQLInputValue[] = [];
  /** The open transaction's notices of events the task rows hold: one task_notices row for other processes. */
  #held: HeldNotice[] = [];
  /** task_notices rows this connection wrote since it last trimmed the table. */
  #untrimmed = 0;
  /** INSERTs of 1 to EVENTS_PER_INSERT event rows, by row count, prepared as first needed. */
  readonly #insertEvents: StatementSync[] = [];

  /** What this connection appended to task_events_recent since it last compacted (compaction.ts). */
  readonly #compaction = new CompactionDue();
  /** Copies the WAL into the database file off the event loop (none for an in-memory database, which has no WAL). */
  readonly #checkpointer: Checkpointer | null;
  /** Flushes `flushLater` commits off the event loop, and lets every commit's notices out in commit order. */
  readonly #flusher: Flusher;

  constructor(path: string, busyTimeoutMs: number, emit: (notice: StoreNotice) => void, wantsStartsAndCompletions = () => true) {
    this.#emit = emit;
    this.#wantsStartsAndCompletions = wantsStartsAndCompletions;
    this.#flusher = new Flusher(path);
    try {
      if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
      this.db = new DatabaseSync(path, { timeout: busyTimeoutMs });
      this.db.exec(SQL.pragmas);
      this.db.exec(SQL.autocheckpoint(checkpointPlan.inlineFrames));
    } catch (error) {
      throw new StoreUnavailableError(`cannot open SQLite database ${path}: ${(error as Error).message}`, { cause: error });
    }
    const db = this.db;
    this.#checkpointer =
      path === ':memory:'
        ? null
        : new Checkpointer({
            path,
            busyTimeoutMs,
            setAutocheckpoint: (frames) => {
              if (db.isOpen) db.exec(SQL.autocheckpoint(frames));
            },
            checkpointAll: () => {
              const { busy, log, checkpointed } = this.get(SQL.checkpointPassive) as { busy: number; log: number; checkpointed: number };
              return busy === 0 && log === checkpointed;
            },
          });
  }

  /** How the WAL checkpoint thread is doing (null: an in-memory database). */
  get checkpoints(): Checkpointer['stats'] | null {
    return this.#checkpointer?.stats ?? null;
  }

  /**
   * Waits for the flushes under way, stops the checkpoint thread, then closes the connection (which checkpoints what
   * is left, as the last one).
   */
  async close(): Promise<void> {
    await this.#flusher.close();
    await this.#checkpointer?.close();
    if (this.db.isOpen) this.db.close();
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

  /**
   * `all` with each row as an array of its values, and `at` the position of each column: much cheaper to make and to
   * read than row objects (node:sqlite makes those in dictionary mode), for statements that return many columns.
   * Columns are placed once, when the statement is prepared: migrations only ever add columns at the end.
   */
  allArrays(text: string, ...params: SQLInputValue[]): { rows: SQLOutputValue[][]; at: ColumnIndex } {
    let prepared = this.#arrayStatements.get(text);
    if (!prepared) {
      const statement = this.db.prepare(text);
      statement.setReturnArrays(true);
      prepared = { statement, at: Object.fromEntries(statement.columns().map((column, i) => [column.name, i])) };
      this.#arrayStatements.set(text, prepared);
    }
    return { rows: prepared.statement.all(...params) as unknown as SQLOutputValue[][], at: prepared.at };
  }

  /** `all`, a row at a time: for a read that stops once it has what it needs. */
  iterate(text: string, ...params: SQLInputValue[]): Iterator<Row> {
    return this.sql(text).iterate(...params) as Iterator<Row>;
  }

  /**
   * allArrays for a statement over rows of bound values, `width` values each (`text(rows)` makes the statement for a
   * number of rows), with `after` bound after them. Runs in parts of at most VALUE_ROWS rows, each padded with rows
   * of nulls up to a power of two, so that eight prepared statements serve every batch size: a statement's rows
   * must therefore be matched by a column a null never equals. Rows come back through `each`.
   */
  eachValueRows(
    text: (rows: number) => string,
    width: number,
    values: readonly SQLInputValue[],
    after: readonly SQLInputValue[],
    each: (row: SQLOutputValue[], at: ColumnIndex) => void,
  ): void {
    const count = values.length / width;
    for (let from = 0; from < count; from += VALUE_ROWS) {
      const rows = Math.min(VALUE_ROWS, count - from);
      const padded = 2 ** Math.ceil(Math.log2(rows));
      const params = values.slice(from * width, (from + rows) * width);
      for (let k = rows * width; k < padded * width; k++) params.push(null);
      params.push(...after);
      const { rows: found, at } = this.allArrays(text(padded), ...params);
      for (const row of found) each(row, at);
    }
  }

  get(text: string, ...params: SQLInputValue[]): Row | undefined {
    return this.sql(text).get(...params) as Row | undefined;
  }

  run(text: string, ...params: SQLInputValue[]): number {
    return Number(this.sql(text).run(...params).changes);
  }

  /**
   * Queues a notice for delivery when the current transaction commits. An event notice stands for an event this
   * transaction appends: its row is written too, just before COMMIT.
   */
  push(notice: StoreNotice): void {
    if (notice.kind === 'event') {
      const { event } = notice;
      this.#events.push(event.taskId, event.seq, event.kind, JSON.stringify(event.data), event.at);
    }
    this.#pending.push(notice);
  }

  /**
   * Queues the notice of an event that the task's row holds (no event row: the started event of a claim, a
   * completion's event; listEvents reads them from the row), delivered when the transaction commits. Other processes
   * learn of it from the transaction's one task_notices row.
   */
  announce(place: { queue: string; owner: string | null }, event: TaskEvent): void {
    this.#held.push([event.taskId, event.seq, event.kind, event.data, event.at, place.queue, place.owner]);
    this.#pending.push({ kind: 'event', queue: place.queue, owner: place.owner, event });
  }

  /**
   * Queues the row of an event announced earlier, which its task row held until now (the started event of an attempt
   * that ends otherwise than completing): written with the transaction, announced no second time.
   */
  storeHeld(event: TaskEvent): void {
    this.#events.push(event.taskId, event.seq, event.kind, JSON.stringify(event.data), event.at);
  }

  /** A sink that announces event notices (see announce) and queues the rest: for events a task row holds. */
  readonly announcing = {
    push: (notice: StoreNotice): void => (notice.kind === 'event' ? this.announce(notice, notice.event) : this.push(notice)),
  };

  /**
   * Runs fn in a write transaction (BEGIN IMMEDIATE: no lock upgrades, so no deadlock between processes) and
   * resolves with its value once the commit is as durable as `durability` asks (flusher.ts): `flushed` (the default)
   * by its own fsync; `lazy` not at all, for writes that may be lost in a power failure (not in a process crash: the
   * OS has them), which the next flush makes durable too; `flushLater` by an fsync run off the event loop after it.
   * `onCommit` runs right after the commit, before any of that: for what may act on the commit early (a handed-over
   * task starts running).
   */
  async write<T>(fn: () => T, options: { durability?: CommitDurability; onCommit?: (value: T) => void } = {}): Promise<T> {
    const durability = options.durability ?? 'flushed';
    const unflushed = durability !== 'flushed';
    if (unflushed) this.db.exec(SQL.commitWithoutFlush);
    let committed: { value: T; notices: StoreNotice[] };
    try {
      committed = this.#transaction(fn);
    } finally {
      if (unflushed) this.db.exec(SQL.commitWithFlush);
    }
    const { value, notices } = committed;
    options.onCommit?.(value);
    await this.#flusher.committed(durability, () => {
      for (const notice of notices) this.#emit(notice);
    });
    return value;
  }

  /** Runs fn's statements on one snapshot of the database (a deferred transaction, which only reads; or the open one). */
  read<T>(fn: () => T): T {
    if (this.db.isTransaction) return fn();
    this.db.exec(SQL.beginRead);
    try {
      return fn();
    } finally {
      this.db.exec(SQL.commit);
    }
  }

  /** Inside a write: every recent event (any process's) moves into event blocks, one per task and BLOCK_SEQS seqs. */
  #compactEvents(): void {
    this.sql(SQL.compactEvents).run();
    this.sql(SQL.clearRecentEvents).run();
    this.#compaction.compacted();
  }

  /**
   * The open transaction's events into task_events_recent, EVENTS_PER_INSERT rows per statement with bound values:
   * per-statement overhead dominates small inserts, and bound values cost less than one JSON array to build and parse.
   */
  #appendEvents(): void {
    const values = this.#events;
    const count = values.length / EVENT_COLUMNS;
    for (let from = 0; from < count; from += EVENTS_PER_INSERT) {
      const rows = Math.min(EVENTS_PER_INSERT, count - from);
      let insert = this.#insertEvents[rows];
      if (!insert) {
        insert = this.db.prepare(SQL.insertEvents(rows));
        this.#insertEvents[rows] = insert;
      }
      insert.run(...values.slice(from * EVENT_COLUMNS, (from + rows) * EVENT_COLUMNS));
    }
    this.#compaction.appended(values, EVENT_COLUMNS);
    this.#events = [];
  }

  /**
   * The open transaction's held events, as one notice row, if another connection polls (this one's own listeners get
   * them from #pending); every TRIM_NOTICES_EVERY rows, the old ones go. A poller that checks in after this
   * transaction commits starts reading after it: the write lock orders the two.
   */
  #logHeldNotices(): void {
    const now = Date.now();
    const held = this.#held;
    this.#held = [];
    if (!this.#othersPoll()) return;
    this.sql(SQL.insertNotices).run(now, JSON.stringify(held));
    if (++this.#untrimmed >= TRIM_NOTICES_EVERY) {
      this.sql(SQL.trimNotices).run(now - NOTICES_KEPT_MS);
      this.#untrimmed = 0;
    }
  }

  /**
   * Inside a write: whether a poller of another connection is checked in, and its process alive. The row of one whose
   * process is gone (killed before it could leave) goes.
   */
  #othersPoll(): boolean {
    this.#othersPolling ??= this.#findOtherPollers();
    return this.#othersPolling;
  }

  #findOtherPollers(): boolean {
    let others = false;
    for (const row of this.all(SQL.otherPollers, this.pollerId)) {
      if (row.pid_namespace !== PID_NAMESPACE || processAlive(row.pid as number)) others = true;
      else this.run(SQL.removePoller, row.id);
    }
    return others;
  }

  /**
   * Inside a write: whether anyone may want the notices of attempts starting and completing (ListenOptions): this
   * process's listeners (the store's `wantsStartsAndCompletions`) or a poller of another connection.
   */
  get announcesStartsAndCompletions(): boolean {
    this.#startsWanted ??= this.#wantsStartsAndCompletions() || this.#othersPoll();
    return this.#startsWanted;
  }

  /** fn in a transaction, committed; its notices are returned, not yet delivered. */
  #transaction<T>(fn: () => T): { value: T; notices: StoreNotice[] } {
    this.db.exec(SQL.begin);
    // Asked at most once per transaction: another connection's poller checks in only under the write lock.
    this.#othersPolling = undefined;
    this.#startsWanted = undefined;
    try {
      const value = fn();
      if (this.#events.length > 0) {
        this.#appendEvents();
        if (this.#compaction.due) this.#compactEvents();
      }
      if (this.#held.length > 0) this.#logHeldNotices();
      this.db.exec(SQL.commit);
      this.#checkpointer?.committed();
      const notices = this.#pending;
      this.#pending = [];
      return { value, notices };
    } catch (error) {
      this.#pending = [];
      this.#events = [];
      this.#held = [];
      if (this.db.isTransaction) this.db.exec(SQL.rollback);
      throw error;
    }
  }
}
