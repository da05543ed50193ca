// The JSON schemas of the HTTP API, written once, one file per route group: routes validate requests with them, their
// handlers get request types derived from them (provider.ts), and openapi.ts publishes the very same objects, so
// neither the types nor the documentation can drift from what the server accepts. This file lists every schema
// published under its `title` in components.schemas (openapi.ts replaces them by $ref wherever a route embeds them).
import { HealthStatus, Problem } from './common.ts';
import { Checkpoint, CheckpointInfo, CheckpointList, DeriveRequest, RecoverRequest, SignalRequest, SignalResult } from './durable.ts';
import { CostLimit, HeldBack, QueueCounts, QueueLimits, QueueList, QueueSettings, QueueView, RedriveResult } from './queues.ts';
import { Schedule, ScheduleInput, ScheduleList } from './schedules.ts';
import {
  Backoff, BackoffInput, BatchRequest, BatchResponse, CancelRequest, EventList, FollowToken, FollowTokenRequest, Progress,
  Task, TaskError, TaskEvent, TaskList, TaskResult, TaskSpec, TaskStatus, Throttle, WaitingFor,
} from './tasks.ts';
import { PublishRequest, PublishResponse, Subscription, SubscriptionInput, SubscriptionList } from './topics.ts';
import { TypeSettings, TypeSettingsInput, TypeSettingsList } from './types.ts';
import {
  AttemptRequest, CheckpointRequest, ChildSpec, Claim, ClaimRequest, ClaimResponse, CompleteRequest,
  FailRequest, FinishedTask, LeaseState, OutputRequest, ProgressRequest, ReleaseRequest, StepList, StepRecord, StepRequest,
  SuspendRequest, SuspendResponse, WaitRequest, WorkerEventsRequest, WorkerEventsResponse, WorkerIdRequest, WorkerInfo, WorkerList,
  WorkerRegistration,
} from './worker.ts';
import { WsClientMessage, WsServerMessage } from './ws.ts';

/** Every schema published under components.schemas, in the order of the document. */
export const NAMED_SCHEMAS: readonly { title: string }[] = [
  TaskSpec, BackoffInput, Backoff, BatchRequest, CancelRequest, TaskError, Progress, TaskStatus, Task, TaskEvent,
  TaskList, BatchResponse, EventList, TaskResult, QueueCounts, QueueView, HeldBack, QueueList, HealthStatus, Problem, WsClientMessage,
  WsServerMessage, FollowTokenRequest, FollowToken,
  // durable execution
  WaitingFor, RecoverRequest, DeriveRequest, CheckpointInfo, Checkpoint, CheckpointList, SignalRequest, SignalResult,
  // the worker protocol
  ClaimRequest, Claim, ClaimResponse, AttemptRequest, LeaseState, ProgressRequest, OutputRequest, WorkerEventsRequest,
  WorkerEventsResponse, CompleteRequest,
  FailRequest, ReleaseRequest, FinishedTask, WorkerRegistration, WorkerIdRequest, WorkerInfo, WorkerList,
  // durable execution over the worker protocol
  CheckpointRequest, StepRecord, StepList, StepRequest, ChildSpec, WaitRequest, SuspendRequest,
  SuspendResponse,
  // the admin routes
  PublishRequest, PublishResponse, SubscriptionInput, Subscription, SubscriptionList, ScheduleInput, Schedule,
  ScheduleList, QueueLimits, QueueSettings, TypeSettingsInput, TypeSettings, TypeSettingsList, RedriveResult,
  // flow control
  Throttle, CostLimit,
];
