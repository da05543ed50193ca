// SQLite's Listener: other processes' commits to the same file, found by polling. PRAGMA data_version changes only
// when another connection commits, so a tick costs one pragma while nothing happens elsewhere. When it changes, new
// event rows and task_notices rows (the events task rows hold; from any process; repeats are deduped downstream)
// become notices, then pending cancel requests, and every queue may have work.
//
// Writers log task_notices rows only while some other connection's poller is checked in (connection.ts,
// #othersPoll): this one checks in when it connects, with its process's pid, and leaves when it closes. The check-in
// commits before the poller's first read, and a writer reads the check-ins inside its own transaction, so the write
// lock orders the two: a commit that skipped its row came before this poller listened. Checking in only at connect
// and close keeps the poller from waking other processes' pollers (any commit does) for nothing.
import type { Listener, ListenerSink } from '../notifier/listener.ts';
import type { StoreNotice } from '../store.ts';
import { type HeldNotice, PID_NAMESPACE, type SqliteConnection } from './connection.ts';
import { rowToEvent } from './rows.ts';
import { SQL } from './sql.ts';

/** Event rows read per query while catching up. */
const PAGE = 1000;

export class SqlitePoller implements Listener {
  readonly #c: SqliteConnection;
  readonly #intervalMs: number;
  #timer: NodeJS.Timeout | undefined;
  #dataVersion = 0;
  #lastEventId = 0;
  #lastNoticeId = 0;

  constructor(connection: SqliteConnection, intervalMs: number) {
    this.#c = connection;
    this.#intervalMs = intervalMs;
  }

  /** From now on, what other processes commit is news (called once the schema exists). */
  mark(): void {
    this.#lastEventId = this.#c.get(SQL.maxEventId)?.id as number;
    this.#lastNoticeId = this.#c.get(SQL.maxNoticeId)?.id as number;
    this.#dataVersion = this.#c.get(SQL.dataVersion)?.data_version as number;
  }

  async connect(sink: ListenerSink): Promise<void> {
    clearInterval(this.#timer);
    await this.#checkIn();
    this.#timer = setInterval(() => this.#poll(sink), this.#intervalMs).unref();
  }

  /** Tells writers that this poller listens (until close). */
  async #checkIn(): Promise<void> {
    await this.#c.write(() => this.#c.run(SQL.checkInPoller, this.#c.pollerId, process.pid, PID_NAMESPACE, Date.now()), { durability: 'lazy' });
  }

  /** The poller reads by event id: a pause loses nothing. */
  async missed(): Promise<StoreNotice[]> {
    return [];
  }

  async close(): Promise<void> {
    const wasRunning = this.#timer !== undefined;
    clearInterval(this.#timer);
    this.#timer = undefined;
    if (wasRunning && this.#c.db.isOpen) await this.#c.write(() => this.#c.run(SQL.removePoller, this.#c.pollerId), { durability: 'lazy' });
  }

  #poll(sink: ListenerSink): void {
    if (!this.#c.db.isOpen) return;
    try {
      const version = this.#c.get(SQL.dataVersion)?.data_version as number;
      if (version === this.#dataVersion) return;
      this.#dataVersion = version;
      const notices: Array<StoreNotice & { kind: 'event' }> = [];
      for (;;) {
        const rows = this.#c.all(SQL.eventsAfter, this.#lastEventId, PAGE);
        for (const r of rows) {
          this.#lastEventId = r.id as number;
          notices.push({ kind: 'event', queue: r.queue as string, owner: r.owner as string | null, event: rowToEvent(r) });
        }
        if (rows.length < PAGE) break;
      }
      // Then the events task rows hold (a claim's started event, a completion's event): one row per transaction. Read
      // after the event rows, so a held event is never read later than the stored events that follow it; each task's
      // events are then put in seq order (the event rows alone are in it already).
      const stored = notices.length;
      for (;;) {
        const rows = this.#c.all(SQL.noticesAfter, this.#lastNoticeId, PAGE);
        for (const r of rows) {
          this.#lastNoticeId = r.id as number;
          for (const [taskId, seq, kind, data, at, queue, owner] of JSON.parse(r.body as string) as HeldNotice[]) {
            notices.push({ kind: 'event', queue, owner, event: { taskId, seq, kind, data, at } });
          }
        }
        if (rows.length < PAGE) break;
      }
      if (notices.length > stored) notices.sort((a, b) => a.event.seq - b.event.seq);
      for (const notice of notices) sink.notice(notice);
      for (const r of this.#c.all(SQL.cancelRequestedIds)) sink.notice({ kind: 'cancel', taskId: r.id as string });
      sink.notice({ kind: 'ready', queue: null });
    } catch {
      // Busy or closing: the next tick tries again.
    }
  }
}
