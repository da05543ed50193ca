// An attempt's life after its claim: heartbeat, progress and output (in batches), finish, and the sweeper's expired leases.
import { FINISH_EVENT_KIND } from '../../transitions.ts';
import { type Names, prepared, startedEventData } from './common.ts';
import { childrenFinishedCtes, PARENT_EVENTS_JSON } from './durable.ts';
import { REPORTED_COSTS_CTE } from './flow-limits.ts';

/** The event kind of each outcome, as transitions.ts names it; the event data below follows its finishEventData. */
const finishEventKind = `CASE outcome ${Object.entries(FINISH_EVENT_KIND)
  .map(([outcome, kind]) => `WHEN '${outcome}' THEN '${kind}'`)
  .join(' ')} END`;

export function attemptSql(names: Names) {
  const { tasks, events, columns } = names;
  /** completeMany's update, returning each applied request's place (ord, from 1) and `returning`. */
  const completeManyStatement = (returning: string) => `UPDATE ${tasks} t SET status = 'completed', result = nullif(r.value, 'null'::jsonb),
          error = NULL, completed_at = $2::bigint, attempt_token = NULL, lease_until = NULL, updated_at = $2::bigint,
          event_seq = t.event_seq + 1
        FROM (
          SELECT x.id, x.attempt_token, x.ord, x.value
          FROM ROWS FROM (jsonb_array_elements($4::jsonb), unnest($1::text[]), unnest($3::text[]))
            WITH ORDINALITY AS x(value, id, attempt_token, ord)
        ) AS r
        WHERE t.id = r.id AND t.attempt_token = r.attempt_token AND t.child_key IS NULL
        RETURNING r.ord::integer AS ord, ${returning}`;
  /**
   * The finish statement; `children`: for children of a wait only, else for every other task (see finishChildren);
   * `costs`: with $9, the costs the handlers reported (flow control: sql/flow-limits.ts), for batches that carry one.
   */
  const finishStatement = (children: boolean, costs = false) => {
    const childCondition = children ? 'l.child_key IS NOT NULL' : 'l.child_key IS NULL';
    // Children: their parents are locked first, in id order, before any child row: the order a cancel of a waiting
    // parent (parent, then its children) and suspend (task, then its children) take, so the two never deadlock.
    const parentLock = children
      ? `
      parent_lock AS MATERIALIZED (
        SELECT id FROM ${tasks} WHERE id IN (SELECT parent_id FROM current WHERE child_key IS NOT NULL)
        ORDER BY id FOR UPDATE
      ),`
      : '';
    // A one-time filter: evaluated before applicable reads a row, so the parent locks come first.
    const afterParentLock = children ? ' AND (SELECT count(*) FROM parent_lock) >= 0' : '';
    return `WITH request AS (
        SELECT r.*, $6::jsonb -> (r.ord - 1)::integer AS value
        FROM unnest($1::text[], $3::text[], $4::text[], $5::bigint[], $7::boolean[], $8::boolean[]${costs ? ', $9::integer[]' : ''})
          WITH ORDINALITY AS r(id, attempt_token, outcome, run_at, refund_attempt, only_if_lease_expired, ${costs ? 'reported_cost, ' : ''}ord)
      ),
      current AS MATERIALIZED (
        -- The ids again as an array parameter, and no other condition: one primary-key lookup per id, where a join
        -- (whose size the planner cannot know) or a status condition may scan every running task.
        SELECT id, status, attempt_token, lease_until, child_key, started_seq, attempts${children ? ', parent_id' : ''}
        FROM ${tasks}
        WHERE id = ANY($1::text[])
      ),${parentLock}
      -- In id order, which the update below follows: two batches lock the rows they share in the same order.
      -- With the attempt's started_seq and number as the claim left them: the update matches the same token, so the
      -- same attempt, whatever changed since this snapshot.
      applicable AS MATERIALIZED (
        SELECT DISTINCT ON (r.id) r.*, l.started_seq, l.attempts AS attempt
        FROM request r JOIN current l ON l.id = r.id AND l.attempt_token = r.attempt_token AND l.status = 'running'
        WHERE (NOT r.only_if_lease_expired OR l.lease_until < $2::bigint) AND ${childCondition}${afterParentLock}
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
          attempt_token = NULL, lease_until = NULL, updated_at = $2::bigint, event_seq = t.event_seq + 1,
          -- A completed task's row keeps its started event for good; any other end stores it (finished_events).
          started_seq = CASE WHEN a.outcome = 'completed' THEN t.started_seq END${
            costs ? ', reported_cost = coalesce(a.reported_cost, t.reported_cost)' : ''}
        FROM applicable a
        -- Checked again on the row as it is once locked (a concurrent finish or heartbeat may have changed it since
        -- the snapshot of applicable): the token (which only a running task has: no status condition, or the planner
        -- may walk every running task along tasks_leases for each request) and the lease.
        WHERE t.id = a.id AND t.attempt_token = a.attempt_token AND (NOT a.only_if_lease_expired OR t.lease_until < $2::bigint)
        RETURNING a.ord, a.outcome, a.run_at AS retry_at, a.value, t.id, t.queue, t.type, t.owner, t.status, t.attempts,
          t.run_at, t.started_at, t.event_seq, a.started_seq, a.attempt, t.worker_id${
            children ? ', t.parent_id, t.child_key' : ''}${costs ? ', a.reported_cost' : ''}
      ),${costs ? REPORTED_COSTS_CTE(names) : ''}
      finished_events AS (
        INSERT INTO ${events} (task_id, seq, kind, data, at)
        SELECT id, event_seq, ${finishEventKind},
          CASE outcome
            WHEN 'retry' THEN jsonb_build_object('attempt', attempts, 'error', value, 'runAt', retry_at)
            ELSE jsonb_build_object('error', value)
          END,
          $2::bigint
        -- A completion's event is the row's own (listEvents reads it from a completed task): not stored.
        FROM finished WHERE outcome <> 'completed'
        UNION ALL
        -- The ended attempt's started event, which its row held until now (null: stored by an earlier version).
        SELECT id, started_seq, 'started', ${startedEventData('attempt', 'worker_id')}, started_at
        FROM finished WHERE outcome <> 'completed' AND started_seq IS NOT NULL
      )${children ? `,
      ${childrenFinishedCtes(names)}` : ''}
      SELECT ord::integer AS ord, id, queue, type, owner, status, attempts, run_at, started_at, event_seq,
        ${children ? PARENT_EVENTS_JSON : 'NULL::json'} AS parent_events
      FROM finished`;
  };
  return {
    /** $1 leaseUntil, $2 id, $3 token. */
    heartbeat: prepared(`UPDATE ${tasks} SET lease_until = $1::bigint
      WHERE id = $2::text AND attempt_token = $3::text AND status = 'running'
      RETURNING lease_until, cancel_requested, started_at, soft_timeout_ms`),
    /**
     * A batch of progress reports and output chunks (store/attempt-events.ts), as parallel arrays: per attempt $2 task
     * ids, $3 tokens, $4 how many events it appends, $5 its last progress (JSON text) or null; per event $6 its
     * attempt's place in $2 (from 1), $7 its place among its attempt's events (from 1), $8 kind, $9 data (JSON text);
     * $1 now. An attempt that is not current matches no row, and its events join nothing. Returns the updated attempts.
     * The batch is read through jsonb_array_elements_text, which the planner takes for 100 rows, not unnest (10 for
     * an array parameter): with that estimate a plan made while the table was small rescanned the batch once per
     * running task, quadratic in the batch (docs/postgres.md, "Batches and the planner's estimate"). The other arrays
     * are unnested beside it (ROWS FROM takes the largest estimate), not subscripted: `a[i]` of a text array walks
     * it from the start, quadratic too.
     */
    appendAttemptEvents: prepared(`WITH changed AS (
        UPDATE ${tasks} t SET progress = coalesce(i.progress::jsonb, t.progress), updated_at = $1::bigint,
          event_seq = t.event_seq + i.n
        FROM (
          SELECT x.id, x.token, x.n, x.progress, x.g
          FROM ROWS FROM (jsonb_array_elements_text(to_jsonb($2::text[])), unnest($3::text[]), unnest($4::integer[]),
            unnest($5::text[])) WITH ORDINALITY AS x(id, token, n, progress, g)
        ) AS i
        WHERE t.id = i.id AND t.attempt_token = i.token AND t.status = 'running'
        RETURNING i.g, i.n, t.id, t.queue, t.owner, t.event_seq
      ),
      appended AS (
        INSERT INTO ${events} (task_id, seq, kind, data, at)
        SELECT c.id, c.event_seq - c.n + e.k, e.kind, e.data::jsonb, $1::bigint
        FROM unnest($6::integer[], $7::integer[], $8::text[], $9::text[]) AS e(g, k, kind, data) JOIN changed c ON c.g = e.g
      )
      SELECT g::integer AS g, queue, owner, event_seq FROM changed`),

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
     * Children of a wait (child_key set) are refused here and finished by finishChildren, which wakes their parents.
     */
    finish: prepared(finishStatement(false)),
    /**
     * A batch of plain completions (../../plain-completions.ts) in one lean statement: $1 task ids, $2 now, $3 attempt
     * tokens, $4 a JSON array of their results. What finish does for a completion, without what only other outcomes
     * need (their events, the started event the row held, a lease condition, first-wins among repeated ids): a
     * completed task's row keeps both its events (listEvents reads them from it). A request whose token is not
     * current, or whose task is a child of a wait, matches no row and is left to finish, which refuses or applies it.
     * Two statements that lock the same running rows in different orders may deadlock: PostgreSQL then fails one,
     * which the store runs again (attempts-store.ts), as for finish. Returns what finish returns. The batch is read
     * through jsonb_array_elements of $4, for the planner's estimate, with the arrays unnested beside it, as in
     * appendAttemptEvents.
     */
    completeMany: prepared(completeManyStatement(`t.id, t.queue, t.type, t.owner, t.status, t.attempts, t.run_at, t.started_at,
          t.event_seq, NULL::json AS parent_events`)),
    /**
     * completeMany for a batch whose every request names the task as its claim returned it (AttemptRef.claimed):
     * returns only each row's place and event number, the rest being the claim's. Each column less is a value less to
     * send and parse per task: nine fewer made a batch's round trip about a tenth shorter
     * (bench/pg-statement-shapes.ts, `claimed` against `update`).
     */
    completeManyClaimed: prepared(completeManyStatement('t.event_seq')),
    /**
     * finish for children of a wait ($1..$8 as above): also takes each finished child off its waiting parent's
     * pending count, queueing the parent whose count reaches 0 (sql/durable.ts). The store runs it only for the
     * requests finish refused because their task is a child, so other tasks pay nothing for it.
     */
    finishChildren: prepared(finishStatement(true)),
    /** finish and finishChildren for batches with a reported cost ($9): the statements of every other batch stay as they are. */
    finishWithCosts: prepared(finishStatement(false, true)),
    finishChildrenWithCosts: prepared(finishStatement(true, true)),
    /** $1 now, $2 limit. */
    expiredLeases: prepared(`SELECT ${columns}, attempt_token FROM ${tasks}
      WHERE status = 'running' AND lease_until < $1::bigint ORDER BY lease_until LIMIT $2::integer`),
  } as const;
}
