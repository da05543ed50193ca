// The shared backend: any number of API nodes and worker processes on one PostgreSQL database. Every Store call that
// writes is one SQL statement (see sql.ts), so it is atomic without BEGIN/COMMIT and costs one round trip. Changes
// reach other processes through LISTEN/NOTIFY on one channel per schema: right after a write commits, its notices go
// to this process's listeners at once and, packed into as few NOTIFY messages as fit, to every other process (the
// echo of our own messages is skipped by origin). docs/postgres.md explains why after commit and not inside it.
import { randomBytes, randomUUID } from 'node:crypto';
import { Client, type Notification, Pool, type PoolClient, type QueryConfig, type QueryResult, type QueryResultRow } from 'pg';
import { DEFAULT_BACKOFF } from '../../core/backoff.ts';
import {
  InvalidStateError,
  StaleAttemptError,
  StoreUnavailableError,
  TaskNotFoundError,
  ValidationError,
} from '../../core/errors.ts';
import type {
  BackoffPolicy,
  Json,
  Progress,
  Task,
  TaskError,
  TaskEvent,
  TaskEventKind,
  TaskStatus,
} from '../../core/task.ts';
import { isTerminal, TASK_EVENT_KINDS } from '../../core/task.ts';
import { initialTask, type NewTask } from '../../core/validate.ts';
import { byClaimOrder } from '../claim-order.ts';
import { type CountRow, cappedCounts, countsByQueue, pageOf } from '../counts.ts';
import { NoticeHub } from '../notice-hub.ts';
import {
  cancelledError,
  cancelledEvent,
  cancelRequestNotice,
  createdNotices,
  eventNotice,
  finishedNotices,
  finishValue,
  manualRetryEvent,
  outputEvent,
  progressEvent,
  queueSettingsNotices,
  readyNotice,
  startedEvent,
} from '../transitions.ts';
import type {
  ApiKey,
  AttemptOutcome,
  AttemptRef,
  Claim,
  ClaimRequest,
  CreatedTask,
  ExpiredLease,
  FinishRequest,
  FinishedTask,
  FinishResult,
  LeaseState,
  NoticeListener,
  QueueCounts,
  CappedCounts,
  QueueSettings,
  QueueSettingsPatch,
  Schedule,
  ScheduleDefinition,
  Store,
  StoreNotice,
  Subscription,
  TaskPage,
  TaskQuery,
  TypeSettings,
  WorkerInfo,
} from '../store.ts';
import { buildSql, listenStatement, MAX_NOTIFY_BYTES, NOTICE_SEPARATOR, type PostgresSql, type Statement } from './sql.ts';

export interface PostgresStoreOptions {
  /** `postgres://user:password@host:port/database?...` */
  connectionString: string;
  /** The PostgreSQL schema that holds Taskhub's tables (created by migrate()). Default `taskhub`. */
  schema?: string;
  /** Connections in the pool, besides the one that LISTENs. Default 10. */
  poolSize?: number;
}

/** Anything that runs a query: the store's pool, or a client of the application (createTasksIn). */
export interface Queryable {
  query<R extends QueryResultRow>(config: QueryConfig<unknown[]>): Promise<QueryResult<R>>;
}

/** bigint columns arrive as strings (pg's default, exact), or as numbers when the application set parseInt8. */
type Int8 = string | number;

interface TaskRow {
  id: string;
  queue: string;
  type: string;
  payload: Json;
  status: TaskStatus;
  priority: number;
  run_at: Int8;
  attempts: number;
  max_attempts: number;
  backoff: BackoffPolicy;
  timeout_ms: number | null;
  idempotency_key: string | null;
  tags: Record<string, string>;
  owner: string | null;
  parent_id: string | null;
  concurrency_key: string | null;
  traceparent: string | null;
  progress: Progress | null;
  result: Json | null;
  error: TaskError | null;
  cancel_requested: boolean;
  event_seq: number;
  created_at: Int8;
  updated_at: Int8;
  started_at: Int8 | null;
  completed_at: Int8 | null;
}

interface TaskRowWithToken extends TaskRow {
  attempt_token: string;
}

/** A row of the one-statement claim: a claimed task, or (id null) none, with whether queue limits stopped it. */
type GatedClaimRow = { gated: boolean } & (TaskRowWithToken | { id: null });

interface QueueRow {
  name: string;
  paused: boolean;
  max_concurrency: number | null;
  max_per_key: number | null;
  rate_count: number | null;
  rate_interval_ms: number | null;
  updated_at: Int8;
}

interface TypeSettingsRow {
  type: string;
  defaults: TypeSettings['defaults'];
  payload_schema: Json | null;
  updated_at: Int8;
}

interface SubscriptionRow {
  name: string;
  pattern: string;
  queue: string;
  type: string;
  created_at: Int8;
  updated_at: Int8;
}

interface ScheduleRow {
  name: string;
  cron: string;
  timezone: string;
  task: Schedule['task'];
  missed_policy: Schedule['missedPolicy'];
  paused: boolean;
  next_run_at: Int8 | null;
  last_run_at: Int8 | null;
  last_task_id: string | null;
  created_at: Int8;
  updated_at: Int8;
}

interface WorkerRow {
  id: string;
  host: string | null;
  pid: number | null;
  types: string[];
  queues: string[] | null;
  concurrency: number;
  running: number;
  started_at: Int8;
  last_seen_at: Int8;
}

interface ApiKeyRow {
  id: string;
  name: string | null;
  owner: string;
  scopes: string[];
  secret_hash: string;
  created_at: Int8;
  revoked_at: Int8 | null;
}

function rowToApiKey(r: ApiKeyRow): ApiKey {
  return {
    id: r.id,
    name: r.name,
    owner: r.owner,
    scopes: r.scopes,
    createdAt: Number(r.created_at),
    revokedAt: r.revoked_at === null ? null : Number(r.revoked_at),
  };
}

interface FinishedRow
  extends Pick<TaskRow, 'id' | 'queue' | 'type' | 'owner' | 'status' | 'attempts' | 'run_at' | 'started_at' | 'event_seq'> {
  /** The request's place in the batch, from 1. */
  ord: number;
}

interface AppendedEventRow {
  queue: string;
  owner: string | null;
  event_seq: number;
}

interface EventRow {
  task_exists: boolean;
  seq: number | null;
  kind: TaskEventKind;
  data: Json;
  at: Int8;
}

function toNumber(value: Int8): number {
  return typeof value === 'number' ? value : Number(value);
}

function toNumberOrNull(value: Int8 | null): number | null {
  return value === null ? null : toNumber(value);
}

function rowToTask(r: TaskRow): Task {
  return {
    id: r.id,
    queue: r.queue,
    type: r.type,
    payload: r.payload ?? null,
    status: r.status,
    priority: r.priority,
    runAt: toNumber(r.run_at),
    attempts: r.attempts,
    maxAttempts: r.max_attempts,
    backoff: r.backoff ?? DEFAULT_BACKOFF,
    timeoutMs: r.timeout_ms,
    idempotencyKey: r.idempotency_key,
    tags: r.tags ?? {},
    owner: r.owner,
    parentId: r.parent_id,
    concurrencyKey: r.concurrency_key,
    traceparent: r.traceparent,
    progress: r.progress,
    result: r.result ?? null,
    error: r.error,
    cancelRequested: r.cancel_requested,
    lastEventSeq: r.event_seq,
    createdAt: toNumber(r.created_at),
    updatedAt: toNumber(r.updated_at),
    startedAt: toNumberOrNull(r.started_at),
    completedAt: toNumberOrNull(r.completed_at),
  };
}

function rowToQueueSettings(r: QueueRow): QueueSettings {
  return {
    name: r.name,
    paused: r.paused,
    maxConcurrency: r.max_concurrency,
    rateLimit: r.rate_count === null || r.rate_interval_ms === null ? null : { count: r.rate_count, intervalMs: r.rate_interval_ms },
    maxPerKey: r.max_per_key,
    updatedAt: toNumber(r.updated_at),
  };
}

function rowToTypeSettings(r: TypeSettingsRow): TypeSettings {
  return { type: r.type, defaults: r.defaults ?? {}, payloadSchema: r.payload_schema ?? null, updatedAt: toNumber(r.updated_at) };
}

function rowToSubscription(r: SubscriptionRow): Subscription {
  return {
    name: r.name,
    pattern: r.pattern,
    queue: r.queue,
    type: r.type,
    createdAt: toNumber(r.created_at),
    updatedAt: toNumber(r.updated_at),
  };
}

function rowToSchedule(r: ScheduleRow): Schedule {
  return {
    name: r.name,
    cron: r.cron,
    timezone: r.timezone,
    task: r.task,
    missedPolicy: r.missed_policy,
    paused: r.paused,
    nextRunAt: toNumberOrNull(r.next_run_at),
    lastRunAt: toNumberOrNull(r.last_run_at),
    lastTaskId: r.last_task_id,
    createdAt: toNumber(r.created_at),
    updatedAt: toNumber(r.updated_at),
  };
}

const ARRAY_ELEMENT_ESCAPES = /[\\"]/g;

/**
 * An array parameter as PostgreSQL's array literal (`{"a","b",NULL}`, `{t,f}`, `{1,NULL}`), built in one pass: pg's
 * own encoding of a JavaScript array concatenates and escapes element by element, which allocated more than
 * anything else per finished task.
 */
function arrayLiteral(values: readonly (string | number | boolean | null)[]): string {
  const parts = new Array<string>(values.length);
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v === null) parts[i] = 'NULL';
    else if (typeof v === 'string') {
      parts[i] = v.includes('"') || v.includes('\\') ? `"${v.replace(ARRAY_ELEMENT_ESCAPES, '\\$&')}"` : `"${v}"`;
    }
    else if (typeof v === 'boolean') parts[i] = v ? 't' : 'f';
    else parts[i] = String(v);
  }
  return `{${parts.join(',')}}`;
}

/**
 * Values that most tasks of a batch share (backoff policies, tags), sent once each: `ref` gives a value's index in
 * `json()`, a JSON array. Values are told apart by identity first (defaults are shared objects), then by their text.
 */
class DistinctJson {
  readonly #byObject = new Map<unknown, number>();
  readonly #byText = new Map<string, number>();
  readonly #texts: string[] = [];

  ref(value: unknown): number {
    let ref = this.#byObject.get(value);
    if (ref === undefined) {
      const text = JSON.stringify(value ?? null);
      ref = this.#byText.get(text);
      if (ref === undefined) {
        ref = this.#texts.length;
        this.#texts.push(text);
        this.#byText.set(text, ref);
      }
      this.#byObject.set(value, ref);
    }
    return ref;
  }

  json(): string {
    return `[${this.#texts.join(',')}]`;
  }
}

/** SQLSTATE of a statement PostgreSQL failed to end a deadlock. */
const DEADLOCK_DETECTED = '40P01';

// ---- connection errors ----

/** SQLSTATEs that mean "the server is not there for us", as opposed to a problem with the statement. */
const UNAVAILABLE_SQLSTATES = new Set(['57P01', '57P02', '57P03', '53300', '53000']);
const UNAVAILABLE_NODE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EPIPE',
  'EAI_AGAIN',
]);
const UNAVAILABLE_MESSAGES = [/connection terminated/i, /timeout exceeded when trying to connect/i, /connection error/i, /not queryable/i];

function isUnavailable(error: unknown): error is Error {
  if (!(error instanceof Error)) return false;
  const code = (error as Error & { code?: unknown }).code;
  if (typeof code === 'string' && (code.startsWith('08') || UNAVAILABLE_SQLSTATES.has(code) || UNAVAILABLE_NODE_CODES.has(code))) {
    return true;
  }
  if (error instanceof AggregateError) return error.errors.some(isUnavailable);
  return UNAVAILABLE_MESSAGES.some((pattern) => pattern.test(error.message));
}

/** Connection failures become StoreUnavailableError (the server answers 503); anything else passes unchanged. */
function translateError(error: unknown): unknown {
  if (error instanceof StoreUnavailableError || !isUnavailable(error)) return error;
  return new StoreUnavailableError(`PostgreSQL is unavailable: ${error.message}`, { cause: error });
}

// ---- notices on the wire (the format is documented in docs/postgres.md) ----

/**
 * One NOTIFY payload: `{"origin": ..., "notices": [...]}`. Each notice is a StoreNotice as JSON, except that an event
 * too large for a message travels as a stub without its `event`, naming it by taskId and seq.
 */
type WireItem = StoreNotice | { kind: 'event'; queue: string; owner: string | null; taskId: string; seq: number };

interface WireMessage {
  /** The store instance that sent it; null for NOTIFYs from an application's transaction (createTasksIn). */
  origin: string | null;
  /** Sent by a store that just started listening: the others answer with a message of their own. */
  join: boolean;
  notices: WireItem[];
}

/** Packs notices into as few messages as fit in MAX_NOTIFY_BYTES each, keeping their order. */
export function encodeNotices(origin: string | null, notices: readonly StoreNotice[]): string[] {
  const envelope = (items: string[]) => `{"origin":${JSON.stringify(origin)},"notices":[${items.join(',')}]}`;
  const emptySize = Buffer.byteLength(envelope([]));
  const messages: string[] = [];
  let items: string[] = [];
  let size = emptySize;
  for (const notice of notices) {
    let item = JSON.stringify(notice);
    if (emptySize + Buffer.byteLength(item) > MAX_NOTIFY_BYTES && notice.kind === 'event') {
      const { queue, owner, event } = notice;
      item = JSON.stringify({ kind: 'event', queue, owner, taskId: event.taskId, seq: event.seq });
    }
    const itemSize = Buffer.byteLength(item) + 1;
    if (items.length > 0 && size + itemSize > MAX_NOTIFY_BYTES) {
      messages.push(envelope(items));
      items = [];
      size = emptySize;
    }
    items.push(item);
    size += itemSize;
  }
  if (items.length > 0) messages.push(envelope(items));
  return messages;
}

/** A `ready` notice says "look at this queue": once per queue is enough in one batch (a bulk enqueue has one per task). */
function withoutRepeatedReadies(notices: readonly StoreNotice[]): StoreNotice[] {
  const seen = new Set<string | null>();
  return notices.filter((notice) => {
    if (notice.kind !== 'ready') return true;
    if (seen.has(notice.queue)) return false;
    seen.add(notice.queue);
    return true;
  });
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const EVENT_KINDS: ReadonlySet<string> = new Set(TASK_EVENT_KINDS);

function isEventKind(value: unknown): value is TaskEventKind {
  return typeof value === 'string' && EVENT_KINDS.has(value);
}

function parseEvent(value: unknown): TaskEvent | null {
  if (!isRecord(value)) return null;
  const { taskId, seq, kind, data, at } = value;
  if (typeof taskId !== 'string' || typeof seq !== 'number' || !isEventKind(kind) || typeof at !== 'number') return null;
  return { taskId, seq, kind, data: (data ?? null) as Json, at };
}

function parseWireItem(value: unknown): WireItem | null {
  if (!isRecord(value)) return null;
  switch (value.kind) {
    case 'event': {
      const { queue, owner } = value;
      if (typeof queue !== 'string' || (owner !== null && typeof owner !== 'string')) return null;
      if (value.event !== undefined) {
        const event = parseEvent(value.event);
        return event ? { kind: 'event', queue, owner, event } : null;
      }
      const { taskId, seq } = value;
      return typeof taskId === 'string' && typeof seq === 'number' ? { kind: 'event', queue, owner, taskId, seq } : null;
    }
    case 'ready':
      return { kind: 'ready', queue: typeof value.queue === 'string' ? value.queue : null };
    case 'cancel':
      return typeof value.taskId === 'string' ? { kind: 'cancel', taskId: value.taskId } : null;
    default:
      return null;
  }
}

/** Null for anything that is not a well-formed Taskhub message (someone else may NOTIFY on the channel). */
export function decodeNotices(payload: string | undefined): WireMessage | null {
  if (!payload) return null;
  let value: unknown;
  try {
    value = JSON.parse(payload);
  } catch {
    return null;
  }
  if (!isRecord(value) || !Array.isArray(value.notices)) return null;
  const notices: WireItem[] = [];
  for (const item of value.notices) {
    const notice = parseWireItem(item);
    if (notice) notices.push(notice);
  }
  return { origin: typeof value.origin === 'string' ? value.origin : null, join: value.join === true, notices };
}

// ---- the store ----

/**
 * Session settings of the pooled connections. Generic plans: every statement of sql.ts is a named prepared statement
 * meant to be planned once per connection, but PostgreSQL's default re-plans a statement on every execution when it
 * estimates the generic plan costlier than one made for the values at hand, which it does for the claim: planning
 * its CTEs then cost more than running them. No statement of sql.ts needs its parameters' values to find its plan;
 * the one whose plan depends on values (listTasks) inlines them as literals.
 */
const POOL_SESSION_OPTIONS = '-c plan_cache_mode=force_generic_plan';

/** pg lets an `options` parameter of the URL replace the config's `options`: merge the two instead. */
function withPoolSessionOptions(connectionString: string): { connectionString: string; options: string } {
  let url: URL;
  try {
    url = new URL(connectionString);
  } catch {
    return { connectionString, options: POOL_SESSION_OPTIONS };
  }
  const given = url.searchParams.get('options');
  if (given === null) return { connectionString, options: POOL_SESSION_OPTIONS };
  url.searchParams.delete('options');
  return { connectionString: url.toString(), options: `${given} ${POOL_SESSION_OPTIONS}` };
}

const LISTENER_APPLICATION_NAME = 'taskhub-listener';
/** How often a listening process tells the others that it listens. */
const PRESENCE_MS = 5_000;
/** A message from another process counts as a sign that it listens this long. */
const PEER_SEEN_MS = 3 * PRESENCE_MS;
/** After starting to listen, how long a process publishes before it knows whether anyone else listens. */
const JOIN_GRACE_MS = 1_000;
const RECONNECT_MIN_DELAY_MS = 100;
const RECONNECT_MAX_DELAY_MS = 5_000;
const CONNECT_TIMEOUT_MS = 10_000;
/** PostgreSQL truncates longer identifiers, which would silently put two schemas' tables in one. */
const MAX_SCHEMA_NAME_BYTES = 63;

export class PostgresStore implements Store {
  readonly backend = 'postgres';
  readonly schema: string;
  readonly #connectionString: string;
  readonly #sql: PostgresSql;
  readonly #pool: Pool;
  /** Names this store instance in its NOTIFYs, so it can skip the echo of what it already delivered locally. */
  readonly #origin = randomUUID();
  /** How every message this instance sends begins (see encodeNotices). */
  readonly #echoPrefix = `{"origin":${JSON.stringify(this.#origin)},`;
  readonly #notices = new NoticeHub();
  #closed = false;

  /** Notices of committed writes waiting to be NOTIFYed to other processes. */
  #outbox: StoreNotice[] = [];
  /** The loop that empties the outbox, while it runs: one NOTIFY statement at a time keeps our messages in order. */
  #publishing: Promise<void> | null = null;

  /** The connection that LISTENs, once it does. */
  #listener: Client | null = null;
  /** The connection attempt under way, or done; null while there is none (lost, waiting to reconnect). */
  #listenerStart: Promise<void> | null = null;
  #reconnectTimer: NodeJS.Timeout | undefined;
  #reconnectAttempts = 0;
  /** Set when notices may have been missed (listener down); the next successful LISTEN tells listeners to re-check. */
  #listenerGap = false;
  /** When the listener last started listening (see #othersMayListen). */
  #listeningSince = 0;
  /** When a message from another process last arrived. */
  #peerSeenAt = Number.NEGATIVE_INFINITY;
  /** Whether pg_stat_activity showed another listener at the last look. */
  #listenersSeen = false;
  #presenceTimer: NodeJS.Timeout | undefined;
  /** Notices from other processes are delivered one after another, in arrival order, even when one needs a read. */
  #delivery: Promise<void> = Promise.resolve();

  constructor(options: PostgresStoreOptions) {
    const schema = options.schema ?? 'taskhub';
    if (schema.length === 0 || Buffer.byteLength(schema) > MAX_SCHEMA_NAME_BYTES) {
      throw new ValidationError(`schema: "${schema}" must be 1-${MAX_SCHEMA_NAME_BYTES} bytes`, 'schema');
    }
    const poolSize = options.poolSize ?? 10;
    if (!Number.isInteger(poolSize) || poolSize < 1) throw new ValidationError('poolSize: must be a positive integer', 'poolSize');
    this.schema = schema;
    this.#connectionString = options.connectionString;
    this.#sql = buildSql(schema);
    this.#pool = new Pool({
      ...withPoolSessionOptions(options.connectionString),
      max: poolSize,
      application_name: 'taskhub',
      keepAlive: true,
      connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    });
    // An idle connection that dies (server restart, network cut) is dropped by the pool and replaced on demand; the
    // error must not crash the process, and callers see it as StoreUnavailableError on their next query if it lasts.
    this.#pool.on('error', () => {});
  }

  // ---- plumbing ----

  async #query<R extends QueryResultRow>(statement: Statement | string, values: unknown[], on: Queryable = this.#pool): Promise<R[]> {
    if (this.#closed && on === this.#pool) throw new StoreUnavailableError('the PostgreSQL store is closed');
    const config: QueryConfig<unknown[]> =
      typeof statement === 'string' ? { text: statement, values } : { name: statement.name, text: statement.text, values };
    try {
      return (await on.query<R>(config)).rows;
    } catch (error) {
      throw translateError(error);
    }
  }

  /** Runs fn inside BEGIN ... COMMIT on one pooled connection; ROLLBACK when it throws. */
  async #transaction<T>(fn: (client: PoolClient) => Promise<T>): Promise<T> {
    if (this.#closed) throw new StoreUnavailableError('the PostgreSQL store is closed');
    let client: PoolClient;
    try {
      client = await this.#pool.connect();
    } catch (error) {
      throw translateError(error);
    }
    let failure: unknown;
    try {
      await client.query('BEGIN');
      const value = await fn(client);
      await client.query('COMMIT');
      return value;
    } catch (error) {
      failure = error;
      await client.query('ROLLBACK').catch(() => {});
      throw translateError(error);
    } finally {
      // A connection that failed at the connection level is dropped from the pool rather than reused.
      client.release(isUnavailable(failure));
    }
  }

  /** Distinguishes an unknown task from a stale token, for the error a refused call throws. */
  async #refusal(taskId: string): Promise<Error> {
    const rows = await this.#query<{ status: TaskStatus }>(this.#sql.taskStatus, [taskId]);
    return rows.length > 0 ? new StaleAttemptError(taskId) : new TaskNotFoundError(taskId);
  }

  /**
   * After a write committed: its notices go to this process's listeners at once, and to the outbox for the others.
   * Sending them after the commit rather than from inside the write keeps PostgreSQL's NOTIFY lock, which serializes
   * every notifying commit of the database, out of the write's commit (docs/postgres.md has the measurements).
   */
  #announce(notices: readonly StoreNotice[]): void {
    if (notices.length === 0) return;
    for (const notice of notices) this.#notices.emit(notice);
    if (!this.#othersMayListen()) return;
    this.#outbox.push(...notices);
    this.#publishing ??= this.#publish();
  }

  /**
   * Sends the outbox, and whatever gathered in it meanwhile, until it is empty: under load one NOTIFY statement
   * carries the notices of many writes. A failure drops that batch: notices are hints (a lost one costs a waiter
   * latency, never an event: followers fill gaps from the store), and the write they describe is committed anyway.
   */
  async #publish(): Promise<void> {
    try {
      while (this.#outbox.length > 0 && !this.#closed) {
        const batch = withoutRepeatedReadies(this.#outbox);
        this.#outbox = [];
        await this.#query(this.#sql.publishNotices, [encodeNotices(this.#origin, batch).join(NOTICE_SEPARATOR)]).catch(() => {});
      }
    } finally {
      this.#outbox = [];
      this.#publishing = null;
    }
  }

  // ---- schema ----

  async migrate(): Promise<void> {
    await this.#transaction(async (client) => {
      // Serializes every process migrating this schema; released by COMMIT or ROLLBACK.
      await client.query(this.#sql.migrationLock, [this.schema]);
      const schemaExists = await client.query(this.#sql.schemaExists, [this.schema]);
      if (schemaExists.rowCount === 0) await client.query(this.#sql.createSchema);
      const table = await client.query<{ present: boolean }>(this.#sql.migrationsTableExists);
      if (!table.rows[0].present) await client.query(this.#sql.createMigrationsTable);
      const applied = new Set((await client.query<{ version: number }>(this.#sql.appliedVersions)).rows.map((r) => r.version));
      for (const [index, ddl] of this.#sql.migrations.entries()) {
        const version = index + 1;
        if (applied.has(version)) continue;
        await client.query(ddl);
        await client.query(this.#sql.recordMigration, [version, Date.now()]);
      }
    });
    // Listening from here on means a store that has migrated hears every change committed after this returns.
    await this.#ensureListener();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    // What was committed before close() gets announced to other processes.
    await this.#publishing;
    this.#closed = true;
    clearTimeout(this.#reconnectTimer);
    clearInterval(this.#presenceTimer);
    this.#reconnectTimer = undefined;
    await this.#listenerStart;
    const listener = this.#listener;
    this.#listener = null;
    if (listener) await listener.end().catch(() => {});
    await this.#delivery;
    await this.#pool.end();
  }

  async ping(): Promise<void> {
    try {
      await this.#query(this.#sql.ping, []);
    } catch (error) {
      if (error instanceof StoreUnavailableError) throw error;
      throw new StoreUnavailableError(`PostgreSQL is not answering: ${(error as Error).message}`, { cause: error });
    }
  }

  // ---- producing ----

  async createTasks(tasks: readonly NewTask[]): Promise<CreatedTask[]> {
    const results = await this.#createTasks(this.#pool, tasks, this.#sql.createTasks);
    const notices: StoreNotice[] = [];
    for (const { task, created } of results) if (created) createdNotices(task, notices);
    this.#announce(notices);
    return results;
  }

  /**
   * createTasks on a connection the application controls, typically inside its own BEGIN ... COMMIT, so the tasks
   * exist if and only if the application's transaction commits. Their notices are NOTIFYed from inside that
   * transaction, so they go out when (and only when) it commits; this process hears them like any other's.
   * See docs/postgres.md.
   */
  createTasksIn(client: Queryable, tasks: readonly NewTask[]): Promise<CreatedTask[]> {
    return this.#createTasks(client, tasks, this.#sql.createTasksNotifying);
  }

  async #createTasks(on: Queryable, tasks: readonly NewTask[], statement: Statement): Promise<CreatedTask[]> {
    if (tasks.length === 0) return [];
    const n = tasks.length;
    const column = <T extends string | number | null>(of: (t: NewTask) => T): string => {
      const values = new Array<T>(n);
      for (let i = 0; i < n; i++) values[i] = of(tasks[i]);
      return arrayLiteral(values);
    };
    const backoffs = new DistinctJson();
    const tags = new DistinctJson();
    const backoffRefs = new Array<number>(n);
    const tagsRefs = new Array<number>(n);
    const payloads = new Array<Json>(n);
    for (let i = 0; i < n; i++) {
      const t = tasks[i];
      backoffRefs[i] = backoffs.ref(t.backoff);
      tagsRefs[i] = tags.ref(t.tags);
      payloads[i] = t.payload ?? null;
    }
    const params = [
      column((t) => t.id),
      column((t) => t.queue),
      column((t) => t.type),
      column((t) => t.status),
      column((t) => t.priority),
      column((t) => t.runAt),
      column((t) => t.maxAttempts),
      column((t) => t.timeoutMs),
      column((t) => t.idempotencyKey),
      column((t) => t.owner),
      column((t) => t.parentId),
      column((t) => t.concurrencyKey),
      column((t) => t.traceparent),
      column((t) => t.createdAt),
      JSON.stringify(payloads),
      backoffs.json(),
      arrayLiteral(backoffRefs),
      tags.json(),
      arrayLiteral(tagsRefs),
    ];
    const rows = await this.#query<{ id: string }>(statement, params, on);
    const inserted = new Set(rows.map((r) => r.id));
    // An inserted row is exactly its NewTask with the initial values: no need to read it back.
    if (inserted.size === tasks.length) return tasks.map((t) => ({ task: initialTask(t), created: true }));

    // Skipped for an idempotency key: the existing task is one inserted earlier in this batch, or one stored before.
    const keyOf = (owner: string | null, key: string | null) => JSON.stringify([owner ?? '', key]);
    const byKey = new Map<string, Task>();
    for (const t of tasks) {
      if (inserted.has(t.id) && t.idempotencyKey !== null) byKey.set(keyOf(t.owner, t.idempotencyKey), initialTask(t));
    }
    const unresolved = tasks.filter((t) => !inserted.has(t.id) && !byKey.has(keyOf(t.owner, t.idempotencyKey)));
    if (unresolved.length > 0) {
      const existing = await this.#query<TaskRow>(
        this.#sql.tasksByIdempotencyKey,
        [unresolved.map((t) => t.owner ?? ''), unresolved.map((t) => t.idempotencyKey)],
        on,
      );
      for (const row of existing) byKey.set(keyOf(row.owner, row.idempotency_key), rowToTask(row));
    }
    return tasks.map((t) => {
      if (inserted.has(t.id)) return { task: initialTask(t), created: true };
      const existing = byKey.get(keyOf(t.owner, t.idempotencyKey));
      if (!existing) throw new Error(`task ${t.id} was not inserted and matches no idempotency key`);
      return { task: existing, created: false };
    });
  }

  // ---- reading ----

  async getTask(id: string): Promise<Task | null> {
    const [row] = await this.#query<TaskRow>(this.#sql.getTask, [id]);
    return row ? rowToTask(row) : null;
  }

  async listTasks(query: TaskQuery): Promise<TaskPage> {
    return pageOf(await this.#query<TaskRow>(this.#sql.listTasks(query), []), query.limit, rowToTask);
  }

  async listEvents(taskId: string, afterSeq: number, limit: number): Promise<TaskEvent[]> {
    const rows = await this.#query<EventRow>(this.#sql.listEvents, [taskId, afterSeq, limit]);
    if (!rows[0]?.task_exists) throw new TaskNotFoundError(taskId);
    const events: TaskEvent[] = [];
    for (const r of rows) {
      if (r.seq !== null) events.push({ taskId, seq: r.seq, kind: r.kind, data: r.data ?? null, at: toNumber(r.at) });
    }
    return events;
  }

  async countByQueue(owner?: string): Promise<QueueCounts[]> {
    const rows =
      owner === undefined
        ? await this.#query<CountRow>(this.#sql.countByQueue, [])
        : await this.#query<CountRow>(this.#sql.countByQueueOfOwner, [owner]);
    return countsByQueue(rows);
  }

  async countTasks(cap: number): Promise<CappedCounts> {
    return cappedCounts(await this.#query<CountRow>(this.#sql.countCapped, [cap]), cap);
  }

  // ---- the worker side ----

  async claim(request: ClaimRequest): Promise<Claim[]> {
    if (request.max <= 0 || request.types.length === 0) return [];
    const { now } = request;
    // A type named twice would be walked twice, and its rows would fill two of the `max` places.
    const types = [...new Set(request.types)];
    const params = [now, types, request.queues, request.max, request.leaseMs, request.workerId];
    const attempt = await this.#query<GatedClaimRow>(this.#sql.claim, params);
    // Gated: the best candidates lie in capped or rate-limited queues, whose room must be counted under their locks.
    const rows = attempt[0]?.gated
      ? await this.#transaction(async (client) => {
          await this.#query(this.#sql.claimLimitedLock, [request.queues], client);
          return this.#query<TaskRowWithToken>(this.#sql.claimLimited, params, client);
        })
      : attempt.filter((row): row is GatedClaimRow & TaskRowWithToken => row.id !== null);
    const leaseExpiresAt = now + request.leaseMs;
    const claims = rows
      .map((row) => ({ task: rowToTask(row), attemptToken: row.attempt_token, leaseExpiresAt }))
      .sort((a, b) => byClaimOrder(a.task, b.task));
    this.#announce(
      claims.map(({ task }) => eventNotice(task, startedEvent(task.id, task.lastEventSeq, task.attempts, request.workerId, now))),
    );
    return claims;
  }

  async nextScheduledAt(queues: readonly string[] | null): Promise<number | null> {
    const [row] = queues
      ? await this.#query<{ at: Int8 | null }>(this.#sql.nextScheduledAtInQueues, [queues])
      : await this.#query<{ at: Int8 | null }>(this.#sql.nextScheduledAt, []);
    return row ? toNumberOrNull(row.at) : null;
  }

  async heartbeat(ref: AttemptRef, leaseMs: number, now: number): Promise<LeaseState> {
    const [row] = await this.#query<{ lease_until: Int8; cancel_requested: boolean }>(this.#sql.heartbeat, [
      now + leaseMs,
      ref.taskId,
      ref.attemptToken,
    ]);
    if (!row) throw await this.#refusal(ref.taskId);
    return { leaseExpiresAt: toNumber(row.lease_until), cancelRequested: row.cancel_requested };
  }

  async progress(ref: AttemptRef, progress: Progress, now: number): Promise<TaskEvent> {
    const [row] = await this.#query<AppendedEventRow>(this.#sql.progress, [JSON.stringify(progress), now, ref.taskId, ref.attemptToken]);
    if (!row) throw await this.#refusal(ref.taskId);
    const event = progressEvent(ref.taskId, row.event_seq, progress, now);
    this.#announce([eventNotice(row, event)]);
    return event;
  }

  async output(ref: AttemptRef, chunk: string, now: number): Promise<TaskEvent> {
    const [row] = await this.#query<AppendedEventRow>(this.#sql.output, [chunk, now, ref.taskId, ref.attemptToken]);
    if (!row) throw await this.#refusal(ref.taskId);
    const event = outputEvent(ref.taskId, row.event_seq, chunk, now);
    this.#announce([eventNotice(row, event)]);
    return event;
  }

  async finish(requests: readonly FinishRequest[], now: number): Promise<FinishResult[]> {
    if (requests.length === 0) return [];
    const n = requests.length;
    const ids = new Array<string>(n);
    const tokens = new Array<string>(n);
    const outcomes = new Array<AttemptOutcome['status']>(n);
    const retryAts = new Array<number | null>(n);
    /** Each request's result (completed) or error (the others): also its event's data. */
    const values = new Array<Json>(n);
    const refunds = new Array<boolean>(n);
    const onlyIfExpired = new Array<boolean>(n);
    for (let i = 0; i < n; i++) {
      const { ref, outcome, onlyIfLeaseExpired } = requests[i];
      ids[i] = ref.taskId;
      tokens[i] = ref.attemptToken;
      outcomes[i] = outcome.status;
      retryAts[i] = outcome.status === 'retry' ? outcome.runAt : null;
      values[i] = finishValue(outcome);
      refunds[i] = outcome.status === 'retry' && outcome.refundAttempt === true;
      onlyIfExpired[i] = onlyIfLeaseExpired === true;
    }
    const params = [
      arrayLiteral(ids),
      now,
      arrayLiteral(tokens),
      arrayLiteral(outcomes),
      arrayLiteral(retryAts),
      JSON.stringify(values),
      arrayLiteral(refunds),
      arrayLiteral(onlyIfExpired),
    ];
    let rows: FinishedRow[];
    for (let round = 1; ; round++) {
      try {
        rows = await this.#query<FinishedRow>(this.#sql.finish, params);
        break;
      } catch (error) {
        // Deadlocked with another batch on tasks both finish (see sql.ts): this one was rolled back; run it again.
        if ((error as { code?: unknown }).code !== DEADLOCK_DETECTED || round >= 3) throw error;
      }
    }
    const finished = new Map(rows.map((r) => [r.ord - 1, r]));

    const refusedIds = requests.filter((_, ord) => !finished.has(ord)).map((r) => r.ref.taskId);
    const existing =
      refusedIds.length > 0
        ? new Set((await this.#query<{ id: string }>(this.#sql.existingIds, [refusedIds])).map((r) => r.id))
        : new Set<string>();

    const notices: StoreNotice[] = [];
    const results = requests.map((request, ord): FinishResult => {
      const row = finished.get(ord);
      if (!row) {
        const { taskId } = request.ref;
        return { ok: false, error: existing.has(taskId) ? new StaleAttemptError(taskId) : new TaskNotFoundError(taskId) };
      }
      const task: FinishedTask = {
        id: row.id,
        queue: row.queue,
        type: row.type,
        owner: row.owner,
        status: row.status,
        attempts: row.attempts,
        runAt: Number(row.run_at),
        startedAt: toNumberOrNull(row.started_at),
        lastEventSeq: Number(row.event_seq),
      };
      finishedNotices(task, request.outcome, values[ord], task.attempts, now, notices);
      return { ok: true, task };
    });
    this.#announce(notices);
    return results;
  }

  async expiredLeases(now: number, limit: number): Promise<ExpiredLease[]> {
    const rows = await this.#query<TaskRowWithToken>(this.#sql.expiredLeases, [now, limit]);
    return rows.map((r) => ({ task: rowToTask(r), attemptToken: r.attempt_token }));
  }

  // ---- control ----

  async cancel(id: string, reason: string, now: number): Promise<Task> {
    const error = cancelledError(reason);
    // A failed task retried between the update and the status read would look cancellable: then try again.
    for (let round = 1; ; round++) {
      const [row] = await this.#query<TaskRow>(this.#sql.cancel, [id, JSON.stringify(error), now]);
      if (row) {
        const task = rowToTask(row);
        this.#announce([
          task.status === 'cancelled'
            ? eventNotice(task, cancelledEvent(id, task.lastEventSeq, error, now))
            : cancelRequestNotice(id),
        ]);
        return task;
      }
      const [current] = await this.#query<{ status: TaskStatus }>(this.#sql.taskStatus, [id]);
      if (!current) throw new TaskNotFoundError(id);
      if (isTerminal(current.status) || round >= 3) throw new InvalidStateError(id, current.status, 'cancel');
    }
  }

  async retry(id: string, now: number): Promise<Task> {
    const [row] = await this.#query<TaskRow>(this.#sql.retry, [id, now]);
    if (!row) {
      const [current] = await this.#query<{ status: TaskStatus }>(this.#sql.taskStatus, [id]);
      if (!current) throw new TaskNotFoundError(id);
      throw new InvalidStateError(id, current.status, 'retry');
    }
    const task = rowToTask(row);
    this.#announce([
      eventNotice(task, manualRetryEvent(id, task.lastEventSeq, now)),
      readyNotice(task.queue),
    ]);
    return task;
  }

  async retryFailed(queue: string, limit: number, now: number): Promise<number> {
    const rows = await this.#query<AppendedEventRow & { id: string }>(this.#sql.retryFailedOfQueue, [now, queue, limit]);
    if (rows.length === 0) return 0;
    const notices: StoreNotice[] = rows.map((r) => eventNotice(r, manualRetryEvent(r.id, r.event_seq, now)));
    notices.push(readyNotice(queue));
    this.#announce(notices);
    return rows.length;
  }

  async deleteTask(id: string): Promise<boolean> {
    const [row] = await this.#query<{ id: string }>(this.#sql.deleteTask, [id]);
    if (row) return true;
    const [current] = await this.#query<{ status: TaskStatus }>(this.#sql.taskStatus, [id]);
    if (!current) return false;
    throw new InvalidStateError(id, current.status, 'delete');
  }

  // ---- queue and type settings, subscriptions, schedules, retention ----

  async listQueueSettings(): Promise<QueueSettings[]> {
    return (await this.#query<QueueRow>(this.#sql.listQueueSettings, [])).map(rowToQueueSettings);
  }

  async updateQueueSettings(name: string, patch: QueueSettingsPatch, now: number): Promise<QueueSettings> {
    const [row] = await this.#query<QueueRow>(this.#sql.updateQueueSettings, [
      name,
      patch.paused ?? null,
      patch.maxConcurrency !== undefined,
      patch.maxConcurrency ?? null,
      patch.rateLimit !== undefined,
      patch.rateLimit?.count ?? null,
      patch.rateLimit?.intervalMs ?? null,
      now,
      patch.maxPerKey !== undefined,
      patch.maxPerKey ?? null,
    ]);
    this.#announce(queueSettingsNotices(name, patch));
    return rowToQueueSettings(row);
  }

  async listTypeSettings(): Promise<TypeSettings[]> {
    return (await this.#query<TypeSettingsRow>(this.#sql.listTypeSettings, [])).map(rowToTypeSettings);
  }

  async putTypeSettings(settings: TypeSettings): Promise<TypeSettings> {
    await this.#query(this.#sql.putTypeSettings, [
      settings.type,
      JSON.stringify(settings.defaults),
      settings.payloadSchema === null ? null : JSON.stringify(settings.payloadSchema),
      settings.updatedAt,
    ]);
    return settings;
  }

  async deleteTypeSettings(type: string): Promise<boolean> {
    return (await this.#affected(this.#sql.deleteTypeSettings, [type])) > 0;
  }

  async listSubscriptions(): Promise<Subscription[]> {
    return (await this.#query<SubscriptionRow>(this.#sql.listSubscriptions, [])).map(rowToSubscription);
  }

  async putSubscription(
    subscription: Omit<Subscription, 'createdAt' | 'updatedAt'>,
    now: number,
  ): Promise<{ subscription: Subscription; created: boolean }> {
    const { name, pattern, queue, type } = subscription;
    const [row] = await this.#query<SubscriptionRow & { created: boolean }>(this.#sql.putSubscription, [name, pattern, queue, type, now]);
    return { subscription: rowToSubscription(row), created: row.created };
  }

  async deleteSubscription(name: string): Promise<boolean> {
    return (await this.#affected(this.#sql.deleteSubscription, [name])) > 0;
  }

  async registerWorker(w: WorkerInfo): Promise<void> {
    await this.#query(this.#sql.registerWorker, [
      w.id, w.host, w.pid, JSON.stringify(w.types), w.queues ? JSON.stringify(w.queues) : null, w.concurrency, w.running, w.startedAt, w.lastSeenAt,
    ]);
  }

  async listWorkers(seenSince: number): Promise<WorkerInfo[]> {
    const rows = await this.#query<WorkerRow>(this.#sql.listWorkers, [seenSince]);
    return rows.map((r) => ({
      id: r.id,
      host: r.host,
      pid: r.pid,
      types: r.types,
      queues: r.queues,
      concurrency: r.concurrency,
      running: r.running,
      startedAt: Number(r.started_at),
      lastSeenAt: Number(r.last_seen_at),
    }));
  }

  async removeWorkers(before: number, id?: string): Promise<number> {
    return this.#affected(this.#sql.removeWorkers, [Number.isFinite(before) ? before : Number.MIN_SAFE_INTEGER, id ?? null]);
  }

  async createApiKey(key: ApiKey, secretHash: string): Promise<void> {
    await this.#query(this.#sql.createApiKey, [key.id, key.name, key.owner, JSON.stringify(key.scopes), secretHash, key.createdAt]);
  }

  async findApiKey(id: string): Promise<{ key: ApiKey; secretHash: string } | null> {
    const [row] = await this.#query<ApiKeyRow>(this.#sql.findApiKey, [id]);
    return row ? { key: rowToApiKey(row), secretHash: row.secret_hash } : null;
  }

  async listApiKeys(): Promise<ApiKey[]> {
    return (await this.#query<ApiKeyRow>(this.#sql.listApiKeys, [])).map(rowToApiKey);
  }

  async revokeApiKey(id: string, now: number): Promise<boolean> {
    return (await this.#affected(this.#sql.revokeApiKey, [id, now])) > 0;
  }

  async secret(name: string): Promise<string> {
    const [row] = await this.#query<{ value: string }>(this.#sql.secret, [name, randomBytes(32).toString('base64url'), Date.now()]);
    return (row as { value: string }).value;
  }

  async listSchedules(): Promise<Schedule[]> {
    return (await this.#query<ScheduleRow>(this.#sql.listSchedules, [])).map(rowToSchedule);
  }

  async getSchedule(name: string): Promise<Schedule | null> {
    const [row] = await this.#query<ScheduleRow>(this.#sql.getSchedule, [name]);
    return row ? rowToSchedule(row) : null;
  }

  async putSchedule(definition: ScheduleDefinition, nextRunAt: number | null, now: number): Promise<{ schedule: Schedule; created: boolean }> {
    const d = definition;
    const [row] = await this.#query<ScheduleRow & { created: boolean }>(this.#sql.putSchedule, [
      d.name,
      d.cron,
      d.timezone,
      JSON.stringify(d.task),
      d.missedPolicy,
      d.paused,
      nextRunAt,
      now,
    ]);
    return { schedule: rowToSchedule(row), created: row.created };
  }

  async deleteSchedule(name: string): Promise<boolean> {
    return (await this.#affected(this.#sql.deleteSchedule, [name])) > 0;
  }

  async dueSchedules(now: number, limit: number): Promise<Schedule[]> {
    return (await this.#query<ScheduleRow>(this.#sql.dueSchedules, [now, limit])).map(rowToSchedule);
  }

  async advanceSchedule(
    name: string,
    fromNextRunAt: number,
    toNextRunAt: number | null,
    fired: { at: number; taskId: string } | null,
    now: number,
  ): Promise<boolean> {
    const values = [name, fromNextRunAt, toNextRunAt, fired?.at ?? null, fired?.taskId ?? null, now];
    return (await this.#affected(this.#sql.advanceSchedule, values)) > 0;
  }

  async deleteFinishedTasks(status: 'completed' | 'failed' | 'cancelled', before: number, limit: number): Promise<number> {
    const [row] = await this.#query<{ n: number }>(this.#sql.deleteFinishedTasks, [status, before, limit]);
    return row?.n ?? 0;
  }

  /** How many rows a DELETE or UPDATE (without RETURNING) affected. */
  async #affected(statement: Statement, values: unknown[]): Promise<number> {
    if (this.#closed) throw new StoreUnavailableError('the PostgreSQL store is closed');
    try {
      const result = await this.#pool.query({ name: statement.name, text: statement.text, values });
      return result.rowCount ?? 0;
    } catch (error) {
      throw translateError(error);
    }
  }

  // ---- notices ----

  listen(listener: NoticeListener): () => void {
    const unsubscribe = this.#notices.add(listener);
    void this.#ensureListener();
    return unsubscribe;
  }

  // ---- who else listens ----
  //
  // A process alone on its schema's channel has nobody to NOTIFY: its own listeners get every notice at once, in
  // #announce. Sending them anyway costs a statement per write batch, the NOTIFY queue, and the echo coming back.
  // So notices are published only while another process may listen. Every process with a listener sends a message
  // without notices when it starts listening (`join`, which the others answer at once with one of their own) and
  // every PRESENCE_MS, and publishes while any message from another process arrived within PEER_SEEN_MS. Also
  // while its listener is down or just started (JOIN_GRACE_MS, for the answers to arrive), and while
  // pg_stat_activity shows another listener connection (processes of earlier versions send no such messages). The
  // grace ends at once when pg_stat_activity shows every session and no other listener among them.

  #othersMayListen(): boolean {
    const now = Date.now();
    return (
      this.#listener === null ||
      now - this.#listeningSince < JOIN_GRACE_MS ||
      now - this.#peerSeenAt < PEER_SEEN_MS ||
      this.#listenersSeen
    );
  }

  /** Just listening (again): tells the others, who answer, and from then on says so every PRESENCE_MS. */
  async #joined(listener: Client): Promise<void> {
    this.#listeningSince = Date.now();
    clearInterval(this.#presenceTimer);
    await this.#sayHere(true);
    if (this.#closed || listener !== this.#listener) return;
    this.#presenceTimer = setInterval(() => void this.#sayHere(false), PRESENCE_MS);
    this.#presenceTimer.unref();
  }

  /** A message without notices; also looks in pg_stat_activity for listeners of earlier versions. */
  async #sayHere(join: boolean): Promise<void> {
    const message = `${this.#echoPrefix}${join ? '"join":true,' : ''}"notices":[]}`;
    await this.#query(this.#sql.publishNotices, [message]).catch(() => {});
    const pid = (this.#listener as (Client & { processID?: number }) | null)?.processID;
    if (typeof pid !== 'number') return;
    try {
      const [row] = await this.#query<{ n: number; sees_all: boolean }>(this.#sql.otherListeners, [pid]);
      this.#listenersSeen = (row?.n ?? 0) > 0;
      // Nobody else listens, and nobody could hide: no answers to wait for.
      if (join && row?.n === 0 && row.sees_all) this.#listeningSince = Number.NEGATIVE_INFINITY;
    } catch {
      // Unknown: the other signs decide.
    }
  }

  /** Starts the LISTEN connection unless it runs or is starting. Never rejects: a failure schedules a retry. */
  #ensureListener(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#listenerStart ??= this.#connectListener().catch(() => {
      this.#listenerStart = null;
      this.#listenerGap = true;
      this.#scheduleReconnect();
    });
    return this.#listenerStart;
  }

  async #connectListener(): Promise<void> {
    const client = new Client({
      connectionString: this.#connectionString,
      application_name: LISTENER_APPLICATION_NAME,
      keepAlive: true,
      connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    });
    // Registered before connecting and kept for the client's whole life: an 'error' event without a handler would
    // crash the process.
    client.on('error', () => this.#onListenerLost(client));
    client.on('end', () => this.#onListenerLost(client));
    client.on('notification', (message) => this.#onNotification(message));
    try {
      await client.connect();
      await client.query(listenStatement(this.#sql.channel));
    } catch (error) {
      client.removeAllListeners('notification');
      await client.end().catch(() => {});
      throw error;
    }
    if (this.#closed) {
      await client.end().catch(() => {});
      return;
    }
    this.#listener = client;
    this.#reconnectAttempts = 0;
    await this.#joined(client);
    if (this.#listenerGap) {
      this.#listenerGap = false;
      this.#afterGap();
    }
  }

  #onListenerLost(client: Client): void {
    if (client !== this.#listener) return;
    this.#listener = null;
    clearInterval(this.#presenceTimer);
    this.#listenerStart = null;
    this.#listenerGap = true;
    client.removeAllListeners('notification');
    void client.end().catch(() => {});
    this.#scheduleReconnect();
  }

  #scheduleReconnect(): void {
    if (this.#closed || this.#reconnectTimer) return;
    const ceiling = Math.min(RECONNECT_MAX_DELAY_MS, RECONNECT_MIN_DELAY_MS * 2 ** this.#reconnectAttempts++);
    const delay = ceiling / 2 + (Math.random() * ceiling) / 2;
    this.#reconnectTimer = setTimeout(() => {
      this.#reconnectTimer = undefined;
      void this.#ensureListener();
    }, delay);
    // The timer alone must not keep a process alive that has nothing else to do.
    this.#reconnectTimer.unref();
  }

  /**
   * Listening again after a gap: notices sent meanwhile are gone. Waiters re-check for work, and running tasks whose
   * cancellation was requested meanwhile are announced again (their workers would otherwise learn it only from the
   * next heartbeat). Followers of task events fill gaps from listEvents when the next event arrives.
   */
  #afterGap(): void {
    this.#notices.emit({ kind: 'ready', queue: null });
    this.#delivery = this.#delivery.then(async () => {
      try {
        for (const { id } of await this.#query<{ id: string }>(this.#sql.cancelRequestedIds, [])) {
          this.#notices.emit({ kind: 'cancel', taskId: id });
        }
      } catch {
        // Unreachable again: the next reconnect repeats this.
      }
    });
  }

  #onNotification(message: Notification): void {
    if (message.channel !== this.#sql.channel) return;
    // The echo of this instance's own messages (delivered when their writes committed), skipped without parsing it.
    if (message.payload?.startsWith(this.#echoPrefix)) return;
    // Another process, or an application's transaction (createTasksIn): someone else shares the channel.
    this.#peerSeenAt = Date.now();
    const decoded = decodeNotices(message.payload);
    if (decoded?.join) void this.#sayHere(false);
    if (this.#notices.size === 0) return;
    // This instance's own notices were delivered when their writes committed.
    if (!decoded || decoded.origin === this.#origin) return;
    for (const item of decoded.notices) this.#delivery = this.#delivery.then(() => this.#deliver(item));
  }

  async #deliver(item: WireItem): Promise<void> {
    if (item.kind !== 'event' || 'event' in item) {
      this.#notices.emit(item);
      return;
    }
    // A stub: the event was too large for a NOTIFY message. Read it; on failure it is skipped, and followers fill
    // the gap from the store when the task's next event arrives.
    try {
      const [event] = await this.listEvents(item.taskId, item.seq - 1, 1);
      if (event?.seq === item.seq) this.#notices.emit({ kind: 'event', queue: item.queue, owner: item.owner, event });
    } catch {
      // Unreachable or gone (deleted): nothing to deliver.
    }
  }
}
