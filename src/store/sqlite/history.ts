// A task's history on SQLite: its stored events (task_events and task_events_recent) and those its row holds instead
// of an event row (docs/architecture.md, "Events held by the task row"), read on one snapshot and merged by seq.
import { TaskNotFoundError } from '../../core/errors.ts';
import type { TaskEvent } from '../../core/task.ts';
import { startedEvent } from '../transitions.ts';
import type { SqliteConnection } from './connection.ts';
import { type Row, rowToEvent } from './rows.ts';
import { SQL } from './sql.ts';

export function listEvents(c: SqliteConnection, taskId: string, afterSeq: number, limit: number): TaskEvent[] {
  return c.read(() => {
    const stored = c.all(SQL.listEvents, taskId, afterSeq, limit);
    const held = c.all(SQL.heldEvents, taskId, afterSeq);
    if (stored.length === 0 && held.length === 0 && !c.get(SQL.taskExists, taskId)) throw new TaskNotFoundError(taskId);
    const events = stored.map(rowToEvent);
    if (held.length === 0) return events;
    // A held event past this page's last stored one is left for a later page, as a stored one would be.
    for (const row of held) events.push(rowToEvent(row));
    return events.sort((a, b) => a.seq - b.seq).slice(0, limit);
  });
}

/**
 * Inside the write that ends an attempt otherwise than by completing: the started event its row held (null
 * started_seq: an earlier version stored it already) is stored now, at its own seq, as the row moves on. `row`: the
 * task as that write left it (id, started_seq, worker_id, started_at); `attempt`: the attempt's number.
 */
export function storeHeldStart(c: SqliteConnection, row: Row, attempt: number): void {
  if (row.started_seq === null) return;
  c.storeHeld(startedEvent(row.id as string, row.started_seq as number, attempt, row.worker_id as string, row.started_at as number));
}
