// Control of a task from outside its attempt: cancel, retry by hand, dead-letter redrive, delete.
import { type Names, prepared } from './common.ts';
import { deleteDurableRowsCtes } from './durable.ts';

export function controlSql({ s, tasks, events, columns }: Names) {
  return {
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
          updated_at = $3::bigint,
          -- A cancelled task closes its debounce window, so a retry by hand cannot reopen it (a running one has none).
          debounce_key = NULL
        -- Waiting tasks and children of a wait (unless running) take the durable path (sql/durable.ts).
        WHERE id = $1::text AND (status = 'running' OR (status IN ('scheduled', 'queued') AND child_key IS NULL))
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
      ),
      ${deleteDurableRowsCtes(s, 'deleted')}
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
  } as const;
}
