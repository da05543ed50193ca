// Debounce and singleton on PostgreSQL (store/flow.ts decides): a batch with flow rules is one transaction that first
// takes an advisory lock per key it touches, in name order, so every process's submits of one key take turns; each
// flow task then reads its key's open debounce and singleton holders, and merges, rejects, or cancels and inserts.
import type { PoolClient } from 'pg';
import { SingletonConflictError } from '../../core/errors.ts';
import type { Debounce, TaskStatus } from '../../core/task.ts';
import { initialTask, type NewTask } from '../../core/validate.ts';
import { hasFlowRules, heldBackOf, ownerScope, planFlow, supersededReason } from '../flow.ts';
import type { CreatedTask, HeldBack, StoreNotice } from '../store.ts';
import { cancelledError, createdNotices, readyNotice } from '../transitions.ts';
import { cancelOne, type PgStoreDb } from './durable-store.ts';
import { newTaskParams } from './encoding.ts';
import { DEADLOCK_DETECTED, UNIQUE_VIOLATION } from './errors.ts';
import { rowToTask, type TaskRow } from './rows.ts';

/** Inserts plain tasks (no flow rules) on `client`, as createTasks does: idempotency keys resolved. */
export type InsertPlain = (client: PoolClient, tasks: readonly NewTask[]) => Promise<CreatedTask[]>;

/** The advisory lock names of a batch's flow keys, sorted and distinct. */
function lockNames(tasks: readonly NewTask[]): string[] {
  const names = new Set<string>();
  for (const t of tasks) {
    const owner = ownerScope(t.owner);
    if (t.debounce) names.add(`debounce\u001f${owner}\u001f${t.debounce.key}`);
    if (t.singleton) names.add(`singleton\u001f${owner}\u001f${t.singleton.key}`);
  }
  return [...names].sort();
}

/** createTasks for a batch in which some tasks have flow rules; answers in input order, announces all after COMMIT. */
export async function createWithFlow(db: PgStoreDb, tasks: readonly NewTask[], insertPlain: InsertPlain): Promise<CreatedTask[]> {
  for (let round = 1; ; round++) {
    const notices: StoreNotice[] = [];
    try {
      const results = await db.pool.transaction(async (client) => {
        await db.pool.query(db.sql.flowLocks, [lockNames(tasks)], client);
        const answers: (CreatedTask | null)[] = [];
        for (const t of tasks) answers.push(hasFlowRules(t) ? await flowOne(db, client, t, notices) : null);
        const plain = tasks.filter((t) => !hasFlowRules(t));
        const inserted = plain.length > 0 ? await insertPlain(client, plain) : [];
        for (const { task, created } of inserted) if (created) createdNotices(task, notices);
        let next = 0;
        return answers.map((a) => a ?? inserted[next++]);
      });
      db.announce(notices);
      return results;
    } catch (e) {
      if ((e as { code?: unknown }).code !== DEADLOCK_DETECTED || round >= 3) throw e;
    }
  }
}

/** Inside the transaction, under the task's key locks. */
async function flowOne(db: PgStoreDb, client: PoolClient, t: NewTask, notices: StoreNotice[]): Promise<CreatedTask> {
  const now = t.createdAt;
  const owner = ownerScope(t.owner);
  const [openRow] = t.debounce
    ? await db.pool.query<{ id: string; debounce: Debounce }>(db.sql.openDebounce, [owner, t.debounce.key], client)
    : [];
  const open = openRow ? { id: openRow.id, firstAt: openRow.debounce.firstAt } : null;
  const holders =
    t.singleton && !open ? await db.pool.query<{ id: string; status: TaskStatus }>(db.sql.singletonHolders, [owner, t.singleton.key], client) : [];
  const plan = planFlow(t, open, holders, now);
  switch (plan.kind) {
    case 'reject':
      throw new SingletonConflictError(plan.id, plan.key);
    case 'merge': {
      const [row] = await db.pool.query<TaskRow>(db.sql.mergeInto, [JSON.stringify(plan.payload), plan.runAt, now, plan.id], client);
      if (!row) throw new Error(`task ${plan.id} was found waiting and then not`);
      const task = rowToTask(row);
      if (task.status === 'queued') notices.push(readyNotice(task.queue));
      return { task, created: false, merged: plan.via };
    }
    case 'insert': {
      for (const holder of plan.cancel) await cancelOne(db, client, holder.id, cancelledError(supersededReason(t.id)), now, notices);
      await db.pool.query(db.sql.createTasks, newTaskParams([t]), client);
      const task = initialTask(t);
      createdNotices(task, notices);
      return { task, created: true };
    }
  }
}

export async function heldBack(db: PgStoreDb, queue: string): Promise<HeldBack[]> {
  return heldBackOf(await db.pool.query<{ key: string; reason: HeldBack['reason']; n: number }>(db.sql.heldBack, [queue]));
}

/**
 * Runs a claim again when it lost a race on tasks_singleton_running: two claims that each saw a singleton key free
 * and started one of its tasks at the same instant; the second, run again, sees the first's running task.
 */
export async function retryingSingletonRace<T>(claim: () => Promise<T>): Promise<T> {
  for (let round = 1; ; round++) {
    try {
      return await claim();
    } catch (e) {
      const { code, constraint } = e as { code?: unknown; constraint?: unknown };
      if (code !== UNIQUE_VIOLATION || constraint !== 'tasks_singleton_running' || round >= 5) throw e;
    }
  }
}
