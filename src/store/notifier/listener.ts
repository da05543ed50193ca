// What a backend gives the notifier: a connection that hears other processes' changes (River's notifier sits over a
// Listener the same way). PostgreSQL: a LISTEN connection on the schema's channel; SQLite: a poller of data_version.
// The listener turns what it hears into StoreNotices; the notifier (notifier.ts) keeps it connected and fans out.
import type { StoreNotice } from '../store.ts';

/** Where a listener puts what it hears on one connection. Calls after the connection was lost or closed are ignored. */
export interface ListenerSink {
  /** A notice from another process; delivered in arrival order. */
  notice(notice: StoreNotice): void;
  /**
   * A notice that must be read before it is delivered (PostgreSQL: an event too large for its message): later notices
   * wait for it. Null, or a rejection: nothing to deliver (followers fill such gaps from the store).
   */
  noticeLater(read: () => Promise<StoreNotice | null>): void;
  /** The connection is gone (error, end): the notifier reconnects with backoff, and then resyncs. */
  lost(): void;
}

export interface Listener {
  /**
   * Opens a connection and starts listening; resolves once it listens. Rejects when it cannot (the notifier tries
   * again later). A listener has at most one connection: the notifier calls connect again only after a loss or close.
   */
  connect(sink: ListenerSink): Promise<void>;
  /**
   * Notices that a gap in listening may have hidden, read when listening again: the notifier delivers them after its
   * `ready` for every queue. PostgreSQL: cancel requests of running tasks. Rejecting is harmless (skipped).
   */
  missed(): Promise<StoreNotice[]>;
  /** Ends the connection, if any; resolves once it is ended. */
  close(): Promise<void>;
}
