// When a connection compacts the recent events it appended into event blocks (docs/architecture.md, "Recent
// events"). A compaction writes one block row and one entry of the per-task index for each task and bucket of seqs
// its events touch, wherever that task's entries lie in the index: its cost grows with the number of tasks, not of
// events. So it waits for a few events per task: with 2,000 tasks streaming one chunk each per commit, compacting
// every 2,000 events made a block and an index entry per event, and the store spent 26-28 µs per chunk against
// about 10 once it waited for 8,000 (`node bench/sqlite-ab.ts append`, RUNNING=2000; docs/benchmarks.md).
import type { SQLInputValue } from 'node:sqlite';

/** Fewest events appended between two compactions. */
export const COMPACT_MIN_EVENTS = 2000;
/** Events per task that a compaction waits for while many tasks write: each then fills a block with several. */
export const COMPACT_EVENTS_PER_TASK = 8;
/**
 * Most events appended between two compactions: listEvents scans the recent events without an index, about 0.065 µs
 * per row here, so each page of a follower's replay pays at most about 0.5 ms for them (0.9 ms with 14,000 rows; a
 * bound of 16,000 took 2,000 streaming tasks' store time per chunk only from 10.2 to 9.3 µs).
 */
export const COMPACT_MAX_EVENTS = 8000;
/**
 * Most characters of event data a compaction waits for past COMPACT_MIN_EVENTS. Large chunks are better left as recent
 * rows, which a replay reads one by one: in blocks (32 chunks of 64 KiB are 2 MiB of JSON) every page of a history
 * parses whole blocks, and 100 readers joining a stream of 64 KiB chunks mid-way took 25-29 s instead of 5 (an earlier
 * version of this rule compacted at 16 MiB whatever the events; `test/sse-slow-reader.test.ts`).
 */
export const COMPACT_MAX_CHARS = 4 * 1024 * 1024;

/** Counts what a connection appended since its last compaction, and says when the next one is due. */
export class CompactionDue {
  #events = 0;
  #chars = 0;
  readonly #tasks = new Set<string>();

  /** Events appended as rows of `columns` values: task id first, then seq, kind, data (JSON text), at. */
  appended(values: readonly SQLInputValue[], columns: number): void {
    for (let i = 0; i < values.length; i += columns) {
      this.#tasks.add(values[i] as string);
      this.#chars += (values[i + 3] as string).length;
    }
    this.#events += values.length / columns;
  }

  get due(): boolean {
    if (this.#events < COMPACT_MIN_EVENTS) return false;
    return this.#events >= Math.min(COMPACT_MAX_EVENTS, COMPACT_EVENTS_PER_TASK * this.#tasks.size) || this.#chars >= COMPACT_MAX_CHARS;
  }

  compacted(): void {
    this.#events = 0;
    this.#chars = 0;
    this.#tasks.clear();
  }
}
