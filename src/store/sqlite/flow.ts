// Debounce and singleton on SQLite (store/flow.ts decides): inside createTasks's IMMEDIATE write, which serializes
// every process on the file, a task with flow rules reads its key's open debounce and singleton holders and merges,
// rejects, or cancels and inserts.
import { SingletonConflictError } from '../../core/errors.ts';
import type { Debounce, TaskError, TaskStatus } from '../../core/task.ts';
import type { NewTask } from '../../core/validate.ts';
import { heldBackOf, ownerScope, planFlow, supersededReason } from '../flow.ts';
import type { CreatedTask, HeldBack } from '../store.ts';
import { cancelledError, readyNotice } from '../transitions.ts';
import type { SqliteConnection } from './connection.ts';
import { parseJson, rowToTask } from './rows.ts';
import { SQL } from './sql.ts';

/** What the store lends: its plain insert and its cancel, each inside the same write. */
export interface FlowWrites {
  insert(t: NewTask): CreatedTask;
  cancel(id: string, error: TaskError, now: number): unknown;
}

/** Inside a write. */
export function createWithFlow(c: SqliteConnection, t: NewTask, writes: FlowWrites): CreatedTask {
  const now = t.createdAt;
  const owner = ownerScope(t.owner);
  const openRow = t.debounce ? c.get(SQL.openDebounce, owner, t.debounce.key) : undefined;
  const open = openRow ? { id: openRow.id as string, firstAt: parseJson<Debounce | null>(openRow.debounce, null)?.firstAt ?? now } : null;
  const holders = t.singleton && !open ? c.all(SQL.singletonHolders, owner, t.singleton.key) : [];
  const plan = planFlow(t, open, holders.map((h) => ({ id: h.id as string, status: h.status as TaskStatus })), now);
  switch (plan.kind) {
    case 'reject':
      throw new SingletonConflictError(plan.id, plan.key);
    case 'merge': {
      const row = c.get(SQL.mergeInto, JSON.stringify(plan.payload), plan.runAt, now, plan.id);
      if (!row) throw new Error(`task ${plan.id} was found waiting and then not`);
      const task = rowToTask(row);
      if (task.status === 'queued') c.push(readyNotice(task.queue));
      return { task, created: false, merged: plan.via };
    }
    case 'insert':
      for (const holder of plan.cancel) writes.cancel(holder.id, cancelledError(supersededReason(t.id)), now);
      return writes.insert(t);
  }
}

export function heldBack(c: SqliteConnection, queue: string): HeldBack[] {
  return heldBackOf(c.all(SQL.heldBack, queue) as unknown as { key: string; reason: HeldBack['reason']; n: number }[]);
}
