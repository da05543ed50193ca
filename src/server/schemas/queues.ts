// Schemas of the queue routes (routes/queues.ts, routes/queue-controls.ts): task counts by status, pause, limits and
// dead-letter redrive.
import { TASK_STATUSES } from '../../core/task.ts';
import { epochMs, int32, nonEmptyString } from './common.ts';
import { textPart } from './provider.ts';

export const QueueNameParams = textPart({
  type: 'object',
  additionalProperties: false,
  required: ['name'],
  properties: { name: { ...nonEmptyString(200), description: 'Queue name.' } },
} as const);

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

export const RateLimit = {
  type: ['object', 'null'],
  additionalProperties: false,
  required: ['count', 'intervalMs'],
  properties: {
    count: { ...int32(1), description: 'Starts allowed in any window of intervalMs.' },
    intervalMs: int32(1),
  },
} as const;

/** A cost-weighted rate limit; the core checks the ranges (core/validate.ts checkCostLimit) and names the field. */
export const CostLimit = {
  title: 'CostLimit',
  description:
    'A task starts only when the costs started in the last `periodMs` plus its own fit in `budget` (a task without a ' +
    'cost counts 1; one costing more than the budget starts alone in an empty window). `perKey`: a budget per ' +
    'concurrencyKey (the owner over HTTP). docs/queues.md, "Cost limits".',
  type: 'object',
  additionalProperties: false,
  required: ['budget', 'periodMs'],
  properties: {
    budget: { type: 'integer', description: 'Units per window, 1..2147483647.' },
    periodMs: { type: 'integer', description: 'The window, ms (1..86400000: one day).' },
    perKey: { type: 'boolean', description: 'Default false: one budget for the whole queue (or type).' },
  },
} as const;

const NullableCostLimit = { anyOf: [CostLimit, { type: 'null' }] } as const;

export const HeldBack = {
  title: 'HeldBack',
  description: 'Tasks of one key that flow control holds back now.',
  type: 'object',
  required: ['key', 'reason', 'tasks'],
  properties: {
    key: {
      type: 'string',
      description:
        'The debounce, singleton or throttle key; for a cost limit, the concurrencyKey (perKey) or the queue or type name.',
    },
    reason: {
      enum: ['debounce', 'singleton', 'throttled', 'over-budget'],
      description:
        '`debounce`: scheduled in an open debounce window; `singleton`: queued while a task of its key runs; ' +
        '`throttled`: over its key\'s throttle; `over-budget`: its cost does not fit its budget now.',
    },
    tasks: { type: 'integer', minimum: 0 },
  },
} as const;

/** One queue: its counts, and (admin only: keys span tenants) what flow control holds back. */
export const QueueView = {
  title: 'QueueView',
  type: 'object',
  required: ['queue', 'counts'],
  properties: {
    ...QueueCounts.properties,
    heldBack: {
      type: 'array',
      items: HeldBack,
      description: 'Admin callers only: what flow control holds back now, per key and reason, most tasks first.',
    },
  },
} as const;

export const QueueLimits = {
  title: 'QueueLimits',
  description: 'Give one or both; null removes a limit, an absent field keeps it as it is.',
  type: 'object',
  additionalProperties: false,
  properties: {
    maxConcurrency: { ...int32(1), type: ['integer', 'null'], description: 'At most this many tasks of the queue running at once, anywhere.' },
    rateLimit: { ...RateLimit, description: 'At most `count` starts in any window of `intervalMs`; null removes it.' },
    costLimit: NullableCostLimit,
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
    costLimit: NullableCostLimit,
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

