// Schemas of per-type settings (routes/types.ts): defaults applied at submit and a payload schema.
import { MAX_TIMEOUT_MS } from '../../core/validate.ts';
import { epochMs, nonEmptyString } from './common.ts';
import { json, textPart } from './provider.ts';
import { CostLimit, RateLimit } from './queues.ts';
import { BackoffInput, DebounceDefault, SingletonDefault } from './tasks.ts';

const TypeCostLimit = {
  anyOf: [CostLimit, { type: 'null' }],
  description: "A cost limit over this type's starts, across every queue and process; null or absent: none.",
} as const;

const ThrottleDefault = {
  type: ['object', 'null'],
  additionalProperties: false,
  required: ['limit', 'periodMs'],
  description:
    "The type's default throttle; without `key`, each task's concurrencyKey (the owner over HTTP), else the type name.",
  properties: { key: { type: 'string' }, limit: { type: 'integer' }, periodMs: { type: 'integer' } },
} as const;

const TypeRateLimit = {
  ...RateLimit,
  description:
    'At most `count` starts of this type in any window of `intervalMs`, across every queue and process (an exact ' +
    "sliding window, enforced in the claim like a queue's); null or absent: none.",
} as const;

export const TypeDefaults = {
  type: 'object',
  additionalProperties: false,
  description: 'Applied at submit to tasks of this type that do not say.',
  properties: {
    maxAttempts: { type: 'integer', minimum: 1, maximum: 1000 },
    backoff: BackoffInput,
    timeoutMs: { type: ['integer', 'null'], minimum: 1, maximum: MAX_TIMEOUT_MS },
    softTimeoutMs: { type: ['integer', 'null'], minimum: 1, maximum: MAX_TIMEOUT_MS, description: 'Less than timeoutMs when both are set.' },
    queue: { type: 'string' },
    throttle: ThrottleDefault,
    debounce: DebounceDefault,
    singleton: SingletonDefault,
  },
} as const;

export const TypeSettingsInput = {
  title: 'TypeSettingsInput',
  type: 'object',
  additionalProperties: false,
  properties: {
    defaults: TypeDefaults,
    rateLimit: TypeRateLimit,
    costLimit: TypeCostLimit,
    payloadSchema: json({
      type: ['object', 'boolean', 'null'],
      description: 'JSON Schema every payload of this type must match (submits that do not get a 400 naming the field); null: any JSON.',
    } as const),
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
    rateLimit: TypeRateLimit,
    costLimit: TypeCostLimit,
    updatedAt: epochMs('Epoch ms.'),
  },
} as const;

export const TypeSettingsList = {
  title: 'TypeSettingsList',
  type: 'object',
  required: ['types'],
  properties: { types: { type: 'array', items: TypeSettings } },
} as const;

export const TypeParams = textPart({
  type: 'object',
  additionalProperties: false,
  required: ['type'],
  properties: { type: { ...nonEmptyString(200), description: 'Task type.' } },
} as const);

