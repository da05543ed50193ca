// Debounce and singleton (docs/queues.md), decided once for every backend. A backend reads, inside the transaction
// of createTasks (SQLite: its IMMEDIATE write; PostgreSQL: under an advisory lock on the task's keys), the open
// debounced task of the new task's debounce key and the unfinished tasks of its singleton key, asks planFlow what to
// do, and runs the SQL for it. The claim keeps the other half of singleton: a queued task is not claimed while a task
// with its key runs (and a unique index on running keys makes two at once impossible).
import type { Json, TaskStatus } from '../core/task.ts';
import { debounceRunAt, type NewTask } from '../core/validate.ts';
import type { HeldBack } from './store.ts';

/** The task whose debounce window is open for a key: scheduled or queued, never claimed since its first submit. */
export interface OpenDebounce {
  id: string;
  /** When its window opened (the first submit). */
  firstAt: number;
}

/** An unfinished task (scheduled, queued, running or waiting) with the new task's singleton key (owner scoped). */
export interface SingletonHolder {
  id: string;
  status: TaskStatus;
}

export type FlowPlan =
  /** Insert the task; first cancel these (supersede): a running one gets a cancel request, the others end at once. */
  | { kind: 'insert'; cancel: SingletonHolder[] }
  /**
   * Fold the submit into task `id`: its payload becomes this one's; with `runAt`, it runs then (a debounce moves it),
   * else it keeps its time (queue-one).
   */
  | { kind: 'merge'; id: string; payload: Json; runAt: number | null; via: 'debounce' | 'queue-one' }
  /** Refuse the submit (policy `reject`): task `id` holds the key. */
  | { kind: 'reject'; id: string; key: string };

/** Does this task need the flow path (a read before its insert)? */
export function hasFlowRules(task: NewTask): boolean {
  return task.debounce !== null || task.singleton !== null;
}

/** The prefix a store's lookups scope keys with: keys of different owners never meet. */
export function ownerScope(owner: string | null): string {
  return owner ?? '';
}

/**
 * What a submit with flow rules does. `open`: the open debounced task of its debounce key (null: none, or no
 * debounce); `holders`: the unfinished tasks of its singleton key, running ones first (empty without a singleton).
 */
export function planFlow(task: NewTask, open: OpenDebounce | null, holders: readonly SingletonHolder[], now: number): FlowPlan {
  if (task.debounce && open) {
    const runAt = debounceRunAt({ ...task.debounce, firstAt: open.firstAt }, now);
    return { kind: 'merge', id: open.id, payload: task.payload, runAt, via: 'debounce' };
  }
  const singleton = task.singleton;
  if (!singleton || holders.length === 0) return { kind: 'insert', cancel: [] };
  switch (singleton.policy) {
    case 'reject': {
      const first = holders.find((h) => h.status === 'running') ?? holders[0];
      return { kind: 'reject', id: first.id, key: singleton.key };
    }
    case 'queue-one': {
      const waiting = holders.find((h) => h.status === 'queued' || h.status === 'scheduled');
      return waiting ? { kind: 'merge', id: waiting.id, payload: task.payload, runAt: null, via: 'queue-one' } : { kind: 'insert', cancel: [] };
    }
    case 'supersede':
      return { kind: 'insert', cancel: [...holders] };
  }
}

/** The reason a superseded task was cancelled with. */
export function supersededReason(newTaskId: string): string {
  return `superseded by task ${newTaskId} (singleton)`;
}

/** Rows of a heldBack count, as both backends read them, to the contract's shape (largest first, then by key). */
export function heldBackOf(rows: readonly { key: string; reason: HeldBack['reason']; n: number }[]): HeldBack[] {
  return rows
    .filter((r) => r.n > 0)
    .map((r) => ({ key: r.key, reason: r.reason, tasks: r.n }))
    .sort((a, b) => b.tasks - a.tasks || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0) || (a.reason < b.reason ? -1 : 1));
}
