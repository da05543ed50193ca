// The JSON schemas of the HTTP API, written once: routes validate requests with them and openapi.ts publishes the
// very same objects, so the documentation cannot drift from what the server accepts. Every schema with a `title` is
// published under that name in components.schemas. Ranges the core enforces (validate.ts) are described here rather
// than repeated, so the core stays the single owner of the task model's rules.
import { MAX_PRIORITY } from '../core/validate.ts';
import { TASK_EVENT_KINDS, TASK_STATUSES } from '../core/task.ts';

const NAME_DESCRIPTION = '1-200 characters of letters, digits and _ . : - /, starting with a letter or digit';
const epochMs = (description: string) => ({ type: 'integer', minimum: 0, description }) as const;
const nullableEpochMs = (description: string) => ({ type: ['integer', 'null'], minimum: 0, description }) as const;

export const BackoffInput = {
  title: 'BackoffInput',
  description: 'Retry delays; every field is optional and falls back to the server default.',
  type: 'object',
  additionalProperties: false,
  properties: {
    type: { enum: ['exponential', 'fixed'], description: '`exponential` doubles the delay each attempt; `fixed` keeps it.' },
    delayMs: { type: 'integer', minimum: 0, description: 'Delay before the first retry, ms.' },
    maxDelayMs: { type: 'integer', minimum: 0, description: 'Upper bound of any delay, ms.' },
    jitter: { type: 'number', minimum: 0, maximum: 1, description: 'Fraction of the delay drawn at random and subtracted.' },
  },
} as const;

export const Backoff = {
  ...BackoffInput,
  title: 'Backoff',
  description: 'Retry delays of a task.',
  required: ['type', 'delayMs', 'maxDelayMs', 'jitter'],
} as const;

const Tags = {
  type: 'object',
  maxProperties: 64,
  additionalProperties: { type: 'string', maxLength: 1000 },
  description: 'String labels (at most 64); list tasks by one with `?tag=key:value`.',
} as const;

export const TaskSpec = {
  title: 'TaskSpec',
  description: 'A task to create. Only `type` is required.',
  type: 'object',
  additionalProperties: false,
  required: ['type'],
  properties: {
    type: { type: 'string', description: `Handler name: ${NAME_DESCRIPTION}.` },
    payload: { description: 'Any JSON value; handed to the handler as is. Default null.' },
    queue: { type: 'string', description: `Queue name (${NAME_DESCRIPTION}). Default \`default\`.` },
    priority: { type: 'integer', description: `Higher runs first; -${MAX_PRIORITY}..${MAX_PRIORITY}. Default 0.` },
    delayMs: { type: 'integer', description: 'Run no earlier than this many ms from now (0..10 years). Not with runAt.' },
    runAt: {
      type: ['integer', 'string'],
      description: 'Run no earlier than this time: epoch ms, or an ISO 8601 date-time. Not with delayMs.',
    },
    maxAttempts: { type: 'integer', description: 'Attempts before the task fails for good, 1..1000. Default 3.' },
    backoff: BackoffInput,
    timeoutMs: { type: ['integer', 'null'], description: 'Time limit of each attempt, ms (1 ms..7 days); null for none.' },
    tags: Tags,
    parentId: { type: 'string', description: 'The task this one derives from.' },
    idempotencyKey: {
      type: 'string',
      description: 'Submitting the same key again returns the first task (200) instead of creating one. Same as the `Idempotency-Key` header.',
    },
    traceparent: {
      type: 'string',
      description:
        'W3C trace context the task belongs to (else the `traceparent` header, if valid): its submit span and its ' +
        "handler's runs join that trace.",
    },
  },
} as const;

export const BatchRequest = {
  title: 'BatchRequest',
  type: 'object',
  additionalProperties: false,
  required: ['tasks'],
  properties: {
    tasks: {
      type: 'array',
      maxItems: 10_000,
      items: TaskSpec,
      description: 'Stored in one transaction: if any task is invalid, none is stored.',
    },
  },
} as const;

export const CancelRequest = {
  title: 'CancelRequest',
  type: 'object',
  additionalProperties: false,
  properties: { reason: { type: 'string', minLength: 1, maxLength: 1000, description: 'Recorded in the task error.' } },
} as const;

export const TaskError = {
  title: 'TaskError',
  type: 'object',
  required: ['message', 'retryable'],
  properties: {
    message: { type: 'string' },
    code: { type: 'string' },
    retryable: { type: 'boolean' },
    stack: { type: 'string' },
  },
} as const;

export const Progress = {
  title: 'Progress',
  type: 'object',
  required: ['percent'],
  properties: {
    percent: { type: 'number', minimum: 0, maximum: 100 },
    message: { type: 'string' },
    phase: { type: 'string' },
    data: { description: 'Any JSON value.' },
  },
} as const;

export const TaskStatus = { title: 'TaskStatus', enum: [...TASK_STATUSES] } as const;

export const Task = {
  title: 'Task',
  type: 'object',
  required: [
    'id', 'queue', 'type', 'payload', 'status', 'priority', 'runAt', 'attempts', 'maxAttempts', 'backoff', 'timeoutMs',
    'idempotencyKey', 'tags', 'owner', 'parentId', 'concurrencyKey', 'traceparent', 'progress', 'result', 'error',
    'cancelRequested', 'lastEventSeq', 'createdAt', 'updatedAt', 'startedAt', 'completedAt',
  ],
  properties: {
    id: { type: 'string', description: 'UUIDv7: ids sort in creation order.' },
    queue: { type: 'string' },
    type: { type: 'string' },
    payload: { description: 'Any JSON value.' },
    status: TaskStatus,
    priority: { type: 'integer' },
    runAt: epochMs('When the task becomes (or became) ready to run, epoch ms.'),
    attempts: { type: 'integer', minimum: 0 },
    maxAttempts: { type: 'integer', minimum: 1 },
    backoff: Backoff,
    timeoutMs: { type: ['integer', 'null'] },
    idempotencyKey: { type: ['string', 'null'] },
    tags: Tags,
    owner: { type: ['string', 'null'] },
    parentId: { type: ['string', 'null'] },
    concurrencyKey: { type: ['string', 'null'] },
    traceparent: { type: ['string', 'null'] },
    progress: { anyOf: [Progress, { type: 'null' }] },
    result: { description: 'What the handler returned (any JSON value); null until completed.' },
    error: { anyOf: [TaskError, { type: 'null' }] },
    cancelRequested: { type: 'boolean', description: 'A running task was asked to stop and has not yet.' },
    lastEventSeq: { type: 'integer', minimum: 1, description: 'Sequence number of the newest event.' },
    createdAt: epochMs('Epoch ms.'),
    updatedAt: epochMs('Epoch ms.'),
    startedAt: nullableEpochMs('Start of the latest attempt, epoch ms.'),
    completedAt: nullableEpochMs('Epoch ms.'),
  },
} as const;

export const TaskEvent = {
  title: 'TaskEvent',
  type: 'object',
  required: ['taskId', 'seq', 'kind', 'data', 'at'],
  properties: {
    taskId: { type: 'string' },
    seq: { type: 'integer', minimum: 1, description: '1, 2, 3 … per task, without gaps; the SSE event id.' },
    kind: { enum: [...TASK_EVENT_KINDS] },
    data: { description: 'Depends on the kind: progress, an output chunk, the error …' },
    at: epochMs('Epoch ms.'),
  },
} as const;

export const TaskList = {
  title: 'TaskList',
  type: 'object',
  required: ['tasks', 'nextCursor'],
  properties: {
    tasks: { type: 'array', items: Task },
    nextCursor: { type: ['string', 'null'], description: 'Pass as `cursor` for the next page; null on the last page.' },
  },
} as const;

export const BatchResponse = {
  title: 'BatchResponse',
  type: 'object',
  required: ['tasks'],
  properties: { tasks: { type: 'array', items: Task, description: 'In the order of the request.' } },
} as const;

export const EventList = {
  title: 'EventList',
  type: 'object',
  required: ['events'],
  properties: { events: { type: 'array', items: TaskEvent, description: 'Oldest first.' } },
} as const;

export const TaskResult = {
  title: 'TaskResult',
  type: 'object',
  required: ['status', 'result', 'error'],
  properties: {
    status: TaskStatus,
    result: { description: 'What the handler returned; null unless completed.' },
    error: { anyOf: [TaskError, { type: 'null' }] },
  },
} as const;

export const QueueCounts = {
  title: 'QueueCounts',
  type: 'object',
  required: ['queue', 'counts'],
  properties: {
    queue: { type: 'string' },
    counts: {
      type: 'object',
      required: [...TASK_STATUSES],
      properties: Object.fromEntries(TASK_STATUSES.map((s) => [s, { type: 'integer', minimum: 0 }])),
    },
  },
} as const;

export const QueueList = {
  title: 'QueueList',
  type: 'object',
  required: ['queues'],
  properties: { queues: { type: 'array', items: QueueCounts } },
} as const;

export const HealthStatus = {
  title: 'HealthStatus',
  type: 'object',
  required: ['status'],
  properties: { status: { type: 'string' } },
} as const;

export const Problem = {
  title: 'Problem',
  description: 'RFC 9457 problem details (media type application/problem+json).',
  type: 'object',
  required: ['type', 'title', 'status', 'detail'],
  properties: {
    type: { type: 'string', description: 'Identifies the kind of problem: `urn:taskhub:problem:<code>`.' },
    title: { type: 'string' },
    status: { type: 'integer' },
    detail: { type: 'string', description: 'What went wrong with this request, naming the offending field.' },
    instance: { type: 'string' },
    code: { type: 'string', description: 'Stable machine-readable code, e.g. VALIDATION, NOT_FOUND, INVALID_STATE.' },
    field: { type: 'string', description: 'The offending field, e.g. `priority` or `tasks[2].type`.' },
    taskId: { type: 'string' },
    taskStatus: { type: 'string', description: 'For INVALID_STATE: the status that forbade the operation.' },
  },
} as const;

// ---- WebSocket messages (validated by routes/ws.ts, published for documentation) ----

export const WsClientMessage = {
  title: 'WsClientMessage',
  description: 'Sent by the client on /api/v1/ws. Give exactly one of taskId and queue.',
  type: 'object',
  additionalProperties: false,
  required: ['op'],
  properties: {
    op: { enum: ['subscribe', 'unsubscribe'] },
    taskId: { type: 'string', minLength: 1, maxLength: 100 },
    queue: { type: 'string', minLength: 1, maxLength: 200 },
    afterSeq: { type: 'integer', minimum: 0, description: 'Task subscriptions only: replay events after this seq.' },
  },
} as const;

export const WsServerMessage = {
  title: 'WsServerMessage',
  description:
    '`subscribed`/`unsubscribed` acknowledge a request; `event` carries a task event (each event at most once per ' +
    'connection); `end` says a task subscription ended after the terminal event; `error` explains a refused message.',
  type: 'object',
  required: ['type'],
  properties: {
    type: { enum: ['subscribed', 'unsubscribed', 'event', 'end', 'error'] },
    taskId: { type: 'string' },
    queue: { type: 'string' },
    event: TaskEvent,
    detail: { type: 'string' },
  },
} as const;

// ---- request parts ----

export const TaskIdParams = {
  type: 'object',
  additionalProperties: false,
  required: ['id'],
  properties: { id: { type: 'string', minLength: 1, maxLength: 100, description: 'Task id.' } },
} as const;

export const QueueNameParams = {
  type: 'object',
  additionalProperties: false,
  required: ['name'],
  properties: { name: { type: 'string', minLength: 1, maxLength: 200, description: 'Queue name.' } },
} as const;

export const IdempotencyHeaders = {
  type: 'object',
  properties: {
    'idempotency-key': {
      type: 'string',
      minLength: 1,
      maxLength: 200,
      description: 'Submitting the same key again returns the first task (200) instead of creating one.',
    },
  },
} as const;

export const ListQuery = {
  type: 'object',
  additionalProperties: false,
  properties: {
    queue: { type: 'string', minLength: 1, maxLength: 200 },
    status: TaskStatus,
    type: { type: 'string', minLength: 1, maxLength: 200 },
    tag: { type: 'string', pattern: '^[^:]+:', description: 'key:value; only tasks with this tag.' },
    limit: { type: 'integer', minimum: 1, maximum: 1000, default: 50 },
    cursor: { type: 'string', minLength: 1, maxLength: 100, description: '`nextCursor` of the previous page.' },
  },
} as const;

/** `?access_token=`: where a token may ride in the URL (the routes a follow token reads). */
const accessToken = {
  type: 'string',
  minLength: 1,
  maxLength: 4096,
  description:
    'A bearer token in the URL, for clients that cannot set `Authorization` (EventSource): meant for follow tokens. ' +
    'The header wins when both are given. Never logged.',
} as const;

/** GET /tasks/{id} and the WebSocket take no other query parameter. */
export const TokenQuery = {
  type: 'object',
  additionalProperties: false,
  properties: { access_token: accessToken },
} as const;

export const FollowTokenRequest = {
  title: 'FollowTokenRequest',
  type: 'object',
  additionalProperties: false,
  properties: {
    ttlSeconds: { type: 'integer', minimum: 1, maximum: 86400, default: 900, description: 'Lifetime of the token, seconds.' },
  },
} as const;

export const FollowToken = {
  title: 'FollowToken',
  type: 'object',
  required: ['token', 'expiresAt'],
  properties: {
    token: {
      type: 'string',
      description:
        'Reads this one task (get, events, result, stream, WebSocket) and nothing else, as `Authorization: Bearer` ' +
        'or `?access_token=`, on every API node.',
    },
    expiresAt: { type: 'integer', description: 'Epoch milliseconds.' },
  },
} as const;

export const ResultQuery = {
  type: 'object',
  additionalProperties: false,
  properties: {
    access_token: accessToken,
    wait: {
      type: 'number',
      minimum: 0,
      default: 0,
      description: 'Seconds to wait for the task to finish (at most 60; larger values wait 60).',
    },
  },
} as const;

export const EventsQuery = {
  type: 'object',
  additionalProperties: false,
  properties: {
    access_token: accessToken,
    after: { type: 'integer', minimum: 0, default: 0, description: 'Only events with a greater seq.' },
    limit: { type: 'integer', minimum: 1, maximum: 1000, default: 1000 },
  },
} as const;

export const StreamQuery = {
  type: 'object',
  additionalProperties: false,
  properties: {
    access_token: accessToken,
    after: {
      type: 'integer',
      minimum: 0,
      description: 'Start after this seq (the `Last-Event-ID` header wins when both are given).',
    },
  },
} as const;

export const StreamHeaders = {
  type: 'object',
  properties: {
    'last-event-id': { type: 'string', pattern: '^[0-9]{1,15}$', description: 'Resume after this event seq.' },
  },
} as const;

// ---- the worker protocol (routes/worker.ts): workers in any language over plain HTTP ----

const workerId = { type: 'string', minLength: 1, maxLength: 200, description: 'Stable id of the worker process; shown in `started` events and the workers list.' } as const;
const attemptToken = { type: 'string', minLength: 1, maxLength: 200, description: 'The token of the claim; a stale or unknown one answers 409.' } as const;
const nameList = (what: string) => ({ type: 'array', minItems: 1, maxItems: 100, items: { type: 'string', minLength: 1, maxLength: 200 }, description: what }) as const;
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
  required: ['leaseExpiresAt', 'cancelRequested'],
  properties: {
    leaseExpiresAt: epochMs('The renewed end of the lease, epoch ms.'),
    cancelRequested: { type: 'boolean', description: 'Someone asked to cancel the task: stop the handler and call /fail (the task ends `cancelled`).' },
  },
} as const;

export const ProgressRequest = {
  title: 'ProgressRequest',
  type: 'object',
  additionalProperties: false,
  required: ['attemptToken', 'percent'],
  properties: {
    attemptToken,
    percent: { type: 'number', minimum: 0, maximum: 100 },
    message: { type: 'string', maxLength: 10_000 },
    phase: { type: 'string', maxLength: 200 },
    data: { description: 'Any JSON value.' },
  },
} as const;

export const OutputRequest = {
  title: 'OutputRequest',
  type: 'object',
  additionalProperties: false,
  required: ['attemptToken', 'chunk'],
  properties: { attemptToken, chunk: { type: 'string', description: 'A piece of partial output, streamed to followers as an `output` event.' } },
} as const;

export const CompleteRequest = {
  title: 'CompleteRequest',
  type: 'object',
  additionalProperties: false,
  required: ['attemptToken'],
  properties: { attemptToken, result: { description: 'Any JSON value; default null.' } },
} as const;

export const FailRequest = {
  title: 'FailRequest',
  type: 'object',
  additionalProperties: false,
  required: ['attemptToken', 'error'],
  properties: {
    attemptToken,
    error: {
      type: 'object',
      additionalProperties: false,
      required: ['message'],
      properties: {
        message: { type: 'string', minLength: 1, maxLength: 10_000 },
        code: { type: 'string', minLength: 1, maxLength: 200 },
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
  properties: { attemptToken, reason: { type: 'string', minLength: 1, maxLength: 1000 } },
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
    pid: { type: 'integer', minimum: 0 },
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

// ---- topics, schedules, queue controls, task types (issue 5; admin routes) ----

export const PublishRequest = {
  title: 'PublishRequest',
  type: 'object',
  additionalProperties: false,
  required: ['topic'],
  properties: {
    topic: { type: 'string', description: 'Dot-separated words of letters, digits, _ - : (at most 255 characters).' },
    payload: { description: 'Any JSON value, copied into every subscriber\'s task. Default null.' },
    idempotencyKey: {
      type: 'string',
      minLength: 1,
      maxLength: 150,
      description: 'Publishing again with the same key creates no new copies. Same as the `Idempotency-Key` header.',
    },
  },
} as const;

export const PublishResponse = {
  title: 'PublishResponse',
  type: 'object',
  required: ['topic', 'tasks'],
  properties: {
    topic: { type: 'string' },
    tasks: { type: 'array', items: Task, description: 'One task per matching subscription; empty when nobody subscribes.' },
  },
} as const;

export const SubscriptionInput = {
  title: 'SubscriptionInput',
  type: 'object',
  additionalProperties: false,
  required: ['pattern'],
  properties: {
    pattern: { type: 'string', description: 'Dot-separated words; `*` matches one word, `#` any number of words (also none).' },
    queue: { type: 'string', description: 'Queue of the copies. Default `default`.' },
    type: { type: 'string', description: 'Task type of the copies. Default: the subscription name.' },
  },
} as const;

export const Subscription = {
  title: 'Subscription',
  type: 'object',
  required: ['name', 'pattern', 'queue', 'type', 'createdAt', 'updatedAt'],
  properties: {
    name: { type: 'string' },
    pattern: { type: 'string' },
    queue: { type: 'string' },
    type: { type: 'string' },
    createdAt: epochMs('Epoch ms.'),
    updatedAt: epochMs('Epoch ms.'),
  },
} as const;

export const SubscriptionList = {
  title: 'SubscriptionList',
  type: 'object',
  required: ['subscriptions'],
  properties: { subscriptions: { type: 'array', items: Subscription } },
} as const;

const ScheduleTask = {
  type: 'object',
  additionalProperties: false,
  required: ['type'],
  properties: {
    type: { type: 'string', description: 'Task type.' },
    payload: { description: 'Any JSON value. Default null.' },
    queue: { type: 'string' },
    priority: { type: 'integer', minimum: -MAX_PRIORITY, maximum: MAX_PRIORITY },
    maxAttempts: { type: 'integer', minimum: 1, maximum: 1000 },
    timeoutMs: { type: 'integer', minimum: 1, maximum: 7 * 86_400_000 },
  },
  description: 'The task each slot creates.',
} as const;

export const ScheduleInput = {
  title: 'ScheduleInput',
  type: 'object',
  additionalProperties: false,
  required: ['cron', 'task'],
  properties: {
    cron: { type: 'string', minLength: 1, maxLength: 200, description: 'Cron expression (5 or 6 fields, croner syntax).' },
    timezone: { type: 'string', minLength: 1, maxLength: 100, description: 'IANA time zone. Default UTC.' },
    task: ScheduleTask,
    missedPolicy: { enum: ['skip', 'run-once'], description: 'Slots missed while nothing ran: `skip` (default) or `run-once`.' },
    paused: { type: 'boolean', description: 'A paused schedule fires nothing. Default false.' },
  },
} as const;

export const Schedule = {
  title: 'Schedule',
  type: 'object',
  required: ['name', 'cron', 'timezone', 'task', 'missedPolicy', 'paused', 'nextRunAt', 'lastRunAt', 'lastTaskId', 'createdAt', 'updatedAt'],
  properties: {
    name: { type: 'string' },
    cron: { type: 'string' },
    timezone: { type: 'string' },
    task: { type: 'object', required: ['type', 'payload'], properties: ScheduleTask.properties },
    missedPolicy: { enum: ['skip', 'run-once'] },
    paused: { type: 'boolean' },
    nextRunAt: nullableEpochMs('The next slot; null when paused or the expression has no future slot.'),
    lastRunAt: nullableEpochMs('The latest slot that fired.'),
    lastTaskId: { type: ['string', 'null'] },
    createdAt: epochMs('Epoch ms.'),
    updatedAt: epochMs('Epoch ms.'),
  },
} as const;

export const ScheduleList = {
  title: 'ScheduleList',
  type: 'object',
  required: ['schedules'],
  properties: { schedules: { type: 'array', items: Schedule } },
} as const;

const RateLimit = {
  type: ['object', 'null'],
  additionalProperties: false,
  required: ['count', 'intervalMs'],
  properties: {
    count: { type: 'integer', minimum: 1, description: 'Starts allowed in any window of intervalMs.' },
    intervalMs: { type: 'integer', minimum: 1 },
  },
} as const;

export const QueueLimits = {
  title: 'QueueLimits',
  description: 'Give one or both; null removes a limit, an absent field keeps it as it is.',
  type: 'object',
  additionalProperties: false,
  properties: {
    maxConcurrency: { type: ['integer', 'null'], minimum: 1, description: 'At most this many tasks of the queue running at once, anywhere.' },
    rateLimit: { ...RateLimit, description: 'At most `count` starts in any window of `intervalMs`; null removes it.' },
  },
} as const;

export const QueueSettings = {
  title: 'QueueSettings',
  type: 'object',
  required: ['name', 'paused', 'maxConcurrency', 'rateLimit', 'updatedAt'],
  properties: {
    name: { type: 'string' },
    paused: { type: 'boolean' },
    maxConcurrency: { type: ['integer', 'null'] },
    rateLimit: RateLimit,
    updatedAt: epochMs('Epoch ms.'),
  },
} as const;

export const RedriveResult = {
  title: 'RedriveResult',
  type: 'object',
  required: ['queue', 'retried'],
  properties: {
    queue: { type: 'string' },
    retried: { type: 'integer', minimum: 0, description: 'Failed tasks put back in the queue.' },
  },
} as const;

export const TypeDefaults = {
  type: 'object',
  additionalProperties: false,
  description: 'Applied at submit to tasks of this type that do not say.',
  properties: {
    maxAttempts: { type: 'integer', minimum: 1, maximum: 1000 },
    backoff: BackoffInput,
    timeoutMs: { type: ['integer', 'null'], minimum: 1, maximum: 7 * 86_400_000 },
    queue: { type: 'string' },
  },
} as const;

export const TypeSettingsInput = {
  title: 'TypeSettingsInput',
  type: 'object',
  additionalProperties: false,
  properties: {
    defaults: TypeDefaults,
    payloadSchema: {
      type: ['object', 'boolean', 'null'],
      description: 'JSON Schema every payload of this type must match (submits that do not get a 400 naming the field); null: any JSON.',
    },
  },
} as const;

export const TypeSettings = {
  title: 'TypeSettings',
  type: 'object',
  required: ['type', 'defaults', 'payloadSchema', 'updatedAt'],
  properties: {
    type: { type: 'string' },
    defaults: TypeDefaults,
    payloadSchema: { type: ['object', 'boolean', 'null'] },
    updatedAt: epochMs('Epoch ms.'),
  },
} as const;

export const TypeSettingsList = {
  title: 'TypeSettingsList',
  type: 'object',
  required: ['types'],
  properties: { types: { type: 'array', items: TypeSettings } },
} as const;

export const NameParams = {
  type: 'object',
  additionalProperties: false,
  required: ['name'],
  properties: { name: { type: 'string', minLength: 1, maxLength: 200 } },
} as const;

export const TypeParams = {
  type: 'object',
  additionalProperties: false,
  required: ['type'],
  properties: { type: { type: 'string', minLength: 1, maxLength: 200, description: 'Task type.' } },
} as const;

/** Named schemas of the worker protocol and the admin routes, published with the others. */
const WORKER_AND_ADMIN_SCHEMAS: readonly { title: string }[] = [
  ClaimRequest, Claim, ClaimResponse, AttemptRequest, LeaseState, ProgressRequest, OutputRequest, CompleteRequest,
  FailRequest, ReleaseRequest, FinishedTask, WorkerRegistration, WorkerIdRequest, WorkerInfo, WorkerList,
  PublishRequest, PublishResponse, SubscriptionInput, Subscription, SubscriptionList, ScheduleInput, Schedule,
  ScheduleList, QueueLimits, QueueSettings, TypeSettingsInput, TypeSettings, TypeSettingsList,
];

/** Every schema published under components.schemas (openapi.ts replaces them by $ref where routes embed them). */
export const NAMED_SCHEMAS: readonly { title: string }[] = [
  TaskSpec, BackoffInput, Backoff, BatchRequest, CancelRequest, TaskError, Progress, TaskStatus, Task, TaskEvent,
  TaskList, BatchResponse, EventList, TaskResult, QueueCounts, QueueList, HealthStatus, Problem, WsClientMessage,
  WsServerMessage, FollowTokenRequest, FollowToken, ...WORKER_AND_ADMIN_SCHEMAS, RedriveResult,
];

// ---- the TypeScript shapes of validated request parts ----

export interface TaskSpecBody {
  type: string;
  payload?: unknown;
  queue?: string;
  priority?: number;
  delayMs?: number;
  runAt?: number | string;
  maxAttempts?: number;
  backoff?: { type?: 'exponential' | 'fixed'; delayMs?: number; maxDelayMs?: number; jitter?: number };
  timeoutMs?: number | null;
  tags?: Record<string, string>;
  parentId?: string;
  idempotencyKey?: string;
  traceparent?: string;
}

export interface ListQueryParams {
  queue?: string;
  status?: (typeof TASK_STATUSES)[number];
  type?: string;
  tag?: string;
  limit: number;
  cursor?: string;
}

export interface WsClientMessageBody {
  op: 'subscribe' | 'unsubscribe';
  taskId?: string;
  queue?: string;
  afterSeq?: number;
}

// ---- documented answers ----

const PROBLEM_DESCRIPTIONS: Record<number, string> = {
  400: 'Bad request: malformed JSON, a wrong type, an unknown field, or a value the task model refuses (`field` names it).',
  401: 'No token, or one that is not valid (malformed, badly signed, expired, revoked). Only with auth configured.',
  403: 'The token is valid but lacks the scope this needs (a follow token reads its one task only).',
  429: 'Too many requests from this token (or address): wait `Retry-After` seconds.',
  404: 'No such task (or not yours).',
  409: 'The task is in a state that does not allow this.',
  413: 'The request body is over the size limit.',
  426: 'Not a WebSocket upgrade request.',
  503: 'The store is unavailable; nothing was changed.',
};

/** A route `response` entry: a JSON answer with its own description (the schema stays the shared object). */
export function jsonResponse(schema: object, description: string): object {
  return { description, content: { 'application/json': { schema } } };
}

/** Route `response` entries for problem answers (application/problem+json). */
export function problemResponses(...statuses: number[]): Record<number, object> {
  return Object.fromEntries(
    statuses.map((status) => [
      status,
      { description: PROBLEM_DESCRIPTIONS[status] ?? 'Error', content: { 'application/problem+json': { schema: Problem } } },
    ]),
  );
}
