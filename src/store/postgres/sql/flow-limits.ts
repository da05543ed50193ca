// Flow control on PostgreSQL (docs/queues.md, "Throttle" and "Cost limits"; the rules are store/flow-limits.ts's): the
// fragments the claim statements take in (sql/claim.ts), and the statements of the flow lock, reported costs and
// heldBack. Scopes are built here exactly as store/flow-limits.ts builds them: parts joined by chr(31).
import { STARTS_KEPT_PAST_WINDOW_MS } from '../../claim-order.ts';
import { DEFAULT_COST } from '../../flow-limits.ts';
import { escapeLiteral } from 'pg';
import { type Names, prepared } from './common.ts';

/**
 * The advisory lock class of flow control (`flow` in ASCII), keyed by schema: one lock per Taskhub schema, so its
 * flow-controlled claims take turns and another schema's never wait for them.
 */
const FLOW_LOCK_CLASS = 0x666c6f77;

/** A candidate's scope, as throttleScope and costScope (store/flow-limits.ts) make it. */
const throttleScope = (t: string) => `concat_ws(chr(31), 'throttle', coalesce(${t}.owner, ''), ${t}.throttle_key)`;
const costScope = (kind: 'queue' | 'type', limit: string, name: string, t: string) =>
  `CASE WHEN ${limit}.name IS NOT NULL THEN concat_ws(chr(31), '${kind}', ${name},
     CASE WHEN ${limit}.cost_per_key THEN coalesce(${t}.concurrency_key, '') END) END`;

/**
 * CTEs of the gated claim (sql/claim.ts), after `candidates`: `flow_refused` holds the candidates flow control turns
 * away now. $1 is now; $7 whether this claim holds the flow lock (claimFlowLock): without it, every flow-controlled
 * candidate is turned away (one may have appeared since the lock was skipped). Ranks follow claim order within each
 * scope: a throttle takes the first `limit - starts` of its key; a cost window takes candidates while the running sum
 * of their costs fits what is left (none after one that does not: sums only grow), or the first alone in an empty
 * window. Like the queue and type ranks, a candidate another limit turns away still holds its rank: a claim may
 * start fewer than the windows allow, never more.
 */
export function flowClaimCtes({ s, tasks }: Names): string {
  const order = 'ORDER BY priority DESC, round, run_at, id';
  const running = `${order} ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW`;
  return `flow_limits AS MATERIALIZED (
        SELECT 'queue' AS kind, name, cost_budget, cost_period_ms, cost_per_key FROM ${s}.queues WHERE cost_budget IS NOT NULL
        UNION ALL
        SELECT 'type', type, cost_budget, cost_period_ms, cost_per_key FROM ${s}.task_types WHERE cost_budget IS NOT NULL
      ),
      flow_info AS MATERIALIZED (
        SELECT c.id, c.priority, c.round, c.run_at,
          CASE WHEN ft.throttle_key IS NOT NULL THEN ${throttleScope('ft')} END AS t_scope,
          ft.throttle_limit, ft.throttle_period_ms, coalesce(ft.cost, ${DEFAULT_COST}) AS cost,
          ${costScope('queue', 'ql', 'c.queue', 'ft')} AS q_scope, ql.cost_budget AS q_budget, ql.cost_period_ms AS q_period,
          ${costScope('type', 'yl', 'c.type', 'ft')} AS y_scope, yl.cost_budget AS y_budget, yl.cost_period_ms AS y_period
        FROM candidates c
        JOIN ${tasks} ft ON ft.id = c.id
        LEFT JOIN flow_limits ql ON ql.kind = 'queue' AND ql.name = c.queue
        LEFT JOIN flow_limits yl ON yl.kind = 'type' AND yl.name = c.type
        WHERE ft.throttle_key IS NOT NULL OR ql.name IS NOT NULL OR yl.name IS NOT NULL
      ),
      flow_ranked AS MATERIALIZED (
        SELECT f.*,
          row_number() OVER (PARTITION BY t_scope ${order}) AS t_rank,
          sum(cost) OVER (PARTITION BY q_scope ${running}) AS q_sum, row_number() OVER (PARTITION BY q_scope ${order}) AS q_rank,
          sum(cost) OVER (PARTITION BY y_scope ${running}) AS y_sum, row_number() OVER (PARTITION BY y_scope ${order}) AS y_rank
        FROM flow_info f
      ),
      flow_usage AS MATERIALIZED (
        SELECT w.scope, count(*) AS starts, coalesce(sum(w.cost), 0) AS used FROM ${s}.flow_starts w
        WHERE w.until > $1::bigint
          AND w.scope IN (SELECT t_scope FROM flow_info UNION SELECT q_scope FROM flow_info UNION SELECT y_scope FROM flow_info)
        GROUP BY w.scope
      ),
      flow_refused AS MATERIALIZED (
        SELECT fr.id FROM flow_ranked fr
        LEFT JOIN flow_usage tu ON tu.scope = fr.t_scope
        LEFT JOIN flow_usage qu ON qu.scope = fr.q_scope
        LEFT JOIN flow_usage yu ON yu.scope = fr.y_scope
        WHERE NOT $7::boolean
          OR (fr.t_scope IS NOT NULL AND fr.t_rank > fr.throttle_limit - coalesce(tu.starts, 0))
          OR (fr.q_scope IS NOT NULL AND NOT (fr.q_sum <= fr.q_budget - coalesce(qu.used, 0) OR (fr.q_rank = 1 AND qu.scope IS NULL)))
          OR (fr.y_scope IS NOT NULL AND NOT (fr.y_sum <= fr.y_budget - coalesce(yu.used, 0) OR (fr.y_rank = 1 AND yu.scope IS NULL)))
      )`;
}

/** CTEs of the gated claim after `claimed`: the claimed tasks' starts in their windows, and the windows that ended. */
export function flowRecordCtes({ s }: Names): string {
  return `recorded_flow_starts AS (
        INSERT INTO ${s}.flow_starts (scope, at, until, task_id, cost)
        SELECT w.scope, $1::bigint, $1::bigint + w.period, f.id, w.cost
        FROM claimed JOIN flow_info f ON f.id = claimed.id
        CROSS JOIN LATERAL (VALUES (f.t_scope, f.throttle_period_ms, NULL::integer), (f.q_scope, f.q_period, f.cost),
          (f.y_scope, f.y_period, f.cost)) AS w(scope, period, cost)
        WHERE w.scope IS NOT NULL
      ),
      pruned_flow_starts AS (
        DELETE FROM ${s}.flow_starts WHERE $7::boolean AND until <= $1::bigint - ${STARTS_KEPT_PAST_WINDOW_MS}
      )`;
}

/**
 * A CTE of finishWithCosts (sql/attempts.ts), after `finished`: a reported cost replaces the declared one in the cost
 * windows of the attempt's start (at = its startedAt; a throttle's row, cost null, stays), in the finish's statement.
 */
export function REPORTED_COSTS_CTE({ s }: Names): string {
  return `
      reported_costs AS (
        UPDATE ${s}.flow_starts w SET cost = f.reported_cost FROM finished f
        WHERE f.reported_cost IS NOT NULL AND w.task_id = f.id AND w.at = f.started_at AND w.cost IS NOT NULL
      ),`;
}

export function flowSql({ s, tasks }: Names) {
  return {
    /**
     * Inside a gated claim's transaction, after its queue and type locks: takes the flow lock when flow control may
     * apply (a throttled task is ready, or a cost limit is set), answering one row; none otherwise, for free.
     */
    claimFlowLock: prepared(`SELECT pg_advisory_xact_lock(${FLOW_LOCK_CLASS}, hashtext(${escapeLiteral(s)})) IS NULL AS locked
      WHERE EXISTS (SELECT 1 FROM ${tasks} WHERE status = 'queued' AND throttle_key IS NOT NULL)
        OR EXISTS (SELECT 1 FROM ${s}.queues WHERE cost_budget IS NOT NULL)
        OR EXISTS (SELECT 1 FROM ${s}.task_types WHERE cost_budget IS NOT NULL)`),
    /** $1 now: when the next start in any window ends (FlowWake). */
    nextWindowEnd: prepared(`SELECT min(until) AS at FROM ${s}.flow_starts WHERE until > $1::bigint`),
    /** $1 scopes, $2 now: the usage of each scope with starts in its window. */
    flowUsage: prepared(`SELECT scope, count(*)::integer AS starts, coalesce(sum(cost), 0)::bigint AS used FROM ${s}.flow_starts
      WHERE scope = ANY($1::text[]) AND until > $2::bigint GROUP BY scope`),
    /** $1 queue. */
    throttleGroups: prepared(`SELECT owner, throttle_key AS key, max(throttle_limit) AS lim, count(*)::integer AS n FROM ${tasks}
      WHERE status = 'queued' AND throttle_key IS NOT NULL AND queue = $1::text GROUP BY owner, throttle_key`),
    /** $1 queue. */
    costGroups: prepared(`SELECT type, concurrency_key, coalesce(cost, ${DEFAULT_COST}) AS cost, count(*)::integer AS n FROM ${tasks}
      WHERE status = 'queued' AND queue = $1::text GROUP BY type, concurrency_key, coalesce(cost, ${DEFAULT_COST})`),
  } as const;
}
