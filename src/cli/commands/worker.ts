import pino from 'pino';
import { Taskhub } from '../../taskhub.ts';
import { COMMON_OPTIONS, int, parseCommand, str, UsageError, type OptionSpecs } from '../config.ts';
import { loadHandlers } from '../load-handlers.ts';
import { onShutdown } from '../shutdown.ts';

export const workerOptions: OptionSpecs = {
  handlers: { type: 'string', env: 'TASKHUB_HANDLERS', help: 'module whose default export maps task types to handlers' },
  concurrency: { type: 'string', env: 'TASKHUB_CONCURRENCY', default: '10', help: 'tasks of each type run at once' },
  queues: { type: 'string', env: 'TASKHUB_QUEUES', help: 'comma-separated queues to take from (default all)' },
  'shutdown-grace': { type: 'string', env: 'TASKHUB_SHUTDOWN_GRACE_MS', default: '10000', help: 'ms running tasks get to finish on SIGTERM' },
  'poll-interval-ms': { type: 'string', env: 'TASKHUB_POLL_INTERVAL_MS', default: '1000', help: 'longest idle sleep between claims when no wake-up arrives' },
  'lease-ms': { type: 'string', env: 'TASKHUB_LEASE_MS', default: '30000', help: 'a claimed task returns to its queue this long after its worker stops heartbeating' },
  'log-level': { type: 'string', env: 'TASKHUB_LOG_LEVEL', default: 'info', help: 'fatal, error, warn, info, debug, trace or silent' },
  store: COMMON_OPTIONS.store,
  help: COMMON_OPTIONS.help,
};

export const workerSummary = 'Runs the handlers of a module against the store until SIGINT/SIGTERM, then stops gracefully.';

export async function workerCommand(argv: string[]): Promise<void> {
  const { values } = parseCommand(argv, workerOptions);
  const file = str(values, 'handlers');
  if (!file) throw new UsageError('--handlers FILE is required');
  const handlers = await loadHandlers(file);
  const concurrency = int(values, 'concurrency') ?? 10;
  const queues = str(values, 'queues')?.split(',').map((q) => q.trim()).filter(Boolean) ?? null;
  const logger = pino({ level: str(values, 'log-level') ?? 'info' });
  const hub = await Taskhub.open({ store: str(values, 'store'), logger, leaseMs: int(values, 'lease-ms'), worker: { queues, pollIntervalMs: int(values, 'poll-interval-ms') ?? 1000 } });
  for (const [type, handler] of Object.entries(handlers)) hub.handle(type, handler, { concurrency });
  logger.info({ workerId: hub.worker.id, types: hub.worker.types, queues, store: hub.engine.store.backend }, 'worker started');
  onShutdown(async () => {
    logger.info('stopping: finishing running tasks');
    await hub.close({ graceMs: int(values, 'shutdown-grace') ?? 10_000 });
  });
}
