// Queue and type settings, subscriptions, schedules, workers, API keys, secrets and retention on PostgreSQL:
// everything that is not a task's life.
import { randomBytes } from 'node:crypto';
import type {
  ApiKey,
  QueueSettings,
  QueueSettingsPatch,
  Schedule,
  ScheduleDefinition,
  StoreNotice,
  Subscription,
  TypeSettings,
  WorkerInfo,
} from '../store.ts';
import { queueSettingsNotices } from '../transitions.ts';
import type { PgPool } from './pool.ts';
import {
  type ApiKeyRow,
  type QueueRow,
  rowToApiKey,
  rowToQueueSettings,
  rowToSchedule,
  rowToSubscription,
  rowToTypeSettings,
  rowToWorker,
  type ScheduleRow,
  type SubscriptionRow,
  type TypeSettingsRow,
  type WorkerRow,
} from './rows.ts';
import type { PostgresSql } from './sql.ts';

export class PostgresSettings {
  readonly #pool: PgPool;
  readonly #sql: PostgresSql;
  readonly #announce: (notices: readonly StoreNotice[]) => void;

  constructor(pool: PgPool, sql: PostgresSql, announce: (notices: readonly StoreNotice[]) => void) {
    this.#pool = pool;
    this.#sql = sql;
    this.#announce = announce;
  }

  async listQueueSettings(): Promise<QueueSettings[]> {
    return (await this.#pool.query<QueueRow>(this.#sql.listQueueSettings, [])).map(rowToQueueSettings);
  }

  async updateQueueSettings(name: string, patch: QueueSettingsPatch, now: number): Promise<QueueSettings> {
    const [row] = await this.#pool.query<QueueRow>(this.#sql.updateQueueSettings, [
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
      patch.costLimit !== undefined,
      patch.costLimit?.budget ?? null,
      patch.costLimit?.periodMs ?? null,
      patch.costLimit ? patch.costLimit.perKey : null,
    ]);
    this.#announce(queueSettingsNotices(name, patch));
    return rowToQueueSettings(row);
  }

  async listTypeSettings(): Promise<TypeSettings[]> {
    return (await this.#pool.query<TypeSettingsRow>(this.#sql.listTypeSettings, [])).map(rowToTypeSettings);
  }

  async putTypeSettings(settings: TypeSettings): Promise<TypeSettings> {
    await this.#pool.query(this.#sql.putTypeSettings, [
      settings.type,
      JSON.stringify(settings.defaults),
      settings.payloadSchema === null ? null : JSON.stringify(settings.payloadSchema),
      settings.updatedAt,
      settings.rateLimit?.count ?? null,
      settings.rateLimit?.intervalMs ?? null,
      settings.costLimit?.budget ?? null,
      settings.costLimit?.periodMs ?? null,
      settings.costLimit ? settings.costLimit.perKey : null,
    ]);
    return settings;
  }

  async deleteTypeSettings(type: string): Promise<boolean> {
    return (await this.#pool.affected(this.#sql.deleteTypeSettings, [type])) > 0;
  }

  async listSubscriptions(): Promise<Subscription[]> {
    return (await this.#pool.query<SubscriptionRow>(this.#sql.listSubscriptions, [])).map(rowToSubscription);
  }

  async putSubscription(
    subscription: Omit<Subscription, 'createdAt' | 'updatedAt'>,
    now: number,
  ): Promise<{ subscription: Subscription; created: boolean }> {
    const { name, pattern, queue, type } = subscription;
    const [row] = await this.#pool.query<SubscriptionRow & { created: boolean }>(this.#sql.putSubscription, [name, pattern, queue, type, now]);
    return { subscription: rowToSubscription(row), created: row.created };
  }

  async deleteSubscription(name: string): Promise<boolean> {
    return (await this.#pool.affected(this.#sql.deleteSubscription, [name])) > 0;
  }

  async registerWorker(w: WorkerInfo): Promise<void> {
    await this.#pool.query(this.#sql.registerWorker, [
      w.id, w.host, w.pid, JSON.stringify(w.types), w.queues ? JSON.stringify(w.queues) : null, w.concurrency, w.running, w.startedAt, w.lastSeenAt,
    ]);
  }

  async sawWorker(w: WorkerInfo): Promise<void> {
    await this.#pool.query(this.#sql.sawWorker, [w.id, JSON.stringify(w.types), w.queues ? JSON.stringify(w.queues) : null, w.concurrency, w.startedAt, w.lastSeenAt]);
  }

  async listWorkers(seenSince: number): Promise<WorkerInfo[]> {
    return (await this.#pool.query<WorkerRow>(this.#sql.listWorkers, [seenSince])).map(rowToWorker);
  }

  async removeWorkers(before: number, id?: string): Promise<number> {
    return this.#pool.affected(this.#sql.removeWorkers, [Number.isFinite(before) ? before : Number.MIN_SAFE_INTEGER, id ?? null]);
  }

  async createApiKey(key: ApiKey, secretHash: string): Promise<void> {
    await this.#pool.query(this.#sql.createApiKey, [key.id, key.name, key.owner, JSON.stringify(key.scopes), secretHash, key.createdAt]);
  }

  async findApiKey(id: string): Promise<{ key: ApiKey; secretHash: string } | null> {
    const [row] = await this.#pool.query<ApiKeyRow>(this.#sql.findApiKey, [id]);
    return row ? { key: rowToApiKey(row), secretHash: row.secret_hash } : null;
  }

  async listApiKeys(): Promise<ApiKey[]> {
    return (await this.#pool.query<ApiKeyRow>(this.#sql.listApiKeys, [])).map(rowToApiKey);
  }

  async revokeApiKey(id: string, now: number): Promise<boolean> {
    return (await this.#pool.affected(this.#sql.revokeApiKey, [id, now])) > 0;
  }

  async secret(name: string): Promise<string> {
    const [row] = await this.#pool.query<{ value: string }>(this.#sql.secret, [name, randomBytes(32).toString('base64url'), Date.now()]);
    return (row as { value: string }).value;
  }

  async listSchedules(): Promise<Schedule[]> {
    return (await this.#pool.query<ScheduleRow>(this.#sql.listSchedules, [])).map(rowToSchedule);
  }

  async getSchedule(name: string): Promise<Schedule | null> {
    const [row] = await this.#pool.query<ScheduleRow>(this.#sql.getSchedule, [name]);
    return row ? rowToSchedule(row) : null;
  }

  async putSchedule(definition: ScheduleDefinition, nextRunAt: number | null, now: number): Promise<{ schedule: Schedule; created: boolean }> {
    const d = definition;
    const [row] = await this.#pool.query<ScheduleRow & { created: boolean }>(this.#sql.putSchedule, [
      d.name,
      d.cron ?? '',
      d.timezone,
      JSON.stringify(d.task),
      d.missedPolicy,
      d.paused,
      nextRunAt,
      now,
      d.everyMs,
    ]);
    return { schedule: rowToSchedule(row), created: row.created };
  }

  async deleteSchedule(name: string): Promise<boolean> {
    return (await this.#pool.affected(this.#sql.deleteSchedule, [name])) > 0;
  }

  async dueSchedules(now: number, limit: number): Promise<Schedule[]> {
    return (await this.#pool.query<ScheduleRow>(this.#sql.dueSchedules, [now, limit])).map(rowToSchedule);
  }

  async advanceSchedule(
    name: string,
    fromNextRunAt: number,
    toNextRunAt: number | null,
    fired: { at: number; taskId: string } | null,
    now: number,
  ): Promise<boolean> {
    const values = [name, fromNextRunAt, toNextRunAt, fired?.at ?? null, fired?.taskId ?? null, now];
    return (await this.#pool.affected(this.#sql.advanceSchedule, values)) > 0;
  }

  async deleteFinishedTasks(status: 'completed' | 'failed' | 'cancelled', before: number, limit: number): Promise<number> {
    const [row] = await this.#pool.query<{ n: number }>(this.#sql.deleteFinishedTasks, [status, before, limit]);
    return row?.n ?? 0;
  }

}
