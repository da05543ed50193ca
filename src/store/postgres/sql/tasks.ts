// Producing and reading tasks: createTasks (and createTasksIn), lookups, events, counts, listTasks.
import { escapeLiteral } from 'pg';
import type { TaskQuery } from '../../store.ts';
import { type Names, prepared, startedEventData } from './common.ts';

/**
 * The NOTIFYs of createTasksIn, sent from inside the application's transaction (so only if it commits), in the wire
 * format of docs/postgres.md: one message per task, with no origin, holding its `created` event and, when it is
 * queued, a `ready` notice. Its event data is small and bounded, so the message always fits.
 */
function notifyCreatedInTransaction(channel: string): string {
  const event = `json_build_object('kind', 'event', 'queue', queue, 'owner', owner, 'event', json_build_object(
      'taskId', id, 'seq', 1, 'kind', 'created', 'data', json_build_object('status', status, 'runAt', run_at),
      'at', created_at))`;
  const ready = `json_build_object('kind', 'ready', 'queue', queue)`;
  return `pg_notify(${escapeLiteral(channel)}, json_build_object('origin', NULL, 'notices',
      CASE WHEN status = 'queued' THEN json_build_array(${event}, ${ready}) ELSE json_build_array(${event}) END)::text)::text`;
}

export function taskSql({ tasks, events, channel, columns }: Names) {
  /** The columns of the new tasks, one array each; ord counts from 1 in batch order. See createTasks below. */
  const createTasks = (finalSelect: string) => `WITH input AS (
      SELECT r.*, $15::jsonb -> (r.ord - 1)::integer AS payload, $16::jsonb -> r.backoff_ref AS backoff,
        $18::jsonb -> r.tags_ref AS tags, nullif($21::jsonb -> (r.ord - 1)::integer, 'null') AS debounce,
        nullif($23::jsonb -> (r.ord - 1)::integer, 'null') AS singleton
      FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::integer[], $6::bigint[], $7::integer[],
          $8::integer[], $9::text[], $10::text[], $11::text[], $12::text[], $13::text[], $14::bigint[], $17::integer[],
          $19::integer[], $20::integer[], $22::text[], $24::text[], $25::text[], $26::integer[], $27::integer[],
          $28::integer[])
        WITH ORDINALITY AS r(id, queue, type, status, priority, run_at, max_attempts, timeout_ms, idempotency_key, owner,
          parent_id, concurrency_key, traceparent, created_at, backoff_ref, tags_ref, soft_timeout_ms, debounce_key,
          singleton_key, throttle_key, throttle_limit, throttle_period_ms, cost, ord)
    ),
    inserted AS (
      INSERT INTO ${tasks} (id, queue, type, payload, status, priority, run_at, max_attempts, backoff, timeout_ms,
        idempotency_key, tags, owner, parent_id, concurrency_key, traceparent, event_seq, created_at, updated_at,
        soft_timeout_ms, debounce, debounce_key, singleton, singleton_key, throttle_key, throttle_limit,
        throttle_period_ms, cost)
      SELECT id, queue, type, coalesce(payload, 'null'::jsonb), status, priority, run_at, max_attempts, backoff,
        timeout_ms, idempotency_key, coalesce(tags, '{}'::jsonb), owner, parent_id, concurrency_key, traceparent, 1,
        created_at, created_at, soft_timeout_ms, debounce, debounce_key, singleton, singleton_key, throttle_key,
        throttle_limit, throttle_period_ms, cost
      FROM input ORDER BY ord
      ON CONFLICT ((coalesce(owner, '')), idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
      RETURNING id, queue, owner, status, run_at, created_at
    ),
    -- A task queued to run at once has a created event the row itself holds (status queued, runAt = createdAt): only the others
    -- are stored. listEvents reads it back from the row, so the history is the same.
    created_events AS (
      INSERT INTO ${events} (task_id, seq, kind, data, at)
      SELECT id, 1, 'created', jsonb_build_object('status', status, 'runAt', run_at), created_at FROM inserted
      WHERE NOT (status = 'queued' AND run_at = created_at)
    )
    ${finalSelect}`;

  return {
    /**
     * The new tasks by column, one array each: $1 id, $2 queue, $3 type, $4 status, $5 priority, $6 runAt,
     * $7 maxAttempts, $8 timeoutMs, $9 idempotencyKey, $10 owner, $11 parentId, $12 concurrencyKey, $13 traceparent,
     * $14 createdAt; $15 a JSON array of their payloads; $16 a JSON array of distinct backoff policies and $17 each
     * task's index into it; $18 and $19 the same for tags; $20 softTimeoutMs; $21 a JSON array of debounces (null for
     * none) and $22 their keys; $23 and $24 the same for singletons; $25 to $28 the throttle's key, limit and periodMs,
     * and cost. Arrays rather than a JSON array of objects: PostgreSQL
     * reads them in about 3/4 of the time (no key lookups per field), and a batch rarely has more than one backoff
     * policy. Inserts in batch order, so of two tasks with one idempotency key the first wins; the other, like any key that exists already, is skipped (ON CONFLICT
     * names only the idempotency index, so a taken id still fails the whole batch). Returns the ids inserted; the
     * caller knows the rest of each row, and finds the existing task of each skipped one.
     */
    createTasks: prepared(createTasks('SELECT id FROM inserted')),
    /** The same, for createTasksIn: also NOTIFYs, from inside the application's transaction. */
    createTasksNotifying: prepared(createTasks(`SELECT id, ${notifyCreatedInTransaction(channel)} AS notified FROM inserted`)),
    /** $1: owners ('' for none), $2: keys, pairwise. */
    tasksByIdempotencyKey: prepared(`SELECT ${columns} FROM ${tasks}
      WHERE (coalesce(owner, ''), idempotency_key) IN (SELECT * FROM unnest($1::text[], $2::text[]))`),

    getTask: prepared(`SELECT ${columns} FROM ${tasks} WHERE id = $1::text`),
    /** The tasks of refused finish requests: which exist, and which are children of a wait (see finishChildren). */
    refusedTasks: prepared(`SELECT id, child_key IS NOT NULL AS is_child FROM ${tasks} WHERE id = ANY($1::text[])`),
    taskStatus: prepared(`SELECT status FROM ${tasks} WHERE id = $1::text`),
    /**
     * One row per event; when there are none, one row with a null seq that still tells whether the task exists. Three
     * events may be held by the task row instead of stored (docs/postgres.md): the `created` event of a task created
     * queued to run at once (seq 1), the `started` event of its current or completed attempt (started_seq,
     * `{ attempt, workerId }`, at startedAt), and the `completed` event of a completed task (its last seq,
     * `{ result }`, at completedAt). An attempt's columns change only when it ends, and an end other than completing
     * stores its started event and clears started_seq in the same statement; nothing changes a completed task's row
     * afterwards: so each reads back exactly as announced.
     */
    listEvents: prepared(`SELECT t.id IS NOT NULL AS task_exists, e.seq, e.kind, e.data, e.at
      FROM (SELECT $1::text AS id) AS wanted
      LEFT JOIN ${tasks} t ON t.id = wanted.id
      LEFT JOIN LATERAL (
        SELECT * FROM (
          SELECT 1 AS seq, 'created' AS kind, jsonb_build_object('status', 'queued', 'runAt', t.created_at) AS data,
            t.created_at AS at
          WHERE t.id IS NOT NULL AND $2::integer < 1
            AND NOT EXISTS (SELECT 1 FROM ${events} WHERE task_id = wanted.id AND seq = 1)
          UNION ALL
          (SELECT seq, kind, data, at FROM ${events} WHERE task_id = wanted.id AND seq > $2::integer ORDER BY seq
            LIMIT $3::integer)
          UNION ALL
          SELECT t.started_seq, 'started', ${startedEventData('t.attempts', 't.worker_id')}, t.started_at
          WHERE t.started_seq > $2::integer
            AND NOT EXISTS (SELECT 1 FROM ${events} WHERE task_id = wanted.id AND seq = t.started_seq)
          UNION ALL
          SELECT t.event_seq, 'completed', jsonb_build_object('result', t.result), t.completed_at
          WHERE t.status = 'completed' AND t.event_seq > $2::integer
            AND NOT EXISTS (SELECT 1 FROM ${events} WHERE task_id = wanted.id AND seq = t.event_seq)
        ) AS stored_or_implied ORDER BY seq LIMIT $3::integer
      ) e ON true
      ORDER BY e.seq`),
    countByQueue: prepared(`SELECT queue, status, count(*)::integer AS n FROM ${tasks} GROUP BY queue, status`),
    /**
     * $1 cap: at most that many tasks of each status, each along its partial index (the statuses are literals so the
     * planner can use them), whatever the size of the table.
     */
    countCapped: prepared(`
      SELECT 'scheduled' AS status, queue, count(*)::integer AS n
        FROM (SELECT queue FROM ${tasks} WHERE status = 'scheduled' LIMIT $1::integer) c GROUP BY queue
      UNION ALL SELECT 'queued', queue, count(*)::integer
        FROM (SELECT queue FROM ${tasks} WHERE status = 'queued' LIMIT $1::integer) c GROUP BY queue
      UNION ALL SELECT 'running', queue, count(*)::integer
        FROM (SELECT queue FROM ${tasks} WHERE status = 'running' LIMIT $1::integer) c GROUP BY queue
      UNION ALL SELECT 'waiting', queue, count(*)::integer
        FROM (SELECT queue FROM ${tasks} WHERE status = 'waiting' LIMIT $1::integer) c GROUP BY queue
      UNION ALL SELECT 'completed', queue, count(*)::integer
        FROM (SELECT queue FROM ${tasks} WHERE status = 'completed' AND completed_at IS NOT NULL LIMIT $1::integer) c
        GROUP BY queue
      UNION ALL SELECT 'failed', queue, count(*)::integer
        FROM (SELECT queue FROM ${tasks} WHERE status = 'failed' AND completed_at IS NOT NULL LIMIT $1::integer) c
        GROUP BY queue
      UNION ALL SELECT 'cancelled', queue, count(*)::integer
        FROM (SELECT queue FROM ${tasks} WHERE status = 'cancelled' AND completed_at IS NOT NULL LIMIT $1::integer) c
        GROUP BY queue`),
    countByQueueOfOwner: prepared(`SELECT queue, status, count(*)::integer AS n FROM ${tasks} WHERE owner = $1::text
      GROUP BY queue, status`),

    /**
     * Newest first. Each filter is optional, so the text is built per query, with its values inlined as literals: the
     * planner sees them (a status filter can walk that status's partial index), which the pool's generic plans of
     * parameters would hide (see the pool's plan_cache_mode in pool.ts).
     */
    listTasks(query: TaskQuery): string {
      if (!Number.isSafeInteger(query.limit)) throw new RangeError(`limit: ${query.limit} is not an integer`);
      // PostgreSQL text cannot hold U+0000, so no task matches such a value (and the literal would cut the query).
      const literal = (value: string) => (value.includes('\u0000') ? 'NULL' : escapeLiteral(value));
      const where: string[] = [];
      if (query.queue !== undefined) where.push(`queue = ${literal(query.queue)}::text`);
      if (query.status !== undefined) where.push(`status = ${literal(query.status)}::text`);
      if (query.type !== undefined) where.push(`type = ${literal(query.type)}::text`);
      if (query.owner !== undefined) where.push(`owner = ${literal(query.owner)}::text`);
      if (query.parentId !== undefined) where.push(`parent_id = ${literal(query.parentId)}::text`);
      if (query.cursor !== undefined) where.push(`id < ${literal(query.cursor)}::text`);
      if (query.tag) {
        const { key, value } = query.tag;
        where.push(`tags @> ${`${key}${value}`.includes('\u0000') ? 'NULL' : escapeLiteral(JSON.stringify({ [key]: value }))}::jsonb`);
      }
      // One more than asked for: its presence says whether a next page exists.
      return `SELECT ${columns} FROM ${tasks} ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
        ORDER BY id DESC LIMIT ${query.limit + 1}`;
    },
  } as const;
}
