// Count aggregation and paging, shared by every backend: a backend's SQL answers rows of (queue, status, n) or one
// row more than a page, and these turn them into the contract's shapes.
import { TASK_STATUSES, type Task, type TaskStatus } from '../core/task.ts';
import type { CappedCounts, QueueCounts, TaskPage } from './store.ts';

export interface CountRow {
  queue: string;
  status: TaskStatus;
  n: number;
}

function zeroCounts(): Record<TaskStatus, number> {
  return Object.fromEntries(TASK_STATUSES.map((s) => [s, 0])) as Record<TaskStatus, number>;
}

/** Tallies counts per queue; `list` answers them by queue name, every status present. */
export class QueueTally {
  readonly #byQueue = new Map<string, QueueCounts>();

  add(queue: string, status: TaskStatus, n: number): void {
    let entry = this.#byQueue.get(queue);
    if (!entry) {
      entry = { queue, counts: zeroCounts() };
      this.#byQueue.set(queue, entry);
    }
    entry.counts[status] = n;
  }

  list(): QueueCounts[] {
    return [...this.#byQueue.values()].sort((a, b) => a.queue.localeCompare(b.queue));
  }
}

/** countByQueue from rows of (queue, status, n). */
export function countsByQueue(rows: Iterable<CountRow>): QueueCounts[] {
  const tally = new QueueTally();
  for (const r of rows) tally.add(r.queue, r.status, r.n);
  return tally.list();
}

/** countTasks from rows of (queue, status, n), each status read up to `cap` tasks: which statuses reached it. */
export function cappedCounts(rows: Iterable<CountRow>, cap: number): CappedCounts {
  const tally = new QueueTally();
  const totals = new Map<TaskStatus, number>();
  for (const r of rows) {
    tally.add(r.queue, r.status, r.n);
    totals.set(r.status, (totals.get(r.status) ?? 0) + r.n);
  }
  return { queues: tally.list(), capped: TASK_STATUSES.filter((status) => (totals.get(status) ?? 0) >= cap) };
}

/** A page from up to `limit + 1` rows, newest first: the extra row only says that another page follows. */
export function pageOf<R>(rows: readonly R[], limit: number, toTask: (row: R) => Task): TaskPage {
  const tasks = rows.slice(0, limit).map(toTask);
  return { tasks, nextCursor: rows.length > limit ? tasks[tasks.length - 1].id : null };
}
