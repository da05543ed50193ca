// Schemas of topic pub/sub (routes/topics.ts): publishing an event and the durable subscriptions it reaches.
import { anyJson, epochMs, nonEmptyString } from './common.ts';
import { Task } from './tasks.ts';

export const PublishRequest = {
  title: 'PublishRequest',
  type: 'object',
  additionalProperties: false,
  required: ['topic'],
  properties: {
    topic: { type: 'string', description: 'Dot-separated words of letters, digits, _ - : (at most 255 characters).' },
    payload: anyJson('Any JSON value, copied into every subscriber\'s task. Default null.'),
    idempotencyKey: {
      ...nonEmptyString(150),
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

