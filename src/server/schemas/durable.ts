// Schemas of the public durable-execution routes (routes/durable.ts, docs/durable.md "HTTP API"): recover, derive,
// checkpoints and signals. The worker protocol's durable calls are in worker.ts.
import { MAX_PRIORITY } from '../../core/validate.ts';
import { anyJson, epochMs, NAME_DESCRIPTION, nonEmptyString } from './common.ts';
import { Task } from './tasks.ts';
import { textPart } from './provider.ts';

export const RecoverRequest = {
  title: 'RecoverRequest',
  type: 'object',
  additionalProperties: false,
  properties: {
    fromVersion: {
      type: 'integer',
      minimum: 1,
      description:
        'Resume from this checkpoint version (saved again as the latest, labelled `recover:N`); default the latest. ' +
        'A version the task does not have: 400.',
    },
  },
} as const;

export const DeriveRequest = {
  title: 'DeriveRequest',
  description: "A task made from this one. Everything not given is the original's (its owner too).",
  type: 'object',
  additionalProperties: false,
  properties: {
    payload: anyJson("Shallow-merged into the original's payload when both are JSON objects; otherwise replaces it."),
    type: { type: 'string', description: `Handler name (${NAME_DESCRIPTION}).` },
    queue: { type: 'string', description: `Queue name (${NAME_DESCRIPTION}).` },
    priority: { type: 'integer', description: `Higher runs first; -${MAX_PRIORITY}..${MAX_PRIORITY}.` },
    maxAttempts: { type: 'integer', description: 'Attempts before the task fails for good, 1..1000.' },
    timeoutMs: { type: ['integer', 'null'], description: 'Time limit of each attempt, ms; null for none.' },
    tags: {
      type: 'object',
      maxProperties: 64,
      additionalProperties: { type: 'string', maxLength: 1000 },
      description: "Replace the original's tags.",
    },
    fromCheckpoint: {
      anyOf: [{ const: 'latest' }, { type: 'integer', minimum: 1 }],
      description:
        "Start from this checkpoint of the original (`latest` or a version): it becomes the new task's version 1 " +
        '(label `derived:<id>@<version>`), stored in the same transaction as the task. None: 400.',
    },
  },
} as const;

export const CheckpointInfo = {
  title: 'CheckpointInfo',
  type: 'object',
  required: ['version', 'label', 'size', 'createdAt'],
  properties: {
    version: { type: 'integer', minimum: 1 },
    label: { type: ['string', 'null'] },
    size: { type: 'integer', minimum: 0, description: "Bytes of the state's JSON text (UTF-8)." },
    createdAt: epochMs('Epoch ms.'),
  },
} as const;

export const Checkpoint = {
  title: 'Checkpoint',
  type: 'object',
  required: [...CheckpointInfo.required, 'state'],
  properties: { ...CheckpointInfo.properties, state: anyJson('The saved state, whole.') },
} as const;

export const CheckpointList = {
  title: 'CheckpointList',
  type: 'object',
  required: ['checkpoints'],
  properties: { checkpoints: { type: 'array', items: CheckpointInfo, description: 'Oldest first, without states.' } },
} as const;

export const SignalRequest = {
  title: 'SignalRequest',
  type: 'object',
  additionalProperties: false,
  properties: { data: anyJson('Handed to the waiting handler as `waitForSignal` returns; default null.') },
} as const;

export const SignalResult = {
  title: 'SignalResult',
  type: 'object',
  required: ['resumed', 'task'],
  properties: {
    resumed: {
      type: 'boolean',
      description: 'True: the task waited for this signal and is queued again. False: kept for a later wait.',
    },
    task: Task,
  },
} as const;

// ---- request parts ----

export const CheckpointParams = textPart({
  type: 'object',
  additionalProperties: false,
  required: ['id', 'version'],
  properties: {
    id: { ...nonEmptyString(100), description: 'Task id.' },
    version: { type: 'integer', minimum: 1, description: 'Checkpoint version.' },
  },
} as const);

export const SignalParams = textPart({
  type: 'object',
  additionalProperties: false,
  required: ['id', 'name'],
  properties: {
    id: { ...nonEmptyString(100), description: 'Task id.' },
    name: { ...nonEmptyString(200), description: 'Signal name, as the handler waits for it.' },
  },
} as const);
