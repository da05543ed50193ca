// publish, subscriptions, schedules, queues, types: managing topics, cron schedules and queue controls.
import { readFileSync } from 'node:fs';
import type { Json } from '../../core/task.ts';
import type { CostLimit } from '../../store/store.ts';
import type { Taskhub } from '../../taskhub.ts';
import { COMMON_OPTIONS, int, parseCommand, str, UsageError, type OptionSpecs, type ParsedCommand } from '../config.ts';
import { printJson } from '../format.ts';
import { openLocalHub } from '../target.ts';
import { throttleOf } from './tasks.ts';

const local = { store: COMMON_OPTIONS.store, json: COMMON_OPTIONS.json, help: COMMON_OPTIONS.help };

function json(text: string | undefined, what: string): Json {
  if (text === undefined) return null;
  try {
    return JSON.parse(text) as Json;
  } catch (error) {
    throw new UsageError(`${what} is not valid JSON: ${(error as Error).message}`);
  }
}

async function withHub(values: ParsedCommand['values'], fn: (hub: Taskhub) => Promise<unknown>): Promise<void> {
  const hub = await openLocalHub(values, false);
  try {
    const result = await fn(hub);
    if (values.json) printJson(result);
    else if (Array.isArray(result)) for (const row of result) process.stdout.write(`${JSON.stringify(row)}\n`);
    else process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  } finally {
    await hub.close({ graceMs: 0 });
  }
}

function action(positionals: string[], allowed: string[], usage: string): [string, string | undefined] {
  const [verb = 'list', name] = positionals;
  if (!allowed.includes(verb)) throw new UsageError(`expected ${allowed.join(' | ')}; usage: ${usage}`);
  if (verb !== 'list' && !name) throw new UsageError(`NAME is required: ${usage}`);
  return [verb, name];
}

export const publishOptions: OptionSpecs = { 'idempotency-key': { type: 'string', help: 'publishing the same key again creates nothing new' }, ...local };
export const publishSummary = 'Publishes an event: one task per matching subscription, all or none.';
export async function publishCommand(argv: string[]): Promise<void> {
  const { values, positionals } = parseCommand(argv, publishOptions);
  const [topic, payload] = positionals;
  if (!topic) throw new UsageError('TOPIC is required: taskhub publish TOPIC [PAYLOAD]');
  const key = str(values, 'idempotency-key');
  await withHub(values, async (hub) => {
    const { tasks } = await hub.publish(topic, json(payload, 'PAYLOAD'), key ? { idempotencyKey: key } : {});
    return { topic, tasks: tasks.map((t) => ({ id: t.id, type: t.type, queue: t.queue, subscription: t.tags.subscription })) };
  });
}

export const subscriptionsOptions: OptionSpecs = {
  pattern: { type: 'string', help: 'dot-separated topic pattern; * one word, # any words' },
  type: { type: 'string', help: 'task type of each copy (default: the subscription name)' },
  queue: { type: 'string', help: 'queue of each copy (default "default")' },
  ...local,
};
export const subscriptionsSummary = 'Lists, creates or replaces (put), and deletes durable topic subscriptions.';
export async function subscriptionsCommand(argv: string[]): Promise<void> {
  const { values, positionals } = parseCommand(argv, subscriptionsOptions);
  const usage = 'taskhub subscriptions [list | put NAME --pattern P [--type T] [--queue Q] | delete NAME]';
  const [verb, name] = action(positionals, ['list', 'put', 'delete'], usage);
  await withHub(values, async (hub) => {
    if (verb === 'list') return hub.topics.list();
    if (verb === 'delete') return { deleted: await hub.unsubscribe(name as string) };
    const pattern = str(values, 'pattern');
    if (!pattern) throw new UsageError(`--pattern is required: ${usage}`);
    const queue = str(values, 'queue');
    return hub.topics.subscribe(name as string, pattern, { type: str(values, 'type') ?? (name as string), ...(queue ? { queue } : {}) });
  });
}

export const schedulesOptions: OptionSpecs = {
  cron: { type: 'string', help: 'cron expression, e.g. "0 9 * * 1-5" (or --every)' },
  every: { type: 'string', help: 'fixed interval instead of cron: 30s, 5m, 1h, 1d or milliseconds' },
  timezone: { type: 'string', help: 'IANA time zone (default UTC)' },
  type: { type: 'string', help: 'task type to submit' },
  payload: { type: 'string', help: 'task payload (JSON)' },
  queue: { type: 'string', help: 'task queue' },
  missed: { type: 'string', help: 'after downtime: skip (default) or run-once' },
  paused: { type: 'boolean', help: 'create the schedule paused' },
  ...local,
};
export const schedulesSummary = 'Lists, creates or replaces (put), and deletes schedules (cron or fixed interval).';
export async function schedulesCommand(argv: string[]): Promise<void> {
  const { values, positionals } = parseCommand(argv, schedulesOptions);
  const usage = 'taskhub schedules [list | put NAME (--cron C | --every 30s) --type T [--payload JSON] [--timezone Z] | delete NAME]';
  const [verb, name] = action(positionals, ['list', 'put', 'delete'], usage);
  await withHub(values, async (hub) => {
    if (verb === 'list') return hub.schedules.list();
    if (verb === 'delete') return { deleted: await hub.unschedule(name as string) };
    const cron = str(values, 'cron');
    const every = str(values, 'every');
    const type = str(values, 'type');
    if (!type || (cron === undefined) === (every === undefined)) throw new UsageError(`--type and one of --cron or --every are required: ${usage}`);
    const missed = str(values, 'missed') ?? 'skip';
    if (missed !== 'skip' && missed !== 'run-once') throw new UsageError('--missed: expected skip or run-once');
    const queue = str(values, 'queue');
    const timezone = str(values, 'timezone');
    return hub.schedule(name as string, {
      ...(cron !== undefined ? { cron } : { every: /^\d+$/.test(every as string) ? Number(every) : (every as string) }),
      ...(timezone ? { timezone } : {}),
      task: { type, payload: json(str(values, 'payload'), '--payload'), ...(queue ? { queue } : {}) },
      missedPolicy: missed,
      paused: Boolean(values.paused),
    });
  });
}

export const queuesOptions: OptionSpecs = {
  'max-concurrency': { type: 'string', help: 'at most N running at once across all processes (0 removes the cap)' },
  rate: { type: 'string', help: 'at most N starts per interval: N/MS, e.g. 10/1000 ("none" removes it)' },
  'max-per-key': { type: 'string', help: 'fair sharing: at most N running per concurrency key (owner) (0 removes it)' },
  'cost-limit': { type: 'string', help: 'BUDGET/MS[/per-key]: tasks start while their costs fit BUDGET per MS ms ("none" removes it)' },
  ...local,
};
export const queuesSummary = 'Shows queues (counts and settings); pause, resume, or limit one.';
export async function queuesCommand(argv: string[]): Promise<void> {
  const { values, positionals } = parseCommand(argv, queuesOptions);
  const usage = 'taskhub queues [list | pause NAME | resume NAME | limit NAME [--max-concurrency N] [--rate N/MS] [--max-per-key N] [--cost-limit BUDGET/MS[/per-key]]]';
  const [verb, name] = action(positionals, ['list', 'pause', 'resume', 'limit'], usage);
  await withHub(values, async (hub) => {
    if (verb === 'list') {
      const settings = new Map((await hub.queueSettings()).map((s) => [s.name, s]));
      const counts = new Map((await hub.queues()).map((q) => [q.queue, q.counts]));
      return [...new Set([...counts.keys(), ...settings.keys()])].sort().map((queue) => ({ queue, counts: counts.get(queue) ?? null, settings: settings.get(queue) ?? null }));
    }
    if (verb === 'pause') return hub.pauseQueue(name as string);
    if (verb === 'resume') return hub.resumeQueue(name as string);
    const cap = int(values, 'max-concurrency');
    const perKey = int(values, 'max-per-key');
    const rateLimit = rateOf(values);
    const costLimit = costLimitOf(values);
    if (cap === undefined && rateLimit === undefined && perKey === undefined && costLimit === undefined) {
      throw new UsageError(`give --max-concurrency, --rate, --max-per-key or --cost-limit: ${usage}`);
    }
    return hub.setQueueLimits(name as string, {
      ...(cap !== undefined ? { maxConcurrency: cap === 0 ? null : cap } : {}),
      ...(perKey !== undefined ? { maxPerKey: perKey === 0 ? null : perKey } : {}),
      ...(rateLimit !== undefined ? { rateLimit } : {}),
      ...(costLimit !== undefined ? { costLimit } : {}),
    });
  });
}

/** `--rate N/MS` (a rate limit), `none` (remove it), or absent (undefined). */
function rateOf(values: ParsedCommand['values']): { count: number; intervalMs: number } | null | undefined {
  const rate = str(values, 'rate');
  if (rate === undefined) return undefined;
  if (rate === 'none') return null;
  const match = /^(\d+)\/(\d+)$/.exec(rate);
  if (!match) throw new UsageError(`--rate "${rate}": expected N/MS, e.g. 10/1000`);
  return { count: Number(match[1]), intervalMs: Number(match[2]) };
}

/** `--cost-limit BUDGET/MS[/per-key]` (a cost limit), `none` (remove it), or absent (undefined). */
function costLimitOf(values: ParsedCommand['values']): CostLimit | null | undefined {
  const text = str(values, 'cost-limit');
  if (text === undefined) return undefined;
  if (text === 'none') return null;
  const match = /^(\d+)\/(\d+)(\/per-key)?$/.exec(text);
  if (!match) throw new UsageError(`--cost-limit "${text}": expected BUDGET/MS or BUDGET/MS/per-key, e.g. 90000/60000`);
  return { budget: Number(match[1]), periodMs: Number(match[2]), perKey: match[3] !== undefined };
}

export const typesOptions: OptionSpecs = {
  'max-attempts': { type: 'string', help: 'default maxAttempts for tasks of this type' },
  timeout: { type: 'string', help: 'default per-attempt (hard) time limit, ms' },
  'soft-timeout': { type: 'string', help: 'default soft time limit, ms (below --timeout): the handler is told and may still return' },
  queue: { type: 'string', help: 'default queue' },
  schema: { type: 'string', help: 'file with a JSON Schema the payload must match' },
  rate: { type: 'string', help: 'at most N starts of the type per interval, across queues and processes: N/MS ("none" removes it)' },
  'cost-limit': { type: 'string', help: 'BUDGET/MS[/per-key]: tasks of the type start while their costs fit BUDGET per MS ms ("none" removes it)' },
  throttle: { type: 'string', help: "default throttle [KEY:]LIMIT/MS (without KEY: each task's concurrency key, else the type name)" },
  ...local,
};
export const typesSummary = 'Lists, sets (put), rate-limits (limit) and deletes per-type defaults, payload schemas and rate limits.';
export async function typesCommand(argv: string[]): Promise<void> {
  const { values, positionals } = parseCommand(argv, typesOptions);
  const usage =
    'taskhub types [list | put TYPE [--max-attempts N] [--timeout MS] [--soft-timeout MS] [--queue Q] [--schema FILE] [--rate N/MS] [--cost-limit BUDGET/MS[/per-key]] [--throttle [KEY:]LIMIT/MS] | limit TYPE [--rate N/MS|none] [--cost-limit BUDGET/MS[/per-key]|none] | delete TYPE]';
  const [verb, name] = action(positionals, ['list', 'put', 'limit', 'delete'], usage);
  await withHub(values, async (hub) => {
    if (verb === 'list') return hub.types.list();
    if (verb === 'delete') return { deleted: await hub.types.delete(name as string) };
    const rateLimit = rateOf(values);
    const costLimit = costLimitOf(values);
    if (verb === 'limit') {
      // Only the limits given change: the type's other settings are read and put back as they are.
      if (rateLimit === undefined && costLimit === undefined) throw new UsageError(`give --rate or --cost-limit (or none): ${usage}`);
      const current = (await hub.types.list()).find((t) => t.type === name);
      return hub.setTypeSettings(name as string, {
        defaults: current?.defaults ?? {},
        payloadSchema: current?.payloadSchema ?? null,
        rateLimit: rateLimit === undefined ? (current?.rateLimit ?? null) : rateLimit,
        costLimit: costLimit === undefined ? (current?.costLimit ?? null) : costLimit,
      });
    }
    const schemaFile = str(values, 'schema');
    const maxAttempts = int(values, 'max-attempts');
    const timeoutMs = int(values, 'timeout');
    const softTimeoutMs = int(values, 'soft-timeout');
    const queue = str(values, 'queue');
    const throttle = throttleOf(str(values, 'throttle'), true);
    return hub.setTypeSettings(name as string, {
      defaults: {
        ...(throttle ? { throttle } : {}),
        ...(maxAttempts !== undefined ? { maxAttempts } : {}),
        ...(timeoutMs !== undefined ? { timeoutMs } : {}),
        ...(softTimeoutMs !== undefined ? { softTimeoutMs } : {}),
        ...(queue ? { queue } : {}),
      },
      payloadSchema: schemaFile ? json(readFileSync(schemaFile, 'utf8'), `--schema ${schemaFile}`) : null,
      rateLimit: rateLimit ?? null,
      costLimit: costLimit ?? null,
    });
  });
}
