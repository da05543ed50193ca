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
import type { Json, TaskEventKind } from '../../core/task.ts';
import type { StoreNotice } from '../store.ts';
import { type HeldNotice, PID_NAMESPACE, type SqliteConnection } from './connection.ts';
import type { BlockEvent } from './event-blocks.ts';
import { parseJson } from './rows.ts';
import { SQL } from './sql.ts';

/** Event rows read per query while catching up. */
const PAGE = 1000;

type EventNotice = StoreNotice & { kind: 'event' };

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
      const { notices, lastId } = this.#c.read(() => this.#eventsAfter(this.#lastEventId));
      this.#lastEventId = lastId;
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

  /**
   * The stored events after event id `after`, in id order, read on one snapshot (a compaction between two reads could
   * move unread events behind the cursor): first those compaction moved into blocks, then the recent ones. Events of a
   * task deleted meanwhile are passed over, the cursor moving past them.
   */
  #eventsAfter(after: number): { notices: EventNotice[]; lastId: number } {
    const compacted: Array<{ id: number; notice: EventNotice }> = [];
    for (const r of this.#c.all(SQL.blocksAfter, after)) {
      if (r.queue === null) continue;
      const taskId = r.task_id as string;
      const place = { queue: r.queue as string, owner: r.owner as string | null };
      for (const [id, seq, kind, data, at] of JSON.parse(r.events as string) as BlockEvent[]) {
        if (id > after) compacted.push({ id, notice: { kind: 'event', ...place, event: { taskId, seq, kind, data, at } } });
      }
    }
    compacted.sort((a, b) => a.id - b.id);
    const notices = compacted.map((e) => e.notice);
    let lastId = compacted.length > 0 ? compacted[compacted.length - 1].id : after;
    for (;;) {
      const { rows, at } = this.#c.allArrays(SQL.recentEventsAfter, lastId, PAGE);
      for (const r of rows) {
        if (r[at.queue] === null) continue;
        const event = { taskId: r[at.task_id] as string, seq: r[at.seq] as number, kind: r[at.kind] as TaskEventKind, data: parseJson<Json>(r[at.data] as string, null), at: r[at.at] as number };
        notices.push({ kind: 'event', queue: r[at.queue] as string, owner: r[at.owner] as string | null, event });
      }
      if (rows.length > 0) lastId = rows[rows.length - 1][at.id] as number;
      if (rows.length < PAGE) return { notices, lastId };
    }
  }
}
