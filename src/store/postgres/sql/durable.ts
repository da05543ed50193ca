// Durable execution (docs/durable.md, "Store model"): checkpoints, recover, steps, suspend, wake-ups, signals, and
// the cancel of waiting tasks and of children. The events these statements write are those of ../../transitions.ts
// (kind and data), which the store announces; the conformance suite checks that both agree. The wake-ups inside the
// claim and finish statements are built here too (claim.ts and attempts.ts include them).
import { timedWakeReason } from '../../waits.ts';
import { type Names, prepared, startedEventData, taskColumns } from './common.ts';

const TERMINAL = `('completed', 'failed', 'cancelled')`;

const WAKE_REASON = (kind: string) =>
  `CASE WHEN ${kind} = 'signal' THEN '${timedWakeReason('signal')}' ELSE '${timedWakeReason('sleep')}' END`;

/**
 * The claim statement's due waits, a branch of its `due` ($1 now): waiting tasks whose time passed (sleeps, signal
 * timeouts), along tasks_waiting (usually an empty range), locked. They compete with queued tasks as if queued at $1
 * (what SQLite's promotion makes them); the claim's `promoted` queues those not claimed, bumping their seq by 1 for
 * their `resumed` event, and `claimed` bumps a claimed one's by 2 (`resumed`, then `started`). Folded into the
 * claim's existing CTEs so that the claim runs no more table-modifying nodes than before.
 */
export const DUE_WAITS_SELECT = (tasks: string) => `SELECT * FROM (
          SELECT id, type, queue, priority, $1::bigint AS run_at, wait_kind, wait_name FROM ${tasks}
          WHERE status = 'waiting' AND wake_at <= $1::bigint
          FOR UPDATE SKIP LOCKED
        ) AS due_waits`;

/** After the claim's `claimed` and `promoted`: every due wait's `resumed` event (seq and data). */
export const WOKEN_CTE = `woken AS MATERIALIZED (
        SELECT id, queue, owner, event_seq AS seq, ${WAKE_REASON('wait_kind')} AS reason, wait_name AS name
        FROM promoted WHERE wait_kind IS NOT NULL
        UNION ALL
        SELECT c.id, c.queue, c.owner, c.event_seq - 1, ${WAKE_REASON('d.wait_kind')}, d.wait_name
        FROM claimed c JOIN due d ON d.id = c.id WHERE d.wait_kind IS NOT NULL
      )`;

/** Rows for the claim's event insert: the `resumed` events of `woken`. */
export const RESUMED_EVENTS_SELECT = `SELECT id, seq, 'resumed', jsonb_build_object('reason', reason, 'name', name), $1::bigint FROM woken`;

/** The woken waits, as one JSON array (null: none) for the statement's answer. */
export const WOKEN_JSON = `(SELECT json_agg(woken) FROM woken)`;

/**
 * CTEs for the finish statement ($2 now), after its `finished` CTE: each child of a wait that reached a terminal
 * status takes one off its parent's pending count, if the parent still waits for that wait; the parent whose count
 * reaches 0 is queued again. The update of the parent row serializes concurrent finishes of its children (each
 * reads the count another committed). `parent_events` lists the parents' events for the store's notices. Only
 * children (child_key set) enter; a batch of other tasks updates no parent.
 */
export function childrenFinishedCtes({ tasks, events }: Names): string {
  return `child_done AS MATERIALIZED (
        SELECT id, parent_id, child_key, status,
          row_number() OVER (PARTITION BY parent_id, child_key ORDER BY id)::integer AS k
        FROM finished WHERE child_key IS NOT NULL AND status IN ${TERMINAL}
      ),
      parents AS (
        UPDATE ${tasks} p SET children_pending = p.children_pending - d.n,
          status = CASE WHEN p.children_pending - d.n <= 0 THEN 'queued' ELSE p.status END,
          run_at = CASE WHEN p.children_pending - d.n <= 0 THEN $2::bigint ELSE p.run_at END,
          event_seq = p.event_seq + d.n + CASE WHEN p.children_pending - d.n <= 0 THEN 1 ELSE 0 END,
          updated_at = $2::bigint
        FROM (SELECT parent_id, child_key, count(*)::integer AS n FROM child_done GROUP BY parent_id, child_key) d
        WHERE p.id = d.parent_id AND p.status = 'waiting' AND p.wait_kind = 'children' AND p.wait_name = d.child_key
        RETURNING p.id, p.queue, p.owner, p.status, p.event_seq, p.children_pending, d.child_key AS name, d.n
      ),
      parent_events AS MATERIALIZED (
        SELECT p.id AS "taskId", p.queue, p.owner, 'child-finished' AS kind,
          p.event_seq - p.n - CASE WHEN p.status = 'queued' THEN 1 ELSE 0 END + c.k AS seq,
          jsonb_build_object('childId', c.id, 'name', p.name, 'status', c.status, 'pending', p.children_pending + p.n - c.k) AS data
        FROM parents p JOIN child_done c ON c.parent_id = p.id AND c.child_key = p.name
        UNION ALL
        SELECT id, queue, owner, 'resumed', event_seq, jsonb_build_object('reason', 'children', 'name', name)
        FROM parents WHERE status = 'queued'
      ),
      parent_events_written AS (
        INSERT INTO ${events} (task_id, seq, kind, data, at) SELECT "taskId", seq, kind, data, $2::bigint FROM parent_events
      )`;
}

export const PARENT_EVENTS_JSON = `(SELECT json_agg(parent_events) FROM parent_events)`;

export function durableSql({ s, tasks, events, columns }: Names) {
  const checkpoints = `${s}.task_checkpoints`;
  const steps = `${s}.task_steps`;
  const signals = `${s}.task_signals`;
  /** Cancels at once ($1 id, $2 error, $3 now) a task in one of `statuses`, with its `cancelled` event. */
  const cancelNow = (statuses: string) => `WITH changed AS (
        UPDATE ${tasks} SET status = 'cancelled', error = $2::jsonb, completed_at = $3::bigint,
          event_seq = event_seq + 1, updated_at = $3::bigint, debounce_key = NULL
        WHERE id = $1::text AND status IN ${statuses}
        RETURNING ${columns}
      ),
      cancelled_events AS (
        INSERT INTO ${events} (task_id, seq, kind, data, at)
        SELECT id, event_seq, 'cancelled', jsonb_build_object('error', $2::jsonb), $3::bigint FROM changed
      )
      SELECT ${columns} FROM changed`;

  return {
    /** $1 id, $2 token, $3 label, $4 state, $5 now, $6 size. */
    saveCheckpoint: prepared(`WITH changed AS (
        UPDATE ${tasks} SET checkpoint_version = checkpoint_version + 1, updated_at = $5::bigint, event_seq = event_seq + 1
        WHERE id = $1::text AND attempt_token = $2::text AND status = 'running'
        RETURNING id, queue, owner, event_seq, checkpoint_version
      ),
      saved AS (
        INSERT INTO ${checkpoints} (task_id, version, label, state, size, created_at)
        SELECT id, checkpoint_version, $3::text, $4::jsonb, $6::integer, $5::bigint FROM changed
      ),
      appended AS (
        INSERT INTO ${events} (task_id, seq, kind, data, at)
        SELECT id, event_seq, 'checkpoint',
          jsonb_build_object('version', checkpoint_version, 'label', $3::text, 'size', $6::integer), $5::bigint
        FROM changed
      )
      SELECT queue, owner, event_seq, checkpoint_version FROM changed`),
    listCheckpoints: prepared(`SELECT version, label, size, created_at FROM ${checkpoints} WHERE task_id = $1::text ORDER BY version`),
    getCheckpoint: prepared(`SELECT version, label, size, created_at, state FROM ${checkpoints}
      WHERE task_id = $1::text AND version = $2::integer`),
    latestCheckpoint: prepared(`SELECT version, label, size, created_at, state FROM ${checkpoints}
      WHERE task_id = $1::text ORDER BY version DESC LIMIT 1`),
    /** $1 task ids, $2 versions, pairwise: the checkpoints claimed tasks resume from. */
    checkpointsOf: prepared(`SELECT task_id, version, label, size, created_at, state FROM ${checkpoints}
      WHERE (task_id, version) IN (SELECT * FROM unnest($1::text[], $2::integer[]))`),
    lockForRecover: prepared(`SELECT status, checkpoint_version FROM ${tasks} WHERE id = $1::text FOR UPDATE`),
    /** $1 id, $2 version to copy, $3 new version, $4 label, $5 now. */
    copyCheckpoint: prepared(`INSERT INTO ${checkpoints} (task_id, version, label, state, size, created_at)
      SELECT task_id, $3::integer, $4::text, state, size, $5::bigint FROM ${checkpoints}
      WHERE task_id = $1::text AND version = $2::integer
      RETURNING version`),
    /** $1 task id, $2 version (null: the latest): the version a derive copies. */
    checkpointToCopy: prepared(`SELECT version FROM ${checkpoints}
      WHERE task_id = $1::text AND ($2::integer IS NULL OR version = $2::integer) ORDER BY version DESC LIMIT 1`),
    /**
     * $1 new task id (created by the same transaction, seq 1), $2 source id, $3 source version, $4 label, $5 now: the
     * source checkpoint copied as the new task's version 1, with its `checkpoint` event.
     */
    startFromCheckpoint: prepared(`WITH copied AS (
        INSERT INTO ${checkpoints} (task_id, version, label, state, size, created_at)
        SELECT $1::text, 1, $4::text, state, size, $5::bigint FROM ${checkpoints}
        WHERE task_id = $2::text AND version = $3::integer
        RETURNING size
      ),
      changed AS (
        UPDATE ${tasks} SET checkpoint_version = 1, event_seq = event_seq + 1, updated_at = $5::bigint
        WHERE id = $1::text AND EXISTS (SELECT 1 FROM copied)
        RETURNING ${columns}
      ),
      appended AS (
        INSERT INTO ${events} (task_id, seq, kind, data, at)
        SELECT id, event_seq, 'checkpoint',
          jsonb_build_object('version', 1, 'label', $4::text, 'size', (SELECT size FROM copied)), $5::bigint
        FROM changed
      )
      SELECT ${columns}, (SELECT size FROM copied) AS copied_size FROM changed`),
    /** $1 id, $2 now, $3 checkpoint version to resume from, $4 fromVersion (null: the latest). */
    recover: prepared(`WITH changed AS (
        UPDATE ${tasks} SET status = 'queued', attempts = 0, run_at = $2::bigint, error = NULL, result = NULL,
          progress = NULL, cancel_requested = false, completed_at = NULL, started_at = NULL,
          checkpoint_version = $3::integer, updated_at = $2::bigint, event_seq = event_seq + 1
        WHERE id = $1::text AND status IN ('failed', 'cancelled')
        RETURNING ${columns}
      ),
      retrying_events AS (
        INSERT INTO ${events} (task_id, seq, kind, data, at)
        SELECT id, event_seq, 'retrying', jsonb_build_object('manual', true, 'recover', true, 'fromVersion', $4::integer),
          $2::bigint
        FROM changed
      )
      SELECT ${columns} FROM changed`),

    /** $1 id, $2 token, $3 name, $4 result, $5 now: `owned` says the token is current, `inserted` the step is new. */
    saveStep: prepared(`WITH owner AS (
        SELECT id FROM ${tasks} WHERE id = $1::text AND attempt_token = $2::text AND status = 'running'
      ),
      inserted AS (
        INSERT INTO ${steps} (task_id, name, result, created_at) SELECT id, $3::text, $4::jsonb, $5::bigint FROM owner
        ON CONFLICT DO NOTHING RETURNING 1
      )
      SELECT (SELECT count(*) FROM owner)::integer AS owned, (SELECT count(*) FROM inserted)::integer AS inserted`),
    listSteps: prepared(`SELECT name, result, created_at FROM ${steps} WHERE task_id = $1::text ORDER BY created_at, name`),

    /** Locks the running attempt's row: suspend decides under it. */
    lockRunning: prepared(`SELECT id, queue, owner FROM ${tasks}
      WHERE id = $1::text AND attempt_token = $2::text AND status = 'running' FOR UPDATE`),
    /** The children of a wait in order. */
    childrenOfWait: prepared(`SELECT id, status, result, error FROM ${tasks}
      WHERE parent_id = $1::text AND child_key = $2::text ORDER BY child_index`),
    /**
     * The same, locked: a child whose finish is committing is waited for and read as it ends, and one that finishes
     * later finds its parent waiting (the count taken here is exact).
     */
    lockChildrenOfWait: prepared(`SELECT id, status, result, error FROM ${tasks}
      WHERE parent_id = $1::text AND child_key = $2::text ORDER BY child_index FOR UPDATE`),
    /** $1 child ids in order, $2 wait name: marks new tasks as the children of a wait. */
    markChildren: prepared(`UPDATE ${tasks} t SET child_key = $2::text, child_index = (c.ord - 1)::integer
      FROM unnest($1::text[]) WITH ORDINALITY AS c(id, ord) WHERE t.id = c.id`),
    /**
     * $1 id, $2 wait kind, $3 name, $4 wake at, $5 children pending, $6 total, $7 now, $8 the event's waitingFor.
     * Ends the attempt by suspending: no lease, no token, the attempt given back (it did not fail).
     */
    suspend: prepared(`WITH ending AS (
        -- The attempt as the claim left it: suspend runs after lockRunning, in its transaction, so nothing changed it.
        SELECT id, started_seq, attempts FROM ${tasks} WHERE id = $1::text
      ),
      changed AS (
        UPDATE ${tasks} t SET status = 'waiting', attempts = t.attempts - 1, attempt_token = NULL, lease_until = NULL,
          wait_kind = $2::text, wait_name = $3::text, wake_at = $4::bigint, children_pending = $5::integer,
          children_total = $6::integer, updated_at = $7::bigint, event_seq = t.event_seq + 1, started_seq = NULL
        FROM ending WHERE t.id = ending.id AND t.status = 'running'
        RETURNING ${taskColumns('t')}, ending.started_seq AS ended_started_seq, ending.attempts AS ended_attempt,
          t.worker_id
      ),
      -- With the attempt's started event, which its row held until now (null: stored by an earlier version).
      appended AS (
        INSERT INTO ${events} (task_id, seq, kind, data, at)
        SELECT id, ended_started_seq, 'started', ${startedEventData('ended_attempt', 'worker_id')},
          started_at
        FROM changed WHERE ended_started_seq IS NOT NULL
        UNION ALL
        SELECT id, event_seq, 'waiting', jsonb_build_object('waitingFor', $8::jsonb), $7::bigint FROM changed
      )
      SELECT ${columns} FROM changed`),
    /** $1 parent id, $2 wait name, $3 child id, $4 child status, $5 now: childrenFinishedCtes for one child. */
    childFinished: prepared(`WITH parent AS (
        UPDATE ${tasks} SET children_pending = children_pending - 1,
          status = CASE WHEN children_pending - 1 <= 0 THEN 'queued' ELSE status END,
          run_at = CASE WHEN children_pending - 1 <= 0 THEN $5::bigint ELSE run_at END,
          event_seq = event_seq + CASE WHEN children_pending - 1 <= 0 THEN 2 ELSE 1 END, updated_at = $5::bigint
        WHERE id = $1::text AND status = 'waiting' AND wait_kind = 'children' AND wait_name = $2::text
        RETURNING id, queue, owner, status, event_seq, children_pending
      ),
      child_event AS (
        INSERT INTO ${events} (task_id, seq, kind, data, at)
        SELECT id, CASE WHEN status = 'queued' THEN event_seq - 1 ELSE event_seq END, 'child-finished',
          jsonb_build_object('childId', $3::text, 'name', $2::text, 'status', $4::text, 'pending', children_pending), $5::bigint
        FROM parent
      ),
      resumed_event AS (
        INSERT INTO ${events} (task_id, seq, kind, data, at)
        SELECT id, event_seq, 'resumed', jsonb_build_object('reason', 'children', 'name', $2::text), $5::bigint
        FROM parent WHERE status = 'queued'
      )
      SELECT id, queue, owner, status, event_seq, children_pending FROM parent`),
    /** $1 id, $2 now, $3 reason, $4 wait name: a waiting task queued again. */
    resume: prepared(`WITH changed AS (
        UPDATE ${tasks} SET status = 'queued', run_at = $2::bigint, updated_at = $2::bigint, event_seq = event_seq + 1
        WHERE id = $1::text AND status = 'waiting'
        RETURNING id, queue, owner, event_seq
      ),
      appended AS (
        INSERT INTO ${events} (task_id, seq, kind, data, at)
        SELECT id, event_seq, 'resumed', jsonb_build_object('reason', $3::text, 'name', $4::text), $2::bigint FROM changed
      )
      SELECT id, queue, owner, event_seq FROM changed`),

    /** What the cancel of a waiting task or of a child decides on, locked. */
    lockForCancel: prepared(`SELECT status, parent_id, child_key, wait_kind, wait_name FROM ${tasks} WHERE id = $1::text FOR UPDATE`),
    cancelNowDurable: prepared(cancelNow(`('scheduled', 'queued', 'waiting')`)),
    requestCancel: prepared(`UPDATE ${tasks} SET cancel_requested = true, updated_at = $2::bigint
      WHERE id = $1::text AND status = 'running' RETURNING ${columns}`),
    unfinishedChildren: prepared(`SELECT id FROM ${tasks} WHERE parent_id = $1::text AND child_key = $2::text
      AND status NOT IN ${TERMINAL} ORDER BY child_index`),

    lockForSignal: prepared(`SELECT status, wait_kind, wait_name FROM ${tasks} WHERE id = $1::text FOR UPDATE`),
    /** $1 id, $2 name, $3 data, $4 now: stores the signal and appends its event. */
    sendSignal: prepared(`WITH stored AS (
        INSERT INTO ${signals} (task_id, name, data, created_at) VALUES ($1::text, $2::text, $3::jsonb, $4::bigint) RETURNING id
      ),
      changed AS (
        UPDATE ${tasks} SET updated_at = $4::bigint, event_seq = event_seq + 1 WHERE id = $1::text
        RETURNING id, queue, owner, event_seq
      ),
      appended AS (
        INSERT INTO ${events} (task_id, seq, kind, data, at)
        SELECT id, event_seq, 'signal', jsonb_build_object('name', $2::text), $4::bigint FROM changed
      )
      SELECT (SELECT id FROM stored) AS signal_id, queue, owner, event_seq FROM changed`),
    firstSignal: prepared(`SELECT id, name, data, created_at, consumed_at FROM ${signals}
      WHERE task_id = $1::text AND name = $2::text ORDER BY id LIMIT 1`),
    consumeSignal: prepared(`UPDATE ${signals} SET consumed_at = $2::bigint WHERE id = $1::bigint AND consumed_at IS NULL`),
    listSignals: prepared(`SELECT id, name, data, created_at, consumed_at FROM ${signals} WHERE task_id = $1::text ORDER BY id`),
  } as const;
}

/** DELETE CTEs for the durable rows of the tasks whose ids `ids` (a CTE or subquery of `id`) selects. */
export function deleteDurableRowsCtes(s: string, ids: string): string {
  return `doomed_checkpoints AS (DELETE FROM ${s}.task_checkpoints WHERE task_id IN (SELECT id FROM ${ids})),
      doomed_steps AS (DELETE FROM ${s}.task_steps WHERE task_id IN (SELECT id FROM ${ids})),
      doomed_signals AS (DELETE FROM ${s}.task_signals WHERE task_id IN (SELECT id FROM ${ids}))`;
}
