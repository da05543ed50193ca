// A task's history on SQLite: its stored events (task_events and task_events_recent) and those its row holds instead
// of an event row (docs/architecture.md, "Events held by the task row"), read on one snapshot and merged by seq.
import { TaskNotFoundError } from '../../core/errors.ts';
import type { TaskEvent } from '../../core/task.ts';
import type { SqliteConnection } from './connection.ts';
import { rowToEvent } from './rows.ts';
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
