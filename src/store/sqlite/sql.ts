// Every SQL statement of the SQLite backend (its schema: migrations.ts). Times are epoch milliseconds; JSON is TEXT.
import type { SQLInputValue } from 'node:sqlite';
import type { TaskQuery } from '../store.ts';
import { blocksFrom } from './event-blocks.ts';
import { TASK_COLUMNS } from './rows.ts';

/** `rows` rows of `width` bound values, for a VALUES list. */
function valueRows(rows: number, width: number): string {
  const row = `(${Array.from({ length: width }, () => '?').join(', ')})`;
  return Array.from({ length: rows }, () => row).join(', ');
}

/**
 * listTasks: newest first, each filter optional, so the text is built per query (and cached per shape by the
 * connection); the values go as parameters. One row more than asked for: its presence says a next page exists.
 */
function listTasks(query: TaskQuery): { text: string; params: SQLInputValue[] } {
  const where: string[] = [];
  const params: SQLInputValue[] = [];
  const filter = (clause: string, value: SQLInputValue | undefined) => {
    if (value === undefined) return;
    where.push(clause);
    params.push(value);
  };
  filter('queue = ?', query.queue);
  filter('status = ?', query.status);
  filter('type = ?', query.type);
  filter('owner = ?', query.owner);
  filter('parent_id = ?', query.parentId);
  filter('id < ?', query.cursor);
  if (query.tag) {
    where.push('EXISTS (SELECT 1 FROM json_each(tasks.tags) WHERE key = ? AND value = ?)');
    params.push(query.tag.key, query.tag.value);
  }
  params.push(query.limit + 1);
  return { text: `SELECT * FROM tasks ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id DESC LIMIT ?`, params };
}

/** No event row of task ?1 has this seq (one an earlier version stored, or an attempt that ended otherwise than completing). */
const NOT_STORED = (seq: string) => `NOT EXISTS (SELECT 1 FROM task_event_blocks b, json_each(b.events) e
          WHERE b.task_id = ?1 AND b.last_seq >= ${seq} AND b.first_seq <= ${seq} AND e.value ->> 1 = ${seq})
        AND NOT EXISTS (SELECT 1 FROM task_events_recent WHERE task_id = ?1 AND seq = ${seq})`;

/** A running task with the singleton key of the task aliased `t` (same owner), along tasks_singleton_running. */
const SINGLETON_RUNNING = (t: string) => `EXISTS (SELECT 1 FROM tasks r WHERE r.status = 'running'
  AND r.singleton_key = ${t}.singleton_key AND coalesce(r.owner, '') = coalesce(${t}.owner, ''))`;
/** A ready task the claim may take: no singleton key, or none of its key running. */
const SINGLETON_FREE = `(singleton_key IS NULL OR NOT ${SINGLETON_RUNNING('tasks')})`;
/** A claim candidate's columns; `singleton` scopes the key by owner (U+001F between), so one claim takes one per key. */
const CANDIDATE = `id, queue, type, priority, run_at,
  CASE WHEN singleton_key IS NULL THEN NULL ELSE coalesce(owner, '') || char(31) || singleton_key END AS singleton`;

/** SQL.completeMany's statement for `rows` completions, returning the id, `columns` (each followed by a comma) and what a child's finish reads. */
function completeMany(rows: number, columns: string): string {
  return `WITH j(id, token, result) AS (VALUES ${valueRows(rows, 3)})
    UPDATE tasks SET status = 'completed', result = j.result, error = NULL, completed_at = ?,
      attempt_token = NULL, lease_until = NULL, updated_at = ?, event_seq = event_seq + 1
    FROM j WHERE tasks.id = j.id AND tasks.attempt_token = j.token AND tasks.status = 'running'
    RETURNING tasks.id, ${columns}event_seq, parent_id, child_key`;
}

export const SQL = {
  /** The WAL's checkpoints are set apart (checkpointer.ts): `autocheckpoint` below, and a thread once writes are frequent. */
  pragmas: `PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;`,
  /** Frames after which a commit copies the WAL into the database itself; 0: never (a thread does it). */
  autocheckpoint: (frames: number) => `PRAGMA wal_autocheckpoint = ${Math.trunc(frames)}`,
  /** Copies what it can of the WAL without waiting for any lock: busy 1 (another checkpoint runs), log and checkpointed frames. */
  checkpointPassive: `PRAGMA wal_checkpoint(PASSIVE)`,
  /** IMMEDIATE: the write lock at once, so two processes never deadlock upgrading a read lock. */
  begin: `BEGIN IMMEDIATE`,
  /** A read that must see one snapshot across statements. */
  beginRead: `BEGIN DEFERRED`,
  commit: `COMMIT`,
  /** WAL mode: NORMAL commits without an fsync (flusher.ts says what makes it durable); FULL, the default, with one. */
  commitWithoutFlush: `PRAGMA synchronous = NORMAL`,
  commitWithFlush: `PRAGMA synchronous = FULL`,
  rollback: `ROLLBACK`,
  ping: `SELECT 1`,
  createMigrationsTable: `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)`,
  appliedVersions: `SELECT version FROM schema_migrations ORDER BY version`,
  recordMigration: `INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`,

  insertTask: `INSERT INTO tasks (id, queue, type, payload, status, priority, run_at, max_attempts, backoff, timeout_ms,
      idempotency_key, tags, owner, parent_id, concurrency_key, traceparent, event_seq, created_at, updated_at,
      soft_timeout_ms, throttle_key, throttle_limit, throttle_period_ms, cost, debounce, debounce_key, singleton,
      singleton_key)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT DO NOTHING`,
  /** ?1 owner ('' for none), ?2 key: the task whose debounce window is open, along tasks_debounce_open. */
  openDebounce: `SELECT id, debounce FROM tasks WHERE coalesce(owner, '') = ?1 AND debounce_key = ?2
    AND status IN ('scheduled', 'queued')`,
  /** ?1 owner ('' for none), ?2 key: the unfinished tasks of a singleton key, running first. */
  singletonHolders: `SELECT id, status FROM tasks WHERE singleton_key = ?2 AND coalesce(owner, '') = ?1
    AND status IN ('scheduled', 'queued', 'running', 'waiting') ORDER BY status = 'running' DESC, id`,
  /** A submit folded into a waiting task: ?1 payload, ?2 new runAt (null: keep), ?3 now, ?4 id. */
  mergeInto: `UPDATE tasks SET payload = ?1, run_at = coalesce(?2, run_at),
      status = CASE WHEN coalesce(?2, run_at) > ?3 THEN 'scheduled' ELSE 'queued' END, updated_at = ?3
    WHERE id = ?4 AND status IN ('scheduled', 'queued') RETURNING *`,
  /** ?1 queue: tasks held in an open debounce window, and queued tasks whose singleton key is running, per key. */
  heldBack: `SELECT debounce_key AS key, 'debounce' AS reason, count(*) AS n FROM tasks
      WHERE status = 'scheduled' AND debounce_key IS NOT NULL AND queue = ?1 GROUP BY debounce_key
    UNION ALL
    SELECT q.singleton_key, 'singleton', count(*) FROM tasks q
      WHERE q.status = 'queued' AND q.singleton_key IS NOT NULL AND q.queue = ?1 AND ${SINGLETON_RUNNING('q')}
      GROUP BY q.singleton_key`,
  taskByIdempotencyKey: `SELECT * FROM tasks WHERE coalesce(owner, '') = ? AND idempotency_key = ?`,
  /** `rows` events, five values each: task_id, seq, kind, data, at. */
  insertEvents: (rows: number) => `INSERT INTO task_events_recent (task_id, seq, kind, data, at) VALUES
    ${Array.from({ length: rows }, () => '(?, ?, ?, ?, ?)').join(', ')}`,
  /** Every recent event into event blocks (ids kept). */
  compactEvents: blocksFrom('task_events_recent'),
  clearRecentEvents: `DELETE FROM task_events_recent`,
  /** ?1 now, ?2 the notices (JSON): those of a transaction's events that its rows hold instead of event rows. */
  insertNotices: `INSERT INTO task_notices (at, body) VALUES (?1, ?2)`,
  /** ?1 the oldest time kept. */
  trimNotices: `DELETE FROM task_notices WHERE at < ?1`,

  getTask: `SELECT * FROM tasks WHERE id = ?`,
  listTasks,
  taskExists: `SELECT status FROM tasks WHERE id = ?`,
  /** The event blocks of task ?1 holding events after seq ?2, in seq order (read until a page is full). */
  eventBlocks: `SELECT last_seq, events FROM task_event_blocks WHERE task_id = ?1 AND last_seq > ?2 ORDER BY last_seq`,
  /**
   * Task ?1's recent events after seq ?2, the first ?3. They are few (compaction bounds them), so scanning them is
   * cheap; only the first ?3 are read whole: sorting every recent event after ?2 with its data made a page of a replay
   * of 64 KiB chunks cost 0.85-1.6 ms instead of 0.75 (320 chunks, 16 per page).
   */
  recentEvents: `SELECT task_id, seq, kind, data, at FROM task_events_recent WHERE id IN (
      SELECT id FROM task_events_recent WHERE task_id = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3)
    ORDER BY seq`,
  /**
   * The events of task ?1 after seq ?2 that its row holds instead of an event row: the started event of its current or
   * completed attempt (an attempt that ended otherwise stored it, at the same seq) and a completed task's completed event.
   */
  heldEvents: `SELECT ?1 AS task_id, started_seq AS seq, 'started' AS kind,
        json_object('attempt', attempts, 'workerId', worker_id) AS data, started_at AS at
      FROM tasks t WHERE id = ?1 AND started_seq > ?2 AND ${NOT_STORED('t.started_seq')}
    UNION ALL
    SELECT ?1, event_seq, 'completed', json_object('result', json(result)), completed_at
      FROM tasks t WHERE id = ?1 AND status = 'completed' AND event_seq > ?2 AND ${NOT_STORED('t.event_seq')}`,
  countByQueue: `SELECT queue, status, count(*) AS n FROM tasks GROUP BY queue, status`,
  /**
   * Per status, at most ?1 tasks, along that status's partial index (the status is a literal so that the planner can
   * prove the index applies): what countTasks reads, whatever the size of the table.
   */
  countCapped: {
    scheduled: `SELECT queue, count(*) AS n FROM (SELECT queue FROM tasks WHERE status = 'scheduled' LIMIT ?) GROUP BY queue`,
    queued: `SELECT queue, count(*) AS n FROM (SELECT queue FROM tasks WHERE status = 'queued' LIMIT ?) GROUP BY queue`,
    running: `SELECT queue, count(*) AS n FROM (SELECT queue FROM tasks WHERE status = 'running' LIMIT ?) GROUP BY queue`,
    completed: `SELECT queue, count(*) AS n FROM (SELECT queue FROM tasks
      WHERE status = 'completed' AND completed_at IS NOT NULL LIMIT ?) GROUP BY queue`,
    failed: `SELECT queue, count(*) AS n FROM (SELECT queue FROM tasks
      WHERE status = 'failed' AND completed_at IS NOT NULL LIMIT ?) GROUP BY queue`,
    cancelled: `SELECT queue, count(*) AS n FROM (SELECT queue FROM tasks
      WHERE status = 'cancelled' AND completed_at IS NOT NULL LIMIT ?) GROUP BY queue`,
    waiting: `SELECT queue, count(*) AS n FROM (SELECT queue FROM tasks WHERE status = 'waiting' LIMIT ?) GROUP BY queue`,
  },
  countByQueueOfOwner: `SELECT queue, status, count(*) AS n FROM tasks WHERE owner = ? GROUP BY queue, status`,

  /**
   * Due scheduled tasks, and due waits (sleeps ended, signal waits timed out), become queued: one statement, along
   * tasks_scheduled and tasks_waiting (a multi-index OR). A woken wait keeps its wait_kind and takes a seq for its
   * `resumed` event; a scheduled task's stale wait columns are cleared, so wait_kind in the answer tells them apart.
   */
  promoteDue: `UPDATE tasks SET status = 'queued', updated_at = ?1,
      run_at = CASE WHEN status = 'waiting' THEN ?1 ELSE run_at END,
      wait_kind = CASE WHEN status = 'waiting' THEN wait_kind END,
      event_seq = event_seq + (status = 'waiting')
    WHERE (status = 'scheduled' AND run_at <= ?1) OR (status = 'waiting' AND wake_at <= ?1)
    RETURNING id, queue, owner, event_seq, wait_kind, wait_name`,
  /** Candidates of one type, in claim order; the store merges types and takes the best `max`. */
  readyOfType: `SELECT ${CANDIDATE} FROM tasks WHERE status = 'queued' AND type = ? AND ${SINGLETON_FREE}
    ORDER BY priority DESC, run_at, id LIMIT ?`,
  /** With a queue filter (JSON array or NULL for all) and queues to skip (JSON array: paused or at their limit). */
  readyOfTypeFiltered: `SELECT ${CANDIDATE} FROM tasks
    WHERE status = 'queued' AND type = ?1 AND ${SINGLETON_FREE}
      AND (?2 IS NULL OR queue IN (SELECT value FROM json_each(?2)))
      AND queue NOT IN (SELECT value FROM json_each(?3))
    ORDER BY priority DESC, run_at, id LIMIT ?4`,
  /** Queues whose settings can hold back a claim. */
  queueControls: `SELECT name, paused, max_concurrency, rate_count, rate_interval_ms, max_per_key FROM queues
    WHERE paused = 1 OR max_concurrency IS NOT NULL OR rate_count IS NOT NULL OR max_per_key IS NOT NULL`,
  /** The distinct keys with ready tasks in a queue, by a loose index scan: one seek per key, not one step per task. */
  readyKeys: `WITH RECURSIVE k(key) AS (
      SELECT min(concurrency_key) FROM tasks WHERE status = 'queued' AND queue = ?1 AND concurrency_key IS NOT NULL
      UNION ALL
      SELECT (SELECT min(concurrency_key) FROM tasks
              WHERE status = 'queued' AND queue = ?1 AND concurrency_key IS NOT NULL AND concurrency_key > k.key)
      FROM k WHERE k.key IS NOT NULL LIMIT 1000
    ) SELECT key FROM k WHERE key IS NOT NULL`,
  runningPerKey: `SELECT concurrency_key AS key, count(*) AS n FROM tasks WHERE status = 'running' AND queue = ?
    GROUP BY concurrency_key`,
  readyOfKey: `SELECT ${CANDIDATE} FROM tasks
    WHERE status = 'queued' AND ${SINGLETON_FREE} AND queue = ?1 AND concurrency_key = ?2 AND type IN (SELECT value FROM json_each(?3))
    ORDER BY priority DESC, run_at, id LIMIT ?4`,
  readyWithoutKey: `SELECT ${CANDIDATE} FROM tasks
    WHERE status = 'queued' AND ${SINGLETON_FREE} AND queue = ?1 AND concurrency_key IS NULL AND type IN (SELECT value FROM json_each(?2))
    ORDER BY priority DESC, run_at, id LIMIT ?3`,
  runningInQueue: `SELECT count(*) AS n FROM tasks WHERE status = 'running' AND queue = ?`,
  startsInWindow: `SELECT count(*) AS n FROM queue_starts WHERE queue = ? AND at > ?`,
  recordStart: `INSERT INTO queue_starts (queue, at) VALUES (?, ?)`,
  pruneStarts: `DELETE FROM queue_starts WHERE queue = ? AND at <= ?`,
  /** Types whose rate limit can hold back a claim. */
  typeControls: `SELECT type, rate_count, rate_interval_ms FROM task_types WHERE rate_count IS NOT NULL`,
  typeStartsInWindow: `SELECT count(*) AS n FROM type_starts WHERE type = ? AND at > ?`,
  recordTypeStart: `INSERT INTO type_starts (type, at) VALUES (?, ?)`,
  pruneTypeStarts: `DELETE FROM type_starts WHERE type = ? AND at <= ?`,
  /**
   * Claims the queued tasks among the ids of a JSON array; claimedTasks reads them back. Not `RETURNING *`: its rows
   * pass through a temporary table, which cost more than reading them again (docs/benchmarks.md, thirteenth session).
   */
  claimIds: `UPDATE tasks SET status = 'running', attempts = attempts + 1, attempt_token = lower(hex(randomblob(16))),
      lease_until = ?, worker_id = ?, started_at = ?, updated_at = ?, event_seq = event_seq + 1, started_seq = event_seq + 1,
      debounce_key = NULL
    WHERE id IN (SELECT value FROM json_each(?)) AND status = 'queued'`,
  claimedTasks: `SELECT ${TASK_COLUMNS.join(', ')}, attempt_token FROM tasks WHERE id IN (SELECT value FROM json_each(?))`,
  /** A task just inserted starts at once (a hand-off): ?1 lease until, ?2 worker, ?3 now, ?4 id. Its started event is seq 2. */
  startInserted: `UPDATE tasks SET status = 'running', attempts = 1, attempt_token = lower(hex(randomblob(16))), lease_until = ?1,
      worker_id = ?2, started_at = ?3, updated_at = ?3, event_seq = 2, started_seq = 2, debounce_key = NULL
    WHERE id = ?4 AND status = 'queued' RETURNING attempt_token`,
  /**
   * ?1 queue, ?2 type, ?3 the new task's id, ?4 now: 1 when a claim might not pick the new task first (its queue or
   * type has a limit, or another task of its type is ready or due), so it may not be handed over (HandoffStore).
   */
  handoffBlocked: `SELECT EXISTS (SELECT 1 FROM queues WHERE name = ?1 AND (paused = 1 OR max_concurrency IS NOT NULL
        OR rate_count IS NOT NULL OR max_per_key IS NOT NULL OR cost_budget IS NOT NULL))
      OR EXISTS (SELECT 1 FROM task_types WHERE type = ?2 AND (rate_count IS NOT NULL OR cost_budget IS NOT NULL))
      OR EXISTS (SELECT 1 FROM tasks WHERE status = 'queued' AND type = ?2 AND id <> ?3)
      OR EXISTS (SELECT 1 FROM tasks WHERE status = 'scheduled' AND run_at <= ?4 AND type = ?2)
      OR EXISTS (SELECT 1 FROM tasks WHERE status = 'waiting' AND wake_at <= ?4 AND type = ?2) AS blocked`,
  /** Scheduled tasks and waits that end by themselves (sleeps, signal timeouts): what promotion will queue. */
  nextScheduledAt: `SELECT min(at) AS at FROM (
      SELECT min(run_at) AS at FROM tasks WHERE status = 'scheduled'
      UNION ALL SELECT min(wake_at) FROM tasks WHERE status = 'waiting' AND wake_at IS NOT NULL)`,
  nextScheduledAtInQueues: `SELECT min(at) AS at FROM (
      SELECT min(run_at) AS at FROM tasks WHERE status = 'scheduled' AND queue IN (SELECT value FROM json_each(?1))
      UNION ALL SELECT min(wake_at) FROM tasks WHERE status = 'waiting' AND wake_at IS NOT NULL
        AND queue IN (SELECT value FROM json_each(?1)))`,

  heartbeat: `UPDATE tasks SET lease_until = ? WHERE id = ? AND attempt_token = ? AND status = 'running'
    RETURNING lease_until, cancel_requested, started_at, soft_timeout_ms`,
  /** ?1 the last progress of the batch (JSON) or null, ?2 now, ?3 how many events the batch appends, ?4 id, ?5 token. */
  appendAttemptEvents: `UPDATE tasks SET progress = coalesce(?1, progress), updated_at = ?2, event_seq = event_seq + ?3
    WHERE id = ?4 AND attempt_token = ?5 AND status = 'running' RETURNING event_seq, queue, owner`,
  /**
   * appendAttemptEvents for `rows` attempts in one statement: per attempt its id, token, how many events and last
   * progress as JSON text or null (no task twice), then now. Returns the attempts it updated. Bound values, not one
   * JSON array: extracting each item's fields from JSON cost more than the row update (5.4 µs per attempt in all).
   */
  appendAttemptEventsMany: (rows: number) => `WITH j(id, token, n, progress) AS (VALUES ${valueRows(rows, 4)})
    UPDATE tasks SET progress = coalesce(j.progress, tasks.progress), updated_at = ?, event_seq = event_seq + j.n
    FROM j WHERE tasks.id = j.id AND tasks.attempt_token = j.token AND tasks.status = 'running'
    RETURNING tasks.id, event_seq, queue, owner`,
  /** One statement for every outcome: the caller passes the columns that outcome sets. */
  finish: `UPDATE tasks SET status = ?, run_at = coalesce(?, run_at), result = ?, error = ?, completed_at = ?,
      attempts = attempts - ?,
      attempt_token = NULL, lease_until = NULL, updated_at = ?, event_seq = event_seq + 1
    WHERE id = ? AND attempt_token = ? AND status = 'running' AND (? = 0 OR lease_until < ?)
    RETURNING id, queue, type, owner, status, attempts, run_at, started_at, event_seq, parent_id, child_key, started_seq,
      worker_id`,
  /**
   * finish for a batch of `rows` plain completions in one statement (per-row statements cost more than the rows): per
   * completion its id, token and result as JSON text (no task twice), then now twice. Returns what finish returns, for
   * those applied. Bound values, not one JSON array: a result's text went into the array escaped and came out of it
   * unescaped, a quarter of the finish for results of 2 KB (docs/benchmarks.md, thirteenth session).
   */
  completeMany: (rows: number) => completeMany(rows, 'queue, type, owner, status, attempts, run_at, started_at, '),
  /**
   * completeMany for a batch whose every request names the task as its claim returned it (AttemptRef.claimed): returns
   * only what the claim cannot know, the rest being the claim's (six values less to read per task).
   */
  completeManyClaimed: (rows: number) => completeMany(rows, ''),
  expiredLeases: `SELECT * FROM tasks WHERE status = 'running' AND lease_until < ? ORDER BY lease_until LIMIT ?`,

  /** A cancelled task also closes its debounce window, so a retry by hand cannot reopen it. */
  cancelNow: `UPDATE tasks SET status = 'cancelled', error = ?, completed_at = ?, updated_at = ?, event_seq = event_seq + 1,
      debounce_key = NULL
    WHERE id = ? AND status IN ('scheduled', 'queued', 'waiting') RETURNING *`,
  /** What cancel needs to know before it changes anything: a waiting parent cancels its children, a child tells its parent. */
  cancelTarget: `SELECT status, parent_id, child_key, wait_kind, wait_name FROM tasks WHERE id = ?`,
  requestCancel: `UPDATE tasks SET cancel_requested = 1, updated_at = ? WHERE id = ? AND status = 'running' RETURNING *`,
  retry: `UPDATE tasks SET status = 'queued', attempts = 0, run_at = ?, error = NULL, result = NULL, progress = NULL,
      cancel_requested = 0, completed_at = NULL, started_at = NULL, updated_at = ?, event_seq = event_seq + 1
    WHERE id = ? AND status IN ('failed', 'cancelled') RETURNING *`,
  /** ?1 now, ?2 queue, ?3 limit: the oldest failures of a queue first, along tasks_finished. */
  retryFailedOfQueue: `UPDATE tasks SET status = 'queued', attempts = 0, run_at = ?1, error = NULL, result = NULL,
      progress = NULL, cancel_requested = 0, completed_at = NULL, started_at = NULL, updated_at = ?1,
      event_seq = event_seq + 1
    WHERE id IN (SELECT id FROM tasks WHERE status = 'failed' AND completed_at <= ?1 AND queue = ?2
      ORDER BY completed_at LIMIT ?3)
    RETURNING id, queue, owner, event_seq`,
  deleteTask: `DELETE FROM tasks WHERE id = ? AND status <> 'running' RETURNING id`,
  deleteEventsOfTask: `DELETE FROM task_event_blocks WHERE task_id = ?`,
  deleteRecentEventsOfTask: `DELETE FROM task_events_recent WHERE task_id = ?`,
  deleteCheckpointsOfTask: `DELETE FROM task_checkpoints WHERE task_id = ?`,
  deleteStepsOfTask: `DELETE FROM task_steps WHERE task_id = ?`,
  deleteSignalsOfTask: `DELETE FROM task_signals WHERE task_id = ?`,

  // ---- durable execution ----
  /** The version a checkpoint gets, and its event's seq, from one update guarded by the attempt token. */
  bumpCheckpoint: `UPDATE tasks SET checkpoint_version = checkpoint_version + 1, updated_at = ?, event_seq = event_seq + 1
    WHERE id = ? AND attempt_token = ? AND status = 'running' RETURNING checkpoint_version, event_seq, queue, owner`,
  insertCheckpoint: `INSERT INTO task_checkpoints (task_id, version, label, state, size, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
  listCheckpoints: `SELECT version, label, size, created_at FROM task_checkpoints WHERE task_id = ? ORDER BY version`,
  getCheckpoint: `SELECT version, label, size, created_at, state FROM task_checkpoints WHERE task_id = ? AND version = ?`,
  latestCheckpoint: `SELECT version, label, size, created_at, state FROM task_checkpoints WHERE task_id = ?
    ORDER BY version DESC LIMIT 1`,
  recoverTarget: `SELECT status, checkpoint_version FROM tasks WHERE id = ?`,
  /** retry, also setting the checkpoint version the next attempt resumes from. */
  recover: `UPDATE tasks SET status = 'queued', attempts = 0, run_at = ?, error = NULL, result = NULL, progress = NULL,
      cancel_requested = 0, completed_at = NULL, started_at = NULL, checkpoint_version = ?, updated_at = ?,
      event_seq = event_seq + 1
    WHERE id = ? AND status IN ('failed', 'cancelled') RETURNING *`,
  /** The version a derive copies: a given one, or the latest (the second parameter null). */
  checkpointToCopy: `SELECT version FROM task_checkpoints WHERE task_id = ? AND (?2 IS NULL OR version = ?2)
    ORDER BY version DESC LIMIT 1`,
  /** A task just created (seq 1) starting from a copied checkpoint: version 1 and its `checkpoint` event's seq. */
  startFromCheckpoint: `UPDATE tasks SET checkpoint_version = 1, event_seq = event_seq + 1, updated_at = ? WHERE id = ?
    RETURNING *`,
  /** Copies checkpoint ($source, $version) as version 1 of a new task. */
  copyCheckpointTo: `INSERT INTO task_checkpoints (task_id, version, label, state, size, created_at)
    SELECT ?, 1, ?, state, size, ? FROM task_checkpoints WHERE task_id = ? AND version = ? RETURNING size`,
  runningWithToken: `SELECT id, queue, owner FROM tasks WHERE id = ? AND attempt_token = ? AND status = 'running'`,
  insertStep: `INSERT INTO task_steps (task_id, name, result, created_at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING`,
  listSteps: `SELECT name, result, created_at FROM task_steps WHERE task_id = ? ORDER BY created_at, rowid`,
  /** The children of a parent's wait, in the order given. */
  childrenOfWait: `SELECT id, status, result, error FROM tasks WHERE parent_id = ? AND child_key = ? ORDER BY child_index`,
  insertChild: `INSERT INTO tasks (id, queue, type, payload, status, priority, run_at, max_attempts, backoff, timeout_ms,
      idempotency_key, tags, owner, parent_id, concurrency_key, traceparent, event_seq, created_at, updated_at,
      soft_timeout_ms, throttle_key, throttle_limit, throttle_period_ms, cost, debounce, debounce_key, singleton,
      singleton_key, child_key, child_index)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  /** Ends the attempt by suspending: no lease, no token, the attempt given back (it did not fail). */
  suspend: `UPDATE tasks SET status = 'waiting', attempts = attempts - 1, attempt_token = NULL, lease_until = NULL,
      wait_kind = ?, wait_name = ?, wake_at = ?, children_pending = ?, children_total = ?, updated_at = ?,
      event_seq = event_seq + 1
    WHERE id = ? AND status = 'running' RETURNING *`,
  /**
   * A child of the parent's current wait finished: one fewer pending, and the parent is queued when none remain.
   * Two events when it wakes (child-finished, resumed), else one. ?1 now, ?2 parent id, ?3 wait name.
   */
  childFinished: `UPDATE tasks SET children_pending = children_pending - 1,
      status = CASE WHEN children_pending - 1 <= 0 THEN 'queued' ELSE status END,
      run_at = CASE WHEN children_pending - 1 <= 0 THEN ?1 ELSE run_at END,
      event_seq = event_seq + CASE WHEN children_pending - 1 <= 0 THEN 2 ELSE 1 END, updated_at = ?1
    WHERE id = ?2 AND status = 'waiting' AND wait_kind = 'children' AND wait_name = ?3
    RETURNING id, queue, owner, status, event_seq, children_pending`,
  /** A waiting task queued again (its `resumed` event takes the new seq); ?1 now, ?2 id. */
  resume: `UPDATE tasks SET status = 'queued', run_at = ?1, updated_at = ?1, event_seq = event_seq + 1
    WHERE id = ?2 AND status = 'waiting' RETURNING id, queue, owner, event_seq`,
  /** Unfinished children of a wait. */
  unfinishedChildren: `SELECT id FROM tasks WHERE parent_id = ? AND child_key = ?
    AND status IN ('scheduled', 'queued', 'running', 'waiting') ORDER BY child_index`,
  signalTarget: `SELECT status, wait_kind, wait_name FROM tasks WHERE id = ?`,
  insertSignal: `INSERT INTO task_signals (task_id, name, data, created_at) VALUES (?, ?, ?, ?) RETURNING id`,
  bumpEventSeq: `UPDATE tasks SET updated_at = ?, event_seq = event_seq + 1 WHERE id = ? RETURNING event_seq, queue, owner`,
  firstSignal: `SELECT id, name, data, created_at, consumed_at FROM task_signals WHERE task_id = ? AND name = ?
    ORDER BY id LIMIT 1`,
  consumeSignal: `UPDATE task_signals SET consumed_at = ? WHERE id = ? AND consumed_at IS NULL`,
  listSignals: `SELECT id, name, data, created_at, consumed_at FROM task_signals WHERE task_id = ? ORDER BY id`,

  listQueues: `SELECT * FROM queues ORDER BY name`,
  getQueue: `SELECT * FROM queues WHERE name = ?`,
  upsertQueue: `INSERT INTO queues (name, paused, max_concurrency, rate_count, rate_interval_ms, max_per_key, updated_at,
      cost_budget, cost_period_ms, cost_per_key)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET paused = excluded.paused,
      max_concurrency = excluded.max_concurrency, rate_count = excluded.rate_count,
      rate_interval_ms = excluded.rate_interval_ms, max_per_key = excluded.max_per_key, updated_at = excluded.updated_at,
      cost_budget = excluded.cost_budget, cost_period_ms = excluded.cost_period_ms, cost_per_key = excluded.cost_per_key`,
  listTypes: `SELECT * FROM task_types ORDER BY type`,
  upsertType: `INSERT INTO task_types (type, defaults, payload_schema, updated_at, rate_count, rate_interval_ms,
      cost_budget, cost_period_ms, cost_per_key)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT (type) DO UPDATE SET defaults = excluded.defaults, payload_schema = excluded.payload_schema,
      updated_at = excluded.updated_at, rate_count = excluded.rate_count, rate_interval_ms = excluded.rate_interval_ms,
      cost_budget = excluded.cost_budget, cost_period_ms = excluded.cost_period_ms, cost_per_key = excluded.cost_per_key`,
  deleteType: `DELETE FROM task_types WHERE type = ?`,
  listSubscriptions: `SELECT * FROM subscriptions ORDER BY name`,
  getSubscription: `SELECT * FROM subscriptions WHERE name = ?`,
  upsertSubscription: `INSERT INTO subscriptions (name, pattern, queue, type, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)
    ON CONFLICT (name) DO UPDATE SET pattern = excluded.pattern, queue = excluded.queue, type = excluded.type,
      updated_at = excluded.updated_at`,
  deleteSubscription: `DELETE FROM subscriptions WHERE name = ?`,
  listSchedules: `SELECT * FROM schedules ORDER BY name`,
  getSchedule: `SELECT * FROM schedules WHERE name = ?`,
  upsertSchedule: `INSERT INTO schedules (name, cron, every_ms, timezone, task, missed_policy, paused, next_run_at, created_at, updated_at)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET cron = excluded.cron, every_ms = excluded.every_ms,
      timezone = excluded.timezone, task = excluded.task, missed_policy = excluded.missed_policy,
      paused = excluded.paused, next_run_at = excluded.next_run_at, updated_at = excluded.updated_at`,
  deleteSchedule: `DELETE FROM schedules WHERE name = ?`,
  dueSchedules: `SELECT * FROM schedules WHERE paused = 0 AND next_run_at IS NOT NULL AND next_run_at <= ?
    ORDER BY next_run_at LIMIT ?`,
  advanceSchedule: `UPDATE schedules SET next_run_at = ?, last_run_at = coalesce(?, last_run_at),
      last_task_id = coalesce(?, last_task_id), updated_at = ? WHERE name = ? AND next_run_at = ?`,
  finishedBefore: `SELECT id FROM tasks WHERE status = ? AND completed_at < ? ORDER BY id LIMIT ?`,
  deleteEventsOf: `DELETE FROM task_event_blocks WHERE task_id IN (SELECT value FROM json_each(?))`,
  deleteRecentEventsOf: `DELETE FROM task_events_recent WHERE task_id IN (SELECT value FROM json_each(?))`,
  deleteCheckpointsOf: `DELETE FROM task_checkpoints WHERE task_id IN (SELECT value FROM json_each(?))`,
  deleteStepsOf: `DELETE FROM task_steps WHERE task_id IN (SELECT value FROM json_each(?))`,
  deleteSignalsOf: `DELETE FROM task_signals WHERE task_id IN (SELECT value FROM json_each(?))`,
  deleteTasks: `DELETE FROM tasks WHERE id IN (SELECT value FROM json_each(?))`,

  upsertWorker: `INSERT INTO workers (id, host, pid, types, queues, concurrency, running, started_at, last_seen_at)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET host = excluded.host, pid = excluded.pid,
      types = excluded.types, queues = excluded.queues, concurrency = excluded.concurrency, running = excluded.running,
      last_seen_at = excluded.last_seen_at, registered = 1`,
  sawWorker: `INSERT INTO workers (id, host, pid, types, queues, concurrency, running, started_at, last_seen_at, registered)
    VALUES (?, NULL, NULL, ?, ?, ?, 0, ?, ?, 0) ON CONFLICT (id) DO UPDATE SET
      last_seen_at = max(workers.last_seen_at, excluded.last_seen_at),
      types = CASE workers.registered WHEN 1 THEN workers.types ELSE excluded.types END,
      queues = CASE workers.registered WHEN 1 THEN workers.queues ELSE excluded.queues END,
      concurrency = CASE workers.registered WHEN 1 THEN workers.concurrency ELSE excluded.concurrency END`,
  listWorkers: `SELECT * FROM workers WHERE last_seen_at >= ? ORDER BY id`,
  removeWorkers: `DELETE FROM workers WHERE last_seen_at < ? OR id = ?`,
  insertApiKey: `INSERT INTO api_keys (id, name, owner, scopes, secret_hash, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
  getApiKey: `SELECT * FROM api_keys WHERE id = ?`,
  listApiKeys: `SELECT * FROM api_keys ORDER BY created_at, id`,
  revokeApiKey: `UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL`,
  /** The first process to ask creates the secret; the others (inside the same IMMEDIATE transaction) read it. */
  insertSecret: `INSERT INTO secrets (name, value, created_at) VALUES (?, ?, ?) ON CONFLICT (name) DO NOTHING`,
  getSecret: `SELECT value FROM secrets WHERE name = ?`,

  dataVersion: `PRAGMA data_version`,
  /** The last event id given out, compacted or not. */
  maxEventId: `SELECT coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'task_events_recent'), 0) AS id`,
  /**
   * The event blocks holding events after id ?1, with their task's queue and owner (the caller picks the events and
   * puts them in id order). Every block's events have lower ids than every recent event's (compaction moves all recent
   * events at once), so they come before recentEventsAfter's. The blocks drive the join (a LEFT JOIN's left side is
   * always the outer loop): left to choose, SQLite scanned every task and indexed the events to join them, which made
   * a reader far behind take seconds per page. A task gone meanwhile leaves its queue null.
   */
  blocksAfter: `SELECT b.task_id, b.events, t.queue, t.owner
    FROM task_event_blocks b LEFT JOIN tasks t ON t.id = b.task_id WHERE b.last_id > ?1`,
  /** The events after id ?1 not compacted yet, in id order (the first ?2): a walk of their ids, as blocksAfter. */
  recentEventsAfter: `SELECT e.id, e.task_id, e.seq, e.kind, e.data, e.at, t.queue, t.owner
    FROM task_events_recent e LEFT JOIN tasks t ON t.id = e.task_id WHERE e.id > ?1 ORDER BY e.id LIMIT ?2`,
  maxNoticeId: `SELECT coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'task_notices'), 0) AS id`,
  noticesAfter: `SELECT id, body FROM task_notices WHERE id > ?1 ORDER BY id LIMIT ?2`,
  /** The pollers checked in, but ?1 (the asking connection's own). */
  otherPollers: `SELECT id, pid, pid_namespace FROM pollers WHERE id <> ?1`,
  checkInPoller: `INSERT OR REPLACE INTO pollers (id, pid, pid_namespace, since) VALUES (?, ?, ?, ?)`,
  removePoller: `DELETE FROM pollers WHERE id = ?`,
  cancelRequestedIds: `SELECT id FROM tasks WHERE status = 'running' AND cancel_requested = 1`,
} as const;
