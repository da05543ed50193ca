// signal, recover, derive: durable execution's commands (docs/durable.md), against the store or a server (--url).
import type { Json } from '../../core/task.ts';
import type { DeriveSpec } from '../../engine/task-service.ts';
import { COMMON_OPTIONS, int, parseCommand, str, UsageError, type OptionSpecs } from '../config.ts';
import { describeTask, printJson } from '../format.ts';
import { openTarget } from '../target.ts';

const target = { store: COMMON_OPTIONS.store, url: COMMON_OPTIONS.url, token: COMMON_OPTIONS.token, json: COMMON_OPTIONS.json, help: COMMON_OPTIONS.help };

function parseJson(text: string, what: string): Json {
  try {
    return JSON.parse(text) as Json;
  } catch (error) {
    throw new UsageError(`${what} is not valid JSON: ${(error as Error).message}`);
  }
}

export const signalOptions: OptionSpecs = { ...target };
export const signalSummary =
  'Sends signal NAME to a task, with DATA (JSON, default null): a task waiting for it runs again, otherwise the signal is kept for its wait.';

export async function signalCommand(argv: string[]): Promise<void> {
  const { values, positionals } = parseCommand(argv, signalOptions);
  const [id, name, dataText, ...rest] = positionals;
  if (!id || !name) throw new UsageError('ID and NAME are required: taskhub signal ID NAME [DATA]');
  if (rest.length) throw new UsageError(`unexpected arguments: ${rest.join(' ')} (quote the JSON data)`);
  const data = dataText === undefined ? null : parseJson(dataText, 'DATA');
  const api = await openTarget(values, true);
  try {
    const sent = await api.signal(id, name, data);
    if (values.json) printJson(sent);
    else process.stdout.write(sent.resumed ? `signal "${name}" sent: task ${id} resumes (${sent.task.status})\n` : `signal "${name}" sent: kept for the task's wait (it is ${sent.task.status})\n`);
  } finally {
    await api.close();
  }
}

export const recoverOptions: OptionSpecs = {
  'from-version': { type: 'string', help: 'resume from this checkpoint version (default the latest)' },
  ...target,
};
export const recoverSummary = 'Puts a failed or cancelled task back in its queue, resuming from its latest checkpoint or from --from-version.';

export async function recoverCommand(argv: string[]): Promise<void> {
  const { values, positionals } = parseCommand(argv, recoverOptions);
  const [id, ...rest] = positionals;
  if (!id) throw new UsageError('ID is required: taskhub recover ID [--from-version N]');
  if (rest.length) throw new UsageError(`unexpected arguments: ${rest.join(' ')}`);
  const fromVersion = int(values, 'from-version');
  const api = await openTarget(values, true);
  try {
    const task = await api.recover(id, fromVersion === undefined ? {} : { fromVersion });
    if (values.json) printJson(task);
    else process.stdout.write(`task ${id} recovered: ${task.status}, resumes from checkpoint version ${task.checkpointVersion || 'none'}\n`);
  } finally {
    await api.close();
  }
}

export const deriveOptions: OptionSpecs = {
  payload: { type: 'string', help: "JSON merged into the original's payload" },
  type: { type: 'string', help: "task type (default the original's)" },
  queue: { type: 'string', help: "queue (default the original's)" },
  priority: { type: 'string', help: "priority (default the original's)" },
  'from-checkpoint': { type: 'string', help: 'start from this checkpoint of the original: latest or a version' },
  ...target,
};
export const deriveSummary = 'Creates a task derived from task ID (its parent): the same task with your changes, optionally from one of its checkpoints.';

export async function deriveCommand(argv: string[]): Promise<void> {
  const { values, positionals } = parseCommand(argv, deriveOptions);
  const [id, ...rest] = positionals;
  if (!id) throw new UsageError('ID is required: taskhub derive ID [options]');
  if (rest.length) throw new UsageError(`unexpected arguments: ${rest.join(' ')}`);
  const spec: DeriveSpec = {};
  const payload = str(values, 'payload');
  if (payload !== undefined) spec.payload = parseJson(payload, '--payload');
  const type = str(values, 'type');
  if (type !== undefined) spec.type = type;
  const queue = str(values, 'queue');
  if (queue !== undefined) spec.queue = queue;
  const priority = int(values, 'priority');
  if (priority !== undefined) spec.priority = priority;
  const from = str(values, 'from-checkpoint');
  if (from !== undefined) {
    if (from !== 'latest' && !/^[1-9][0-9]*$/.test(from)) throw new UsageError(`--from-checkpoint "${from}": expected latest or a version number`);
    spec.fromCheckpoint = from === 'latest' ? 'latest' : Number(from);
  }
  const api = await openTarget(values, true);
  try {
    const task = await api.derive(id, spec);
    if (values.json) printJson(task);
    else process.stdout.write(describeTask(task));
  } finally {
    await api.close();
  }
}
