// Every SQL statement of the PostgreSQL backend, and its migrations. Times are epoch milliseconds in bigint columns,
// so rows map to the contract exactly as on SQLite; JSON is jsonb.
//
// Each write is ONE statement (data-modifying CTEs): it updates the task row (allocating the event seq by
// incrementing tasks.event_seq under the row lock), appends the event and calls pg_notify, all atomically, in one
// round trip and without BEGIN/COMMIT. pg_notify inside a statement is delivered only when it commits. The same
// statements run inside an application's own transaction (createTasksIn), where they commit with it.
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

/** pg_notify refuses payloads of 8000 bytes or more; events above this travel without their body. */
export const NOTICE_BODY_LIMIT = 7000;

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

/**
 * Wire format of notices (documented in docs/postgres.md). `origin` names the store instance that made the change,
 * so that instance can skip what it already delivered locally; it is null for writes in an application's own
 * transaction (createTasksIn), whose commit only the NOTIFY reveals.
 */
interface EventNoticeParts {
  taskId: string;
  seq: string;
  kind: string;
  data: string;
  at: string;
  queue: string;
  owner: string;
  origin: string;
}

/** pg_notify of one event; its body rides along when the whole notice stays under NOTICE_BODY_LIMIT bytes. */
function notifyEvent(channel: string, e: EventNoticeParts): string {
  const head = `'notice', 'event', 'origin', ${e.origin}, 'taskId', ${e.taskId}, 'seq', ${e.seq}, 'kind', ${e.kind},
    'queue', ${e.queue}, 'owner', ${e.owner}`;
  return `pg_notify(${escapeLiteral(channel)}, (
    SELECT CASE WHEN octet_length(n.with_body) < ${NOTICE_BODY_LIMIT} THEN n.with_body ELSE n.without_body END
    FROM (SELECT
      json_build_object(${head}, 'event',
        json_build_object('taskId', ${e.taskId}, 'seq', ${e.seq}, 'kind', ${e.kind}, 'data', ${e.data}, 'at', ${e.at}))::text
        AS with_body,
      json_build_object(${head})::text AS without_body) AS n))::text`;
}

function notifyReady(channel: string, queue: string, origin: string): string {
  return `pg_notify(${escapeLiteral(channel)}, json_build_object('notice', 'ready', 'origin', ${origin}, 'queue', ${queue})::text)::text`;
}

function notifyCancel(channel: string, taskId: string, origin: string): string {
  return `pg_notify(${escapeLiteral(channel)}, json_build_object('notice', 'cancel', 'origin', ${origin}, 'taskId', ${taskId})::text)::text`;
}

/** Every statement of one schema. `schema` is the raw name; it is quoted here. */
export function buildSql(schema: string) {
  const s = escapeIdentifier(schema);
  const tasks = `${s}.tasks`;
  const events = `${s}.task_events`;
  const channel = noticeChannel(schema);
  const columns = taskColumns();

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
     * $1: JSON array of new tasks (with `ord`, their index in the batch); $2: origin. Inserts in batch order, so of
     * two tasks with one idempotency key the first wins; the other, like any key that exists already, is skipped
     * (ON CONFLICT names only the idempotency index, so a taken id still fails the whole batch). Returns the inserted
     * rows; the caller finds the existing task of each skipped one.
     */
    createTasks: prepared(`WITH input AS (
        SELECT * FROM json_to_recordset($1::json) AS r(
          ord integer, id text, queue text, type text, payload jsonb, status text, priority integer, run_at bigint,
          max_attempts integer, backoff jsonb, timeout_ms integer, idempotency_key text, tags jsonb, owner text,
          parent_id text, concurrency_key text, traceparent text, created_at bigint)
      ),
      inserted AS (
        INSERT INTO ${tasks} (id, queue, type, payload, status, priority, run_at, max_attempts, backoff, timeout_ms,
          idempotency_key, tags, owner, parent_id, concurrency_key, traceparent, event_seq, created_at, updated_at)
        SELECT id, queue, type, coalesce(payload, 'null'::jsonb), status, priority, run_at, max_attempts, backoff,
          timeout_ms, idempotency_key, coalesce(tags, '{}'::jsonb), owner, parent_id, concurrency_key, traceparent, 1,
          created_at, created_at
        FROM input ORDER BY ord
        ON CONFLICT ((coalesce(owner, '')), idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
        RETURNING ${columns}
      ),
      created_events AS (
        INSERT INTO ${events} (task_id, seq, kind, data, at)
        SELECT id, 1, 'created', jsonb_build_object('status', status, 'runAt', run_at), created_at FROM inserted
      )
      SELECT ${columns},
        ${notifyEvent(channel, {
          taskId: 'id', seq: '1', kind: `'created'`, data: `jsonb_build_object('status', status, 'runAt', run_at)`,
          at: 'created_at', queue: 'queue', owner: 'owner', origin: '$2::text',
        })} AS notified_event,
        CASE WHEN status = 'queued' THEN ${notifyReady(channel, 'queue', '$2::text')} END AS notified_ready
      FROM inserted`),
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
     * $1 now, $2 types, $3 queues (null: all), $4 max, $5 leaseMs, $6 workerId, $7 origin.
     * Due scheduled tasks are promoted and compete with queued ones in the same statement: the result equals
     * "promote, then take the best `max`", without a second round trip. Ready rows are walked per type along
     * tasks_ready (each walk reads only ready rows of one type, however large the backlog of others), locked with
     * SKIP LOCKED so concurrent claimers never wait for each other or take the same row.
     */
    claim: prepared(`WITH due AS MATERIALIZED (
        SELECT id, type, queue, priority, run_at FROM ${tasks}
        WHERE status = 'scheduled' AND run_at <= $1::bigint
        FOR UPDATE SKIP LOCKED
      ),
      candidates AS MATERIALIZED (
        SELECT ready.id, ready.priority, ready.run_at
        FROM unnest($2::text[]) AS wanted(type)
        CROSS JOIN LATERAL (
          SELECT id, priority, run_at FROM ${tasks}
          WHERE status = 'queued' AND type = wanted.type AND ($3::text[] IS NULL OR queue = ANY($3::text[]))
          ORDER BY priority DESC, run_at, id
          LIMIT $4::integer
          FOR UPDATE SKIP LOCKED
        ) AS ready
        UNION ALL
        SELECT id, priority, run_at FROM due
        WHERE type = ANY($2::text[]) AND ($3::text[] IS NULL OR queue = ANY($3::text[]))
      ),
      chosen AS MATERIALIZED (
        SELECT id FROM candidates ORDER BY priority DESC, run_at, id LIMIT $4::integer
      ),
      claimed AS (
        UPDATE ${tasks} t SET status = 'running', attempts = t.attempts + 1, attempt_token = gen_random_uuid()::text,
          lease_until = $1::bigint + $5::bigint, worker_id = $6::text, started_at = $1::bigint, updated_at = $1::bigint,
          event_seq = t.event_seq + 1
        FROM chosen WHERE t.id = chosen.id
        RETURNING ${taskColumns('t')}, t.attempt_token
      ),
      promoted AS (
        UPDATE ${tasks} t SET status = 'queued', updated_at = $1::bigint
        FROM due WHERE t.id = due.id AND t.id NOT IN (SELECT id FROM chosen)
      ),
      started_events AS (
        INSERT INTO ${events} (task_id, seq, kind, data, at)
        SELECT id, event_seq, 'started', jsonb_build_object('attempt', attempts, 'workerId', $6::text), $1::bigint
        FROM claimed
      )
      SELECT ${columns}, attempt_token,
        ${notifyEvent(channel, {
          taskId: 'id', seq: 'event_seq', kind: `'started'`,
          data: `jsonb_build_object('attempt', attempts, 'workerId', $6::text)`, at: '$1::bigint', queue: 'queue',
          owner: 'owner', origin: '$7::text',
        })} AS notified_event
      FROM claimed`),
    nextScheduledAt: prepared(`SELECT min(run_at) AS at FROM ${tasks} WHERE status = 'scheduled'`),
    nextScheduledAtInQueues: prepared(`SELECT min(run_at) AS at FROM ${tasks}
      WHERE status = 'scheduled' AND queue = ANY($1::text[])`),

    /** $1 leaseUntil, $2 id, $3 token. */
    heartbeat: prepared(`UPDATE ${tasks} SET lease_until = $1::bigint
      WHERE id = $2::text AND attempt_token = $3::text AND status = 'running'
      RETURNING lease_until, cancel_requested`),
    /** $1 progress, $2 now, $3 id, $4 token, $5 origin. */
    progress: prepared(`WITH changed AS (
        UPDATE ${tasks} SET progress = $1::jsonb, updated_at = $2::bigint, event_seq = event_seq + 1
        WHERE id = $3::text AND attempt_token = $4::text AND status = 'running'
        RETURNING id, queue, owner, event_seq
      ),
      appended AS (
        INSERT INTO ${events} (task_id, seq, kind, data, at) SELECT id, event_seq, 'progress', $1::jsonb, $2::bigint FROM changed
      )
      SELECT queue, owner, event_seq,
        ${notifyEvent(channel, {
          taskId: 'id', seq: 'event_seq', kind: `'progress'`, data: '$1::jsonb', at: '$2::bigint', queue: 'queue',
          owner: 'owner', origin: '$5::text',
        })} AS notified_event
      FROM changed`),
    /** $1 chunk, $2 now, $3 id, $4 token, $5 origin. */
    output: prepared(`WITH changed AS (
        UPDATE ${tasks} SET updated_at = $2::bigint, event_seq = event_seq + 1
        WHERE id = $3::text AND attempt_token = $4::text AND status = 'running'
        RETURNING id, queue, owner, event_seq
      ),
      appended AS (
        INSERT INTO ${events} (task_id, seq, kind, data, at)
        SELECT id, event_seq, 'output', jsonb_build_object('chunk', $1::text), $2::bigint FROM changed
      )
      SELECT queue, owner, event_seq,
        ${notifyEvent(channel, {
          taskId: 'id', seq: 'event_seq', kind: `'output'`, data: `jsonb_build_object('chunk', $1::text)`,
          at: '$2::bigint', queue: 'queue', owner: 'owner', origin: '$5::text',
        })} AS notified_event
      FROM changed`),

    /**
     * $1: JSON array of finish requests, $2 now, $3 origin, $4 their task ids. Each request is its own conditional update: one that does
     * not hold the current attempt simply matches no row, and the others go on. The current rows are locked in id
     * order first, so two batches touching the same tasks cannot deadlock; of several requests for one task, the
     * first (in batch order) that holds its attempt wins, and the rest are stale by then, as if run one by one.
     */
    finish: prepared(`WITH request AS (
        SELECT * FROM json_to_recordset($1::json) AS r(
          ord integer, id text, attempt_token text, status text, run_at bigint, result jsonb, error jsonb,
          terminal boolean, refund_attempt boolean, only_if_lease_expired boolean, event_kind text, event_data jsonb)
      ),
      locked AS (
        -- The ids again as an array parameter, and no other condition: one primary-key lookup per id, where a join
        -- with the JSON (whose size the planner cannot know) or a status condition may scan every running task.
        SELECT id, status, attempt_token, lease_until FROM ${tasks}
        WHERE id = ANY($4::text[])
        ORDER BY id
        FOR UPDATE
      ),
      applicable AS (
        SELECT DISTINCT ON (r.id) r.*
        FROM request r JOIN locked l ON l.id = r.id AND l.attempt_token = r.attempt_token AND l.status = 'running'
        WHERE NOT r.only_if_lease_expired OR l.lease_until < $2::bigint
        ORDER BY r.id, r.ord
      ),
      finished AS (
        UPDATE ${tasks} t SET status = a.status, run_at = coalesce(a.run_at, t.run_at), result = a.result,
          error = a.error, completed_at = CASE WHEN a.terminal THEN $2::bigint END,
          attempts = t.attempts - CASE WHEN a.refund_attempt THEN 1 ELSE 0 END,
          attempt_token = NULL, lease_until = NULL, updated_at = $2::bigint, event_seq = t.event_seq + 1
        FROM applicable a
        WHERE t.id = a.id AND t.attempt_token = a.attempt_token AND t.status = 'running'
        RETURNING a.ord, a.event_kind, ${taskColumns('t')},
          CASE WHEN a.event_kind = 'retrying'
            THEN jsonb_build_object('attempt', t.attempts, 'error', a.error, 'runAt', a.run_at)
            ELSE a.event_data END AS event_data
      ),
      finished_events AS (
        INSERT INTO ${events} (task_id, seq, kind, data, at) SELECT id, event_seq, event_kind, event_data, $2::bigint FROM finished
      )
      SELECT ord, event_data, ${columns},
        ${notifyEvent(channel, {
          taskId: 'id', seq: 'event_seq', kind: 'event_kind', data: 'event_data', at: '$2::bigint', queue: 'queue',
          owner: 'owner', origin: '$3::text',
        })} AS notified_event,
        CASE WHEN status = 'queued' THEN ${notifyReady(channel, 'queue', '$3::text')} END AS notified_ready
      FROM finished`),
    /** $1 now, $2 limit. */
    expiredLeases: prepared(`SELECT ${columns}, attempt_token FROM ${tasks}
      WHERE status = 'running' AND lease_until < $1::bigint ORDER BY lease_until LIMIT $2::integer`),

    /**
     * $1 id, $2 error, $3 now, $4 origin. One update decides on the row as it is when locked: a scheduled or queued
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
      SELECT ${columns},
        CASE WHEN status = 'cancelled' THEN ${notifyEvent(channel, {
          taskId: 'id', seq: 'event_seq', kind: `'cancelled'`, data: `jsonb_build_object('error', $2::jsonb)`,
          at: '$3::bigint', queue: 'queue', owner: 'owner', origin: '$4::text',
        })} ELSE ${notifyCancel(channel, 'id', '$4::text')} END AS notified
      FROM changed`),
    /** $1 id, $2 now, $3 origin. */
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
      SELECT ${columns},
        ${notifyEvent(channel, {
          taskId: 'id', seq: 'event_seq', kind: `'retrying'`, data: `'{"manual": true}'::jsonb`, at: '$2::bigint',
          queue: 'queue', owner: 'owner', origin: '$3::text',
        })} AS notified_event,
        ${notifyReady(channel, 'queue', '$3::text')} AS notified_ready
      FROM changed`),

    /** After the listener reconnects: cancel requests it may have missed. */
    cancelRequestedIds: prepared(`SELECT id FROM ${tasks} WHERE status = 'running' AND cancel_requested`),

    /** Newest first; each filter is optional, so the text is built per query (and not prepared). */
    listTasks(query: TaskQuery): { text: string; values: unknown[] } {
      const where: string[] = [];
      const values: unknown[] = [];
      const filter = (value: unknown, clause: (param: string) => string) => {
        if (value === undefined) return;
        values.push(value);
        where.push(clause(`$${values.length}`));
      };
      filter(query.queue, (p) => `queue = ${p}::text`);
      filter(query.status, (p) => `status = ${p}::text`);
      filter(query.type, (p) => `type = ${p}::text`);
      filter(query.owner, (p) => `owner = ${p}::text`);
      filter(query.cursor, (p) => `id < ${p}::text`);
      filter(query.tag && JSON.stringify({ [query.tag.key]: query.tag.value }), (p) => `tags @> ${p}::jsonb`);
      // One more than asked for: its presence says whether a next page exists.
      values.push(query.limit + 1);
      const text = `SELECT ${columns} FROM ${tasks} ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
        ORDER BY id DESC LIMIT $${values.length}::integer`;
      return { text, values };
    },
  } as const;
}

export type PostgresSql = ReturnType<typeof buildSql>;
