// PostgreSQL's Listener for the notifier: one dedicated connection that LISTENs on the schema's channel, decodes the
// wire format, skips the echo of this store's own messages, and reads events too large for a message. It also knows
// who else listens (presence), which decides whether this store publishes at all (publisher.ts); docs/postgres.md
// has the rules. Reconnecting and fan-out are the notifier's (notifier/notifier.ts).
import { Client, type Notification } from 'pg';
import type { TaskEvent } from '../../core/task.ts';
import type { Listener, ListenerSink } from '../notifier/listener.ts';
import { cancelRequestNotice } from '../transitions.ts';
import type { StoreNotice } from '../store.ts';
import { CONNECT_TIMEOUT_MS, type PgPool } from './pool.ts';
import { listenStatement, type PostgresSql } from './sql.ts';
import { decodeNotices, echoPrefix, presenceMessage, type WireItem } from './wire.ts';

const LISTENER_APPLICATION_NAME = 'taskhub-listener';
/** How often a listening process tells the others that it listens. */
const PRESENCE_MS = 5_000;
/** A message from another process counts as a sign that it listens this long. */
const PEER_SEEN_MS = 3 * PRESENCE_MS;
/** After starting to listen, how long a process publishes before it knows whether anyone else listens. */
const JOIN_GRACE_MS = 1_000;

export interface PgListenerOptions {
  connectionString: string;
  pool: PgPool;
  sql: PostgresSql;
  /** Names this store instance in its messages. */
  origin: string;
  /** Reads one event (of a stub too large for its message): listEvents(taskId, seq - 1, 1). */
  readEvent(taskId: string, seq: number): Promise<TaskEvent | undefined>;
}

export class PgListener implements Listener {
  readonly #options: PgListenerOptions;
  readonly #echoPrefix: string;
  /** The connection that LISTENs, while it does. */
  #client: Client | null = null;
  /** When the listener last started listening (see othersMayListen). */
  #listeningSince = 0;
  /** When a message from another process last arrived. */
  #peerSeenAt = Number.NEGATIVE_INFINITY;
  /** Whether pg_stat_activity showed another listener at the last look. */
  #listenersSeen = false;
  #presenceTimer: NodeJS.Timeout | undefined;

  constructor(options: PgListenerOptions) {
    this.#options = options;
    this.#echoPrefix = echoPrefix(options.origin);
  }

  async connect(sink: ListenerSink): Promise<void> {
    const client = new Client({
      connectionString: this.#options.connectionString,
      application_name: LISTENER_APPLICATION_NAME,
      keepAlive: true,
      connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    });
    // Registered before connecting and kept for the client's whole life: an 'error' event without a handler would
    // crash the process.
    const lost = () => this.#onLost(client, sink);
    client.on('error', lost);
    client.on('end', lost);
    client.on('notification', (message) => this.#onNotification(message, sink));
    try {
      await client.connect();
      await client.query(listenStatement(this.#options.sql.channel));
    } catch (error) {
      client.removeAllListeners('notification');
      await client.end().catch(() => {});
      throw error;
    }
    this.#client = client;
    await this.#joined(client);
  }

  /** After a gap: running tasks whose cancellation was requested meanwhile (their workers would otherwise learn it only from the next heartbeat). */
  async missed(): Promise<StoreNotice[]> {
    const rows = await this.#options.pool.query<{ id: string }>(this.#options.sql.cancelRequestedIds, []);
    return rows.map(({ id }) => cancelRequestNotice(id));
  }

  async close(): Promise<void> {
    clearInterval(this.#presenceTimer);
    const client = this.#client;
    this.#client = null;
    if (client) {
      client.removeAllListeners('notification');
      await client.end().catch(() => {});
    }
  }

  #onLost(client: Client, sink: ListenerSink): void {
    // Not (or no longer) the listening connection: a failed connect() rejects, and cleans up, by itself.
    if (client !== this.#client) return;
    this.#client = null;
    clearInterval(this.#presenceTimer);
    client.removeAllListeners('notification');
    void client.end().catch(() => {});
    sink.lost();
  }

  // ---- who else listens ----
  //
  // A process alone on its schema's channel has nobody to NOTIFY: its own listeners get every notice at once. Sending
  // them anyway costs a statement per write batch, the NOTIFY queue, and the echo coming back. So notices are
  // published only while another process may listen. Every process with a listener sends a message without notices
  // when it starts listening (`join`, which the others answer at once with one of their own) and every PRESENCE_MS,
  // and publishes while any message from another process arrived within PEER_SEEN_MS. Also while its listener is down
  // or just started (JOIN_GRACE_MS, for the answers to arrive), and while pg_stat_activity shows another listener
  // connection (processes of earlier versions send no such messages). The grace ends at once when pg_stat_activity
  // shows every session and no other listener among them.

  othersMayListen(): boolean {
    const now = Date.now();
    return (
      this.#client === null ||
      now - this.#listeningSince < JOIN_GRACE_MS ||
      now - this.#peerSeenAt < PEER_SEEN_MS ||
      this.#listenersSeen
    );
  }

  /** Just listening (again): tells the others, who answer, and from then on says so every PRESENCE_MS. */
  async #joined(client: Client): Promise<void> {
    this.#listeningSince = Date.now();
    clearInterval(this.#presenceTimer);
    await this.#sayHere(true);
    if (client !== this.#client) return;
    this.#presenceTimer = setInterval(() => void this.#sayHere(false), PRESENCE_MS);
    this.#presenceTimer.unref();
  }

  /** A message without notices; also looks in pg_stat_activity for listeners of earlier versions. */
  async #sayHere(join: boolean): Promise<void> {
    const { pool, sql, origin } = this.#options;
    await pool.query(sql.publishNotices, [presenceMessage(origin, join)]).catch(() => {});
    const pid = (this.#client as (Client & { processID?: number }) | null)?.processID;
    if (typeof pid !== 'number') return;
    try {
      const [row] = await pool.query<{ n: number; sees_all: boolean }>(sql.otherListeners, [pid]);
      this.#listenersSeen = (row?.n ?? 0) > 0;
      // Nobody else listens, and nobody could hide: no answers to wait for.
      if (join && row?.n === 0 && row.sees_all) this.#listeningSince = Number.NEGATIVE_INFINITY;
    } catch {
      // Unknown: the other signs decide.
    }
  }

  #onNotification(message: Notification, sink: ListenerSink): void {
    if (message.channel !== this.#options.sql.channel) return;
    // The echo of this instance's own messages (delivered when their writes committed), skipped without parsing it.
    if (message.payload?.startsWith(this.#echoPrefix)) return;
    // Another process, or an application's transaction (createTasksIn): someone else shares the channel.
    this.#peerSeenAt = Date.now();
    const decoded = decodeNotices(message.payload);
    if (decoded?.join) void this.#sayHere(false);
    // This instance's own notices were delivered when their writes committed.
    if (!decoded || decoded.origin === this.#options.origin) return;
    for (const item of decoded.notices) this.#deliver(item, sink);
  }

  #deliver(item: WireItem, sink: ListenerSink): void {
    if (item.kind !== 'event' || 'event' in item) {
      sink.notice(item);
      return;
    }
    // A stub: the event was too large for a NOTIFY message. Read it; on failure it is skipped, and followers fill
    // the gap from the store when the task's next event arrives.
    sink.noticeLater(async () => {
      const event = await this.#options.readEvent(item.taskId, item.seq);
      return event?.seq === item.seq ? { kind: 'event', queue: item.queue, owner: item.owner, event } : null;
    });
  }
}
