// `taskhub/client`: the browser-safe entry of the SDK. Nothing here may import node: modules or runtime code from
// other layers (browser-bundle.ts inlines exactly the files reachable from this one).
export { TaskhubClient } from './client.ts';
export type {
  TaskhubClientOptions, SubmitOptions, SubmitSpec, ListFilter, TaskList, FollowOptions, ResultOptions, Checkpoint, CheckpointInfo, DeriveSpec,
} from './client.ts';
export { TaskhubClientError, TaskhubHttpError, TaskhubNetworkError, TaskhubSingletonConflictError, TaskhubTimeoutError } from './errors.ts';
export type { ProblemDetails } from './errors.ts';
export { SseParser, readSse } from './sse.ts';
export type { SseMessage } from './sse.ts';
export type { Task, TaskEvent, TaskEventKind, TaskStatus, Json, Progress, TaskError, BackoffPolicy, WaitingFor, Throttle, DebounceOptions, Debounce, Singleton, SingletonPolicy } from '../core/task.ts';
