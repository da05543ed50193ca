// The shapes of the store's settings and registries (queues, task types, subscriptions, schedules, workers, API
// keys). Part of the Store contract (store.ts re-exports them); they depend on the core's types only.
import type { BackoffPolicy, DebounceOptions, Json, Singleton, ThrottleDefault } from '../core/task.ts';
import type { FlowDefault } from '../core/validate.ts';

/** Queue controls, enforced inside `claim` on every backend, across processes. */
export interface QueueSettings {
  name: string;
  /** A paused queue hands out no tasks. */
  paused: boolean;
  /** At most this many tasks of the queue running at once, anywhere; null: no cap. */
  maxConcurrency: number | null;
  /** At most `count` starts in any window of `intervalMs`; null: no limit. */
  rateLimit: { count: number; intervalMs: number } | null;
  /**
   * Fair sharing: at most this many tasks of one concurrencyKey (default: the owner) running at once anywhere, and
   * claims rotate across keys, so one tenant's backlog does not hold back another's; null: plain priority order.
   */
  maxPerKey: number | null;
  /** At most `budget` units of cost started in any window of `periodMs` (per concurrencyKey with perKey); null: none. */
  costLimit?: CostLimit | null;
  updatedAt: number;
}

export type QueueSettingsPatch = Partial<Pick<QueueSettings, 'paused' | 'maxConcurrency' | 'rateLimit' | 'maxPerKey' | 'costLimit'>>;

/**
 * A cost-weighted rate limit: a task starts only when the costs started in the last `periodMs` plus its own fit in
 * `budget`; with `perKey`, each concurrencyKey has a budget of its own. A task without a cost counts 1.
 */
export interface CostLimit {
  budget: number;
  periodMs: number;
  perKey: boolean;
}

/** Settings of a task type, shared by every process through the store. */
export interface TypeSettings {
  type: string;
  /** Applied at submit to tasks of this type that do not say. */
  defaults: {
    maxAttempts?: number;
    backoff?: Partial<BackoffPolicy>;
    timeoutMs?: number | null;
    softTimeoutMs?: number | null;
    queue?: string;
    /** Without `key`: each task's concurrencyKey, else the type name (docs/queues.md, "Throttle"). */
    throttle?: ThrottleDefault | null;
    /** Without `key`: each task's concurrencyKey as given, else the type. */
    debounce?: FlowDefault<DebounceOptions> | null;
    singleton?: FlowDefault<Singleton> | null;
  };
  /** JSON Schema the payload must match; null: any JSON. */
  payloadSchema: Json | null;
  /**
   * At most `count` starts of this type in any window of `intervalMs`, across every queue and process, enforced in
   * `claim` like a queue's rateLimit (Celery's per-task `rate_limit`); absent or null: no limit.
   */
  rateLimit?: RateLimit | null;
  /** A cost limit over the type's starts across every queue, like a queue's costLimit; absent or null: none. */
  costLimit?: CostLimit | null;
  updatedAt: number;
}

/** An exact sliding window: at most `count` starts in any `intervalMs`. */
export interface RateLimit {
  count: number;
  intervalMs: number;
}

/** A durable topic subscription: every matching publish creates one task of `type` in `queue`. */
export interface Subscription {
  name: string;
  /** Dot-separated words; `*` matches one word, `#` any number (including none). */
  pattern: string;
  queue: string;
  type: string;
  createdAt: number;
  updatedAt: number;
}

export interface ScheduleDefinition {
  name: string;
  /** Cron expression; null for a fixed-interval schedule. Exactly one of `cron` and `everyMs` is set. */
  cron: string | null;
  /** Fixed interval between slots, ms (Celery beat's `schedule=timedelta(...)`); null for a cron schedule. */
  everyMs: number | null;
  /** IANA time zone; default UTC. */
  timezone: string;
  task: { type: string; payload: Json; queue?: string; priority?: number; maxAttempts?: number; timeoutMs?: number };
  /** After downtime: `skip` the missed slots, or `run-once` for all of them together. */
  missedPolicy: 'skip' | 'run-once';
  paused: boolean;
}

export interface Schedule extends ScheduleDefinition {
  /** The next slot to fire; null when the cron expression has no future slot or the schedule is paused. An interval's slots follow from it: each is the previous + everyMs. */
  nextRunAt: number | null;
  lastRunAt: number | null;
  lastTaskId: string | null;
  createdAt: number;
  updatedAt: number;
}

/** A live worker (in this process or another, local or remote), as it last reported itself. */
export interface WorkerInfo {
  id: string;
  host: string | null;
  pid: number | null;
  types: string[];
  /** null: every queue. */
  queues: string[] | null;
  concurrency: number;
  running: number;
  startedAt: number;
  lastSeenAt: number;
  /**
   * false: known only from its claims (it never called /worker/register): host, pid and running are unknown, and
   * concurrency is the largest `max` it claimed with.
   */
  registered?: boolean;
}

/** An API key as listed; the secret itself is never stored, only its hash. */
export interface ApiKey {
  id: string;
  name: string | null;
  owner: string;
  scopes: string[];
  createdAt: number;
  revokedAt: number | null;
}
