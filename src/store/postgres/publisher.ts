// Notices of committed writes, on their way to other processes: an outbox that one NOTIFY statement at a time empties,
// so under load one statement carries the notices of many writes (docs/postgres.md: "Sent after commit").
import type { StoreNotice } from '../store.ts';
import type { PgPool } from './pool.ts';
import { NOTICE_SEPARATOR, type PostgresSql } from './sql.ts';
import { encodeNotices, withoutRepeatedReadies } from './wire.ts';

export class Publisher {
  readonly #pool: PgPool;
  readonly #sql: PostgresSql;
  readonly #origin: string;
  /** Notices of committed writes waiting to be NOTIFYed to other processes. */
  #outbox: StoreNotice[] = [];
  /** The loop that empties the outbox, while it runs: one NOTIFY statement at a time keeps our messages in order. */
  #publishing: Promise<void> | null = null;

  constructor(pool: PgPool, sql: PostgresSql, origin: string) {
    this.#pool = pool;
    this.#sql = sql;
    this.#origin = origin;
  }

  /** Queues notices for the other processes. */
  publish(notices: readonly StoreNotice[]): void {
    this.#outbox.push(...notices);
    this.#publishing ??= this.#run();
  }

  /** Resolves once what was queued has been sent (or dropped). */
  async idle(): Promise<void> {
    await this.#publishing;
  }

  /**
   * Sends the outbox, and whatever gathered in it meanwhile, until it is empty. A failure drops that batch: notices
   * are hints (a lost one costs a waiter latency, never an event: followers fill gaps from the store), and the write
   * they describe is committed anyway.
   */
  async #run(): Promise<void> {
    try {
      while (this.#outbox.length > 0 && !this.#pool.closed) {
        const batch = withoutRepeatedReadies(this.#outbox);
        this.#outbox = [];
        await this.#pool.query(this.#sql.publishNotices, [encodeNotices(this.#origin, batch).join(NOTICE_SEPARATOR)]).catch(() => {});
      }
    } finally {
      this.#outbox = [];
      this.#publishing = null;
    }
  }
}
