// Flow control on PostgreSQL (the claim and finish statements take sql/flow-limits.ts's fragments): the rest of a claim
// that flow control cut short, its wake-up, and heldBack's groups (store/flow-limits.ts computes the answer).
import type { CostGroup, FlowLimits, HeldBackSource, ThrottleGroup, Usage } from '../flow-limits.ts';
import { FlowWake, flowLimitsOf } from '../flow-limits.ts';
import type { ClaimRequest } from '../store.ts';
import type { PgPool, Queryable } from './pool.ts';
import {
  type Int8,
  type QueueRow,
  rowToQueueSettings,
  rowToTypeSettings,
  type TaskRowWithToken,
  toNumber,
  toNumberOrNull,
  type TypeSettingsRow,
} from './rows.ts';
import type { PostgresSql } from './sql.ts';

/** How much deeper than `max` the second run of a claim under flow control walks per type. */
const FLOW_WALK = 200;

export class PostgresFlow implements HeldBackSource {
  readonly #pool: PgPool;
  readonly #sql: PostgresSql;
  readonly #wake: FlowWake;

  /** `ready`: tells this process's claimers that tasks may be claimable (a local notice). */
  constructor(pool: PgPool, sql: PostgresSql, ready: () => void) {
    this.#pool = pool;
    this.#sql = sql;
    this.#wake = new FlowWake(ready);
  }

  /**
   * Inside a gated claim's transaction that holds the flow lock, after claimLimited took `first`: when that came back
   * short, flow control may have turned away every candidate walked (a throttled key's backlog ahead of other keys'
   * tasks, say), so the claim runs once more, walking deeper, for the rest; still short, this process's claimers are
   * woken when the first window moves on.
   */
  async claimMore(client: Queryable, request: ClaimRequest, types: readonly string[], first: TaskRowWithToken[]): Promise<TaskRowWithToken[]> {
    if (first.length >= request.max) return first;
    const { now } = request;
    const params = [now, types, request.queues, request.max - first.length, request.leaseMs, request.workerId, true, request.max + FLOW_WALK];
    const claimed = [...first, ...(await this.#pool.query<TaskRowWithToken>(this.#sql.claimLimited, params, client))];
    if (claimed.length < request.max) {
      const [end] = await this.#pool.query<{ at: Int8 | null }>(this.#sql.nextWindowEnd, [now], client);
      this.#wake.arm(end ? toNumberOrNull(end.at) : null, now);
    }
    return claimed;
  }

  close(): void {
    this.#wake.close();
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
