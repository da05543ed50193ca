// Every SQL statement of the PostgreSQL backend, and its migrations. Times are epoch milliseconds in bigint columns,
// so rows map to the contract exactly as on SQLite; JSON is jsonb.
//
// Each write is ONE statement (data-modifying CTEs): it updates the task row (allocating the event seq by
// incrementing tasks.event_seq under the row lock) and appends the event, atomically, in one round trip and without
// BEGIN/COMMIT. Notices are not sent from these statements but right after they commit (see publishNotices and
// docs/postgres.md for why); only createTasksIn, whose commit belongs to the application, notifies from inside.
import { createHash } from 'node:crypto';
import { escapeIdentifier, escapeLiteral } from 'pg';
import type { TaskQuery } from '../store.ts';

/** A statement with a stable name, so each pooled connection parses and plans it once (a named prepared statement). */
export interface Statement {
  readonly name: string;
  readonly text: string;
}

/** The name derives from the text: the same text always gets the same name, on whatever connection it runs. */
function prepared(text: string): Statement {
  return { name: `taskhub_${createHash('sha256').update(text).digest('hex').slice(0, 24)}`, text };
}

/**
 * Largest NOTIFY message this backend sends, in bytes (PostgreSQL refuses 8000 and more): notices are packed into
 * messages up to this size, and an event whose notice alone would exceed it travels without its body.
 */
export const MAX_NOTIFY_BYTES = 7000;

/** Joins the messages of one publishNotices call: U+001E, chr(30) in SQL. */
export const NOTICE_SEPARATOR = '\u001e';

/** PostgreSQL truncates identifiers (channel names included) longer than this many bytes. */
const MAX_IDENTIFIER_BYTES = 63;

/** The LISTEN/NOTIFY channel of one Taskhub schema: readable when it fits, else a hash of the schema name. */
export function noticeChannel(schema: string): string {
  const readable = `taskhub:${schema}`;
  if (Buffer.byteLength(readable) <= MAX_IDENTIFIER_BYTES) return readable;
  return `taskhub:${createHash('sha256').update(schema).digest('hex').slice(0, 32)}`;
}

/** `LISTEN "channel"` for the listener connection. */
export function listenStatement(channel: string): string {
  return `LISTEN ${escapeIdentifier(channel)}`;
}

/** First key of the two-key advisory lock that serializes migrations ('task' in ASCII); the second is the schema's hash. */
const MIGRATION_LOCK_CLASS = 0x7461736b;

/**
 * Applied in order, each once, inside one transaction under the migration lock. Never edit a shipped entry: add one.
 * `s` is the quoted schema name.
 */
export function migrations(s: string): readonly string[] {
  return [
    `CREATE TABLE ${s}.tasks (
       -- COLLATE "C": ids sort byte by byte, as on SQLite, whatever the database's locale.
       id text COLLATE "C" PRIMARY KEY,
       queue text NOT NULL,
       type text NOT NULL,
       payload jsonb NOT NULL,
       status text NOT NULL CHECK (status IN ('scheduled', 'queued', 'running', 'completed', 'failed', 'cancelled')),
       priority integer NOT NULL,
       run_at bigint NOT NULL,
       attempts integer NOT NULL DEFAULT 0,
       max_attempts integer NOT NULL,
       backoff jsonb NOT NULL,
       timeout_ms integer,
       idempotency_key text,
       tags jsonb NOT NULL DEFAULT '{}',
       owner text,
       parent_id text,
       concurrency_key text,
       traceparent text,
       progress jsonb,
       result jsonb,
       error jsonb,
       attempt_token text,
       lease_until bigint,
       worker_id text,
       cancel_requested boolean NOT NULL DEFAULT false,
       event_seq integer NOT NULL DEFAULT 0,
       created_at bigint NOT NULL,
       updated_at bigint NOT NULL,
       started_at bigint,
       completed_at bigint
     ) WITH (fillfactor = 80);
     -- fillfactor 80 leaves room on each page, so progress and output updates (which touch no indexed column)
     -- can be HOT updates that write no index entries.
     -- Only ready rows: the claim never walks finished work.
     CREATE INDEX tasks_ready ON ${s}.tasks (type, priority DESC, run_at, id) WHERE status = 'queued';
     CREATE INDEX tasks_scheduled ON ${s}.tasks (run_at) WHERE status = 'scheduled';
     CREATE INDEX tasks_leases ON ${s}.tasks (lease_until) WHERE status = 'running';
     CREATE INDEX tasks_cancel_requested ON ${s}.tasks (id) WHERE status = 'running' AND cancel_requested;
     CREATE UNIQUE INDEX tasks_idempotency ON ${s}.tasks ((coalesce(owner, '')), idempotency_key)
       WHERE idempotency_key IS NOT NULL;
     CREATE TABLE ${s}.task_events (
       id bigserial PRIMARY KEY,
       task_id text COLLATE "C" NOT NULL,
       seq integer NOT NULL,
       kind text NOT NULL,
       data jsonb NOT NULL,
       at bigint NOT NULL,
       UNIQUE (task_id, seq)
     );`,
    `-- Retention deletes the oldest finished tasks of a status; completed_at is set exactly while a task is finished.
     CREATE INDEX tasks_finished ON ${s}.tasks (status, completed_at) WHERE completed_at IS NOT NULL;
     CREATE TABLE ${s}.queues (
       name text COLLATE "C" PRIMARY KEY,
       paused boolean NOT NULL DEFAULT false,
       max_concurrency integer,
       rate_count integer,
       rate_interval_ms integer,
       updated_at bigint NOT NULL
     );
     -- Starts of rate-limited queues inside the current window: an exact sliding window, pruned as it slides.
     CREATE TABLE ${s}.queue_starts (queue text COLLATE "C" NOT NULL, at bigint NOT NULL);
     CREATE INDEX queue_starts_queue_at ON ${s}.queue_starts (queue, at);
     CREATE TABLE ${s}.task_types (
       type text COLLATE "C" PRIMARY KEY,
       defaults jsonb NOT NULL,
       payload_schema jsonb,
       updated_at bigint NOT NULL
     );
     CREATE TABLE ${s}.subscriptions (
       name text COLLATE "C" PRIMARY KEY,
       pattern text NOT NULL,
       queue text NOT NULL,
       type text NOT NULL,
       created_at bigint NOT NULL,
       updated_at bigint NOT NULL
     );
     CREATE TABLE ${s}.schedules (
       name text COLLATE "C" PRIMARY KEY,
       cron text NOT NULL,
       timezone text NOT NULL,
       task jsonb NOT NULL,
       missed_policy text NOT NULL,
       paused boolean NOT NULL DEFAULT false,
       next_run_at bigint,
       last_run_at bigint,
       last_task_id text,
       created_at bigint NOT NULL,
       updated_at bigint NOT NULL
     );
     CREATE INDEX schedules_due ON ${s}.schedules (next_run_at) WHERE NOT paused AND next_run_at IS NOT NULL;`,
    `CREATE TABLE ${s}.workers (
       id text COLLATE "C" PRIMARY KEY, host text, pid integer, types jsonb NOT NULL, queues jsonb,
       concurrency integer NOT NULL, running integer NOT NULL, started_at bigint NOT NULL, last_seen_at bigint NOT NULL
     );
     CREATE TABLE ${s}.api_keys (
       id text COLLATE "C" PRIMARY KEY, name text, owner text NOT NULL, scopes jsonb NOT NULL, secret_hash text NOT NULL,
       created_at bigint NOT NULL, revoked_at bigint
     );`,
    `ALTER TABLE ${s}.queues ADD COLUMN max_per_key integer;
     -- Fair queues walk ready tasks key by key; unkeyed tasks (no owner, no concurrencyKey) never enter this index.
     CREATE INDEX tasks_ready_by_key ON ${s}.tasks (queue, concurrency_key, priority DESC, run_at, id)
       WHERE status = 'queued' AND concurrency_key IS NOT NULL;`,
    `CREATE TABLE ${s}.secrets (name text COLLATE "C" PRIMARY KEY, value text NOT NULL, created_at bigint NOT NULL);`,
    `-- (task_id, seq) names an event; the bigserial key named it again, at the price of a sequence call and an index
     -- entry for each of the three or more events of every task. Dropping the column is a catalog change (no rewrite).
     ALTER TABLE ${s}.task_events DROP COLUMN id;
     ALTER TABLE ${s}.task_events REPLICA IDENTITY USING INDEX task_events_task_id_seq_key;`,
  ];
}

/** Columns of a task row, in the order the row mapping reads them; `t` qualifies them where a FROM list is joined. */
function taskColumns(t = ''): string {
  const p = t ? `${t}.` : '';
  return [
    'id', 'queue', 'type', 'payload', 'status', 'priority', 'run_at', 'attempts', 'max_attempts', 'backoff',
    'timeout_ms', 'idempotency_key', 'tags', 'owner', 'parent_id', 'concurrency_key', 'traceparent', 'progress',
    'result', 'error', 'cancel_requested', 'event_seq', 'created_at', 'updated_at', 'started_at', 'completed_at',
  ]
    .map((c) => p + c)
    .join(', ');
}

const QUEUE_COLUMNS = 'name, paused, max_concurrency, rate_count, rate_interval_ms, max_per_key, updated_at';
const SUBSCRIPTION_COLUMNS = 'name, pattern, queue, type, created_at, updated_at';
const SCHEDULE_COLUMNS =
  'name, cron, timezone, task, missed_policy, paused, next_run_at, last_run_at, last_task_id, created_at, updated_at';

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

/** Every statement of one schema. `schema` is the raw name; it is quoted here. */
export function buildSql(schema: string) {
  const s = escapeIdentifier(schema);
  const tasks = `${s}.tasks`;
  const events = `${s}.task_events`;
  const channel = noticeChannel(schema);
  const columns = taskColumns();

  /** The columns of the new tasks, one array each; ord counts from 1 in batch order. See createTasks below. */
  const createTasks = (finalSelect: string) => `WITH input AS (
      SELECT r.*, $15::jsonb -> (r.ord - 1)::integer AS payload, $16::jsonb -> r.backoff_ref AS backoff,
        $18::jsonb -> r.tags_ref AS tags
      FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::integer[], $6::bigint[], $7::integer[],
          $8::integer[], $9::text[], $10::text[], $11::text[], $12::text[], $13::text[], $14::bigint[], $17::integer[],
          $19::integer[])
        WITH ORDINALITY AS r(id, queue, type, status, priority, run_at, max_attempts, timeout_ms, idempotency_key, owner,
          parent_id, concurrency_key, traceparent, created_at, backoff_ref, tags_ref, ord)
    ),
    inserted AS (
      INSERT INTO ${tasks} (id, queue, type, payload, status, priority, run_at, max_attempts, backoff, timeout_ms,
        idempotency_key, tags, owner, parent_id, concurrency_key, traceparent, event_seq, created_at, updated_at)
      SELECT id, queue, type, coalesce(payload, 'null'::jsonb), status, priority, run_at, max_attempts, backoff,
        timeout_ms, idempotency_key, coalesce(tags, '{}'::jsonb), owner, parent_id, concurrency_key, traceparent, 1,
        created_at, created_at
      FROM input ORDER BY ord
      ON CONFLICT ((coalesce(owner, '')), idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
      RETURNING id, queue, owner, status, run_at, created_at
    ),
    created_events AS (
      INSERT INTO ${events} (task_id, seq, kind, data, at)
      SELECT id, 1, 'created', jsonb_build_object('status', status, 'runAt', run_at), created_at FROM inserted
    )
    ${finalSelect}`;

  /** Up to $4 ready tasks per type of $2, in claim order, locked, from the queues of $3 except those in `skipped`. */
  const readyCandidates = (skipped: string) => `SELECT ready.id, ready.queue, ready.priority, ready.run_at
        FROM unnest($2::text[]) AS wanted(type)
        CROSS JOIN LATERAL (
          SELECT id, queue, priority, run_at FROM ${tasks}
          WHERE status = 'queued' AND type = wanted.type AND ($3::text[] IS NULL OR queue = ANY($3::text[]))
            AND queue NOT IN (SELECT name FROM ${skipped})
          ORDER BY priority DESC, run_at, id
          LIMIT $4::integer
          FOR UPDATE SKIP LOCKED
        ) AS ready`;
  /** The update that makes the rows of `chosen` running ($1 now, $5 leaseMs, $6 workerId); its WHERE goes on. */
  const claimChosen = `UPDATE ${tasks} t SET status = 'running', attempts = t.attempts + 1,
          attempt_token = gen_random_uuid()::text, lease_until = $1::bigint + $5::bigint, worker_id = $6::text,
          started_at = $1::bigint, updated_at = $1::bigint, event_seq = t.event_seq + 1
        FROM chosen WHERE t.id = chosen.id`;
  const startedEvents = `INSERT INTO ${events} (task_id, seq, kind, data, at)
        SELECT id, event_seq, 'started', jsonb_build_object('attempt', attempts, 'workerId', $6::text), $1::bigint
        FROM claimed`;
  /**
   * A CTE that makes the statement's transaction commit without waiting for its WAL to reach the disk. For claims: a
   * claim lost in a server crash leaves its tasks queued, to be claimed again (delivery is at least once anyway), and
   * its worker's finish is then refused (the attempt token is unknown). Its WAL reaches the disk with the next
   * durable commit (a finish, an enqueue) or within three wal_writer_delay. Saves the claim a disk flush: the
   * largest part of its latency on most disks.
   */
  const asyncCommit = `async_commit AS MATERIALIZED (SELECT set_config('synchronous_commit', 'off', true) AS setting)`;

  return {
    channel,
    migrations: migrations(s),

    migrationLock: `SELECT pg_advisory_xact_lock(${MIGRATION_LOCK_CLASS}, hashtext($1::text))`,
    /** Checked before CREATE SCHEMA, which needs the CREATE privilege on the database even when the schema exists. */
    schemaExists: `SELECT 1 FROM pg_namespace WHERE nspname = $1::text`,
    createSchema: `CREATE SCHEMA ${s}`,
    migrationsTableExists: `SELECT to_regclass(${escapeLiteral(`${s}.schema_migrations`)}) IS NOT NULL AS present`,
    createMigrationsTable: `CREATE TABLE ${s}.schema_migrations (version integer PRIMARY KEY, applied_at bigint NOT NULL)`,
    appliedVersions: `SELECT version FROM ${s}.schema_migrations ORDER BY version`,
    recordMigration: `INSERT INTO ${s}.schema_migrations (version, applied_at) VALUES ($1, $2)`,

    ping: prepared(`SELECT 1 AS ok`),

    /**
     * The new tasks by column, one array each: $1 id, $2 queue, $3 type, $4 status, $5 priority, $6 runAt,
     * $7 maxAttempts, $8 timeoutMs, $9 idempotencyKey, $10 owner, $11 parentId, $12 concurrencyKey, $13 traceparent,
     * $14 createdAt; $15 a JSON array of their payloads; $16 a JSON array of distinct backoff policies and $17 each
     * task's index into it; $18 and $19 the same for tags. Arrays rather than a JSON array of objects: PostgreSQL
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
    existingIds: prepared(`SELECT id FROM ${tasks} WHERE id = ANY($1::text[])`),
    taskStatus: prepared(`SELECT status FROM ${tasks} WHERE id = $1::text`),
    /** One row per event; when there are none, one row with a null seq that still tells whether the task exists. */
    listEvents: prepared(`SELECT t.id IS NOT NULL AS task_exists, e.seq, e.kind, e.data, e.at
      FROM (SELECT $1::text AS id) AS wanted
      LEFT JOIN ${tasks} t ON t.id = wanted.id
      LEFT JOIN LATERAL (
        SELECT seq, kind, data, at FROM ${events} WHERE task_id = wanted.id AND seq > $2::integer ORDER BY seq LIMIT $3::integer
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
     * $1 now, $2 types, $3 queues (null: all), $4 max, $5 leaseMs, $6 workerId.
     * The claim of a worker whose best candidates lie in queues without a concurrency cap or rate limit: one
     * statement. Due scheduled tasks are promoted and compete with queued ones: the result equals "promote, then take
     * the best `max`", without a second round trip. Ready rows are walked per type along tasks_ready (each walk reads
     * only ready rows of one type, however large the backlog of others), locked with SKIP LOCKED so concurrent
     * claimers never wait for each other or take the same row. Paused queues are skipped.
     * When a chosen task lies in a capped or rate-limited queue, nothing is claimed and `gated` comes back true: the
     * caller then runs claimLimitedLock and claimLimited in a transaction.
     */
    claim: prepared(`WITH paused AS MATERIALIZED (
        SELECT name FROM ${s}.queues WHERE paused
      ),
      limited AS MATERIALIZED (
        SELECT name FROM ${s}.queues
        WHERE NOT paused AND (max_concurrency IS NOT NULL OR rate_count IS NOT NULL OR max_per_key IS NOT NULL)
      ),
      due AS MATERIALIZED (
        SELECT id, type, queue, priority, run_at FROM ${tasks}
        WHERE status = 'scheduled' AND run_at <= $1::bigint
        FOR UPDATE SKIP LOCKED
      ),
      candidates AS MATERIALIZED (
        ${readyCandidates('paused')}
        UNION ALL
        SELECT id, queue, priority, run_at FROM due
        WHERE type = ANY($2::text[]) AND ($3::text[] IS NULL OR queue = ANY($3::text[]))
          AND queue NOT IN (SELECT name FROM paused)
      ),
      chosen AS MATERIALIZED (
        SELECT id, queue FROM candidates ORDER BY priority DESC, run_at, id LIMIT $4::integer
      ),
      gate AS MATERIALIZED (
        SELECT EXISTS (SELECT 1 FROM chosen WHERE queue IN (SELECT name FROM limited)) AS gated
      ),
      claimed AS (
        ${claimChosen}
        AND NOT (SELECT gated FROM gate)
        RETURNING ${taskColumns('t')}, t.attempt_token
      ),
      promoted AS (
        UPDATE ${tasks} t SET status = 'queued', updated_at = $1::bigint
        FROM due WHERE t.id = due.id AND t.id NOT IN (SELECT id FROM claimed)
      ),
      started_events AS (${startedEvents}),
      ${asyncCommit}
      SELECT gate.gated, claimed.* FROM gate CROSS JOIN async_commit LEFT JOIN claimed ON true`),
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
     * $1 now, $2 types, $3 queues (null: all), $4 max, $5 leaseMs, $6 workerId. The claim under queue limits, after
     * claimLimitedLock: each limited queue may start min(maxConcurrency - running, rateLimit.count - starts in the
     * window) tasks; queues with no room are skipped in the walk, so they cannot crowd out the others' tasks. Due
     * tasks were promoted by the gated claim just before.
     */
    claimLimited: prepared(`WITH limits AS MATERIALIZED (
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
        SELECT c.*, 0 AS round FROM (${readyCandidates('skipped')}) c
        UNION ALL
        SELECT per_key.id, per_key.queue, per_key.priority, per_key.run_at, per_key.round
        FROM fair_room fr
        CROSS JOIN LATERAL (
          SELECT id, queue, priority, run_at, (row_number() OVER (ORDER BY priority DESC, run_at, id) - 1)::integer AS round
          FROM (
            SELECT id, queue, priority, run_at FROM ${tasks}
            WHERE status = 'queued' AND queue = fr.queue AND concurrency_key IS NOT DISTINCT FROM fr.key
              AND type = ANY($2::text[])
            ORDER BY priority DESC, run_at, id
            LIMIT LEAST(fr.free, $4::integer)
            FOR UPDATE SKIP LOCKED
          ) AS best
        ) AS per_key
        WHERE fr.free > 0
      ),
      chosen AS MATERIALIZED (
        SELECT ranked.id FROM (
          SELECT c.*, row_number() OVER (PARTITION BY c.queue ORDER BY c.priority DESC, c.round, c.run_at, c.id) AS rank
          FROM candidates c
        ) AS ranked
        LEFT JOIN limits ON limits.name = ranked.queue
        WHERE limits.name IS NULL OR ranked.rank <= limits.room
        ORDER BY ranked.priority DESC, ranked.round, ranked.run_at, ranked.id
        LIMIT $4::integer
      ),
      claimed AS (
        ${claimChosen}
        RETURNING ${taskColumns('t')}, t.attempt_token
      ),
      started_events AS (${startedEvents}),
      recorded_starts AS (
        INSERT INTO ${s}.queue_starts (queue, at)
        SELECT claimed.queue, $1::bigint FROM claimed JOIN limits ON limits.name = claimed.queue
        WHERE limits.rate_count IS NOT NULL
      ),
      pruned_starts AS (
        DELETE FROM ${s}.queue_starts w USING limits
        WHERE w.queue = limits.name AND limits.rate_count IS NOT NULL AND w.at <= $1::bigint - limits.rate_interval_ms
      ),
      ${asyncCommit}
      SELECT ${columns}, attempt_token FROM claimed CROSS JOIN async_commit`),
    nextScheduledAt: prepared(`SELECT min(run_at) AS at FROM ${tasks} WHERE status = 'scheduled'`),
    nextScheduledAtInQueues: prepared(`SELECT min(run_at) AS at FROM ${tasks}
      WHERE status = 'scheduled' AND queue = ANY($1::text[])`),

    /** $1 leaseUntil, $2 id, $3 token. */
    heartbeat: prepared(`UPDATE ${tasks} SET lease_until = $1::bigint
      WHERE id = $2::text AND attempt_token = $3::text AND status = 'running'
      RETURNING lease_until, cancel_requested`),
    /** $1 progress, $2 now, $3 id, $4 token. */
    progress: prepared(`WITH changed AS (
        UPDATE ${tasks} SET progress = $1::jsonb, updated_at = $2::bigint, event_seq = event_seq + 1
        WHERE id = $3::text AND attempt_token = $4::text AND status = 'running'
        RETURNING id, queue, owner, event_seq
      ),
      appended AS (
        INSERT INTO ${events} (task_id, seq, kind, data, at) SELECT id, event_seq, 'progress', $1::jsonb, $2::bigint FROM changed
      )
      SELECT queue, owner, event_seq FROM changed`),
    /** $1 chunk, $2 now, $3 id, $4 token. */
    output: prepared(`WITH changed AS (
        UPDATE ${tasks} SET updated_at = $2::bigint, event_seq = event_seq + 1
        WHERE id = $3::text AND attempt_token = $4::text AND status = 'running'
        RETURNING id, queue, owner, event_seq
      ),
      appended AS (
        INSERT INTO ${events} (task_id, seq, kind, data, at)
        SELECT id, event_seq, 'output', jsonb_build_object('chunk', $1::text), $2::bigint FROM changed
      )
      SELECT queue, owner, event_seq FROM changed`),

    /**
     * The requests as parallel arrays, one element each: $1 task ids, $3 attempt tokens, $4 outcomes (`completed`,
     * `failed`, `cancelled` or `retry`), $5 runAt of a retry (else null), $6 a JSON array of each one's result
     * (completed) or error (the others), $7 refundAttempt, $8 onlyIfLeaseExpired; $2 now. Arrays rather than a JSON
     * array of objects: PostgreSQL parses an array of ids much faster than JSON, key by key.
     * Each request is its own conditional update: one that does not hold the current attempt simply matches no row,
     * and the others go on. Of several requests for one task, the first (in batch order) that holds its attempt wins,
     * and the rest are stale by then, as if run one by one. The rows are not locked ahead of the update (a row lock
     * is a WAL record of its own): the update locks them in id order, so two batches touching the same tasks do not
     * deadlock, and if a plan ever took another order, PostgreSQL would end the deadlock by failing one statement,
     * which the store runs again. Returns the applied requests (ord counts from 1) with what the task is now.
     */
    finish: prepared(`WITH request AS (
        SELECT r.*, $6::jsonb -> (r.ord - 1)::integer AS value
        FROM unnest($1::text[], $3::text[], $4::text[], $5::bigint[], $7::boolean[], $8::boolean[])
          WITH ORDINALITY AS r(id, attempt_token, outcome, run_at, refund_attempt, only_if_lease_expired, ord)
      ),
      current AS MATERIALIZED (
        -- The ids again as an array parameter, and no other condition: one primary-key lookup per id, where a join
        -- (whose size the planner cannot know) or a status condition may scan every running task.
        SELECT id, status, attempt_token, lease_until FROM ${tasks}
        WHERE id = ANY($1::text[])
      ),
      -- In id order, which the update below follows: two batches lock the rows they share in the same order.
      applicable AS MATERIALIZED (
        SELECT DISTINCT ON (r.id) r.*
        FROM request r JOIN current l ON l.id = r.id AND l.attempt_token = r.attempt_token AND l.status = 'running'
        WHERE NOT r.only_if_lease_expired OR l.lease_until < $2::bigint
        ORDER BY r.id, r.ord
      ),
      finished AS (
        UPDATE ${tasks} t SET
          status = CASE WHEN a.outcome <> 'retry' THEN a.outcome WHEN a.run_at <= $2::bigint THEN 'queued' ELSE 'scheduled' END,
          run_at = coalesce(a.run_at, t.run_at),
          result = CASE WHEN a.outcome = 'completed' THEN nullif(a.value, 'null'::jsonb) END,
          error = CASE WHEN a.outcome <> 'completed' THEN a.value END,
          completed_at = CASE WHEN a.outcome <> 'retry' THEN $2::bigint END,
          attempts = t.attempts - CASE WHEN a.refund_attempt THEN 1 ELSE 0 END,
          attempt_token = NULL, lease_until = NULL, updated_at = $2::bigint, event_seq = t.event_seq + 1
        FROM applicable a
        -- Checked again on the row as it is once locked (a concurrent finish or heartbeat may have changed it since
        -- the snapshot of applicable): the token (which only a running task has: no status condition, or the planner
        -- may walk every running task along tasks_leases for each request) and the lease.
        WHERE t.id = a.id AND t.attempt_token = a.attempt_token AND (NOT a.only_if_lease_expired OR t.lease_until < $2::bigint)
        RETURNING a.ord, a.outcome, a.run_at AS retry_at, a.value, t.id, t.queue, t.type, t.owner, t.status, t.attempts,
          t.run_at, t.started_at, t.event_seq
      ),
      finished_events AS (
        INSERT INTO ${events} (task_id, seq, kind, data, at)
        SELECT id, event_seq, CASE WHEN outcome = 'retry' THEN 'retrying' ELSE outcome END,
          CASE outcome
            WHEN 'completed' THEN jsonb_build_object('result', value)
            WHEN 'retry' THEN jsonb_build_object('attempt', attempts, 'error', value, 'runAt', retry_at)
            ELSE jsonb_build_object('error', value)
          END,
          $2::bigint
        FROM finished
      )
      SELECT ord::integer AS ord, id, queue, type, owner, status, attempts, run_at, started_at, event_seq FROM finished`),
    /** $1 now, $2 limit. */
    expiredLeases: prepared(`SELECT ${columns}, attempt_token FROM ${tasks}
      WHERE status = 'running' AND lease_until < $1::bigint ORDER BY lease_until LIMIT $2::integer`),

    /**
     * $1 id, $2 error, $3 now. One update decides on the row as it is when locked: a scheduled or queued
     * task is cancelled (event `cancelled`), a running one gets cancelRequested (notice `cancel`). No row: the task
     * is finished or unknown.
     */
    cancel: prepared(`WITH changed AS (
        UPDATE ${tasks} SET
          status = CASE WHEN status = 'running' THEN status ELSE 'cancelled' END,
          cancel_requested = cancel_requested OR status = 'running',
          error = CASE WHEN status = 'running' THEN error ELSE $2::jsonb END,
          completed_at = CASE WHEN status = 'running' THEN completed_at ELSE $3::bigint END,
          event_seq = CASE WHEN status = 'running' THEN event_seq ELSE event_seq + 1 END,
          updated_at = $3::bigint
        WHERE id = $1::text AND status IN ('scheduled', 'queued', 'running')
        RETURNING ${columns}
      ),
      cancelled_events AS (
        INSERT INTO ${events} (task_id, seq, kind, data, at)
        SELECT id, event_seq, 'cancelled', jsonb_build_object('error', $2::jsonb), $3::bigint FROM changed
        WHERE status = 'cancelled'
      )
      SELECT ${columns} FROM changed`),
    /** $1 now, $2 queue, $3 limit: the oldest failures of a queue first, along tasks_finished. */
    retryFailedOfQueue: prepared(`WITH chosen AS MATERIALIZED (
        SELECT id FROM ${tasks}
        WHERE status = 'failed' AND completed_at <= $1::bigint AND queue = $2::text
        ORDER BY completed_at LIMIT $3::integer
        FOR UPDATE SKIP LOCKED
      ),
      changed AS (
        UPDATE ${tasks} SET status = 'queued', attempts = 0, run_at = $1::bigint, error = NULL, result = NULL,
          progress = NULL, cancel_requested = false, completed_at = NULL, started_at = NULL, updated_at = $1::bigint,
          event_seq = event_seq + 1
        WHERE id IN (SELECT id FROM chosen) AND status = 'failed'
        RETURNING id, queue, owner, event_seq
      ),
      retrying_events AS (
        INSERT INTO ${events} (task_id, seq, kind, data, at)
        SELECT id, event_seq, 'retrying', '{"manual": true}'::jsonb, $1::bigint FROM changed
      )
      SELECT id, queue, owner, event_seq FROM changed`),
    /** $1 id. A running task is left alone (the caller then reads its status); its events go with it. */
    deleteTask: prepared(`WITH deleted AS (
        DELETE FROM ${tasks} WHERE id = $1::text AND status <> 'running' RETURNING id
      ),
      deleted_events AS (
        DELETE FROM ${events} WHERE task_id IN (SELECT id FROM deleted)
      )
      SELECT id FROM deleted`),
    /** $1 id, $2 now. */
    retry: prepared(`WITH changed AS (
        UPDATE ${tasks} SET status = 'queued', attempts = 0, run_at = $2::bigint, error = NULL, result = NULL,
          progress = NULL, cancel_requested = false, completed_at = NULL, started_at = NULL, updated_at = $2::bigint,
          event_seq = event_seq + 1
        WHERE id = $1::text AND status IN ('failed', 'cancelled')
        RETURNING ${columns}
      ),
      retrying_events AS (
        INSERT INTO ${events} (task_id, seq, kind, data, at)
        SELECT id, event_seq, 'retrying', '{"manual": true}'::jsonb, $2::bigint FROM changed
      )
      SELECT ${columns} FROM changed`),

    // ---- queue and type settings, subscriptions, schedules, retention ----

    listQueueSettings: prepared(`SELECT ${QUEUE_COLUMNS} FROM ${s}.queues ORDER BY name`),
    /**
     * $1 name, $2 paused (null: unchanged), $3 whether maxConcurrency is given, $4 maxConcurrency, $5 whether
     * rateLimit is given, $6 its count, $7 its intervalMs, $8 now. Creates the row on first use.
     */
    updateQueueSettings: prepared(`INSERT INTO ${s}.queues AS q (name, paused, max_concurrency, rate_count, rate_interval_ms, max_per_key, updated_at)
      VALUES ($1::text, coalesce($2::boolean, false), $4::integer, $6::integer, $7::integer, $10::integer, $8::bigint)
      ON CONFLICT (name) DO UPDATE SET
        paused = coalesce($2::boolean, q.paused),
        max_concurrency = CASE WHEN $3::boolean THEN $4::integer ELSE q.max_concurrency END,
        rate_count = CASE WHEN $5::boolean THEN $6::integer ELSE q.rate_count END,
        rate_interval_ms = CASE WHEN $5::boolean THEN $7::integer ELSE q.rate_interval_ms END,
        max_per_key = CASE WHEN $9::boolean THEN $10::integer ELSE q.max_per_key END,
        updated_at = $8::bigint
      RETURNING ${QUEUE_COLUMNS}`),

    listTypeSettings: prepared(`SELECT type, defaults, payload_schema, updated_at FROM ${s}.task_types ORDER BY type`),
    /** $1 type, $2 defaults, $3 payload schema (null: any), $4 updatedAt. */
    putTypeSettings: prepared(`INSERT INTO ${s}.task_types (type, defaults, payload_schema, updated_at)
      VALUES ($1::text, $2::jsonb, $3::jsonb, $4::bigint)
      ON CONFLICT (type) DO UPDATE SET defaults = excluded.defaults, payload_schema = excluded.payload_schema,
        updated_at = excluded.updated_at`),
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
        last_seen_at = excluded.last_seen_at`),
    listWorkers: prepared(`SELECT id, host, pid, types, queues, concurrency, running, started_at, last_seen_at
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
    /** $1 name, $2 cron, $3 timezone, $4 task, $5 missedPolicy, $6 paused, $7 nextRunAt, $8 now. `created` as above. */
    putSchedule: prepared(`INSERT INTO ${s}.schedules AS sch
        (name, cron, timezone, task, missed_policy, paused, next_run_at, created_at, updated_at)
      VALUES ($1::text, $2::text, $3::text, $4::jsonb, $5::text, $6::boolean, $7::bigint, $8::bigint, $8::bigint)
      ON CONFLICT (name) DO UPDATE SET cron = excluded.cron, timezone = excluded.timezone, task = excluded.task,
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
      deleted AS (
        DELETE FROM ${tasks} WHERE id IN (SELECT id FROM doomed) RETURNING 1
      )
      SELECT count(*)::integer AS n FROM deleted`),

    /**
     * $1: wire messages (docs/postgres.md) joined by U+001E, sent in order in one notify-only transaction. Such a
     * transaction writes no WAL, so it commits without waiting for a disk flush and holds PostgreSQL's global NOTIFY
     * lock only for a moment. The separator cannot occur in a message (JSON text escapes every control character), so
     * nothing needs escaping, which as a text[] or JSON parameter would cost a pass over every character at both ends.
     */
    publishNotices: prepared(`SELECT pg_notify(${escapeLiteral(channel)}, message)
      FROM unnest(string_to_array($1::text, chr(30))) AS message`),
    /**
     * $1 the backend pid of this process's listener: how many other sessions of this database listen on this schema's
     * channel, as far as pg_stat_activity shows (the listener connections of other Taskhub processes, of whatever
     * version, whose last statement is their LISTEN), and whether it shows every session's statement (superuser or
     * pg_read_all_stats, with track_activities on; otherwise other roles' sessions are hidden).
     */
    otherListeners: prepared(`SELECT count(*)::integer AS n,
        current_setting('track_activities')::boolean AND (
          (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) OR pg_has_role('pg_read_all_stats', 'MEMBER')
        ) AS sees_all
      FROM pg_stat_activity
      WHERE pid <> $1::integer AND datname = current_database() AND query = ${escapeLiteral(listenStatement(channel))}`),
    /** After the listener reconnects: cancel requests it may have missed. */
    cancelRequestedIds: prepared(`SELECT id FROM ${tasks} WHERE status = 'running' AND cancel_requested`),

    /**
     * Newest first. Each filter is optional, so the text is built per query, with its values inlined as literals: the
     * planner sees them (a status filter can walk that status's partial index), which the pool's generic plans of
     * parameters would hide (see the pool's plan_cache_mode in postgres-store.ts).
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

export type PostgresSql = ReturnType<typeof buildSql>;
