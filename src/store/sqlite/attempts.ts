// An attempt's life after its claim on SQLite: progress and output in batches, and finish (one statement for a batch
// of plain completions, one per request otherwise), with a waiting parent told when its child ends. Each is a
// function of the connection, run inside the caller's write; SqliteStore delegates to them. The outcomes' statuses
// and events are decided in ../transitions.ts, the batching of events in ../attempt-events.ts.
import type { SQLInputValue } from 'node:sqlite';
import type { Json, TaskStatus } from '../../core/task.ts';
import { type AttemptEventGroup, groupByAttempt, groupEvents } from '../attempt-events.ts';
import { claimedTasks, completedAsClaimed, plainCompletions } from '../plain-completions.ts';
import type { AppendResult, AttemptEventInput, FinishedTask, FinishRequest, FinishResult } from '../store.ts';
import {
  childFinishedEvent,
  eventNotice,
  finishedNotices,
  finishError,
  finishStatus,
  finishValue,
  readyNotice,
  resumedEvent,
} from '../transitions.ts';
import type { SqliteConnection } from './connection.ts';
import { storeHeldStart } from './history.ts';
import { refusal } from './refusal.ts';
import { arrayToCompletedRow, arrayToFinishRow, type Row, rowToFinished } from './rows.ts';
import { SQL } from './sql.ts';

export function appendAttemptEvents(c: SqliteConnection, inputs: readonly AttemptEventInput[], now: number): AppendResult[] {
  const results: AppendResult[] = new Array(inputs.length);
  const groups = groupByAttempt(inputs);
  const progressOf = (group: AttemptEventGroup) => (group.lastProgress === null ? null : JSON.stringify(group.lastProgress));
  // One statement for the attempts of tasks named once in the batch; a task named by two attempts (one of them
  // stale) goes one by one, as the statement could not tell which attempt a row answers.
  const count = new Map<string, number>();
  for (const { ref } of groups) count.set(ref.taskId, (count.get(ref.taskId) ?? 0) + 1);
  const single = groups.filter((g) => count.get(g.ref.taskId) === 1);
  const rows = new Map<string, Row>();
  const values: SQLInputValue[] = [];
  for (const g of single) values.push(g.ref.taskId, g.ref.attemptToken, g.inputs.length, progressOf(g));
  c.eachValueRows(SQL.appendAttemptEventsMany, 4, values, [now], (r, at) => {
    rows.set(r[at.id] as string, { event_seq: r[at.event_seq] as number, queue: r[at.queue] as string, owner: r[at.owner] as string | null });
  });
  for (const group of groups) {
    const { taskId, attemptToken } = group.ref;
    const row = count.get(taskId) === 1
      ? rows.get(taskId)
      : c.get(SQL.appendAttemptEvents, progressOf(group), now, group.inputs.length, taskId, attemptToken);
    if (!row) {
      const error = refusal(c, taskId);
      for (const place of group.inputs) results[place] = { ok: false, error };
      continue;
    }
    const task = { queue: row.queue as string, owner: row.owner as string | null };
    const events = groupEvents(group, inputs, row.event_seq as number, now);
    for (const [k, place] of group.inputs.entries()) {
      c.push(eventNotice(task, events[k]));
      results[place] = { ok: true, event: events[k] };
    }
  }
  return results;
}

/** Stores a cost an attempt reported (ctx.reportCost), inside the finish's transaction (sqlite/flow-limits.ts). */
export type ReportCost = (taskId: string, startedAt: number | null, cost: number) => void;

export function finish(c: SqliteConnection, requests: readonly FinishRequest[], now: number, reportCost: ReportCost): FinishResult[] {
  const results: FinishResult[] = new Array(requests.length);
  const completions = plainCompletions(requests);
  if (completions.length > 1) completeMany(c, requests, completions, now, results, reportCost);
  for (let i = 0; i < requests.length; i++) results[i] ??= finishOne(c, requests[i], now, reportCost);
  return results;
}

/** The plain completions of a batch in one statement; those it did not apply are left for finishOne to refuse. */
function completeMany(
  c: SqliteConnection,
  requests: readonly FinishRequest[],
  places: number[],
  now: number,
  into: FinishResult[],
  reportCost: ReportCost,
): void {
  /** Each request's index in `places`, by task id. */
  const byId = new Map(places.map((place, k) => [requests[place].ref.taskId, k]));
  const values: string[] = [];
  for (const i of places) {
    const { ref, outcome } = requests[i];
    values.push(ref.taskId, ref.attemptToken, JSON.stringify((outcome as { result: Json }).result));
  }
  // When every request names its task as the claim returned it, the statement returns only what the claim cannot know.
  const claimed = claimedTasks(requests, places);
  c.eachValueRows(claimed ? SQL.completeManyClaimed : SQL.completeMany, 3, values, [now, now], (cells, at) => {
    const row = claimed ? arrayToCompletedRow(cells, at) : arrayToFinishRow(cells, at);
    const k = byId.get(row.id as string) as number;
    const task = claimed ? completedAsClaimed(row.id as string, claimed[k], row.event_seq as number) : rowToFinished(row);
    into[places[k]] = finished(c, row, task, requests[places[k]], now, reportCost);
  });
}

function finishOne(c: SqliteConnection, request: FinishRequest, now: number, reportCost: ReportCost): FinishResult {
  const { ref, outcome, onlyIfLeaseExpired } = request;
  const error = finishError(outcome);
  const row = c.get(
    SQL.finish,
    finishStatus(outcome, now),
    outcome.status === 'retry' ? outcome.runAt : null,
    outcome.status === 'completed' ? JSON.stringify(outcome.result) : null,
    error ? JSON.stringify(error) : null,
    outcome.status === 'retry' ? null : now,
    outcome.status === 'retry' && outcome.refundAttempt ? 1 : 0,
    now,
    ref.taskId,
    ref.attemptToken,
    onlyIfLeaseExpired ? 1 : 0,
    now,
  );
  if (!row) return { ok: false, error: refusal(c, ref.taskId) };
  return finished(c, row, rowToFinished(row), request, now, reportCost);
}

/**
 * What follows a finish the store applied: its event, and a waiting parent told of its child. A completed task's row
 * holds its attempt's started event and its completed event (listEvents reads them from it); an attempt that ends any
 * other way stores its started event now, before the event of its end, as the task row moves on.
 */
function finished(c: SqliteConnection, row: Row, task: FinishedTask, { outcome, reportedCost }: FinishRequest, now: number, reportCost: ReportCost): FinishResult {
  if (reportedCost !== undefined) reportCost(task.id, task.startedAt, reportedCost);
  if (outcome.status === 'completed') {
    if (c.announcesStartsAndCompletions) finishedNotices(task, outcome, finishValue(outcome), task.attempts, now, c.announcing);
  } else {
    storeHeldStart(c, row, task.attempts + (outcome.status === 'retry' && outcome.refundAttempt ? 1 : 0));
    finishedNotices(task, outcome, finishValue(outcome), task.attempts, now, c);
  }
  // Only a child of a wait touches its parent: every other task pays nothing more.
  if (row.child_key !== null && outcome.status !== 'retry') childFinished(c, row, task.status, now);
  return { ok: true, task };
}

/** A child of a wait ended (finished or cancelled): its parent counts one fewer pending, and wakes at none. */
export function childFinished(c: SqliteConnection, child: Row, status: TaskStatus, now: number): void {
  const name = child.child_key as string;
  const parent = c.get(SQL.childFinished, now, child.parent_id, name);
  if (!parent) return;
  const woke = parent.status === 'queued';
  const place = { queue: parent.queue as string, owner: parent.owner as string | null };
  const seq = parent.event_seq as number;
  const parentId = parent.id as string;
  const pending = parent.children_pending as number;
  c.push(eventNotice(place, childFinishedEvent(parentId, woke ? seq - 1 : seq, { id: child.id as string, status }, name, pending, now)));
  if (woke) {
    c.push(eventNotice(place, resumedEvent(parentId, seq, 'children', name, now)));
    c.push(readyNotice(place.queue));
  }
}
