import type { Logger } from 'pino';
import { createLogger, isLogFormat } from '../../observability/logger.ts';
import { serveMetrics } from '../../observability/metrics-server.ts';
import { Taskhub } from '../../taskhub.ts';
import { ForbiddenError, UnauthorizedError } from '../../core/errors.ts';
import { HttpWorkerBackend, WorkerHttpError } from '../../worker/http-backend.ts';
import { Worker } from '../../worker/worker.ts';
import { COMMON_OPTIONS, int, type OptionSpecs, type ParsedCommand, parseCommand, str, UsageError } from '../config.ts';
import { type HandlerMap, loadHandlers } from '../load-handlers.ts';
import { onShutdown } from '../shutdown.ts';

export const workerOptions: OptionSpecs = {
  handlers: { type: 'string', env: 'TASKHUB_HANDLERS', help: 'module whose default export maps task types to handlers' },
  concurrency: { type: 'string', env: 'TASKHUB_CONCURRENCY', default: '10', help: 'tasks of each type run at once' },
  queues: { type: 'string', env: 'TASKHUB_QUEUES', help: 'comma-separated queues to take from (default all)' },
  'shutdown-grace': { type: 'string', env: 'TASKHUB_SHUTDOWN_GRACE_MS', default: '10000', help: 'ms running tasks get to finish on SIGTERM' },
  'poll-interval-ms': { type: 'string', env: 'TASKHUB_POLL_INTERVAL_MS', default: '1000', help: 'longest idle sleep between claims when no wake-up arrives (new, retried and delayed tasks wake the worker at once; a rate-limited queue\'s next window does not)' },
  'heartbeat-interval-ms': {
    type: 'string',
    env: 'TASKHUB_HEARTBEAT_INTERVAL_MS',
    help: 'how often running tasks renew their lease; with --url this is also how soon a cancel request lands (default 2000 with --url, lease/3 without)',
  },
  'lease-ms': { type: 'string', env: 'TASKHUB_LEASE_MS', default: '30000', help: 'a claimed task returns to its queue this long after its worker stops heartbeating' },
  'checkpoint-max-bytes': {
    type: 'string',
    env: 'TASKHUB_CHECKPOINT_MAX_BYTES',
    default: '1048576',
    help: 'largest state a handler may checkpoint (bytes of JSON); larger ones fail with CHECKPOINT_TOO_LARGE (with --url the server\'s own limit applies)',
  },
  'log-level': { type: 'string', env: 'TASKHUB_LOG_LEVEL', default: 'info', help: 'fatal, error, warn, info, debug, trace or silent' },
  'log-format': { type: 'string', env: 'TASKHUB_LOG_FORMAT', default: 'auto', help: 'json, pretty, or auto: pretty when stdout is a terminal, JSON lines otherwise' },
  store: COMMON_OPTIONS.store,
  help: COMMON_OPTIONS.help,
};

/** The worker command's options: the local ones (shared with serve) and those of a worker talking to a server. */
export const workerCommandOptions: OptionSpecs = {
  ...workerOptions,
  url: { ...COMMON_OPTIONS.url, help: 'run against the server at this URL (the worker protocol over HTTP) instead of opening the store' },
  token: { ...COMMON_OPTIONS.token, help: 'bearer token with the worker scope, for --url' },
  'metrics-port': {
    type: 'string',
    env: 'TASKHUB_METRICS_PORT',
    help: 'serve GET /metrics on 127.0.0.1:PORT (without --url: the runs this worker ends are counted here, not by a server)',
  },
  'claim-wait-ms': {
    type: 'string',
    env: 'TASKHUB_CLAIM_WAIT_MS',
    default: '25000',
    help: 'with --url: longest long-poll of an idle claim (the server answers as soon as a task arrives), at most 30000',
  },
};

export const workerSummary =
  'Runs the handlers of a module against the store, or against a server with --url, until SIGINT/SIGTERM, then stops gracefully.';

/** The options of a worker that opens the store itself (serve --handlers, worker without --url), from the flags. */
export function localWorkerOptions(values: ParsedCommand['values']): { queues: string[] | null; pollIntervalMs: number; heartbeatIntervalMs?: number } {
  const pollIntervalMs = int(values, 'poll-interval-ms') ?? 1000;
  if (pollIntervalMs < 1) throw new UsageError('--poll-interval-ms: must be at least 1');
  const heartbeatIntervalMs = int(values, 'heartbeat-interval-ms');
  if (heartbeatIntervalMs !== undefined && heartbeatIntervalMs < 10) throw new UsageError('--heartbeat-interval-ms: must be at least 10');
  return { queues: queuesOf(values), pollIntervalMs, ...(heartbeatIntervalMs !== undefined ? { heartbeatIntervalMs } : {}) };
}

function queuesOf(values: ParsedCommand['values']): string[] | null {
  const queues = str(values, 'queues')?.split(',').map((q) => q.trim()).filter(Boolean) ?? [];
  return queues.length > 0 ? queues : null;
}

/** The process logger of the flags --log-level and --log-format. */
export function loggerOf(values: ParsedCommand['values']): Logger {
  const format = str(values, 'log-format') ?? 'auto';
  if (!isLogFormat(format)) throw new UsageError(`--log-format ${format}: expected json, pretty or auto`);
  return createLogger({ level: str(values, 'log-level') ?? 'info', format });
}

/** `--checkpoint-max-bytes`: a positive integer. */
export function checkpointMaxBytesOf(values: ParsedCommand['values']): number | undefined {
  const n = int(values, 'checkpoint-max-bytes');
  if (n !== undefined && n < 1) throw new UsageError('--checkpoint-max-bytes: must be at least 1');
  return n;
}

export async function workerCommand(argv: string[]): Promise<void> {
  const { values } = parseCommand(argv, workerCommandOptions);
  const file = str(values, 'handlers');
  if (!file) throw new UsageError('--handlers FILE is required');
  const handlers = await loadHandlers(file);
  const concurrency = int(values, 'concurrency') ?? 10;
  const queues = queuesOf(values);
  const logger = loggerOf(values);
  const url = str(values, 'url');
  if (url) return remoteWorker(url, values, handlers, { concurrency, queues, logger });
  const hub = await Taskhub.open({ store: str(values, 'store'), logger, leaseMs: int(values, 'lease-ms'), checkpointMaxBytes: checkpointMaxBytesOf(values), worker: localWorkerOptions(values) });
  for (const [type, handler] of Object.entries(handlers)) hub.handle(type, handler, { concurrency });
  const metricsPort = int(values, 'metrics-port');
  const metrics = metricsPort === undefined ? undefined : await serveMetrics(hub.metrics, { port: metricsPort });
  logger.info({ workerId: hub.worker.id, types: hub.worker.types, queues, store: hub.backend, metrics: metrics?.url }, 'worker started');
  onShutdown(async () => {
    logger.info('stopping: finishing running tasks');
    await hub.close({ graceMs: int(values, 'shutdown-grace') ?? 10_000 });
    await metrics?.close();
  });
}

/** The same Worker runtime, against a server through the worker protocol. */
async function remoteWorker(
  url: string,
  values: ParsedCommand['values'],
  handlers: HandlerMap,
  options: { concurrency: number; queues: string[] | null; logger: Logger },
): Promise<void> {
  try {
    new URL(url);
  } catch {
    throw new UsageError(`--url: "${url}" is not a URL`);
  }
  const waitMs = int(values, 'claim-wait-ms') ?? 25_000;
  if (waitMs < 0 || waitMs > 30_000) throw new UsageError('--claim-wait-ms: must be 0..30000');
  const heartbeatIntervalMs = int(values, 'heartbeat-interval-ms') ?? 2000;
  if (heartbeatIntervalMs < 10) throw new UsageError('--heartbeat-interval-ms: must be at least 10');
  const token = str(values, 'token');
  const backend = new HttpWorkerBackend({ url, ...(token ? { token } : {}) });
  const worker = new Worker(backend, {
    queues: options.queues,
    pollIntervalMs: waitMs,
    heartbeatIntervalMs,
    shutdownGraceMs: int(values, 'shutdown-grace') ?? 10_000,
    logger: options.logger,
  });
  for (const [type, handler] of Object.entries(handlers)) worker.handle(type, handler, { concurrency: options.concurrency });
  // A wrong token or URL shows at once rather than as a loop of refused claims.
  try {
    await backend.reportWorker({ ...worker.info, startedAt: Date.now() });
  } catch (error) {
    if (error instanceof UnauthorizedError || error instanceof ForbiddenError || (error instanceof WorkerHttpError && error.status === 404)) {
      throw new Error(`${url} refused this worker: ${(error as Error).message}`);
    }
    options.logger.warn({ err: error }, 'could not reach the server yet; will keep trying');
  }
  worker.start();
  options.logger.info({ workerId: worker.id, types: worker.types, queues: options.queues, url }, 'worker started');
  onShutdown(async () => {
    options.logger.info('stopping: finishing running tasks');
    await worker.stop();
  });
}
