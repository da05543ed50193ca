// An attempt's life after its claim on PostgreSQL: progress and output in batches (one statement), and finish (a lean
// statement for a batch's plain completions, one full statement for the rest; children of a wait and batches with a
// reported cost take variants of it, sql/attempts.ts).
// Functions of the store's connection pool, as durable-store.ts; PostgresStore delegates to them. Outcomes' statuses
// and events are decided in ../transitions.ts, the grouping of events in ../attempt-events.ts.
import { StaleAttemptError, TaskNotFoundError } from '../../core/errors.ts';
import { groupByAttempt, groupEvents } from '../attempt-events.ts';
import type { AppendResult, AttemptEventInput, FinishedTask, FinishRequest, FinishResult, StoreNotice } from '../store.ts';
import { claimedTasks, completedAsClaimed, plainCompletions } from '../plain-completions.ts';
import { eventNotice, finishedNotices, finishValue, readyNotice } from '../transitions.ts';
import type { PgStoreDb } from './durable-store.ts';
import { appendParams, completeManyParams, finishParams } from './encoding.ts';
import { DEADLOCK_DETECTED } from './errors.ts';
import { refusal } from './refusal.ts';
import { type AppendedEventRow, type FinishedRow, type Int8, type OtherTaskEventRow, otherTaskEvent, rowToFinished } from './rows.ts';
import type { Statement } from './sql.ts';

export async function appendAttemptEvents(db: PgStoreDb, inputs: readonly AttemptEventInput[], now: number): Promise<AppendResult[]> {
  const groups = groupByAttempt(inputs);
  const rows = await retryOnDeadlock(() => db.pool.query<AppendedEventRow & { g: number }>(db.sql.appendAttemptEvents, appendParams(groups, inputs, now)));
  const updated = new Map(rows.map((row) => [row.g - 1, row]));
  const results: AppendResult[] = new Array(inputs.length);
  const notices: StoreNotice[] = [];
  for (const [g, group] of groups.entries()) {
    const row = updated.get(g);
    if (!row) {
      const error = await refusal(db, group.ref.taskId);
      for (const place of group.inputs) results[place] = { ok: false, error };
      continue;
    }
    const task = { id: group.ref.taskId, queue: row.queue, owner: row.owner };
    for (const [k, event] of groupEvents(group, inputs, Number(row.event_seq), now).entries()) {
      notices.push(eventNotice(task, event));
      results[group.inputs[k]] = { ok: true, event };
    }
  }
  db.announce(notices);
  return results;
}

export async function finish(db: PgStoreDb, requests: readonly FinishRequest[], now: number): Promise<FinishResult[]> {
  if (requests.length === 0) return [];
  /** The applied requests' tasks, by place in the batch. */
  const finished: (FinishedTask | undefined)[] = new Array(requests.length);
  // Plain completions first, in their own lean statement; what it did not apply goes the full way.
  const plain = plainCompletions(requests).filter((place) => requests[place].reportedCost === undefined);
  if (plain.length > 1) await completeMany(db, requests, plain, now, finished);
  const rest: number[] = [];
  for (let place = 0; place < requests.length; place++) if (!finished[place]) rest.push(place);
  const { existing, parentEvents } = await finishEachAlone(db, requests, rest, now, finished);

  const notices: StoreNotice[] = [];
  const announcesCompletions = db.announcesStartsAndCompletions();
  const results = requests.map((request, ord): FinishResult => {
    const task = finished[ord];
    if (!task) {
      const { taskId } = request.ref;
      return { ok: false, error: existing.has(taskId) ? new StaleAttemptError(taskId) : new TaskNotFoundError(taskId) };
    }
    if (announcesCompletions || request.outcome.status !== 'completed') finishedNotices(task, request.outcome, finishValue(request.outcome), task.attempts, now, notices);
    return { ok: true, task };
  });
  // Parents of finished children: their child-finished and resumed events, and `ready` for each woken one.
  for (const e of parentEvents) {
    notices.push(eventNotice(e, otherTaskEvent(e, now)));
    if (e.kind === 'resumed') notices.push(readyNotice(e.queue));
  }
  db.announce(notices);
  return results;
}

/**
 * The plain completions at `places` in one statement, their tasks added to `finished`. When every one names its task as
 * the claim returned it, the statement returns only each row's event number, and the task is the claim's, completed.
 */
async function completeMany(db: PgStoreDb, requests: readonly FinishRequest[], places: readonly number[], now: number, finished: (FinishedTask | undefined)[]): Promise<void> {
  const params = completeManyParams(requests, places, now);
  const claimed = claimedTasks(requests, places);
  // Index loops: in this async function's resumed body a for-of made an iterator result per row.
  if (!claimed) {
    const rows = await finishStatement(db, db.sql.completeMany, params);
    for (let i = 0; i < rows.length; i++) finished[places[rows[i].ord - 1]] = rowToFinished(rows[i]);
    return;
  }
  const rows = await finishStatement<{ ord: number; event_seq: Int8 }>(db, db.sql.completeManyClaimed, params);
  for (let i = 0; i < rows.length; i++) {
    const k = rows[i].ord - 1;
    finished[places[k]] = completedAsClaimed(requests[places[k]].ref.taskId, claimed[k], rows[i].event_seq);
  }
}

/**
 * The requests at `places` by the full finish statement (each judged alone), their rows added to `finished`; then the
 * refused ones: children of a wait are finished by finishChildren, which also wakes their parents (only they pay for
 * it), and the others are told apart as stale or unknown (`existing`: whether each refused task exists, and is a child).
 */
async function finishEachAlone(
  db: PgStoreDb,
  requests: readonly FinishRequest[],
  places: readonly number[],
  now: number,
  finished: (FinishedTask | undefined)[],
): Promise<{ existing: Map<string, boolean>; parentEvents: OtherTaskEventRow[] }> {
  const existing = new Map<string, boolean>();
  if (places.length === 0) return { existing, parentEvents: [] };
  const params = finishParams(places.map((place) => requests[place]), now);
  // A batch with a reported cost (flow control) takes the statements that also store it, in the same statement.
  const statement = params.length > 8 ? db.sql.finishWithCosts : db.sql.finish;
  for (const row of await finishStatement(db, statement, params)) finished[places[row.ord - 1]] = rowToFinished(row);
  const refused = places.filter((place) => !finished[place]);
  if (refused.length === 0) return { existing, parentEvents: [] };
  const found = await db.pool.query<{ id: string; is_child: boolean }>(db.sql.refusedTasks, [refused.map((place) => requests[place].ref.taskId)]);
  for (const r of found) existing.set(r.id, r.is_child);
  const children = refused.filter((place) => existing.get(requests[place].ref.taskId) === true);
  if (children.length === 0) return { existing, parentEvents: [] };
  const childParams = finishParams(children.map((place) => requests[place]), now);
  const childRows = await finishStatement(db, childParams.length > 8 ? db.sql.finishChildrenWithCosts : db.sql.finishChildren, childParams);
  for (const row of childRows) finished[children[row.ord - 1]] = rowToFinished(row);
  return { existing, parentEvents: childRows[0]?.parent_events ?? [] };
}

function finishStatement<R extends object = FinishedRow>(db: PgStoreDb, statement: Statement, params: unknown[]): Promise<R[]> {
  return retryOnDeadlock(() => db.pool.query<R>(statement, params));
}

/** Deadlocked with another batch on tasks both update (see sql/attempts.ts): this one was rolled back; run it again. */
async function retryOnDeadlock<T>(run: () => Promise<T>): Promise<T> {
  for (let round = 1; ; round++) {
    try {
      return await run();
    } catch (error) {
      if ((error as { code?: unknown }).code !== DEADLOCK_DETECTED || round >= 3) throw error;
    }
  }
}
