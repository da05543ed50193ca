// Queue and type settings, subscriptions, schedules and retention on SQLite: everything that is not a task's life.
import { randomBytes } from 'node:crypto';
import type { Json } from '../../core/task.ts';
import type {
  ApiKey,
  CostLimit,
  QueueSettings,
  QueueSettingsPatch,
  Schedule,
  ScheduleDefinition,
  Subscription,
  TypeSettings,
  WorkerInfo,
} from '../store.ts';
import { queueSettingsNotices } from '../transitions.ts';
import type { SqliteConnection } from './connection.ts';
import { parseJson, type Row } from './rows.ts';
import { SQL } from './sql.ts';

const rowToQueue = (r: Row): QueueSettings => ({
  name: r.name as string,
  paused: r.paused === 1,
  maxConcurrency: r.max_concurrency as number | null,
  rateLimit: r.rate_count === null ? null : { count: r.rate_count as number, intervalMs: r.rate_interval_ms as number },
  maxPerKey: (r.max_per_key as number | null) ?? null,
  costLimit: costLimitOf(r),
  updatedAt: r.updated_at as number,
});

/** A queue's or type's cost limit columns; null when unset (or in rows stored before them). */
function costLimitOf(r: Row): CostLimit | null {
  if (r.cost_budget === null || r.cost_budget === undefined) return null;
  return { budget: r.cost_budget as number, periodMs: r.cost_period_ms as number, perKey: r.cost_per_key === 1 };
}

const rowToType = (r: Row): TypeSettings => ({
  type: r.type as string,
  defaults: parseJson(r.defaults, {}),
  payloadSchema: parseJson<Json | null>(r.payload_schema, null),
  // Present only when set, as the contract allows: settings stored before rate limits read back unchanged.
  ...(r.rate_count === null || r.rate_count === undefined ? {} : { rateLimit: { count: r.rate_count as number, intervalMs: r.rate_interval_ms as number } }),
  ...(r.cost_budget === null || r.cost_budget === undefined ? {} : { costLimit: costLimitOf(r) }),
  updatedAt: r.updated_at as number,
});

const rowToSubscription = (r: Row): Subscription => ({
  name: r.name as string,
  pattern: r.pattern as string,
  queue: r.queue as string,
  type: r.type as string,
  createdAt: r.created_at as number,
  updatedAt: r.updated_at as number,
});

const rowToSchedule = (r: Row): Schedule => ({
  name: r.name as string,
  cron: r.every_ms === null || r.every_ms === undefined ? (r.cron as string) : null,
  everyMs: (r.every_ms ?? null) as number | null,
  timezone: r.timezone as string,
  task: parseJson(r.task, { type: '', payload: null }),
  missedPolicy: r.missed_policy as Schedule['missedPolicy'],
  paused: r.paused === 1,
  nextRunAt: r.next_run_at as number | null,
  lastRunAt: r.last_run_at as number | null,
  lastTaskId: r.last_task_id as string | null,
  createdAt: r.created_at as number,
  updatedAt: r.updated_at as number,
});

const rowToWorker = (r: Row): WorkerInfo => ({
  id: r.id as string,
  host: r.host as string | null,
  pid: r.pid as number | null,
  types: parseJson(r.types, []),
  queues: parseJson(r.queues, null),
  concurrency: r.concurrency as number,
  running: r.running as number,
  startedAt: r.started_at as number,
  lastSeenAt: r.last_seen_at as number,
  // Only said when false: a registered worker's info is exactly what it reported.
  ...(r.registered === 0 ? { registered: false } : {}),
});

const rowToKey = (r: Row): ApiKey => ({
  id: r.id as string,
  name: r.name as string | null,
  owner: r.owner as string,
  scopes: parseJson(r.scopes, []),
  createdAt: r.created_at as number,
  revokedAt: r.revoked_at as number | null,
});

export class SqliteSettings {
  readonly #c: SqliteConnection;

  constructor(connection: SqliteConnection) {
    this.#c = connection;
  }

  listQueueSettings(): QueueSettings[] {
    return this.#c.all(SQL.listQueues).map(rowToQueue);
  }

  async updateQueueSettings(name: string, patch: QueueSettingsPatch, now: number): Promise<QueueSettings> {
    return this.#c.write(() => {
      const current = this.#c.get(SQL.getQueue, name);
      const base = current ? rowToQueue(current) : { paused: false, maxConcurrency: null, rateLimit: null, maxPerKey: null, costLimit: null };
      const next = { ...base, ...patch };
      const cost = next.costLimit ?? null;
      this.#c.run(
        SQL.upsertQueue, name, next.paused ? 1 : 0, next.maxConcurrency, next.rateLimit?.count ?? null, next.rateLimit?.intervalMs ?? null,
        next.maxPerKey, now, cost?.budget ?? null, cost?.periodMs ?? null, cost ? (cost.perKey ? 1 : 0) : null,
      );
      for (const notice of queueSettingsNotices(name, patch)) this.#c.push(notice);
      return rowToQueue(this.#c.get(SQL.getQueue, name)!);
    });
  }

  listTypeSettings(): TypeSettings[] {
    return this.#c.all(SQL.listTypes).map(rowToType);
  }

  async putTypeSettings(settings: TypeSettings): Promise<TypeSettings> {
    await this.#c.write(() =>
      this.#c.run(
        SQL.upsertType,
        settings.type,
        JSON.stringify(settings.defaults),
        settings.payloadSchema === null ? null : JSON.stringify(settings.payloadSchema),
        settings.updatedAt,
        settings.rateLimit?.count ?? null,
        settings.rateLimit?.intervalMs ?? null,
        settings.costLimit?.budget ?? null,
        settings.costLimit?.periodMs ?? null,
        settings.costLimit ? (settings.costLimit.perKey ? 1 : 0) : null,
      ),
    );
    return settings;
  }

  async deleteTypeSettings(type: string): Promise<boolean> {
    return this.#c.write(() => this.#c.run(SQL.deleteType, type) > 0);
  }

  listSubscriptions(): Subscription[] {
    return this.#c.all(SQL.listSubscriptions).map(rowToSubscription);
  }

  async putSubscription(s: Omit<Subscription, 'createdAt' | 'updatedAt'>, now: number): Promise<{ subscription: Subscription; created: boolean }> {
    return this.#c.write(() => {
      const created = !this.#c.get(SQL.getSubscription, s.name);
      this.#c.run(SQL.upsertSubscription, s.name, s.pattern, s.queue, s.type, now, now);
      return { subscription: rowToSubscription(this.#c.get(SQL.getSubscription, s.name)!), created };
    });
  }

  async deleteSubscription(name: string): Promise<boolean> {
    return this.#c.write(() => this.#c.run(SQL.deleteSubscription, name) > 0);
  }

  listSchedules(): Schedule[] {
    return this.#c.all(SQL.listSchedules).map(rowToSchedule);
  }

  getSchedule(name: string): Schedule | null {
    const row = this.#c.get(SQL.getSchedule, name);
    return row ? rowToSchedule(row) : null;
  }

  async putSchedule(d: ScheduleDefinition, nextRunAt: number | null, now: number): Promise<{ schedule: Schedule; created: boolean }> {
    return this.#c.write(() => {
      const created = !this.#c.get(SQL.getSchedule, d.name);
      this.#c.run(SQL.upsertSchedule, d.name, d.cron ?? '', d.everyMs, d.timezone, JSON.stringify(d.task), d.missedPolicy, d.paused ? 1 : 0, nextRunAt, now, now);
      return { schedule: rowToSchedule(this.#c.get(SQL.getSchedule, d.name)!), created };
    });
  }

  async deleteSchedule(name: string): Promise<boolean> {
    return this.#c.write(() => this.#c.run(SQL.deleteSchedule, name) > 0);
  }

  dueSchedules(now: number, limit: number): Schedule[] {
    return this.#c.all(SQL.dueSchedules, now, limit).map(rowToSchedule);
  }

  async advanceSchedule(name: string, from: number, to: number | null, fired: { at: number; taskId: string } | null, now: number): Promise<boolean> {
    return this.#c.write(() => this.#c.run(SQL.advanceSchedule, to, fired?.at ?? null, fired?.taskId ?? null, now, name, from) > 0);
  }

  async registerWorker(w: WorkerInfo): Promise<void> {
    await this.#c.write(() =>
      this.#c.run(SQL.upsertWorker, w.id, w.host, w.pid, JSON.stringify(w.types), w.queues ? JSON.stringify(w.queues) : null, w.concurrency, w.running, w.startedAt, w.lastSeenAt),
    );
  }

  async sawWorker(w: WorkerInfo): Promise<void> {
    await this.#c.write(() =>
      this.#c.run(SQL.sawWorker, w.id, JSON.stringify(w.types), w.queues ? JSON.stringify(w.queues) : null, w.concurrency, w.startedAt, w.lastSeenAt),
    );
  }

  listWorkers(seenSince: number): WorkerInfo[] {
    return this.#c.all(SQL.listWorkers, seenSince).map(rowToWorker);
  }

  async removeWorkers(before: number, id?: string): Promise<number> {
    return this.#c.write(() => this.#c.run(SQL.removeWorkers, Number.isFinite(before) ? before : Number.MIN_SAFE_INTEGER, id ?? null));
  }

  async createApiKey(key: ApiKey, secretHash: string): Promise<void> {
    await this.#c.write(() => this.#c.run(SQL.insertApiKey, key.id, key.name, key.owner, JSON.stringify(key.scopes), secretHash, key.createdAt));
  }

  findApiKey(id: string): { key: ApiKey; secretHash: string } | null {
    const row = this.#c.get(SQL.getApiKey, id);
    return row ? { key: rowToKey(row), secretHash: row.secret_hash as string } : null;
  }

  listApiKeys(): ApiKey[] {
    return this.#c.all(SQL.listApiKeys).map(rowToKey);
  }

  async revokeApiKey(id: string, now: number): Promise<boolean> {
    return this.#c.write(() => this.#c.run(SQL.revokeApiKey, now, id) > 0);
  }

  async secret(name: string): Promise<string> {
    const existing = this.#c.get(SQL.getSecret, name);
    if (existing) return existing.value as string;
    return this.#c.write(() => {
      this.#c.run(SQL.insertSecret, name, randomBytes(32).toString('base64url'), Date.now());
      return (this.#c.get(SQL.getSecret, name) as Row).value as string;
    });
  }

  async deleteFinishedTasks(status: string, before: number, limit: number): Promise<number> {
    return this.#c.write(() => {
      const ids = JSON.stringify(this.#c.all(SQL.finishedBefore, status, before, limit).map((r) => r.id));
      this.#c.run(SQL.deleteEventsOf, ids);
      this.#c.run(SQL.deleteRecentEventsOf, ids);
      this.#c.run(SQL.deleteCheckpointsOf, ids);
      this.#c.run(SQL.deleteStepsOf, ids);
      this.#c.run(SQL.deleteSignalsOf, ids);
      return this.#c.run(SQL.deleteTasks, ids);
    });
  }
}
