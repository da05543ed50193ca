// The public API of the `taskhub` package.
export { Taskhub, type TaskhubOptions, type ListOptions, type SubscribeOptions, type TransactionClient } from './taskhub.ts';
export type { ScheduleInput } from './engine/scheduler.ts';
export type { PublishOptions, PublishResult } from './engine/topics.ts';
export type { RetentionOptions } from './engine/retention.ts';
export { Engine, type EngineOptions } from './engine/engine.ts';
export { Worker, type WorkerOptions, type HandlerOptions, type PoolStats } from './worker/worker.ts';
export type { Handler, TaskContext } from './worker/context.ts';
export type { WorkerBackend } from './worker/backend.ts';
export { openStore } from './store/open.ts';
export type { Store, StoreNotice, Claim, TaskQuery, TaskPage, QueueCounts, QueueSettings, Schedule, Subscription, TypeSettings, WorkerInfo, ApiKey } from './store/store.ts';
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
} from './core/task.ts';
