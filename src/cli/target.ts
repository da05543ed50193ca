// What task commands talk to: the store directly (the default), or a running server with --url.
import { existsSync } from 'node:fs';
import pino from 'pino';
import { StoreUnavailableError } from '../core/errors.ts';
import { Taskhub } from '../taskhub.ts';
import type { CliTarget } from './cli-target.ts';
import { str, type ParsedCommand } from './config.ts';

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

/**
 * A local follow holds the process open until it ends: other processes' events reach it through the store's poller,
 * whose timer never keeps a process alive by itself (a library's listener must not), and a CLI command that follows
 * a task has nothing else to wait on. Without it `taskhub follow` and `submit --wait` exited as soon as the task's
 * history was printed (code 13, an unsettled top-level await).
 */
async function* keptAlive<T>(events: AsyncIterable<T>): AsyncIterable<T> {
  const alive = setInterval(() => {}, 60_000);
  try {
    yield* events;
  } finally {
    clearInterval(alive);
  }
}

export async function openTarget(values: ParsedCommand['values'], mustExist: boolean): Promise<CliTarget> {
  const url = str(values, 'url');
  if (url) {
    const { remoteTarget } = await import('./remote-target.ts');
    return remoteTarget(url, str(values, 'token'));
  }
  const hub = await openLocalHub(values, mustExist);
  return {
    submit: (spec) => hub.submit(spec),
    get: (id) => hub.get(id),
    list: (query) => hub.list(query),
    events: (id) => hub.events(id),
    follow: (id) => keptAlive(hub.follow(id)),
    checkpoints: (id) => hub.checkpoints(id),
    signal: (id, name, data) => hub.signal(id, name, data),
    recover: (id, options) => hub.recover(id, options),
    derive: (id, spec) => hub.derive(id, spec),
    close: () => hub.close({ graceMs: 0 }),
  };
}
