// The public API of the `taskhub` package.
export {
  Taskhub,
  type TaskhubOptions,
  type ListOptions,
  type SubscribeOptions,
  type TransactionClient,
  type FollowOptions,
  type TopicsApi,
  type SchedulesApi,
  type TypesApi,
  type KeysApi,
} from './taskhub.ts';
export type { WorkerGateway, ClaimOptions } from './engine/attempt-service.ts';
export type { QueueEvent } from './engine/event-hub.ts';
export type { QueueLimits } from './engine/queue-controls.ts';
export type { ScheduleInput } from './engine/scheduler.ts';
export type { PublishOptions, PublishResult } from './engine/topics.ts';
export type { RetentionOptions } from './engine/retention.ts';
export { Worker, type WorkerOptions, type HandlerOptions, type PoolStats } from './worker/worker.ts';
export type { Handler, TaskContext, ChildSpec, ChildrenOptions } from './worker/context.ts';
export { TaskSuspendedError } from './worker/durable.ts';
export type { WorkerWait, SuspendAnswer } from './engine/attempt-service.ts';
export type { WorkerBackend } from './worker/backend.ts';
// The store behind a hub is internal: its contract may change in any release. For custom backends and tests only.
export { openStore as unstable_openStore } from './store/open.ts';
export type { Store as UnstableStore, StoreNotice as UnstableStoreNotice } from './store/store.ts';
export type { Claim, CreatedTask, TaskQuery, TaskPage, QueueCounts, QueueSettings, Schedule, Subscription, TypeSettings, RateLimit, CostLimit, HeldBack, WorkerInfo, ApiKey } from './store/store.ts';
export type { TypeSettingsInput } from './engine/type-settings.ts';
// Durable execution's public side (docs/durable.md): recover, derive, checkpoints, signals.
export type { DeriveSpec } from './engine/task-service.ts';
export type { Checkpoint, CheckpointInfo, ChildOutcome, SendSignalResult, StepRecord } from './store/store.ts';
export type { Throttle, ThrottleDefault, WaitingFor } from './core/task.ts';
export * from './core/errors.ts';
export type {
  Task,
  TaskEvent,
  TaskEventKind,
  TaskStatus,
  TaskSpec,
  EnqueueOptions,
  BackoffPolicy,
  Progress,
  TaskError,
  Json,
  DebounceOptions,
  Debounce,
  Singleton,
  SingletonPolicy,
} from './core/task.ts';
