// Event blocks: how compaction stores a task's events, one row per task and bucket of seqs (docs/architecture.md,
// "Recent events"); the compaction statement (sql.ts) and migration 16 (migrations.ts) both build them here.
import type { Json, TaskEventKind } from '../../core/task.ts';

/**
 * Most seqs one event block spans: a history page reads whole blocks, so this bounds what it parses beyond the page
 * (output chunks may be 64 KiB each). A power of two: blocks are grouped by seq >> BLOCK_SEQ_BITS.
 */
const BLOCK_SEQ_BITS = 5;
export const BLOCK_SEQS = 1 << BLOCK_SEQ_BITS;

/** One event of a block, as blocksFrom writes it: [id, seq, kind, data, at]. */
export type BlockEvent = [number, number, TaskEventKind, Json, number];

/**
 * Inserts the events of `table` into task_event_blocks, one block per task and BLOCK_SEQS seqs. The block's text is
 * pasted together from the stored columns (data is JSON text already, kind a bare word) rather than built with SQLite's
 * JSON functions, which would parse every data again. Migration 16 runs it too: change it only with a new migration.
 */
export function blocksFrom(table: string): string {
  return `INSERT INTO task_event_blocks (last_id, task_id, first_seq, last_seq, events)
    SELECT max(id), task_id, min(seq), max(seq),
      '[' || group_concat(printf('[%d,%d,"%s",%s,%d]', id, seq, kind, data, at), ',' ORDER BY seq) || ']'
    FROM ${table} GROUP BY task_id, seq >> ${BLOCK_SEQ_BITS};`;
}
