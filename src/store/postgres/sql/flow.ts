// Debounce and singleton (store/flow.ts): the reads and writes of a submit with flow rules, run in one transaction
// under advisory locks on the task's keys, and the heldBack counts.
import { type Names, prepared } from './common.ts';

/** The class of the flow keys' advisory locks (the migration lock has its own). */
const FLOW_LOCK_CLASS = 0x666c6f77;

export function flowSql({ tasks, columns }: Names) {
  const runningWithKey = (t: string) => `EXISTS (SELECT 1 FROM ${tasks} r WHERE r.status = 'running'
        AND r.singleton_key = ${t}.singleton_key AND coalesce(r.owner, '') = coalesce(${t}.owner, ''))`;
  return {
    /**
     * $1 the lock names, sorted (so two transactions never wait on each other in a circle): every submit of a key, in
     * any process, takes the key's lock before it reads, so the read and the write that follows are one step. Held
     * until COMMIT.
     */
    flowLocks: prepared(`SELECT count(pg_advisory_xact_lock(${FLOW_LOCK_CLASS}, hashtext(name)))
      FROM unnest($1::text[]) AS name`),
    /**
     * $1 owner ('' for none), $2 key: the task whose debounce window is open, along tasks_debounce_open. Locked: a
     * claim (which skips locked rows) cannot start it between this read and the merge; one that started it first has
     * committed by the time the lock is granted, and the row, read again, no longer matches.
     */
    openDebounce: prepared(`SELECT id, debounce FROM ${tasks}
      WHERE coalesce(owner, '') = $1::text AND debounce_key = $2::text AND status IN ('scheduled', 'queued')
      FOR UPDATE`),
    /** $1 owner ('' for none), $2 key: the unfinished tasks of a singleton key, running first; locked as above. */
    singletonHolders: prepared(`SELECT id, status FROM ${tasks}
      WHERE singleton_key = $2::text AND coalesce(owner, '') = $1::text
        AND status IN ('scheduled', 'queued', 'running', 'waiting')
      ORDER BY status = 'running' DESC, id
      FOR UPDATE`),
    /** A submit folded into a waiting task: $1 payload, $2 new runAt (null: keep), $3 now, $4 id. */
    mergeInto: prepared(`UPDATE ${tasks} SET payload = $1::jsonb, run_at = coalesce($2::bigint, run_at),
        status = CASE WHEN coalesce($2::bigint, run_at) > $3::bigint THEN 'scheduled' ELSE 'queued' END,
        updated_at = $3::bigint
      WHERE id = $4::text AND status IN ('scheduled', 'queued') RETURNING ${columns}`),
    /** $1 queue: tasks held in an open debounce window, and queued tasks whose singleton key is running, per key. */
    heldBack: prepared(`SELECT debounce_key AS key, 'debounce' AS reason, count(*)::integer AS n FROM ${tasks}
        WHERE status = 'scheduled' AND debounce_key IS NOT NULL AND queue = $1::text GROUP BY debounce_key
      UNION ALL
      SELECT q.singleton_key, 'singleton', count(*)::integer FROM ${tasks} q
        WHERE q.status = 'queued' AND q.singleton_key IS NOT NULL AND q.queue = $1::text AND ${runningWithKey('q')}
        GROUP BY q.singleton_key`),
  } as const;
}
