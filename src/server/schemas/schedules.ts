// Schemas of schedules, cron or fixed interval (routes/schedules.ts).
import { MAX_PRIORITY, MAX_TIMEOUT_MS } from '../../core/validate.ts';
import { anyJson, epochMs, nonEmptyString, nullableEpochMs } from './common.ts';

const ScheduleTask = {
  type: 'object',
  additionalProperties: false,
  required: ['type'],
  properties: {
    type: { type: 'string', description: 'Task type.' },
    payload: anyJson('Any JSON value. Default null.'),
    queue: { type: 'string' },
    priority: { type: 'integer', minimum: -MAX_PRIORITY, maximum: MAX_PRIORITY },
    maxAttempts: { type: 'integer', minimum: 1, maximum: 1000 },
    timeoutMs: { type: 'integer', minimum: 1, maximum: MAX_TIMEOUT_MS },
  },
  description: 'The task each slot creates.',
} as const;

export const ScheduleInput = {
  title: 'ScheduleInput',
  type: 'object',
  additionalProperties: false,
  required: ['task'],
  properties: {
    cron: { ...nonEmptyString(200), description: 'Cron expression (5 or 6 fields, croner syntax). Exactly one of `cron` and `every`.' },
    every: {
      type: ['string', 'integer'],
      maxLength: 40,
      minimum: 1000,
      maximum: 3_153_600_000_000,
      description: 'Fixed interval instead of cron, as Celery beat\'s timedelta schedules: `30s`, `5m`, `1h`, `1d`, or milliseconds (at least 1000). The first slot is one interval after the schedule is put.',
    },
    timezone: { ...nonEmptyString(100), description: 'IANA time zone. Default UTC.' },
    task: ScheduleTask,
    missedPolicy: { enum: ['skip', 'run-once'], description: 'Slots missed while nothing ran: `skip` (default) or `run-once`.' },
    paused: { type: 'boolean', description: 'A paused schedule fires nothing. Default false.' },
  },
} as const;

export const Schedule = {
  title: 'Schedule',
  type: 'object',
  required: ['name', 'cron', 'everyMs', 'timezone', 'task', 'missedPolicy', 'paused', 'nextRunAt', 'lastRunAt', 'lastTaskId', 'createdAt', 'updatedAt'],
  properties: {
    name: { type: 'string' },
    cron: { type: ['string', 'null'], description: 'Null for an interval schedule.' },
    everyMs: { type: ['integer', 'null'], description: 'The interval in ms; null for a cron schedule.' },
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

