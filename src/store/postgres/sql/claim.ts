// The claim: one statement when no queue limit is involved, a short transaction under the limited queues' locks
// when one is (docs/postgres.md, "Queue limits").
import { STARTS_KEPT_PAST_WINDOW_MS } from '../../claim-order.ts';
import { claimedTaskColumns, type Names, prepared, taskColumns } from './common.ts';
import { DUE_WAITS_SELECT, RESUMED_EVENTS_SELECT, WOKEN_CTE, WOKEN_JSON } from './durable.ts';
import { flowClaimCtes, flowRecordCtes } from './flow-limits.ts';

export function claimSql(names: Names) {
  const { s, tasks, events, columns } = names;
  /**
   * Up to `limit` ($4) ready tasks per type of $2 (except the types in `skippedTypes`), in claim order, locked, from
   * the queues of $3 except those in `skipped`. `throttled`: read here, from the locked row, so that the claim's gate
   * need not look each chosen task up again.
   */
  const readyCandidates = (skipped: string, skippedTypes?: string, limit = '$4') => `SELECT ready.id, ready.queue, ready.type, ready.priority, ready.run_at,
          ready.singleton, ready.throttled, ready.tid
        FROM unnest($2::text[]) AS wanted(type)
        CROSS JOIN LATERAL (
          SELECT id, queue, type, priority, run_at, ${singletonOf('x')} AS singleton, ${throttled('x')} AS throttled, ctid AS tid
          FROM ${tasks} x
          WHERE status = 'queued' AND type = wanted.type AND ($3::text[] IS NULL OR queue = ANY($3::text[]))
            AND queue NOT IN (SELECT name FROM ${skipped}) AND ${singletonFree('x')}
          ORDER BY priority DESC, run_at, id
          LIMIT ${limit}::integer
          FOR UPDATE SKIP LOCKED
        ) AS ready${skippedTypes ? `
        WHERE wanted.type NOT IN (SELECT type FROM ${skippedTypes})` : ''}`;
  /**
   * Singleton (store/flow.ts): a ready task whose key (per owner) has a running task is not a candidate, and of
   * candidates sharing a key only the first in claim order is chosen (`singleton`: the owner-scoped key, or null).
   */
  const singletonFree = (t: string) => `(${t}.singleton_key IS NULL OR NOT EXISTS (SELECT 1 FROM ${tasks} sr
            WHERE sr.status = 'running' AND sr.singleton_key = ${t}.singleton_key
              AND coalesce(sr.owner, '') = coalesce(${t}.owner, '')))`;
  const throttled = (t: string) => `${t}.throttle_key IS NOT NULL`;
  const singletonOf = (t: string) =>
    `CASE WHEN ${t}.singleton_key IS NULL THEN NULL ELSE coalesce(${t}.owner, '') || chr(31) || ${t}.singleton_key END`;
  /**
   * The update that makes the rows of `chosen` running ($1 now, $5 leaseMs, $6 workerId); its WHERE goes on. Rows are
   * found by the ctid the walk read under its row lock (FOR UPDATE: the row cannot change until this statement's
   * transaction ends): a TID scan per row where a primary-key probe cost about 8 % of the claim (docs/benchmarks.md).
   * A due wait (status still 'waiting') claimed at once gets two events: `resumed`, then `started`. The started event
   * is not stored: the row holds it (started_seq, attempts, worker_id, started_at), and the statements that end the
   * attempt otherwise than by completing store it (docs/postgres.md).
   */
  const claimChosen = (secret: string) => `UPDATE ${tasks} t SET status = 'running', attempts = t.attempts + 1,
          attempt_token = ${secret} || t.id, lease_until = $1::bigint + $5::bigint, worker_id = $6::text,
          started_at = $1::bigint, updated_at = $1::bigint, debounce_key = NULL,
          run_at = CASE WHEN t.status = 'waiting' THEN $1::bigint ELSE t.run_at END,
          event_seq = t.event_seq + CASE WHEN t.status = 'waiting' THEN 2 ELSE 1 END,
          started_seq = t.event_seq + CASE WHEN t.status = 'waiting' THEN 2 ELSE 1 END
        FROM chosen WHERE t.ctid = chosen.tid`;
  /**
   * A CTE that makes the statement's transaction commit without waiting for its WAL to reach the disk. For claims: a
   * claim lost in a server crash leaves its tasks queued, to be claimed again (delivery is at least once anyway), and
   * its worker's finish is then refused (the attempt token is unknown). Its WAL reaches the disk with the next
   * durable commit (a finish, an enqueue) or within three wal_writer_delay. Saves the claim a disk flush: the
   * largest part of its latency on most disks.
   */
  const asyncCommit = `async_commit AS MATERIALIZED (SELECT set_config('synchronous_commit', 'off', true) AS setting)`;
  /**
   * One random secret per claim statement, which each claimed row's attempt token starts with (then its task id): as
   * unguessable as a random token per row, since a claim's tokens all go to the one worker that made it, and a
   * fraction of the cost (gen_random_uuid() per row was 1.8 µs of PostgreSQL CPU, about 7 % of a drained task's).
   * The plain claim takes its secret from the caller ($7), who can then make each token without reading it back
   * (rows.ts, ClaimKnowns); the limited claim, rarer, makes its own here and returns the tokens.
   */
  const tokenSecret = `token_secret AS MATERIALIZED (SELECT replace(gen_random_uuid()::text, '-', '') AS secret)`;

  return {
    /**
     * $1 now, $2 types, $3 queues (null: all), $4 max, $5 leaseMs, $6 workerId, $7 the claim's token secret (32 random
     * hex digits). Returns the claimed tasks as claimedTaskColumns (sql/common.ts), without their tokens ($7 || id).
     * The claim of a worker whose best candidates lie in queues without a concurrency cap or rate limit: one
     * statement. Due scheduled tasks are promoted and compete with queued ones: the result equals "promote, then take
     * the best `max`", without a second round trip. Ready rows are walked per type along tasks_ready (each walk reads
     * only ready rows of one type, however large the backlog of others), locked with SKIP LOCKED so concurrent
     * claimers never wait for each other or take the same row. Paused queues are skipped.
     * When a chosen task lies in a capped, rate-limited or cost-limited queue, is of a rate-limited or cost-limited
     * type, or is throttled (sql/flow-limits.ts), nothing is claimed and
     * `gated` comes back true: the caller then runs claimLimitedLock, claimLimitedTypeLock and claimLimited in a
     * transaction.
     */
    claim: prepared(`WITH paused AS MATERIALIZED (
        SELECT name FROM ${s}.queues WHERE paused
      ),
      limited AS MATERIALIZED (
        SELECT name FROM ${s}.queues
        WHERE NOT paused AND (max_concurrency IS NOT NULL OR rate_count IS NOT NULL OR max_per_key IS NOT NULL
          OR cost_budget IS NOT NULL)
      ),
      limited_types AS MATERIALIZED (
        SELECT type FROM ${s}.task_types WHERE (rate_count IS NOT NULL OR cost_budget IS NOT NULL) AND type = ANY($2::text[])
      ),
      -- Due scheduled tasks, and due waits (wait_kind set: sleeps ended, signal waits timed out; sql/durable.ts).
      due AS MATERIALIZED (
        SELECT * FROM (
          SELECT id, type, queue, priority, run_at, NULL::text AS wait_kind, NULL::text AS wait_name FROM ${tasks}
          WHERE status = 'scheduled' AND run_at <= $1::bigint
          FOR UPDATE SKIP LOCKED
        ) AS scheduled
        UNION ALL ${DUE_WAITS_SELECT(tasks)}
      ),
      candidates AS MATERIALIZED (
        ${readyCandidates('paused')}
        UNION ALL
        SELECT due.id, due.queue, due.type, due.priority, due.run_at, ${singletonOf('x')}, ${throttled('x')}, x.ctid FROM due
        JOIN ${tasks} x ON x.id = due.id
        WHERE due.type = ANY($2::text[]) AND ($3::text[] IS NULL OR due.queue = ANY($3::text[]))
          AND due.queue NOT IN (SELECT name FROM paused) AND ${singletonFree('x')}
      ),
      -- Candidates without a singleton key as they are; of those with one, the first per key (a sort of only
      -- those: a window over every candidate would sort them all once more).
      chosen AS MATERIALIZED (
        SELECT id, queue, type, throttled, tid FROM (
          SELECT id, queue, type, throttled, priority, run_at, tid FROM candidates WHERE singleton IS NULL
          UNION ALL
          SELECT * FROM (
            SELECT DISTINCT ON (singleton) id, queue, type, throttled, priority, run_at, tid FROM candidates
            WHERE singleton IS NOT NULL ORDER BY singleton, priority DESC, run_at, id
          ) AS firsts
        ) AS c
        ORDER BY priority DESC, run_at, id LIMIT $4::integer
      ),
      -- A throttled task gates the claim too (sql/flow-limits.ts; queues and types with cost limits are limited ones).
      gate AS MATERIALIZED (
        SELECT EXISTS (
          SELECT 1 FROM chosen
          WHERE throttled OR queue IN (SELECT name FROM limited) OR type IN (SELECT type FROM limited_types)
        ) AS gated
      ),
      claimed AS (
        ${claimChosen('$7::text')}
        AND NOT (SELECT gated FROM gate)
        RETURNING ${claimedTaskColumns('t', '($2::text[])[1]')}
      ),
      -- A due wait gets its resumed event here (or, claimed at once, in claimed, which bumps its seq by 2).
      promoted AS (
        UPDATE ${tasks} t SET status = 'queued', updated_at = $1::bigint,
          run_at = CASE WHEN due.wait_kind IS NULL THEN t.run_at ELSE $1::bigint END,
          event_seq = t.event_seq + CASE WHEN due.wait_kind IS NULL THEN 0 ELSE 1 END
        FROM due WHERE t.id = due.id AND t.id NOT IN (SELECT id FROM claimed)
        RETURNING t.id, t.queue, t.owner, t.event_seq, due.wait_kind, due.wait_name
      ),
      ${WOKEN_CTE},
      resumed_events AS (INSERT INTO ${events} (task_id, seq, kind, data, at) ${RESUMED_EVENTS_SELECT}),
      ${asyncCommit}
      SELECT gate.gated, ${WOKEN_JSON} AS woken, claimed.* FROM gate CROSS JOIN async_commit LEFT JOIN claimed ON true`),
    /**
     * $1 queues (null: all). Inside the transaction of a gated claim: locks, in name order, every capped or
     * rate-limited queue the claim may take from, so that claims on them take turns; the next statement, with a
     * snapshot taken after the locks, counts exactly what the previous holders committed.
     */
    claimLimitedLock: prepared(`SELECT name FROM ${s}.queues
      WHERE NOT paused AND (max_concurrency IS NOT NULL OR rate_count IS NOT NULL OR max_per_key IS NOT NULL)
        AND ($1::text[] IS NULL OR name = ANY($1::text[]))
      ORDER BY name
      FOR UPDATE`),
    /**
     * $1 types. After claimLimitedLock (queues first, then types, each in name order, so two claimers never wait on
     * each other in a circle): locks the rate-limited types the claim may take, so their starts are counted exactly.
     */
    claimLimitedTypeLock: prepared(`SELECT type FROM ${s}.task_types
      WHERE rate_count IS NOT NULL AND type = ANY($1::text[])
      ORDER BY type
      FOR UPDATE`),
    /**
     * $1 now, $2 types, $3 queues (null: all), $4 max, $5 leaseMs, $6 workerId, $7 whether the claim holds the flow
     * lock (claimFlowLock), $8 how deep to walk per type ($4; deeper in a second run under flow control, so that a
     * throttled backlog cannot hide other keys' tasks). The claim under queue limits, after claimLimitedLock: each limited queue may start min(maxConcurrency - running, rateLimit.count - starts in the
     * window) tasks, and each rate-limited type rateLimit.count - its starts in the window; queues and types with no
     * room are skipped in the walk, so they cannot crowd out the others' tasks. A candidate must fit both its queue's
     * and its type's room, each counted by rank in claim order: a candidate one limit passes over still takes a rank
     * under the other, so a claim may start fewer than both would allow (never more); the next claim takes the rest.
     * Due tasks were promoted by the gated claim just before.
     */
    claimLimited: prepared(`WITH type_limits AS MATERIALIZED (
        SELECT tt.type, tt.rate_interval_ms, tt.rate_count - (
            SELECT count(*) FROM ${s}.type_starts w WHERE w.type = tt.type AND w.at > $1::bigint - tt.rate_interval_ms
          ) AS room
        FROM ${s}.task_types tt
        WHERE tt.rate_count IS NOT NULL AND tt.type = ANY($2::text[])
      ),
      full_types AS MATERIALIZED (
        SELECT type FROM type_limits WHERE room <= 0
      ),
      limits AS MATERIALIZED (
        SELECT q.name, q.rate_count, q.rate_interval_ms, q.max_per_key,
          CASE WHEN q.paused THEN 0 ELSE LEAST(
            coalesce(q.max_concurrency
              - (SELECT count(*) FROM ${tasks} r WHERE r.status = 'running' AND r.queue = q.name), 2147483647),
            coalesce(q.rate_count
              - (SELECT count(*) FROM ${s}.queue_starts w WHERE w.queue = q.name AND w.at > $1::bigint - q.rate_interval_ms),
              2147483647)
          ) END AS room
        FROM ${s}.queues q
        WHERE q.paused OR q.max_concurrency IS NOT NULL OR q.rate_count IS NOT NULL OR q.max_per_key IS NOT NULL
      ),
      full_queues AS MATERIALIZED (
        SELECT name FROM limits WHERE room <= 0
      ),
      fair AS MATERIALIZED (
        SELECT name, max_per_key FROM limits
        WHERE max_per_key IS NOT NULL AND room > 0 AND ($3::text[] IS NULL OR name = ANY($3::text[]))
      ),
      -- Plain walks skip fair queues; those are walked key by key below.
      skipped AS MATERIALIZED (
        SELECT name FROM full_queues UNION SELECT name FROM fair
      ),
      -- The distinct keys with ready tasks, by a loose index scan (one seek per key), plus NULL for unkeyed tasks.
      fair_keys AS MATERIALIZED (
        WITH RECURSIVE k(queue, key) AS (
          SELECT f.name, (SELECT min(concurrency_key) FROM ${tasks}
                          WHERE status = 'queued' AND queue = f.name AND concurrency_key IS NOT NULL)
          FROM fair f
          UNION ALL
          SELECT k.queue, (SELECT min(concurrency_key) FROM ${tasks}
                           WHERE status = 'queued' AND queue = k.queue AND concurrency_key > k.key)
          FROM k WHERE k.key IS NOT NULL
        )
        SELECT queue, key FROM k WHERE key IS NOT NULL
        UNION ALL SELECT name, NULL FROM fair
      ),
      fair_room AS MATERIALIZED (
        SELECT fk.queue, fk.key, f.max_per_key - (
            SELECT count(*) FROM ${tasks} r
            WHERE r.status = 'running' AND r.queue = fk.queue AND r.concurrency_key IS NOT DISTINCT FROM fk.key
          ) AS free
        FROM fair_keys fk JOIN fair f ON f.name = fk.queue
      ),
      candidates AS MATERIALIZED (
        SELECT c.*, 0 AS round FROM (${readyCandidates('skipped', 'full_types', '$8')}) c
        UNION ALL
        SELECT per_key.id, per_key.queue, per_key.type, per_key.priority, per_key.run_at, per_key.singleton,
          per_key.throttled, per_key.tid, per_key.round
        FROM fair_room fr
        CROSS JOIN LATERAL (
          SELECT id, queue, type, priority, run_at, singleton, throttled, tid,
            (row_number() OVER (ORDER BY priority DESC, run_at, id) - 1)::integer AS round
          FROM (
            SELECT id, queue, type, priority, run_at, ${singletonOf('x')} AS singleton, ${throttled('x')} AS throttled, ctid AS tid
            FROM ${tasks} x
            WHERE status = 'queued' AND queue = fr.queue AND concurrency_key IS NOT DISTINCT FROM fr.key
              AND type = ANY($2::text[]) AND type NOT IN (SELECT type FROM full_types) AND ${singletonFree('x')}
            ORDER BY priority DESC, run_at, id
            LIMIT LEAST(fr.free, $4::integer)
            FOR UPDATE SKIP LOCKED
          ) AS best
        ) AS per_key
        WHERE fr.free > 0
      ),
      ${flowClaimCtes(names)},
      chosen AS MATERIALIZED (
        SELECT ranked.id, ranked.tid FROM (
          SELECT c.*, row_number() OVER (PARTITION BY c.queue ORDER BY c.priority DESC, c.round, c.run_at, c.id) AS rank,
            row_number() OVER (PARTITION BY c.type ORDER BY c.priority DESC, c.round, c.run_at, c.id) AS type_rank,
            row_number() OVER (PARTITION BY c.singleton ORDER BY c.priority DESC, c.round, c.run_at, c.id) AS singleton_rank
          FROM candidates c
        ) AS ranked
        LEFT JOIN limits ON limits.name = ranked.queue
        LEFT JOIN type_limits ON type_limits.type = ranked.type
        WHERE (limits.name IS NULL OR ranked.rank <= limits.room)
          AND (ranked.singleton IS NULL OR ranked.singleton_rank = 1)
          AND (type_limits.type IS NULL OR ranked.type_rank <= type_limits.room)
          AND ranked.id NOT IN (SELECT id FROM flow_refused)
        ORDER BY ranked.priority DESC, ranked.round, ranked.run_at, ranked.id
        LIMIT $4::integer
      ),
      ${tokenSecret},
      claimed AS (
        ${claimChosen('(SELECT secret FROM token_secret)')}
        RETURNING ${taskColumns('t')}, t.attempt_token
      ),
      recorded_starts AS (
        INSERT INTO ${s}.queue_starts (queue, at)
        SELECT claimed.queue, $1::bigint FROM claimed JOIN limits ON limits.name = claimed.queue
        WHERE limits.rate_count IS NOT NULL
      ),
      pruned_starts AS (
        DELETE FROM ${s}.queue_starts w USING limits
        WHERE w.queue = limits.name AND limits.rate_count IS NOT NULL AND w.at <= $1::bigint - limits.rate_interval_ms - ${STARTS_KEPT_PAST_WINDOW_MS}
      ),
      recorded_type_starts AS (
        INSERT INTO ${s}.type_starts (type, at)
        SELECT claimed.type, $1::bigint FROM claimed JOIN type_limits ON type_limits.type = claimed.type
      ),
      pruned_type_starts AS (
        DELETE FROM ${s}.type_starts w USING type_limits
        WHERE w.type = type_limits.type AND w.at <= $1::bigint - type_limits.rate_interval_ms - ${STARTS_KEPT_PAST_WINDOW_MS}
      ),
      ${flowRecordCtes(names)},
      ${asyncCommit}
      SELECT ${columns}, attempt_token FROM claimed CROSS JOIN async_commit`),
    /** Scheduled tasks and waits that end by themselves (sleeps, signal timeouts): what the claim's promotion queues. */
    nextScheduledAt: prepared(`SELECT least(
        (SELECT min(run_at) FROM ${tasks} WHERE status = 'scheduled'),
        (SELECT min(wake_at) FROM ${tasks} WHERE status = 'waiting')) AS at`),
    nextScheduledAtInQueues: prepared(`SELECT least(
        (SELECT min(run_at) FROM ${tasks} WHERE status = 'scheduled' AND queue = ANY($1::text[])),
        (SELECT min(wake_at) FROM ${tasks} WHERE status = 'waiting' AND queue = ANY($1::text[]))) AS at`),
  } as const;
}
