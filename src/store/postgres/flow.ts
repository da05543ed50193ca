// Flow control on PostgreSQL outside the claim and the finish (which take sql/flow.ts's fragments): heldBack's groups
// (store/flow.ts computes the answer).
import type { CostGroup, FlowLimits, HeldBackSource, ThrottleGroup, Usage } from '../flow.ts';
import { flowLimitsOf } from '../flow.ts';
import type { PgPool } from './pool.ts';
import { type Int8, rowToQueueSettings, rowToTypeSettings, toNumber, type QueueRow, type TypeSettingsRow } from './rows.ts';
import type { PostgresSql } from './sql.ts';

export class PostgresFlow implements HeldBackSource {
  readonly #pool: PgPool;
  readonly #sql: PostgresSql;

  constructor(pool: PgPool, sql: PostgresSql) {
    this.#pool = pool;
    this.#sql = sql;
  }

  // ---- HeldBackSource ----

  async throttleGroups(queue: string): Promise<ThrottleGroup[]> {
    const rows = await this.#pool.query<{ owner: string | null; key: string; lim: number; n: number }>(this.#sql.throttleGroups, [queue]);
    return rows.map((r) => ({ owner: r.owner, key: r.key, limit: r.lim, tasks: r.n }));
  }

  async costGroups(queue: string): Promise<CostGroup[]> {
    const rows = await this.#pool.query<{ type: string; concurrency_key: string | null; cost: number; n: number }>(this.#sql.costGroups, [queue]);
    return rows.map((r) => ({ type: r.type, concurrencyKey: r.concurrency_key, cost: r.cost, tasks: r.n }));
  }

  async usage(scopes: readonly string[], now: number): Promise<Map<string, Usage>> {
    const rows = await this.#pool.query<{ scope: string; starts: number; used: Int8 }>(this.#sql.flowUsage, [scopes, now]);
    return new Map(rows.map((r) => [r.scope, { starts: r.starts, cost: toNumber(r.used) }]));
  }

  async limits(): Promise<FlowLimits> {
    const queues = await this.#pool.query<QueueRow>(this.#sql.listQueueSettings, []);
    const types = await this.#pool.query<TypeSettingsRow>(this.#sql.listTypeSettings, []);
    return flowLimitsOf(queues.map(rowToQueueSettings), types.map(rowToTypeSettings));
  }
}
