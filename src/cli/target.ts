// What task commands talk to: the store directly (the default), or a running server with --url.
import { existsSync } from 'node:fs';
import pino from 'pino';
import { StoreUnavailableError } from '../core/errors.ts';
import type { Task, TaskEvent, TaskSpec } from '../core/task.ts';
import type { TaskPage, TaskQuery } from '../store/store.ts';
import { Taskhub } from '../taskhub.ts';
import { str, type ParsedCommand } from './config.ts';

export interface CliTarget {
  submit(spec: TaskSpec): Promise<{ task: Task; created: boolean }>;
  get(id: string): Promise<Task>;
  list(query: TaskQuery): Promise<TaskPage>;
  events(id: string): Promise<TaskEvent[]>;
  follow(id: string): AsyncIterable<TaskEvent>;
  close(): Promise<void>;
}

/** Opens the store named by --store; `mustExist` refuses to create an empty SQLite file for a read. */
export async function openLocalHub(values: ParsedCommand['values'], mustExist: boolean): Promise<Taskhub> {
  const store = str(values, 'store') ?? 'sqlite:./taskhub.db';
  if (mustExist && store.startsWith('sqlite:')) {
    const path = store.slice('sqlite:'.length);
    if (path !== ':memory:' && !existsSync(path)) {
      throw new StoreUnavailableError(`no database at ${path}: nothing was submitted there yet, or --store points elsewhere`);
    }
  }
  return Taskhub.open({ store, logger: pino({ level: 'silent' }), autoStart: false, sweepIntervalMs: 60_000 });
}

export async function openTarget(values: ParsedCommand['values'], mustExist: boolean): Promise<CliTarget> {
  const url = str(values, 'url');
  if (url) {
    const { remoteTarget } = await import('./remote-target.ts');
    return remoteTarget(url, str(values, 'token'));
  }
  const hub = await openLocalHub(values, mustExist);
  return {
    submit: (spec) => hub.engine.enqueue(spec),
    get: (id) => hub.get(id),
    list: (query) => hub.engine.list(query),
    events: (id) => hub.events(id),
    follow: (id) => hub.follow(id),
    close: () => hub.close({ graceMs: 0 }),
  };
}
