// A worker's claim on PostgreSQL: one statement when no queue or type limit is involved, else a short transaction under
// the limited queues' and types' locks (sql/claim.ts, docs/postgres.md "Queue limits"); then the claimed tasks in claim
// order, the notices of the waits it woke and of the attempts it started, and the checkpoints resuming tasks start from.
// A function of the store's connection pool, as attempts-store.ts; PostgresStore delegates to it.
import { byClaimOrder } from '../claim-order.ts';
import type { Claim, ClaimRequest, StoreNotice } from '../store.ts';
import { eventNotice, readyNotice, resumedEvent, startedEvent } from '../transitions.ts';
import type { PgStoreDb } from './durable-store.ts';
import type { PostgresFlow } from './flow-limits.ts';
import { retryingSingletonRace } from './flow-store.ts';
import {
  arrayToClaimed,
  type CheckpointRow,
  type ClaimKnowns,
  claimKnowns,
  type Claimed,
  rowToCheckpoint,
  rowToTask,
  type TaskRowWithToken,
  type WokenRow,
} from './rows.ts';

export async function claim(db: PgStoreDb, flow: PostgresFlow, request: ClaimRequest): Promise<Claim[]> {
  if (request.max <= 0 || request.types.length === 0) return [];
  const { now } = request;
  // A type named twice would be walked twice, and its rows would fill two of the `max` places.
  const types = [...new Set(request.types)];
  const params = [now, types, request.queues, request.max, request.leaseMs, request.workerId];
  const { woken, claimed } = await claimRows(db, flow, params, request, types, claimKnowns(types[0], now));
  const leaseExpiresAt = now + request.leaseMs;
  const claims: Claim[] = claimed
    .map(({ task, attemptToken }) => ({ task, attemptToken, leaseExpiresAt }))
    .sort((a, b) => byClaimOrder(a.task, b.task));
  // Waits the promotion ended: their `resumed` events (before the `started` of those claimed at once), and ready.
  const notices: StoreNotice[] = [];
  for (const w of woken ?? []) {
    notices.push(eventNotice(w, resumedEvent(w.id, w.seq, w.reason, w.name, now)), readyNotice(w.queue));
  }
  // An index loop: in this async function's resumed body a for-of made an iterator result per claimed task.
  if (db.announcesStartsAndCompletions()) {
    for (let i = 0; i < claims.length; i++) {
      const { task } = claims[i];
      notices.push(eventNotice(task, startedEvent(task.id, task.lastEventSeq, task.attempts, request.workerId, now)));
    }
  }
  db.announce(notices);
  await addResumeCheckpoints(db, claims);
  return claims;
}

/** The claim's statements, run again if it lost a race to start a singleton key's task (flow-store.ts). */
function claimRows(
  db: PgStoreDb,
  flow: PostgresFlow,
  params: unknown[],
  request: ClaimRequest,
  types: string[],
  knowns: ClaimKnowns,
): Promise<{ woken: WokenRow[] | null; claimed: Claimed[] }> {
  return retryingSingletonRace(async () => {
    // Arrays: the plain claim returns hundreds of tasks (rows.ts, Cells), without what knowns hold. Its first row
    // says whether it was gated and which waits it woke; a row without an id claimed nothing.
    const { rows, at } = await db.pool.queryArrays(db.sql.claim, [...params, knowns.tokenSecret]);
    const woken = (rows[0]?.[at.woken] ?? null) as WokenRow[] | null;
    if (rows[0]?.[at.gated] !== true) return { woken, claimed: rows.filter((row) => row[at.id] !== null).map((row) => arrayToClaimed(row, at, knowns)) };
    // Gated: the best candidates lie in capped or rate-limited queues, or are of rate-limited types, whose room
    // must be counted under their locks.
    const limited = await db.pool.transaction(async (client) => {
      await db.pool.query(db.sql.claimLimitedLock, [request.queues], client);
      await db.pool.query(db.sql.claimLimitedTypeLock, [types], client);
      // Flow control (sql/flow-limits.ts) counts its windows under one lock, taken only when it may apply.
      const flowLocked = (await db.pool.query(db.sql.claimFlowLock, [], client)).length > 0;
      const first = await db.pool.query<TaskRowWithToken>(db.sql.claimLimited, [...params, flowLocked, request.max], client);
      return flowLocked ? flow.claimMore(client, request, types, first) : first;
    });
    return { woken, claimed: limited.map((row) => ({ task: rowToTask(row), attemptToken: row.attempt_token })) };
  });
}

/** Only tasks with a checkpoint cost the claim a second read: the checkpoint each resumes from. */
async function addResumeCheckpoints(db: PgStoreDb, claims: Claim[]): Promise<void> {
  const resuming = claims.filter((c) => c.task.checkpointVersion > 0);
  if (resuming.length === 0) return;
  const rows = await db.pool.query<CheckpointRow & { task_id: string }>(db.sql.checkpointsOf, [
    resuming.map((c) => c.task.id),
    resuming.map((c) => c.task.checkpointVersion),
  ]);
  const byTask = new Map(rows.map((r) => [r.task_id, r]));
  for (const c of resuming) {
    const row = byTask.get(c.task.id);
    if (row) c.resumeCheckpoint = rowToCheckpoint(row);
  }
}
