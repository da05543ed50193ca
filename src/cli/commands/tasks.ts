// submit, status, tasks, follow: the task commands, against the store or a server (--url).
import { readFileSync } from 'node:fs';
import { SINGLETON_POLICIES, type SingletonPolicy, TASK_STATUSES, type Json, type TaskSpec, type TaskStatus, type Throttle, type ThrottleDefault } from '../../core/task.ts';
import { COMMON_OPTIONS, int, parseCommand, str, UsageError, type OptionSpecs } from '../config.ts';
import { checkpointLines, describeTask, eventLine, printJson, taskRow } from '../format.ts';
import { openTarget } from '../target.ts';

const target = { store: COMMON_OPTIONS.store, url: COMMON_OPTIONS.url, token: COMMON_OPTIONS.token, json: COMMON_OPTIONS.json, help: COMMON_OPTIONS.help };

export const submitOptions: OptionSpecs = {
  queue: { type: 'string', help: 'queue name (default "default")' },
  priority: { type: 'string', help: 'integer, higher runs first (default 0)' },
  delay: { type: 'string', help: 'run after this many ms' },
  'max-attempts': { type: 'string', help: 'attempts before the task is dead-lettered (default 3)' },
  timeout: { type: 'string', help: 'per-attempt (hard) time limit in ms' },
  'soft-timeout': { type: 'string', help: 'soft time limit in ms (below --timeout): the handler is told and may still return' },
  'idempotency-key': { type: 'string', help: 'submitting the same key again returns the same task' },
  throttle: { type: 'string', help: 'KEY:LIMIT/MS: at most LIMIT tasks with KEY start per MS ms; the others wait' },
  cost: { type: 'string', help: "units this task uses of a queue's or type's cost limit (e.g. expected tokens)" },
  'debounce-key': { type: 'string', help: 'collapse submits of this key into one task (with --debounce-ms)' },
  'debounce-ms': { type: 'string', help: 'the debounced task runs this many ms after the last submit of its key' },
  'debounce-max-wait': { type: 'string', help: 'but no later than this many ms after the first' },
  'singleton-key': { type: 'string', help: 'at most one task of this key runs at a time (with --singleton-policy)' },
  'singleton-policy': { type: 'string', help: 'reject, queue-one or supersede' },
  tag: { type: 'string', multiple: true, help: 'KEY=VALUE, repeatable' },
  'payload-file': { type: 'string', help: 'read the JSON payload from this file (- for stdin)' },
  wait: { type: 'boolean', help: 'wait for the task to finish and print it' },
  ...target,
};
export const submitSummary = 'Submits a task. PAYLOAD is JSON, e.g. \'{"city":"Shanghai"}\'.';

function parsePayload(text: string, source: string): Json {
  try {
    return JSON.parse(text) as Json;
  } catch (error) {
    throw new UsageError(`payload from ${source} is not valid JSON: ${(error as Error).message}`);
  }
}

/**
 * `--throttle KEY:LIMIT/MS` as a throttle; with `keyOptional` (a type's default) `LIMIT/MS` alone too. The core
 * checks the ranges.
 */
export function throttleOf(text: string | undefined, keyOptional: boolean): ThrottleDefault | undefined {
  if (text === undefined) return undefined;
  const match = /^(?:(.+):)?(\d+)\/(\d+)$/.exec(text);
  if (!match || (!keyOptional && match[1] === undefined)) {
    throw new UsageError(`--throttle "${text}": expected ${keyOptional ? '[KEY:]' : 'KEY:'}LIMIT/MS, e.g. ${keyOptional ? '' : 'user-42:'}5/1000`);
  }
  const limits = { limit: Number(match[2]), periodMs: Number(match[3]) };
  return match[1] === undefined ? limits : { key: match[1], ...limits };
}

/** --debounce-* and --singleton-*: each pair all or nothing; values are checked by the core like any submit's. */
function flowFlags(values: Parameters<typeof str>[0], spec: TaskSpec): void {
  const debounceKey = str(values, 'debounce-key');
  const delayMs = int(values, 'debounce-ms');
  const maxWaitMs = int(values, 'debounce-max-wait');
  if (debounceKey !== undefined || delayMs !== undefined || maxWaitMs !== undefined) {
    if (debounceKey === undefined || delayMs === undefined) throw new UsageError('--debounce-key and --debounce-ms go together');
    spec.debounce = { key: debounceKey, delayMs, ...(maxWaitMs !== undefined ? { maxWaitMs } : {}) };
  }
  const singletonKey = str(values, 'singleton-key');
  const policy = str(values, 'singleton-policy');
  if (singletonKey !== undefined || policy !== undefined) {
    if (singletonKey === undefined || policy === undefined) throw new UsageError('--singleton-key and --singleton-policy go together');
    if (!(SINGLETON_POLICIES as readonly string[]).includes(policy)) {
      throw new UsageError(`--singleton-policy: "${policy}" is not one of ${SINGLETON_POLICIES.join(', ')}`);
    }
    spec.singleton = { key: singletonKey, policy: policy as SingletonPolicy };
  }
}

export async function submitCommand(argv: string[]): Promise<void> {
  const { values, positionals } = parseCommand(argv, submitOptions);
  const [type, payloadText, ...rest] = positionals;
  if (!type) throw new UsageError('TYPE is required: taskhub submit TYPE [PAYLOAD]');
  if (rest.length) throw new UsageError(`unexpected arguments: ${rest.join(' ')} (quote the JSON payload)`);
  const payloadFile = str(values, 'payload-file');
  if (payloadFile && payloadText !== undefined) throw new UsageError('give PAYLOAD or --payload-file, not both');
  const payload = payloadFile
    ? parsePayload(readFileSync(payloadFile === '-' ? 0 : payloadFile, 'utf8'), payloadFile)
    : payloadText === undefined
      ? null
      : parsePayload(payloadText, 'the command line');
  const tags: Record<string, string> = {};
  for (const tag of (values.tag as string[] | undefined) ?? []) {
    const at = tag.indexOf('=');
    if (at <= 0) throw new UsageError(`--tag "${tag}": expected KEY=VALUE`);
    tags[tag.slice(0, at)] = tag.slice(at + 1);
  }
  const spec: TaskSpec = { type, payload, ...(Object.keys(tags).length ? { tags } : {}) };
  const queue = str(values, 'queue');
  if (queue !== undefined) spec.queue = queue;
  const priority = int(values, 'priority');
  if (priority !== undefined) spec.priority = priority;
  const delayMs = int(values, 'delay');
  if (delayMs !== undefined) spec.delayMs = delayMs;
  const maxAttempts = int(values, 'max-attempts');
  if (maxAttempts !== undefined) spec.maxAttempts = maxAttempts;
  const timeoutMs = int(values, 'timeout');
  if (timeoutMs !== undefined) spec.timeoutMs = timeoutMs;
  const softTimeoutMs = int(values, 'soft-timeout');
  if (softTimeoutMs !== undefined) spec.softTimeoutMs = softTimeoutMs;
  const key = str(values, 'idempotency-key');
  if (key !== undefined) spec.idempotencyKey = key;
  const throttle = throttleOf(str(values, 'throttle'), false);
  if (throttle) spec.throttle = throttle as Throttle;
  const cost = int(values, 'cost');
  if (cost !== undefined) spec.cost = cost;
  flowFlags(values, spec);

  const api = await openTarget(values, false);
  try {
    const answer = await api.submit(spec);
    const { created, merged } = answer;
    let { task } = answer;
    if (values.wait) {
      for await (const event of api.follow(task.id)) if (!values.json) process.stderr.write(`${eventLine(event)}\n`);
      task = await api.get(task.id);
    }
    if (values.json) printJson({ task, created, ...(merged ? { merged } : {}) });
    else if (values.wait) process.stdout.write(describeTask(task));
    else {
      const note = merged ? `  (merged: ${merged})` : created ? '' : '  (existing task for this idempotency key)';
      process.stdout.write(`${task.id}${note}\n`);
    }
  } finally {
    await api.close();
  }
}

export const statusOptions: OptionSpecs = { events: { type: 'boolean', help: 'also print the event history' }, ...target };
export const statusSummary =
  'Shows one task: status (and what a waiting task waits for), progress, attempts, result or error, its checkpoints and its child and derived tasks.';

export async function statusCommand(argv: string[]): Promise<void> {
  const { values, positionals } = parseCommand(argv, statusOptions);
  const [id] = positionals;
  if (!id) throw new UsageError('ID is required: taskhub status ID');
  const api = await openTarget(values, true);
  try {
    const task = await api.get(id);
    if (values.json) printJson(task);
    else {
      process.stdout.write(describeTask(task));
      // Durable tasks: their saved versions and their lineage (children of waits and derived tasks alike).
      const checkpoints = task.checkpointVersion > 0 ? await api.checkpoints(id) : [];
      if (checkpoints.length) process.stdout.write(`checkpoints:\n${checkpointLines(checkpoints).join('\n')}\n`);
      const children = await api.list({ parentId: id, limit: 100 });
      if (children.tasks.length) {
        const rows = [...children.tasks].reverse().map((c) => `  ${c.id}  ${c.status.padEnd(9)}  ${c.type}`);
        process.stdout.write(`children:\n${rows.join('\n')}${children.nextCursor ? '\n  … more: taskhub tasks --parent ' + id : ''}\n`);
      }
    }
    if (values.events && !values.json) {
      for (const e of await api.events(id)) process.stdout.write(`${eventLine(e)}\n`);
    }
  } finally {
    await api.close();
  }
}

export const listOptions: OptionSpecs = {
  queue: { type: 'string', help: 'only this queue' },
  status: { type: 'string', help: TASK_STATUSES.join(', ') },
  type: { type: 'string', help: 'only this task type' },
  parent: { type: 'string', help: "only this task's children and derived tasks (its id)" },
  limit: { type: 'string', default: '20', help: 'tasks per page, 1-1000' },
  cursor: { type: 'string', help: 'the next-page cursor printed by the previous page' },
  ...target,
};
export const listSummary = 'Lists tasks, newest first.';

export async function listCommand(argv: string[]): Promise<void> {
  const { values } = parseCommand(argv, listOptions);
  const status = str(values, 'status');
  if (status !== undefined && !TASK_STATUSES.includes(status as TaskStatus)) {
    throw new UsageError(`--status "${status}": expected one of ${TASK_STATUSES.join(', ')}`);
  }
  const limit = int(values, 'limit') ?? 20;
  if (limit < 1 || limit > 1000) throw new UsageError('--limit: must be from 1 to 1000');
  const api = await openTarget(values, true);
  try {
    const page = await api.list({
      limit,
      ...(str(values, 'queue') ? { queue: str(values, 'queue') } : {}),
      ...(status ? { status: status as TaskStatus } : {}),
      ...(str(values, 'type') ? { type: str(values, 'type') } : {}),
      ...(str(values, 'parent') ? { parentId: str(values, 'parent') } : {}),
      ...(str(values, 'cursor') ? { cursor: str(values, 'cursor') } : {}),
    });
    if (values.json) printJson(page);
    else {
      for (const task of page.tasks) process.stdout.write(`${taskRow(task)}\n`);
      if (page.tasks.length === 0) process.stdout.write('no tasks\n');
      if (page.nextCursor) process.stdout.write(`more: --cursor ${page.nextCursor}\n`);
    }
  } finally {
    await api.close();
  }
}

export const followOptions: OptionSpecs = { ...target };
export const followSummary = 'Follows a task live: progress bar and streamed output, until it finishes.';

export async function followCommand(argv: string[]): Promise<void> {
  const { values, positionals } = parseCommand(argv, followOptions);
  const [id] = positionals;
  if (!id) throw new UsageError('ID is required: taskhub follow ID');
  const api = await openTarget(values, true);
  const { FollowView } = await import('../follow-view.ts');
  const view = new FollowView(process.stdout, Boolean(values.json));
  try {
    for await (const event of api.follow(id)) view.show(event);
    view.end(await api.get(id));
  } finally {
    await api.close();
  }
}
