// Flow control on SQLite (store/flow-limits.ts decides; this runs its SQL): the claim's gate for throttled tasks and cost
// limits, the starts it records, reported costs at finish, and heldBack's groups. Kept apart from the claim's own
// statements: a claim with no throttled task ready and no cost limit set runs two index probes here and nothing more.
import { type Candidate, STARTS_KEPT_PAST_WINDOW_MS } from '../claim-order.ts';
import {
  type CostGroup,
  DEFAULT_COST,
  FlowGate,
  type FlowLimits,
  type FlowTask,
  type FlowWindow,
  type HeldBackSource,
  type ThrottleGroup,
  type Usage,
} from '../flow-limits.ts';
import type { CostLimit } from '../store.ts';
import type { SqliteConnection } from './connection.ts';
import type { Row } from './rows.ts';

const SQL = {
  /** Queue and type cost limits in force. */
  costControls: `SELECT 'queue' AS kind, name, cost_budget, cost_period_ms, cost_per_key FROM queues WHERE cost_budget IS NOT NULL
    UNION ALL
    SELECT 'type' AS kind, type AS name, cost_budget, cost_period_ms, cost_per_key FROM task_types WHERE cost_budget IS NOT NULL`,
  /** Is any throttled task ready? One seek in the partial index tasks_throttled, which holds only those. */
  anyThrottled: `SELECT 1 AS x FROM tasks WHERE status = 'queued' AND throttle_key IS NOT NULL LIMIT 1`,
  flowTasks: `SELECT id, queue, type, owner, concurrency_key, throttle_key, throttle_limit, throttle_period_ms, cost
    FROM tasks WHERE id IN (SELECT value FROM json_each(?))`,
  usage: `SELECT count(*) AS n, coalesce(sum(cost), 0) AS c FROM flow_starts WHERE scope = ? AND until > ?`,
  recordStart: `INSERT INTO flow_starts (scope, at, until, task_id, cost) VALUES (?, ?, ?, ?, ?)`,
  prune: `DELETE FROM flow_starts WHERE until <= ?`,
  /** When the next start in any window ends (FlowWake). */
  nextWindowEnd: `SELECT min(until) AS at FROM flow_starts WHERE until > ?`,
  reportCost: `UPDATE tasks SET reported_cost = ? WHERE id = ?`,
  /** The attempt's own starts (at = its startedAt) in cost windows; a throttle's row (cost null) stays a start. */
  reportStartCost: `UPDATE flow_starts SET cost = ? WHERE task_id = ? AND at = ? AND cost IS NOT NULL`,
  throttleGroups: `SELECT owner, throttle_key AS key, max(throttle_limit) AS lim, count(*) AS n FROM tasks
    WHERE status = 'queued' AND throttle_key IS NOT NULL AND queue = ? GROUP BY owner, throttle_key`,
  costGroups: `SELECT type, concurrency_key, coalesce(cost, ?2) AS cost, count(*) AS n FROM tasks
    WHERE status = 'queued' AND queue = ?1 GROUP BY type, concurrency_key, coalesce(cost, ?2)`,
} as const;

const costLimitOf = (r: Row): CostLimit => ({ budget: r.cost_budget as number, periodMs: r.cost_period_ms as number, perKey: r.cost_per_key === 1 });

function rowToFlowTask(r: Row): FlowTask {
  return {
    id: r.id as string,
    queue: r.queue as string,
    type: r.type as string,
    owner: r.owner as string | null,
    concurrencyKey: r.concurrency_key as string | null,
    throttle:
      r.throttle_key === null
        ? null
        : { key: r.throttle_key as string, limit: r.throttle_limit as number, periodMs: r.throttle_period_ms as number },
    cost: r.cost as number | null,
  };
}

/** One claim's flow gate over its candidates, and the windows of what it admitted, to record once claimed. */
export interface ClaimFlow {
  admit: (id: string) => boolean;
  refused: () => number;
  windows: Map<string, FlowWindow[]>;
}

export class SqliteFlow implements HeldBackSource {
  readonly #c: SqliteConnection;

  constructor(connection: SqliteConnection) {
    this.#c = connection;
  }

  #limits(): FlowLimits {
    const queues = new Map<string, CostLimit>();
    const types = new Map<string, CostLimit>();
    for (const r of this.#c.all(SQL.costControls)) (r.kind === 'queue' ? queues : types).set(r.name as string, costLimitOf(r));
    return { queues, types };
  }

  /**
   * Inside the claim's write: the flow settings in force now, or null when none can apply (no cost limit, no
   * throttled task ready), so the claim goes on as if flow control did not exist.
   */
  limitsForClaim(): FlowLimits | null {
    const limits = this.#limits();
    if (limits.queues.size === 0 && limits.types.size === 0 && !this.#c.get(SQL.anyThrottled)) return null;
    return limits;
  }

  /** A gate over these candidates (their flow fields read in one statement), or null when none is flow-controlled. */
  gate(limits: FlowLimits, candidates: readonly Candidate[], now: number): ClaimFlow | null {
    if (candidates.length === 0) return null;
    const tasks = new Map(this.#c.all(SQL.flowTasks, JSON.stringify(candidates.map((c) => c.id))).map((r) => [r.id as string, rowToFlowTask(r)]));
    const controlled = [...tasks.values()].some((t) => t.throttle !== null || limits.queues.has(t.queue) || limits.types.has(t.type));
    if (!controlled) return null;
    const gate = new FlowGate(limits, (scope) => this.#usageOf(scope, now));
    const windows = new Map<string, FlowWindow[]>();
    return {
      admit: (id) => {
        const task = tasks.get(id);
        if (!task) return true;
        const admitted = gate.admit(task);
        if (admitted && admitted.length > 0) windows.set(id, admitted);
        return admitted !== null;
      },
      refused: () => gate.refused,
      windows,
    };
  }

  #usageOf(scope: string, now: number): Usage {
    const row = this.#c.get(SQL.usage, scope, now);
    return { starts: (row?.n as number) ?? 0, cost: (row?.c as number) ?? 0 };
  }

  /** Inside the claim's write: the starts of the claimed tasks in their windows, and the windows that ended. */
  record(claimed: readonly string[], windows: Map<string, FlowWindow[]>, now: number): void {
    this.#c.run(SQL.prune, now - STARTS_KEPT_PAST_WINDOW_MS);
    for (const id of claimed) {
      for (const w of windows.get(id) ?? []) this.#c.run(SQL.recordStart, w.scope, now, now + w.periodMs, id, w.cost);
    }
  }

  /** When the next start in any window ends, after `now`; null when no window holds a start. */
  nextWindowEnd(now: number): number | null {
    return (this.#c.get(SQL.nextWindowEnd, now)?.at as number | null | undefined) ?? null;
  }

  /** Inside the finish's write: the cost the handler reported replaces its attempt's declared one. */
  reportCost(taskId: string, startedAt: number | null, cost: number): void {
    this.#c.run(SQL.reportCost, cost, taskId);
    if (startedAt !== null) this.#c.run(SQL.reportStartCost, cost, taskId, startedAt);
  }

  // ---- HeldBackSource ----

  async throttleGroups(queue: string): Promise<ThrottleGroup[]> {
    return this.#c.all(SQL.throttleGroups, queue).map((r) => ({ owner: r.owner as string | null, key: r.key as string, limit: r.lim as number, tasks: r.n as number }));
  }

  async costGroups(queue: string): Promise<CostGroup[]> {
    return this.#c
      .all(SQL.costGroups, queue, DEFAULT_COST)
      .map((r) => ({ type: r.type as string, concurrencyKey: r.concurrency_key as string | null, cost: r.cost as number, tasks: r.n as number }));
  }

  async usage(scopes: readonly string[], now: number): Promise<Map<string, Usage>> {
    return new Map(scopes.map((scope) => [scope, this.#usageOf(scope, now)]));
  }

  async limits(): Promise<FlowLimits> {
    return this.#limits();
  }
}
