// The schema of the PostgreSQL backend: its migrations, and the statements that apply them.
import { escapeLiteral } from 'pg';
import type { Names } from './common.ts';
import { prepared } from './common.ts';

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
    `-- Durable execution (docs/durable.md, "Store model"). The wait_* columns hold a task's last wait; they mean
     -- something only while status = 'waiting'. child_key/child_index: a child's wait name and place in its parent.
     ALTER TABLE ${s}.tasks DROP CONSTRAINT tasks_status_check;
     ALTER TABLE ${s}.tasks ADD CONSTRAINT tasks_status_check
       CHECK (status IN ('scheduled', 'queued', 'running', 'waiting', 'completed', 'failed', 'cancelled')) NOT VALID;
     ALTER TABLE ${s}.tasks VALIDATE CONSTRAINT tasks_status_check;
     ALTER TABLE ${s}.tasks ADD COLUMN checkpoint_version integer NOT NULL DEFAULT 0, ADD COLUMN wait_kind text,
       ADD COLUMN wait_name text, ADD COLUMN wake_at bigint, ADD COLUMN children_pending integer,
       ADD COLUMN children_total integer, ADD COLUMN child_key text, ADD COLUMN child_index integer;
     -- Waiting tasks only: promotion of due waits and nextScheduledAt read the range up to now; counts read it all.
     CREATE INDEX tasks_waiting ON ${s}.tasks (wake_at) WHERE status = 'waiting';
     -- Children of a wait, in order; tasks that are no wait's child never enter it.
     CREATE UNIQUE INDEX tasks_children ON ${s}.tasks (parent_id, child_key, child_index) WHERE child_key IS NOT NULL;
     -- A task's children and derived tasks, newest first (listTasks with parentId); tasks without a parent never enter.
     CREATE INDEX tasks_parent ON ${s}.tasks (parent_id, id) WHERE parent_id IS NOT NULL;
     CREATE TABLE ${s}.task_checkpoints (
       task_id text COLLATE "C" NOT NULL, version integer NOT NULL, label text, state jsonb NOT NULL,
       size integer NOT NULL, created_at bigint NOT NULL, PRIMARY KEY (task_id, version)
     );
     CREATE TABLE ${s}.task_steps (
       task_id text COLLATE "C" NOT NULL, name text NOT NULL, result jsonb NOT NULL, created_at bigint NOT NULL,
       PRIMARY KEY (task_id, name)
     );
     CREATE TABLE ${s}.task_signals (
       id bigserial PRIMARY KEY, task_id text COLLATE "C" NOT NULL, name text NOT NULL, data jsonb NOT NULL,
       created_at bigint NOT NULL, consumed_at bigint
     );
     CREATE INDEX task_signals_task_name ON ${s}.task_signals (task_id, name, id);`,
    `-- Soft time limits: the handler is told at softTimeoutMs and may still return; timeout_ms stays the hard limit.
     ALTER TABLE ${s}.tasks ADD COLUMN soft_timeout_ms integer;`,
    `-- Per-type rate limits: starts of a rate-limited type inside the current window, as queue_starts for queues.
     ALTER TABLE ${s}.task_types ADD COLUMN rate_count integer, ADD COLUMN rate_interval_ms integer;
     CREATE TABLE ${s}.type_starts (type text COLLATE "C" NOT NULL, at bigint NOT NULL);
     CREATE INDEX type_starts_type_at ON ${s}.type_starts (type, at);`,
    `-- Fixed-interval schedules (every_ms; cron is then '') and workers known only from their claims (registered false).
     ALTER TABLE ${s}.schedules ADD COLUMN every_ms bigint;
     ALTER TABLE ${s}.workers ADD COLUMN registered boolean NOT NULL DEFAULT true;`,
    `-- Flow control (store/flow-limits.ts): per-key throttles and cost limits. flow_starts holds the starts of flow-controlled
     -- tasks in their windows (until = at + periodMs); cost is null for a throttle's row.
     ALTER TABLE ${s}.tasks ADD COLUMN throttle_key text COLLATE "C", ADD COLUMN throttle_limit integer,
       ADD COLUMN throttle_period_ms integer, ADD COLUMN cost integer, ADD COLUMN reported_cost integer;
     ALTER TABLE ${s}.queues ADD COLUMN cost_budget integer, ADD COLUMN cost_period_ms integer, ADD COLUMN cost_per_key boolean;
     ALTER TABLE ${s}.task_types ADD COLUMN cost_budget integer, ADD COLUMN cost_period_ms integer, ADD COLUMN cost_per_key boolean;
     CREATE TABLE ${s}.flow_starts (scope text COLLATE "C" NOT NULL, at bigint NOT NULL, until bigint NOT NULL,
       task_id text COLLATE "C" NOT NULL, cost integer);
     CREATE INDEX flow_starts_scope ON ${s}.flow_starts (scope, until);
     CREATE INDEX flow_starts_until ON ${s}.flow_starts (until);
     CREATE INDEX flow_starts_task ON ${s}.flow_starts (task_id, at);
     -- Queued throttled tasks only: the claim's probe (is any throttled task ready?) and heldBack's groups.
     CREATE INDEX tasks_throttled ON ${s}.tasks (queue, owner, throttle_key) WHERE status = 'queued' AND throttle_key IS NOT NULL;`,
    `-- Debounce and singleton (docs/queues.md, store/flow.ts): each task's rules as given (for the task view), and their
     -- keys. debounce_key is set only while the debounce window is open (the claim clears it), so the open task of a
     -- key is found along a unique index; singleton_key stays for the task's life.
     ALTER TABLE ${s}.tasks ADD COLUMN debounce jsonb, ADD COLUMN debounce_key text,
       ADD COLUMN singleton jsonb, ADD COLUMN singleton_key text;
     CREATE UNIQUE INDEX tasks_debounce_open ON ${s}.tasks ((coalesce(owner, '')), debounce_key)
       WHERE debounce_key IS NOT NULL AND status IN ('scheduled', 'queued');
     CREATE INDEX tasks_singleton ON ${s}.tasks (singleton_key, status) WHERE singleton_key IS NOT NULL;
     -- At most one running task per singleton key, whatever two concurrent claims chose: a claim that would break it
     -- fails and is run again (postgres-store.ts), and then sees the other's running task.
     CREATE UNIQUE INDEX tasks_singleton_running ON ${s}.tasks ((coalesce(owner, '')), singleton_key)
       WHERE singleton_key IS NOT NULL AND status = 'running';`,
    `-- The seq of the current attempt's started event, which the row holds instead of task_events (docs/postgres.md,
     -- "One statement per write"): set by the claim, cleared (the event then stored) when the attempt ends otherwise
     -- than by completing. Null: no attempt, or its started event is stored.
     ALTER TABLE ${s}.tasks ADD COLUMN started_seq integer;`,
    `-- Null: the default backoff policy (core/backoff.ts, isDefaultBackoff), which nearly every task has; its JSON was
     -- over a third of a task row, written again by every update of the row.
     ALTER TABLE ${s}.tasks ALTER COLUMN backoff DROP NOT NULL;`,
  ];
}

/** Statements of migrate() and ping(). */
export function schemaSql({ s }: Names) {
  return {
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
  } as const;
}
