// Schemas of the worker protocol (routes/worker.ts): workers in any language over plain HTTP claim tasks, report on
// each attempt and announce themselves.
import { MAX_COST, MAX_WORKER_EVENTS } from '../../core/validate.ts';
import { anyJson, epochMs, int32, nonEmptyString, nullableEpochMs, Problem } from './common.ts';
import { Task, TaskError, TaskEvent, TaskSpec, TaskStatus } from './tasks.ts';
import { Checkpoint } from './durable.ts';

const workerId = { ...nonEmptyString(200), description: 'Stable id of the worker process; shown in `started` events and the workers list.' } as const;
const attemptToken = { ...nonEmptyString(200), description: 'The token of the claim; a stale or unknown one answers 409.' } as const;
const nameList = (what: string) => ({ type: 'array', minItems: 1, maxItems: 100, items: nonEmptyString(200), description: what }) as const;
const optionalNameList = (what: string) => ({ ...nameList(what), type: ['array', 'null'] }) as const;

export const ClaimRequest = {
  title: 'ClaimRequest',
  type: 'object',
  additionalProperties: false,
  required: ['workerId', 'types'],
  properties: {
    workerId,
    types: nameList('Task types this worker runs; tasks of other types are left for others.'),
    queues: optionalNameList('Queues to take from; absent or null: every queue.'),
    max: { type: 'integer', minimum: 1, maximum: 100, default: 1, description: 'Most tasks to take in this call. Default 1.' },
    waitMs: {
      type: 'integer',
      minimum: 0,
      maximum: 30_000,
      default: 0,
      description: 'Long-poll: when nothing is claimable, wait up to this long for a task to arrive (it answers at once when one does). Default 0.',
    },
  },
} as const;

export const Claim = {
  title: 'Claim',
  type: 'object',
  required: ['task', 'attemptToken', 'leaseExpiresAt'],
  properties: {
    task: Task,
    attemptToken: { type: 'string', description: 'Send with every call about this attempt.' },
    leaseExpiresAt: epochMs('The task goes back to its queue (counting the attempt) unless heartbeated before this, epoch ms.'),
    checkpoint: {
      anyOf: [Checkpoint, { type: 'null' }],
      description: 'The checkpoint this attempt resumes from (the task\'s latest, with its state); null when the task has none.',
    },
  },
} as const;

export const ClaimResponse = {
  title: 'ClaimResponse',
  type: 'object',
  required: ['claims'],
  properties: { claims: { type: 'array', items: Claim, description: 'Empty when nothing came within `waitMs`.' } },
} as const;

export const AttemptRequest = {
  title: 'AttemptRequest',
  type: 'object',
  additionalProperties: false,
  required: ['attemptToken'],
  properties: { attemptToken },
} as const;

export const LeaseState = {
  title: 'LeaseState',
  type: 'object',
  required: ['leaseExpiresAt', 'cancelRequested', 'softDeadline', 'softTimeLimitExceeded'],
  properties: {
    leaseExpiresAt: epochMs('The renewed end of the lease, epoch ms.'),
    cancelRequested: { type: 'boolean', description: 'Someone asked to cancel the task: stop the handler and call /fail (the task ends `cancelled`).' },
    softDeadline: {
      type: ['integer', 'null'],
      description: "When the attempt's soft time limit passes (startedAt + softTimeoutMs, the server's clock), epoch ms; null without one.",
    },
    softTimeLimitExceeded: {
      type: 'boolean',
      description: 'The soft time limit has passed: tell the handler to finish up. It may still /complete; the hard limit (timeoutMs) is the worker\'s to enforce.',
    },
  },
} as const;

const progressFields = {
  percent: { type: 'number', minimum: 0, maximum: 100 },
  message: { type: 'string', maxLength: 10_000 },
  phase: { type: 'string', maxLength: 200 },
  data: anyJson('Any JSON value.'),
} as const;

export const ProgressRequest = {
  title: 'ProgressRequest',
  type: 'object',
  additionalProperties: false,
  required: ['attemptToken', 'percent'],
  properties: { attemptToken, ...progressFields },
} as const;

export const OutputRequest = {
  title: 'OutputRequest',
  type: 'object',
  additionalProperties: false,
  required: ['attemptToken', 'chunk'],
  properties: { attemptToken, chunk: { type: 'string', description: 'A piece of partial output, streamed to followers as an `output` event.' } },
} as const;

export const WorkerEventsRequest = {
  title: 'WorkerEventsRequest',
  type: 'object',
  additionalProperties: false,
  required: ['events'],
  properties: {
    events: {
      type: 'array',
      minItems: 1,
      maxItems: MAX_WORKER_EVENTS,
      description: 'In the order they happened: each attempt\'s events are stored in this order.',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['taskId', 'attemptToken'],
        description: 'One output `chunk` or one `progress` report (exactly one of the two) of an attempt.',
        properties: {
          taskId: { ...nonEmptyString(100), description: 'Task id.' },
          attemptToken,
          chunk: OutputRequest.properties.chunk,
          progress: {
            type: 'object',
            additionalProperties: false,
            required: ['percent'],
            properties: progressFields,
          },
        },
      },
    },
  },
} as const;

export const WorkerEventsResponse = {
  title: 'WorkerEventsResponse',
  type: 'object',
  required: ['results'],
  properties: {
    results: {
      type: 'array',
      description: 'One per event of the request, in its order: the stored event, or the problem that refused it (409 STALE_ATTEMPT: stop working on that attempt).',
      items: { type: 'object', properties: { event: TaskEvent, error: Problem } },
    },
  },
} as const;

/** What the handler reported it cost (ctx.reportCost), sent with its outcome. */
const reportedCost = {
  type: 'integer',
  minimum: 0,
  maximum: MAX_COST,
  description:
    'What the attempt actually cost, in the units of its cost limit (ctx.reportCost): replaces the declared cost in ' +
    'the cost windows, so the next starts reflect what was used. Omit when not reported.',
} as const;

export const CompleteRequest = {
  title: 'CompleteRequest',
  type: 'object',
  additionalProperties: false,
  required: ['attemptToken'],
  properties: { attemptToken, result: anyJson('Any JSON value; default null.'), reportedCost },
} as const;

export const FailRequest = {
  title: 'FailRequest',
  type: 'object',
  additionalProperties: false,
  required: ['attemptToken', 'error'],
  properties: {
    attemptToken,
    reportedCost,
    error: {
      type: 'object',
      additionalProperties: false,
      required: ['message'],
      properties: {
        message: nonEmptyString(10_000),
        code: nonEmptyString(200),
        retryable: { type: 'boolean', description: 'Default true: retried with backoff while attempts remain. false: dead-lettered now.' },
        stack: { type: 'string', maxLength: 100_000 },
      },
    },
  },
} as const;

export const ReleaseRequest = {
  title: 'ReleaseRequest',
  type: 'object',
  additionalProperties: false,
  required: ['attemptToken'],
  properties: { attemptToken, reason: nonEmptyString(1000) },
} as const;

export const FinishedTask = {
  title: 'FinishedTask',
  description: 'The task as the attempt left it.',
  type: 'object',
  required: ['id', 'queue', 'type', 'owner', 'status', 'attempts', 'runAt', 'startedAt', 'lastEventSeq'],
  properties: {
    id: { type: 'string' },
    queue: { type: 'string' },
    type: { type: 'string' },
    owner: { type: ['string', 'null'] },
    status: TaskStatus,
    attempts: { type: 'integer', minimum: 0 },
    runAt: epochMs('For a retry: when it runs again, epoch ms.'),
    startedAt: nullableEpochMs('Start of the attempt that ended, epoch ms.'),
    lastEventSeq: { type: 'integer', minimum: 1 },
  },
} as const;

export const WorkerRegistration = {
  title: 'WorkerRegistration',
  description: 'A worker announcing itself; repeat every few seconds (it drops off the list after 15 s of silence).',
  type: 'object',
  additionalProperties: false,
  required: ['workerId', 'types'],
  properties: {
    workerId,
    types: nameList('Task types it runs.'),
    queues: optionalNameList('Queues it takes from; absent or null: every queue.'),
    host: { type: 'string', maxLength: 255 },
    pid: int32(0),
    concurrency: { type: 'integer', minimum: 0, maximum: 100_000, description: 'Tasks it runs at once at most. Default 1.' },
    running: { type: 'integer', minimum: 0, maximum: 100_000, description: 'Tasks it runs now. Default 0.' },
    startedAt: epochMs('When the worker started, epoch ms. Default: now.'),
  },
} as const;

export const WorkerIdRequest = {
  title: 'WorkerIdRequest',
  type: 'object',
  additionalProperties: false,
  required: ['workerId'],
  properties: { workerId },
} as const;

export const WorkerInfo = {
  title: 'WorkerInfo',
  type: 'object',
  required: ['id', 'host', 'pid', 'types', 'queues', 'concurrency', 'running', 'startedAt', 'lastSeenAt'],
  properties: {
    id: { type: 'string' },
    host: { type: ['string', 'null'] },
    pid: { type: ['integer', 'null'] },
    types: { type: 'array', items: { type: 'string' } },
    queues: { type: ['array', 'null'], items: { type: 'string' }, description: 'null: every queue.' },
    concurrency: { type: 'integer', minimum: 0 },
    running: { type: 'integer', minimum: 0 },
    startedAt: epochMs('Epoch ms.'),
    lastSeenAt: epochMs('Its latest report, epoch ms.'),
  },
} as const;

export const WorkerList = {
  title: 'WorkerList',
  type: 'object',
  required: ['workers'],
  properties: { workers: { type: 'array', items: WorkerInfo, description: 'Workers that reported within the last 15 s, local and remote, by id.' } },
} as const;


// ---- durable execution (routes/worker-durable.ts; docs/durable.md) ----

const durableName = (what: string) => ({ ...nonEmptyString(200), description: what }) as const;

export const CheckpointRequest = {
  title: 'CheckpointRequest',
  type: 'object',
  additionalProperties: false,
  required: ['attemptToken', 'state'],
  properties: {
    attemptToken,
    state: anyJson('The state to save (any JSON); over the server\'s checkpoint limit (default 1 MiB of JSON) it answers 413 and stores nothing.'),
    label: { ...nonEmptyString(200), description: 'Shown in the checkpoint list.' },
  },
} as const;

export const StepRecord = {
  title: 'StepRecord',
  type: 'object',
  required: ['name', 'result', 'createdAt'],
  properties: { name: { type: 'string' }, result: anyJson('What the step returned.'), createdAt: epochMs('Epoch ms.') },
} as const;

export const StepList = {
  title: 'StepList',
  type: 'object',
  required: ['steps'],
  properties: { steps: { type: 'array', items: StepRecord, description: 'Oldest first.' } },
} as const;

export const StepRequest = {
  title: 'StepRequest',
  type: 'object',
  additionalProperties: false,
  required: ['attemptToken'],
  properties: { attemptToken, result: anyJson('What the step returned; default null.') },
} as const;

export const StepParams = {
  type: 'object',
  required: ['id', 'name'],
  properties: { id: nonEmptyString(200), name: durableName('The step\'s name, unique within the task.') },
} as const;

/** A child as a parent's wait describes it: a submit's TaskSpec without idempotencyKey, parentId (and owner). */
const { idempotencyKey: _key, parentId: _parent, ...childProperties } = TaskSpec.properties;
export const ChildSpec = {
  ...TaskSpec,
  title: 'ChildSpec',
  description: 'A child task: as `POST /tasks` takes it, without idempotencyKey or parentId. Its owner is the parent\'s.',
  properties: childProperties,
} as const;

export const WaitRequest = {
  title: 'WaitRequest',
  description: 'What the task waits for. Times are absolute epoch ms: keep them the same on every run (store them as a step).',
  oneOf: [
    {
      type: 'object',
      additionalProperties: false,
      required: ['kind', 'name', 'tasks'],
      properties: {
        kind: { const: 'children' },
        name: durableName('The wait\'s name: children are keyed by it and their place, so a re-run makes none twice.'),
        tasks: { type: 'array', maxItems: 10_000, items: ChildSpec, description: 'Created in order, atomically, unless this wait has children already.' },
      },
    },
    {
      type: 'object',
      additionalProperties: false,
      required: ['kind', 'name', 'until'],
      properties: { kind: { const: 'sleep' }, name: durableName('The sleep\'s name.'), until: epochMs('Wake at, epoch ms.') },
    },
    {
      type: 'object',
      additionalProperties: false,
      required: ['kind', 'name', 'timeoutAt'],
      properties: {
        kind: { const: 'signal' },
        name: durableName('The signal\'s name.'),
        timeoutAt: nullableEpochMs('Give up at, epoch ms; null: never.'),
      },
    },
  ],
} as const;

export const SuspendRequest = {
  title: 'SuspendRequest',
  type: 'object',
  additionalProperties: false,
  required: ['attemptToken', 'wait'],
  properties: { attemptToken, wait: WaitRequest },
} as const;

const ChildOutcome = {
  type: 'object',
  required: ['id', 'status', 'result', 'error'],
  properties: { id: { type: 'string' }, status: TaskStatus, result: anyJson('The child\'s result; null unless completed.'), error: { anyOf: [TaskError, { type: 'null' }] } },
} as const;

export const SuspendResponse = {
  title: 'SuspendResponse',
  description:
    '`suspended: true`: the task waits now and this attempt is over (report nothing more for it). `suspended: false`: ' +
    'the wait holds already and the attempt goes on with `outcome`: `{ kind: "children", children }` (in order), ' +
    '`{ kind: "sleep" }`, `{ kind: "signal", signal: { name, data, createdAt, consumedAt } }` or `{ kind: "signal-timeout" }`.',
  type: 'object',
  required: ['suspended'],
  properties: {
    suspended: { type: 'boolean' },
    waitingFor: { type: 'object', description: 'When suspended: `{ kind, name, … }` as the task\'s `waitingFor`.' },
    outcome: {
      type: 'object',
      required: ['kind'],
      properties: {
        kind: { enum: ['children', 'sleep', 'signal', 'signal-timeout'] },
        children: { type: 'array', items: ChildOutcome },
        signal: { type: 'object', properties: { name: { type: 'string' }, data: anyJson('The signal\'s data.'), createdAt: epochMs('Epoch ms.'), consumedAt: nullableEpochMs('Epoch ms.') } },
      },
    },
  },
} as const;
