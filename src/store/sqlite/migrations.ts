// The SQLite schema, as the migrations that build it (sqlite-store.ts applies them when the store opens).
import { blocksFrom } from './event-blocks.ts';

/** Applied in order, each once, inside one IMMEDIATE transaction per version. Never edit a shipped entry: add one. */
export const MIGRATIONS: readonly string[] = [
  `CREATE TABLE tasks (
     id TEXT PRIMARY KEY,
     queue TEXT NOT NULL,
     type TEXT NOT NULL,
     payload TEXT NOT NULL,
     status TEXT NOT NULL,
     priority INTEGER NOT NULL,
     run_at INTEGER NOT NULL,
     attempts INTEGER NOT NULL DEFAULT 0,
     max_attempts INTEGER NOT NULL,
     backoff TEXT NOT NULL,
     timeout_ms INTEGER,
     idempotency_key TEXT,
     tags TEXT NOT NULL DEFAULT '{}',
     owner TEXT,
     parent_id TEXT,
     concurrency_key TEXT,
     traceparent TEXT,
     progress TEXT,
     result TEXT,
     error TEXT,
     attempt_token TEXT,
     lease_until INTEGER,
     worker_id TEXT,
     cancel_requested INTEGER NOT NULL DEFAULT 0,
     event_seq INTEGER NOT NULL DEFAULT 0,
     created_at INTEGER NOT NULL,
     updated_at INTEGER NOT NULL,
     started_at INTEGER,
     completed_at INTEGER
   );
   -- Only ready rows: the claim never walks finished work (47k vs 4k drains/s, shared/anchors/RESULTS.md).
   CREATE INDEX tasks_ready ON tasks (type, priority DESC, run_at, id) WHERE status = 'queued';
   CREATE INDEX tasks_scheduled ON tasks (run_at) WHERE status = 'scheduled';
   CREATE INDEX tasks_leases ON tasks (lease_until) WHERE status = 'running';
   CREATE INDEX tasks_cancel_requested ON tasks (id) WHERE status = 'running' AND cancel_requested = 1;
   CREATE UNIQUE INDEX tasks_idempotency ON tasks (coalesce(owner, ''), idempotency_key) WHERE idempotency_key IS NOT NULL;
   CREATE TABLE task_events (
     id INTEGER PRIMARY KEY,
     task_id TEXT NOT NULL,
     seq INTEGER NOT NULL,
     kind TEXT NOT NULL,
     data TEXT NOT NULL,
     at INTEGER NOT NULL
   );
   CREATE UNIQUE INDEX task_events_task_seq ON task_events (task_id, seq);`,
  `CREATE TABLE queues (
     name TEXT PRIMARY KEY,
     paused INTEGER NOT NULL DEFAULT 0,
     max_concurrency INTEGER,
     rate_count INTEGER,
     rate_interval_ms INTEGER,
     updated_at INTEGER NOT NULL
   );
   -- Starts of rate-limited queues inside the current window: an exact sliding window, pruned as it slides.
   CREATE TABLE queue_starts (queue TEXT NOT NULL, at INTEGER NOT NULL);
   CREATE INDEX queue_starts_queue_at ON queue_starts (queue, at);
   CREATE TABLE task_types (type TEXT PRIMARY KEY, defaults TEXT NOT NULL, payload_schema TEXT, updated_at INTEGER NOT NULL);
   CREATE TABLE subscriptions (
     name TEXT PRIMARY KEY, pattern TEXT NOT NULL, queue TEXT NOT NULL, type TEXT NOT NULL,
     created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL
   );
   CREATE TABLE schedules (
     name TEXT PRIMARY KEY, cron TEXT NOT NULL, timezone TEXT NOT NULL, task TEXT NOT NULL,
     missed_policy TEXT NOT NULL, paused INTEGER NOT NULL DEFAULT 0,
     next_run_at INTEGER, last_run_at INTEGER, last_task_id TEXT,
     created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL
   );
   CREATE INDEX schedules_due ON schedules (next_run_at) WHERE paused = 0 AND next_run_at IS NOT NULL;`,
  `CREATE TABLE workers (
     id TEXT PRIMARY KEY, host TEXT, pid INTEGER, types TEXT NOT NULL, queues TEXT, concurrency INTEGER NOT NULL,
     running INTEGER NOT NULL, started_at INTEGER NOT NULL, last_seen_at INTEGER NOT NULL
   );
   CREATE TABLE api_keys (
     id TEXT PRIMARY KEY, name TEXT, owner TEXT NOT NULL, scopes TEXT NOT NULL, secret_hash TEXT NOT NULL,
     created_at INTEGER NOT NULL, revoked_at INTEGER
   );`,
  `ALTER TABLE queues ADD COLUMN max_per_key INTEGER;
   -- Fair queues walk ready tasks key by key; unkeyed tasks (no owner, no concurrencyKey) never enter this index.
   CREATE INDEX tasks_ready_by_key ON tasks (queue, concurrency_key, priority DESC, run_at, id)
     WHERE status = 'queued' AND concurrency_key IS NOT NULL;`,
  `CREATE TABLE secrets (name TEXT PRIMARY KEY, value TEXT NOT NULL, created_at INTEGER NOT NULL);`,
  `-- Finished tasks by status, as on PostgreSQL: capped counts for metrics, dead-letter redrive and retention walk
   -- only the finished tasks of one status. completed_at is set exactly while a task is finished.
   CREATE INDEX tasks_finished ON tasks (status, completed_at) WHERE completed_at IS NOT NULL;`,
  `-- Durable execution (docs/durable.md, "Store model"). The wait_* columns hold a task's last wait; they mean
   -- something only while status = 'waiting'. child_key/child_index: a child's wait name and place in its parent.
   ALTER TABLE tasks ADD COLUMN checkpoint_version INTEGER NOT NULL DEFAULT 0;
   ALTER TABLE tasks ADD COLUMN wait_kind TEXT;
   ALTER TABLE tasks ADD COLUMN wait_name TEXT;
   ALTER TABLE tasks ADD COLUMN wake_at INTEGER;
   ALTER TABLE tasks ADD COLUMN children_pending INTEGER;
   ALTER TABLE tasks ADD COLUMN children_total INTEGER;
   ALTER TABLE tasks ADD COLUMN child_key TEXT;
   ALTER TABLE tasks ADD COLUMN child_index INTEGER;
   -- Waiting tasks only: promotion of due waits and nextScheduledAt read the range up to now; counts read it all.
   CREATE INDEX tasks_waiting ON tasks (wake_at) WHERE status = 'waiting';
   -- Children of a wait, in order; tasks that are no wait's child never enter it.
   CREATE UNIQUE INDEX tasks_children ON tasks (parent_id, child_key, child_index) WHERE child_key IS NOT NULL;
   -- A task's children and derived tasks, newest first (listTasks with parentId); tasks without a parent never enter.
   CREATE INDEX tasks_parent ON tasks (parent_id, id) WHERE parent_id IS NOT NULL;
   CREATE TABLE task_checkpoints (
     task_id TEXT NOT NULL, version INTEGER NOT NULL, label TEXT, state TEXT NOT NULL, size INTEGER NOT NULL,
     created_at INTEGER NOT NULL, PRIMARY KEY (task_id, version)
   );
   CREATE TABLE task_steps (
     task_id TEXT NOT NULL, name TEXT NOT NULL, result TEXT NOT NULL, created_at INTEGER NOT NULL,
     PRIMARY KEY (task_id, name)
   );
   CREATE TABLE task_signals (
     id INTEGER PRIMARY KEY, task_id TEXT NOT NULL, name TEXT NOT NULL, data TEXT NOT NULL,
     created_at INTEGER NOT NULL, consumed_at INTEGER
   );
   CREATE INDEX task_signals_task_name ON task_signals (task_id, name, id);`,
  `-- Soft time limits: the handler is told at softTimeoutMs and may still return; timeout_ms stays the hard limit.
   ALTER TABLE tasks ADD COLUMN soft_timeout_ms INTEGER;`,
  `-- Per-type rate limits: starts of a rate-limited type inside the current window, as queue_starts for queues.
   ALTER TABLE task_types ADD COLUMN rate_count INTEGER;
   ALTER TABLE task_types ADD COLUMN rate_interval_ms INTEGER;
   CREATE TABLE type_starts (type TEXT NOT NULL, at INTEGER NOT NULL);
   CREATE INDEX type_starts_type_at ON type_starts (type, at);`,
  `-- Fixed-interval schedules (every_ms; cron is then '') and workers known only from their claims (registered 0).
   ALTER TABLE schedules ADD COLUMN every_ms INTEGER;
   ALTER TABLE workers ADD COLUMN registered INTEGER NOT NULL DEFAULT 1;`,
  `-- Flow control (store/flow-limits.ts): per-key throttles and cost limits. flow_starts holds the starts of flow-controlled
   -- tasks in their windows (until = at + periodMs); cost is null for a throttle's row.
   ALTER TABLE tasks ADD COLUMN throttle_key TEXT;
   ALTER TABLE tasks ADD COLUMN throttle_limit INTEGER;
   ALTER TABLE tasks ADD COLUMN throttle_period_ms INTEGER;
   ALTER TABLE tasks ADD COLUMN cost INTEGER;
   ALTER TABLE tasks ADD COLUMN reported_cost INTEGER;
   ALTER TABLE queues ADD COLUMN cost_budget INTEGER;
   ALTER TABLE queues ADD COLUMN cost_period_ms INTEGER;
   ALTER TABLE queues ADD COLUMN cost_per_key INTEGER;
   ALTER TABLE task_types ADD COLUMN cost_budget INTEGER;
   ALTER TABLE task_types ADD COLUMN cost_period_ms INTEGER;
   ALTER TABLE task_types ADD COLUMN cost_per_key INTEGER;
   CREATE TABLE flow_starts (scope TEXT NOT NULL, at INTEGER NOT NULL, until INTEGER NOT NULL, task_id TEXT NOT NULL, cost INTEGER);
   CREATE INDEX flow_starts_scope ON flow_starts (scope, until);
   CREATE INDEX flow_starts_until ON flow_starts (until);
   CREATE INDEX flow_starts_task ON flow_starts (task_id, at);
   -- Queued throttled tasks only: the claim's probe (is any throttled task ready?) and heldBack's groups.
   CREATE INDEX tasks_throttled ON tasks (queue, owner, throttle_key) WHERE status = 'queued' AND throttle_key IS NOT NULL;`,
  `-- Debounce and singleton (docs/queues.md, store/flow.ts): each task's rules as given (JSON, for the task view), and
   -- their keys. debounce_key is set only while the debounce window is open (the claim clears it), so the open task of
   -- a key is found along a unique index; singleton_key stays for the task's life.
   ALTER TABLE tasks ADD COLUMN debounce TEXT;
   ALTER TABLE tasks ADD COLUMN debounce_key TEXT;
   ALTER TABLE tasks ADD COLUMN singleton TEXT;
   ALTER TABLE tasks ADD COLUMN singleton_key TEXT;
   CREATE UNIQUE INDEX tasks_debounce_open ON tasks (coalesce(owner, ''), debounce_key)
     WHERE debounce_key IS NOT NULL AND status IN ('scheduled', 'queued');
   CREATE INDEX tasks_singleton ON tasks (singleton_key, status) WHERE singleton_key IS NOT NULL;
   -- At most one running task per singleton key, whatever a claim did: the last line of defence of the rule.
   CREATE UNIQUE INDEX tasks_singleton_running ON tasks (coalesce(owner, ''), singleton_key)
     WHERE singleton_key IS NOT NULL AND status = 'running';`,
  `-- Recent events (docs/architecture.md, "Recent events"): appended here without a per-task index, so a commit that adds
   -- events to hundreds of tasks writes a few pages, not one (task_id, seq) leaf per task; compaction moves them into
   -- task_events in batches. Ids continue task_events' own (AUTOINCREMENT: never reused once compacted away), so
   -- both tables together are one history in id order.
   CREATE TABLE task_events_recent (
     id INTEGER PRIMARY KEY AUTOINCREMENT,
     task_id TEXT NOT NULL,
     seq INTEGER NOT NULL,
     kind TEXT NOT NULL,
     data TEXT NOT NULL,
     at INTEGER NOT NULL
   );
   INSERT INTO sqlite_sequence (name, seq) SELECT 'task_events_recent', coalesce(max(id), 0) FROM task_events;`,
  `-- Events the task row holds instead of an event row (docs/architecture.md, "Events held by the row"): the started
   -- event of the current or completed attempt (started_seq, with attempts, worker_id, started_at), and a completed
   -- task's completed event (its last seq, with result and completed_at). Other processes learn of them from
   -- task_notices: one row per transaction, the notices of the events it did not store (JSON), kept ten minutes.
   ALTER TABLE tasks ADD COLUMN started_seq INTEGER;
   CREATE TABLE task_notices (id INTEGER PRIMARY KEY AUTOINCREMENT, at INTEGER NOT NULL, body TEXT NOT NULL);
   INSERT INTO sqlite_sequence (name, seq) VALUES ('task_notices', 0);`,
  `-- Pollers listening for other connections' commits (sqlite/poller.ts) check in here while they run: a transaction
   -- writes its task_notices row only while a poller other than its own connection's is checked in and its process
   -- alive, so a store alone on its file writes none (docs/architecture.md, "Events held by the task row"). pid and
   -- pid_namespace tell whether the process still runs, where this process can see it.
   CREATE TABLE pollers (id TEXT PRIMARY KEY, pid INTEGER NOT NULL, pid_namespace TEXT NOT NULL, since INTEGER NOT NULL);`,
  `-- Event blocks (docs/architecture.md, "Recent events"): compaction stores a task's recent events as one row per task
   -- and BLOCK_SEQS seqs, a JSON array of [id, seq, kind, data, at] in seq order, keyed by its last event's id (what the
   -- poller reads by) and indexed by task and last seq (what a history reads by): one row and one index entry where
   -- task_events took one of each per event. The events task_events holds move into blocks here.
   CREATE TABLE task_event_blocks (
     last_id INTEGER PRIMARY KEY,
     task_id TEXT NOT NULL,
     first_seq INTEGER NOT NULL,
     last_seq INTEGER NOT NULL,
     events TEXT NOT NULL
   );
   ${blocksFrom('task_events')}
   DROP TABLE task_events;
   CREATE INDEX task_event_blocks_task ON task_event_blocks (task_id, last_seq);`,
];
