// What every statement module of the PostgreSQL backend shares: prepared statements, the names of one schema's
// tables, the task columns, and the notice channel.
import { createHash } from 'node:crypto';
import { escapeIdentifier } from 'pg';
import { DEFAULT_BACKOFF } from '../../../core/backoff.ts';

/** A statement with a stable name, so each pooled connection parses and plans it once (a named prepared statement). */
export interface Statement {
  readonly name: string;
  readonly text: string;
}

/** The name derives from the text: the same text always gets the same name, on whatever connection it runs. */
export function prepared(text: string): Statement {
  return { name: `taskhub_${createHash('sha256').update(text).digest('hex').slice(0, 24)}`, text };
}

/**
 * Largest NOTIFY message this backend sends, in bytes (PostgreSQL refuses 8000 and more): notices are packed into
 * messages up to this size, and an event whose notice alone would exceed it travels without its body.
 */
export const MAX_NOTIFY_BYTES = 7000;

/** Joins the messages of one publishNotices call: U+001E, chr(30) in SQL. */
export const NOTICE_SEPARATOR = '\u001e';

/** PostgreSQL truncates identifiers (channel names included) longer than this many bytes. */
const MAX_IDENTIFIER_BYTES = 63;

/** The LISTEN/NOTIFY channel of one Taskhub schema: readable when it fits, else a hash of the schema name. */
export function noticeChannel(schema: string): string {
  const readable = `taskhub:${schema}`;
  if (Buffer.byteLength(readable) <= MAX_IDENTIFIER_BYTES) return readable;
  return `taskhub:${createHash('sha256').update(schema).digest('hex').slice(0, 32)}`;
}

/** `LISTEN "channel"` for the listener connection. */
export function listenStatement(channel: string): string {
  return `LISTEN ${escapeIdentifier(channel)}`;
}

/** The quoted names one schema's statements use. */
export interface Names {
  /** The quoted schema name. */
  s: string;
  tasks: string;
  events: string;
  /** The schema's LISTEN/NOTIFY channel (unquoted). */
  channel: string;
  /** Every column of a task row, unqualified. */
  columns: string;
}

export function names(schema: string): Names {
  const s = escapeIdentifier(schema);
  return { s, tasks: `${s}.tasks`, events: `${s}.task_events`, channel: noticeChannel(schema), columns: taskColumns() };
}

/**
 * The data of an attempt's `started` event (store/transitions.ts, startedEvent), from SQL expressions for its number
 * and worker: the row holds the event until the attempt ends (started_seq), and each statement that stores it or
 * reads it back builds it here.
 */
export function startedEventData(attempt: string, workerId: string): string {
  return `jsonb_build_object('attempt', ${attempt}, 'workerId', ${workerId})`;
}

/**
 * Columns a task row returns as null when they hold the value nearly every task has, or a copy of another column of
 * the row (the row mapping, rows.ts, puts it back): every value sent costs the client a string and a parse per row
 * (a default backoff policy's JSON alone was about a fifth of reading a claimed task; the five after the tags about a
 * sixth of the rest, docs/benchmarks.md). Given as SQL expressions of the row's columns, written with `$.` before each.
 */
const USUAL_VALUES: Readonly<Record<string, string>> = {
  backoff: `'${JSON.stringify(DEFAULT_BACKOFF)}'::jsonb`,
  tags: `'{}'::jsonb`,
  priority: '0',
  cancel_requested: 'false',
  checkpoint_version: '0',
  // Due when made (an enqueue without a delay), and last changed when made or when started (a claimed task).
  run_at: '$.created_at',
  updated_at: 'coalesce($.started_at, $.created_at)',
};

/** The columns a task row returns (taskColumns), which the row mapping (rows.ts) reads. */
export const TASK_COLUMN_NAMES = [
  'id', 'queue', 'type', 'payload', 'status', 'priority', 'run_at', 'attempts', 'max_attempts', 'backoff',
  'timeout_ms', 'idempotency_key', 'tags', 'owner', 'parent_id', 'concurrency_key', 'traceparent', 'progress',
  'result', 'error', 'cancel_requested', 'event_seq', 'created_at', 'updated_at', 'started_at', 'completed_at',
  'checkpoint_version', 'wait_kind', 'wait_name', 'wake_at', 'children_pending', 'children_total',
  'soft_timeout_ms', 'throttle_key', 'throttle_limit', 'throttle_period_ms', 'cost', 'reported_cost', 'debounce',
  'singleton',
] as const;

/** Columns of a task row, in the order the row mapping reads them; `t` qualifies them where a FROM list is joined. */
export function taskColumns(t = '', names: readonly string[] = TASK_COLUMN_NAMES): string {
  const p = t ? `${t}.` : '';
  return names
    .map((c) => (USUAL_VALUES[c] ? `nullif(${p}${c}, ${USUAL_VALUES[c].replaceAll('$.', p)}) AS ${c}` : p + c))
    .join(', ');
}

/**
 * The columns of the plain claim's rows (sql/claim.ts): a task row without what the claimer knows (rows.ts,
 * ClaimKnowns): its status (running), its start (the claim's time), and its type when it is `firstType` (an SQL
 * expression: the first of the claim's types). Each value left out is one less to send and parse per claimed task, on
 * the drain's critical path.
 */
export function claimedTaskColumns(t: string, firstType: string): string {
  const left = new Set(['status', 'started_at', 'type']);
  const kept = TASK_COLUMN_NAMES.filter((c) => !left.has(c));
  return `${taskColumns(t, kept)}, nullif(${t}.type, ${firstType}) AS type`;
}

export const QUEUE_COLUMNS =
  'name, paused, max_concurrency, rate_count, rate_interval_ms, max_per_key, updated_at, cost_budget, cost_period_ms, cost_per_key';
export const SUBSCRIPTION_COLUMNS = 'name, pattern, queue, type, created_at, updated_at';
export const SCHEDULE_COLUMNS =
  'name, cron, every_ms, timezone, task, missed_policy, paused, next_run_at, last_run_at, last_task_id, created_at, updated_at';
