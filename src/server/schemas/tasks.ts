// Schemas of the task routes (routes/tasks.ts, routes/stream.ts): the task and its parts, submits, reads, history,
// results and follow tokens. Ranges the core enforces (core/validate.ts) are described here rather than repeated, so
// the core stays the single owner of the task model's rules.
import { MAX_INT32 } from '../../core/input-rules.ts';
import { MAX_DEBOUNCE_MS, MAX_FLOW_PERIOD_MS, MAX_PRIORITY } from '../../core/validate.ts';
import { SINGLETON_POLICIES, TASK_EVENT_KINDS, TASK_STATUSES } from '../../core/task.ts';
import { anyJson, epochMs, int32, NAME_DESCRIPTION, nonEmptyString, nullableEpochMs } from './common.ts';
import { type BodyOf, headersPart, textPart } from './provider.ts';

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

/** A per-key throttle; the core checks the ranges (core/validate.ts checkThrottle) and names the field it refuses. */
export const Throttle = {
  title: 'Throttle',
  description:
    'At most `limit` tasks with this `key` (per owner) start in any sliding window of `periodMs`; the others wait, in ' +
    'claim order (docs/queues.md, "Throttle").',
  type: 'object',
  additionalProperties: false,
  required: ['key', 'limit', 'periodMs'],
  properties: {
    key: { type: 'string', description: '1-200 characters.' },
    limit: { type: 'integer', description: `Starts per window, 1..${MAX_INT32}.` },
    periodMs: { type: 'integer', description: `The window, ms (1..${MAX_FLOW_PERIOD_MS}: one day).` },
  },
} as const;

const debounceProperties = {
  key: { ...nonEmptyString(200), description: 'Submits with this key (per owner) collapse into one task.' },
  delayMs: {
    type: 'integer',
    minimum: 1,
    maximum: MAX_DEBOUNCE_MS,
    description: 'The task runs this long after the last submit of its key (1 ms..30 days).',
  },
  maxWaitMs: {
    type: 'integer',
    minimum: 1,
    maximum: MAX_DEBOUNCE_MS,
    description: 'But no later than this long after the first submit of the window (1 ms..30 days).',
  },
} as const;

const singletonProperties = {
  key: { ...nonEmptyString(200), description: 'At most one task with this key (per owner) runs at a time.' },
  policy: {
    enum: [...SINGLETON_POLICIES],
    description:
      'When a task with the key is unfinished: `reject` the submit (409 naming it), `queue-one` (at most one waits; a ' +
      'later submit replaces its payload) or `supersede` (cancel the existing ones; the new one runs once they stopped).',
  },
} as const;

export const DebounceInput = {
  title: 'DebounceInput',
  description: 'Collapse submits of one key (docs/queues.md, "Debounce"). Not with delayMs, runAt or idempotencyKey.',
  type: 'object',
  additionalProperties: false,
  required: ['key', 'delayMs'],
  properties: debounceProperties,
} as const;

export const SingletonInput = {
  title: 'SingletonInput',
  description: 'At most one task of a key runs at a time (docs/queues.md, "Singleton").',
  type: 'object',
  additionalProperties: false,
  required: ['key', 'policy'],
  properties: singletonProperties,
} as const;

/** As a type's default: without `key`, each task's concurrencyKey as given, else the type. */
export const DebounceDefault = { ...DebounceInput, title: 'DebounceDefault', required: ['delayMs'] } as const;
export const SingletonDefault = { ...SingletonInput, title: 'SingletonDefault', required: ['policy'] } as const;

const DebounceView = {
  type: ['object', 'null'],
  required: ['key', 'delayMs', 'maxWaitMs', 'firstAt'],
  description: 'The debounce the task was submitted with; `firstAt`: the first submit of its window. Null: none.',
  properties: {
    ...debounceProperties,
    maxWaitMs: { type: ['integer', 'null'] },
    firstAt: epochMs('Epoch ms.'),
  },
} as const;

const SingletonView = {
  type: ['object', 'null'],
  required: ['key', 'policy'],
  description: 'The singleton rule the task was submitted with; null: none.',
  properties: singletonProperties,
} as const;

export const TaskSpec = {
  title: 'TaskSpec',
  description: 'A task to create. Only `type` is required.',
  type: 'object',
  additionalProperties: false,
  required: ['type'],
  properties: {
    type: { type: 'string', description: `Handler name: ${NAME_DESCRIPTION}.` },
    payload: anyJson('Any JSON value; handed to the handler as is. Default null.'),
    queue: { type: 'string', description: `Queue name (${NAME_DESCRIPTION}). Default \`default\`.` },
    priority: { type: 'integer', description: `Higher runs first; -${MAX_PRIORITY}..${MAX_PRIORITY}. Default 0.` },
    delayMs: { type: 'integer', description: 'Run no earlier than this many ms from now (0..10 years). Not with runAt.' },
    runAt: {
      type: ['integer', 'string'],
      description: 'Run no earlier than this time: epoch ms, or an ISO 8601 date-time. Not with delayMs.',
    },
    maxAttempts: { type: 'integer', description: 'Attempts before the task fails for good, 1..1000. Default 3.' },
    backoff: BackoffInput,
    timeoutMs: {
      type: ['integer', 'null'],
      description: 'Hard time limit of each attempt, ms (1 ms..7 days): the attempt fails with TIMEOUT and the handler is stopped; null for none.',
    },
    softTimeoutMs: {
      type: ['integer', 'null'],
      description:
        'Soft time limit of each attempt, ms (1 ms..7 days, less than timeoutMs): the handler is told (ctx.softSignal; the ' +
        'heartbeat answer says `softTimeLimitExceeded`) and may still return its result; null for none.',
    },
    tags: Tags,
    throttle: { anyOf: [Throttle, { type: 'null' }] },
    cost: {
      type: ['integer', 'null'],
      description:
        `What the task uses of a queue's or type's cost limit (0..${MAX_INT32}, e.g. expected tokens); absent: 1 where a ` +
        'cost limit applies. The handler may report the actual cost (ctx.reportCost).',
    },
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
    debounce: DebounceInput,
    singleton: SingletonInput,
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
  properties: { reason: { ...nonEmptyString(1000), description: 'Recorded in the task error.' } },
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
    data: anyJson('Any JSON value.'),
  },
} as const;

export const TaskStatus = {
  title: 'TaskStatus',
  description: '`waiting`: a durable task suspended until its children finish, a sleep ends or a signal arrives (see `waitingFor`).',
  enum: [...TASK_STATUSES],
} as const;

export const WaitingFor = {
  title: 'WaitingFor',
  description: 'What a `waiting` task waits for (docs/durable.md); `name` is the wait\'s name in the handler.',
  oneOf: [
    {
      type: 'object',
      required: ['kind', 'name', 'pending', 'total'],
      properties: {
        kind: { const: 'children' },
        name: { type: 'string' },
        pending: { type: 'integer', minimum: 0, description: 'Children not finished yet.' },
        total: { type: 'integer', minimum: 0 },
      },
    },
    {
      type: 'object',
      required: ['kind', 'name', 'until'],
      properties: { kind: { const: 'sleep' }, name: { type: 'string' }, until: epochMs('When the sleep ends, epoch ms.') },
    },
    {
      type: 'object',
      required: ['kind', 'name', 'timeoutAt'],
      properties: {
        kind: { const: 'signal' },
        name: { type: 'string', description: 'The signal it waits for: POST /tasks/{id}/signals/{name}.' },
        timeoutAt: nullableEpochMs('When the wait gives up, epoch ms; null: never.'),
      },
    },
  ],
} as const;

export const Task = {
  title: 'Task',
  type: 'object',
  required: [
    'id', 'queue', 'type', 'payload', 'status', 'priority', 'runAt', 'attempts', 'maxAttempts', 'backoff', 'timeoutMs',
    'softTimeoutMs', 'idempotencyKey', 'tags', 'owner', 'parentId', 'concurrencyKey', 'traceparent', 'progress', 'result', 'error',
    'cancelRequested', 'lastEventSeq', 'createdAt', 'updatedAt', 'startedAt', 'completedAt', 'checkpointVersion',
    'waitingFor', 'throttle', 'cost', 'reportedCost', 'debounce', 'singleton',
  ],
  properties: {
    id: { type: 'string', description: 'UUIDv7: ids sort in creation order.' },
    queue: { type: 'string' },
    type: { type: 'string' },
    payload: anyJson('Any JSON value.'),
    status: TaskStatus,
    priority: { type: 'integer' },
    runAt: epochMs('When the task becomes (or became) ready to run, epoch ms.'),
    attempts: { type: 'integer', minimum: 0 },
    maxAttempts: { type: 'integer', minimum: 1 },
    backoff: Backoff,
    timeoutMs: { type: ['integer', 'null'] },
    softTimeoutMs: { type: ['integer', 'null'] },
    idempotencyKey: { type: ['string', 'null'] },
    tags: Tags,
    owner: { type: ['string', 'null'] },
    parentId: { type: ['string', 'null'] },
    concurrencyKey: { type: ['string', 'null'] },
    throttle: { anyOf: [Throttle, { type: 'null' }] },
    cost: { type: ['integer', 'null'], description: 'The declared cost; null: 1 where a cost limit applies.' },
    reportedCost: { type: ['integer', 'null'], description: 'The cost the handler reported at its last finish (ctx.reportCost); null: none.' },
    traceparent: { type: ['string', 'null'] },
    progress: { anyOf: [Progress, { type: 'null' }] },
    result: anyJson('What the handler returned (any JSON value); null until completed.'),
    error: { anyOf: [TaskError, { type: 'null' }] },
    cancelRequested: { type: 'boolean', description: 'A running task was asked to stop and has not yet.' },
    lastEventSeq: { type: 'integer', minimum: 1, description: 'Sequence number of the newest event.' },
    createdAt: epochMs('Epoch ms.'),
    updatedAt: epochMs('Epoch ms.'),
    startedAt: nullableEpochMs('Start of the latest attempt, epoch ms.'),
    completedAt: nullableEpochMs('Epoch ms.'),
    checkpointVersion: {
      type: 'integer',
      minimum: 0,
      description: 'The latest checkpoint version (1, 2, …; GET /tasks/{id}/checkpoints); 0 without checkpoints.',
    },
    waitingFor: { anyOf: [WaitingFor, { type: 'null' }], description: 'What a `waiting` task waits for; null otherwise.' },
    debounce: DebounceView,
    singleton: SingletonView,
    merged: {
      enum: ['debounce', 'queue-one'],
      description: 'Only in a submit\'s answer: the submit was folded into this existing task (by its debounce key, or a singleton `queue-one`).',
    },
    debounced: { type: 'boolean', description: 'Only in a submit\'s answer: true when merged by its debounce key.' },
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
    data: anyJson('Depends on the kind: progress, an output chunk, the error …'),
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
    result: anyJson('What the handler returned; null unless completed.'),
    error: { anyOf: [TaskError, { type: 'null' }] },
  },
} as const;

// ---- request parts ----

export const TaskIdParams = textPart({
  type: 'object',
  additionalProperties: false,
  required: ['id'],
  properties: { id: { ...nonEmptyString(100), description: 'Task id.' } },
} as const);

export const ListQuery = textPart({
  type: 'object',
  additionalProperties: false,
  properties: {
    queue: nonEmptyString(200),
    status: TaskStatus,
    type: nonEmptyString(200),
    tag: { type: 'string', pattern: '^[^:]+:', description: 'key:value; only tasks with this tag.' },
    parentId: { ...nonEmptyString(100), description: "Only this task's children and derived tasks." },
    limit: { type: 'integer', minimum: 1, maximum: 1000, default: 50 },
    cursor: { ...nonEmptyString(100), description: '`nextCursor` of the previous page.' },
  },
} as const);

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
export const TokenQuery = textPart({
  type: 'object',
  additionalProperties: false,
  properties: { access_token: accessToken },
} as const);

export const FollowTokenRequest = {
  title: 'FollowTokenRequest',
  type: 'object',
  additionalProperties: false,
  properties: {
    ttlSeconds: { type: 'integer', minimum: 1, maximum: 86400, default: 900, description: 'Lifetime of the token, seconds.' },
    signals: {
      type: 'array',
      maxItems: 32,
      uniqueItems: true,
      items: nonEmptyString(200),
      description:
        'Names of signals the token may also send to the task (POST /tasks/{id}/signals/{name}), e.g. an approval ' +
        'from a browser. Issuing such a token needs `tasks:write`.',
    },
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

export const ResultQuery = textPart({
  type: 'object',
  additionalProperties: false,
  properties: {
    access_token: accessToken,
    wait: {
      type: 'number',
      minimum: 0,
      maximum: MAX_INT32,
      default: 0,
      description: 'Seconds to wait for the task to finish (at most 60; larger values, up to 2147483647, wait 60).',
    },
  },
} as const);

export const EventsQuery = textPart({
  type: 'object',
  additionalProperties: false,
  properties: {
    access_token: accessToken,
    after: { ...int32(0), default: 0, description: 'Only events with a greater seq.' },
    limit: { type: 'integer', minimum: 1, maximum: 1000, default: 1000 },
  },
} as const);

export const StreamQuery = textPart({
  type: 'object',
  additionalProperties: false,
  properties: {
    access_token: accessToken,
    after: {
      ...int32(0),
      description: 'Start after this seq (the `Last-Event-ID` header wins when both are given).',
    },
  },
} as const);

export const StreamHeaders = headersPart({
  type: 'object',
  properties: {
    'last-event-id': { type: 'string', pattern: '^[0-9]{1,9}$', description: 'Resume after this event seq.' },
  },
} as const);

// ---- the TypeScript shapes of validated requests, for code outside a route's handler ----

/** One task of a submit, as validated. */
export type TaskSpecBody = BodyOf<typeof TaskSpec>;
