// A task's history on SQLite: its stored events (event blocks and task_events_recent) and those its row holds instead
// of an event row (docs/architecture.md, "Events held by the task row"), read on one snapshot and merged by seq.
import { TaskNotFoundError } from '../../core/errors.ts';
import type { TaskEvent } from '../../core/task.ts';
import { startedEvent } from '../transitions.ts';
import type { SqliteConnection } from './connection.ts';
import { BLOCK_SEQS, type BlockEvent } from './event-blocks.ts';
import { type Row, rowToEvent } from './rows.ts';
import { SQL } from './sql.ts';

export function listEvents(c: SqliteConnection, taskId: string, afterSeq: number, limit: number): TaskEvent[] {
  return c.read(() => {
    const events = compactedEvents(c, taskId, afterSeq, limit);
    for (const row of c.all(SQL.recentEvents, taskId, afterSeq, limit)) events.push(rowToEvent(row));
    const held = c.all(SQL.heldEvents, taskId, afterSeq);
    if (events.length === 0 && held.length === 0 && !c.get(SQL.taskExists, taskId)) throw new TaskNotFoundError(taskId);
    // A held event past this page's last stored one is left for a later page, as a stored one would be.
    for (const row of held) events.push(rowToEvent(row));
    // Stored events are not all in seq order across blocks and recent rows: an attempt that ends otherwise than
    // completing stores its started event (held by the row until then) after the output that followed it.
    return events.sort((a, b) => a.seq - b.seq).slice(0, limit);
  });
}

/**
 * At least the first `limit` events after `afterSeq` in the task's event blocks (unordered), reading blocks in
 * last-seq order only until no later one can hold a seq among the first `limit`: a block spans one bucket of
 * BLOCK_SEQS seqs, so no later block holds a seq below the bucket of the next one's last seq.
 */
function compactedEvents(c: SqliteConnection, taskId: string, afterSeq: number, limit: number): TaskEvent[] {
  const events: TaskEvent[] = [];
  const blocks = c.iterate(SQL.eventBlocks, taskId, afterSeq);
  try {
    for (let next = blocks.next(); !next.done; next = blocks.next()) {
      if (events.length >= limit) {
        events.sort((a, b) => a.seq - b.seq);
        const bucketStart = Math.floor((next.value.last_seq as number) / BLOCK_SEQS) * BLOCK_SEQS;
        if (events[limit - 1].seq < bucketStart) break;
      }
      for (const [, seq, kind, data, at] of JSON.parse(next.value.events as string) as BlockEvent[]) {
        if (seq > afterSeq) events.push({ taskId, seq, kind, data, at });
      }
    }
    return events;
  } finally {
    blocks.return?.();
  }
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
