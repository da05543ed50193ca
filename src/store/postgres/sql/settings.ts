// Everything that is not a task's life: queue and type settings, subscriptions, workers, API keys, secrets,
// schedules, retention.
import { type Names, prepared, QUEUE_COLUMNS, SCHEDULE_COLUMNS, SUBSCRIPTION_COLUMNS } from './common.ts';
import { deleteDurableRowsCtes } from './durable.ts';

export function settingsSql({ s, tasks, events }: Names) {
  return {
    listQueueSettings: prepared(`SELECT ${QUEUE_COLUMNS} FROM ${s}.queues ORDER BY name`),
    /**
     * $1 name, $2 paused (null: unchanged), $3 whether maxConcurrency is given, $4 maxConcurrency, $5 whether
     * rateLimit is given, $6 its count, $7 its intervalMs, $8 now, $9 whether maxPerKey is given, $10 it, $11 whether
     * costLimit is given, $12 to $14 its budget, periodMs and perKey. Creates the row on first use.
     */
    updateQueueSettings: prepared(`INSERT INTO ${s}.queues AS q (name, paused, max_concurrency, rate_count, rate_interval_ms, max_per_key, updated_at,
        cost_budget, cost_period_ms, cost_per_key)
      VALUES ($1::text, coalesce($2::boolean, false), $4::integer, $6::integer, $7::integer, $10::integer, $8::bigint,
        $12::integer, $13::integer, $14::boolean)
      ON CONFLICT (name) DO UPDATE SET
        paused = coalesce($2::boolean, q.paused),
        max_concurrency = CASE WHEN $3::boolean THEN $4::integer ELSE q.max_concurrency END,
        rate_count = CASE WHEN $5::boolean THEN $6::integer ELSE q.rate_count END,
        rate_interval_ms = CASE WHEN $5::boolean THEN $7::integer ELSE q.rate_interval_ms END,
        max_per_key = CASE WHEN $9::boolean THEN $10::integer ELSE q.max_per_key END,
        cost_budget = CASE WHEN $11::boolean THEN $12::integer ELSE q.cost_budget END,
        cost_period_ms = CASE WHEN $11::boolean THEN $13::integer ELSE q.cost_period_ms END,
        cost_per_key = CASE WHEN $11::boolean THEN $14::boolean ELSE q.cost_per_key END,
        updated_at = $8::bigint
      RETURNING ${QUEUE_COLUMNS}`),

    listTypeSettings: prepared(`SELECT type, defaults, payload_schema, updated_at, rate_count, rate_interval_ms,
        cost_budget, cost_period_ms, cost_per_key
      FROM ${s}.task_types ORDER BY type`),
    /**
     * $1 type, $2 defaults, $3 payload schema (null: any), $4 updatedAt, $5 and $6 the rate limit (null: none), $7 to
     * $9 the cost limit's budget, periodMs and perKey (null: none).
     */
    putTypeSettings: prepared(`INSERT INTO ${s}.task_types (type, defaults, payload_schema, updated_at, rate_count, rate_interval_ms,
        cost_budget, cost_period_ms, cost_per_key)
      VALUES ($1::text, $2::jsonb, $3::jsonb, $4::bigint, $5::integer, $6::integer, $7::integer, $8::integer, $9::boolean)
      ON CONFLICT (type) DO UPDATE SET defaults = excluded.defaults, payload_schema = excluded.payload_schema,
        updated_at = excluded.updated_at, rate_count = excluded.rate_count, rate_interval_ms = excluded.rate_interval_ms,
        cost_budget = excluded.cost_budget, cost_period_ms = excluded.cost_period_ms, cost_per_key = excluded.cost_per_key`),
    deleteTypeSettings: prepared(`DELETE FROM ${s}.task_types WHERE type = $1::text`),

    listSubscriptions: prepared(`SELECT ${SUBSCRIPTION_COLUMNS} FROM ${s}.subscriptions ORDER BY name`),
    /**
     * $1 name, $2 pattern, $3 queue, $4 type, $5 now. `created`: xmax is 0 exactly on a row version this statement
     * inserted, and set on one it updated (the conflict path locks and updates the existing row).
     */
    putSubscription: prepared(`INSERT INTO ${s}.subscriptions AS sub (name, pattern, queue, type, created_at, updated_at)
      VALUES ($1::text, $2::text, $3::text, $4::text, $5::bigint, $5::bigint)
      ON CONFLICT (name) DO UPDATE SET pattern = excluded.pattern, queue = excluded.queue, type = excluded.type,
        updated_at = excluded.updated_at
      RETURNING ${SUBSCRIPTION_COLUMNS}, (sub.xmax = 0) AS created`),
    deleteSubscription: prepared(`DELETE FROM ${s}.subscriptions WHERE name = $1::text`),

    /** $1..$9: id, host, pid, types, queues, concurrency, running, started_at, last_seen_at. */
    registerWorker: prepared(`INSERT INTO ${s}.workers (id, host, pid, types, queues, concurrency, running, started_at, last_seen_at)
      VALUES ($1::text, $2::text, $3::integer, $4::jsonb, $5::jsonb, $6::integer, $7::integer, $8::bigint, $9::bigint)
      ON CONFLICT (id) DO UPDATE SET host = excluded.host, pid = excluded.pid, types = excluded.types,
        queues = excluded.queues, concurrency = excluded.concurrency, running = excluded.running,
        last_seen_at = excluded.last_seen_at, registered = true`),
    /** $1 id, $2 types, $3 queues, $4 concurrency (the claim's max), $5 first seen, $6 now: see Store.sawWorker. */
    sawWorker: prepared(`INSERT INTO ${s}.workers AS w (id, host, pid, types, queues, concurrency, running, started_at, last_seen_at, registered)
      VALUES ($1::text, NULL, NULL, $2::jsonb, $3::jsonb, $4::integer, 0, $5::bigint, $6::bigint, false)
      ON CONFLICT (id) DO UPDATE SET last_seen_at = greatest(w.last_seen_at, excluded.last_seen_at),
        types = CASE WHEN w.registered THEN w.types ELSE excluded.types END,
        queues = CASE WHEN w.registered THEN w.queues ELSE excluded.queues END,
        concurrency = CASE WHEN w.registered THEN w.concurrency ELSE excluded.concurrency END`),
    listWorkers: prepared(`SELECT id, host, pid, types, queues, concurrency, running, started_at, last_seen_at, registered
      FROM ${s}.workers WHERE last_seen_at >= $1::bigint ORDER BY id`),
    removeWorkers: prepared(`DELETE FROM ${s}.workers WHERE last_seen_at < $1::bigint OR id = $2::text`),
    createApiKey: prepared(`INSERT INTO ${s}.api_keys (id, name, owner, scopes, secret_hash, created_at)
      VALUES ($1::text, $2::text, $3::text, $4::jsonb, $5::text, $6::bigint)`),
    findApiKey: prepared(`SELECT id, name, owner, scopes, secret_hash, created_at, revoked_at FROM ${s}.api_keys WHERE id = $1::text`),
    listApiKeys: prepared(`SELECT id, name, owner, scopes, secret_hash, created_at, revoked_at FROM ${s}.api_keys ORDER BY created_at, id`),
    revokeApiKey: prepared(`UPDATE ${s}.api_keys SET revoked_at = $2::bigint WHERE id = $1::text AND revoked_at IS NULL`),
    /**
     * $1 name, $2 a fresh value, $3 now: the stored value, creating it with $2 when absent. DO UPDATE (a no-op write)
     * rather than DO NOTHING, so that a concurrent creator's committed row comes back from this one statement.
     */
    secret: prepared(`INSERT INTO ${s}.secrets (name, value, created_at) VALUES ($1::text, $2::text, $3::bigint)
      ON CONFLICT (name) DO UPDATE SET name = excluded.name RETURNING value`),

    listSchedules: prepared(`SELECT ${SCHEDULE_COLUMNS} FROM ${s}.schedules ORDER BY name`),
    getSchedule: prepared(`SELECT ${SCHEDULE_COLUMNS} FROM ${s}.schedules WHERE name = $1::text`),
    /**
     * $1 name, $2 cron ('' for an interval), $3 timezone, $4 task, $5 missedPolicy, $6 paused, $7 nextRunAt, $8 now,
     * $9 everyMs (null for cron). `created` as above.
     */
    putSchedule: prepared(`INSERT INTO ${s}.schedules AS sch
        (name, cron, every_ms, timezone, task, missed_policy, paused, next_run_at, created_at, updated_at)
      VALUES ($1::text, $2::text, $9::bigint, $3::text, $4::jsonb, $5::text, $6::boolean, $7::bigint, $8::bigint, $8::bigint)
      ON CONFLICT (name) DO UPDATE SET cron = excluded.cron, every_ms = excluded.every_ms, timezone = excluded.timezone, task = excluded.task,
        missed_policy = excluded.missed_policy, paused = excluded.paused, next_run_at = excluded.next_run_at,
        updated_at = excluded.updated_at
      RETURNING ${SCHEDULE_COLUMNS}, (sch.xmax = 0) AS created`),
    deleteSchedule: prepared(`DELETE FROM ${s}.schedules WHERE name = $1::text`),
    /** $1 now, $2 limit. */
    dueSchedules: prepared(`SELECT ${SCHEDULE_COLUMNS} FROM ${s}.schedules
      WHERE NOT paused AND next_run_at IS NOT NULL AND next_run_at <= $1::bigint
      ORDER BY next_run_at LIMIT $2::integer`),
    /** $1 name, $2 from slot, $3 to slot, $4 fired at, $5 fired task id, $6 now: compare-and-set on next_run_at. */
    advanceSchedule: prepared(`UPDATE ${s}.schedules SET next_run_at = $3::bigint,
        last_run_at = coalesce($4::bigint, last_run_at), last_task_id = coalesce($5::text, last_task_id),
        updated_at = $6::bigint
      WHERE name = $1::text AND next_run_at = $2::bigint`),

    /**
     * $1 status, $2 finished before, $3 limit: the oldest first, along tasks_finished. SKIP LOCKED: a row someone
     * is changing right now (a retry of a failed task) is left for the next round.
     */
    deleteFinishedTasks: prepared(`WITH doomed AS MATERIALIZED (
        SELECT id FROM ${tasks}
        WHERE status = $1::text AND completed_at IS NOT NULL AND completed_at < $2::bigint
        ORDER BY completed_at LIMIT $3::integer
        FOR UPDATE SKIP LOCKED
      ),
      doomed_events AS (
        DELETE FROM ${events} WHERE task_id IN (SELECT id FROM doomed)
      ),
      ${deleteDurableRowsCtes(s, 'doomed')},
      deleted AS (
        DELETE FROM ${tasks} WHERE id IN (SELECT id FROM doomed) RETURNING 1
      )
      SELECT count(*)::integer AS n FROM deleted`),
  } as const;
}
