import pino from 'pino';
import { Taskhub } from '../../taskhub.ts';
import { COMMON_OPTIONS, int, parseCommand, str, UsageError, type OptionSpecs } from '../config.ts';
import { loadHandlers } from '../load-handlers.ts';
import { onShutdown } from '../shutdown.ts';
import { workerOptions } from './worker.ts';

export const serveOptions: OptionSpecs = {
  host: { type: 'string', env: 'TASKHUB_HOST', default: '127.0.0.1', help: 'address to listen on' },
  port: { type: 'string', env: 'TASKHUB_PORT', default: '8080', help: 'port to listen on (0: any free port)' },
  'cors-origin': { type: 'string', env: 'TASKHUB_CORS_ORIGIN', help: 'comma-separated origins allowed by CORS (default none)' },
  'body-limit': { type: 'string', env: 'TASKHUB_BODY_LIMIT', default: '1048576', help: 'largest request body in bytes' },
  ...workerOptions,
  handlers: { ...workerOptions.handlers, help: 'handlers module to run in this process (optional)' },
  store: COMMON_OPTIONS.store,
};
export const serveSummary = 'Runs the HTTP API (REST, SSE, WebSocket) and, with --handlers, a worker in the same process.';

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);

export async function serveCommand(argv: string[]): Promise<void> {
  const { values } = parseCommand(argv, serveOptions);
  const host = str(values, 'host') ?? '127.0.0.1';
  if (!LOOPBACK.has(host)) {
    throw new UsageError(`--host ${host}: listening beyond loopback requires auth, and none is configured`);
  }
  const port = int(values, 'port') ?? 8080;
  const logger = pino({ level: str(values, 'log-level') ?? 'info' });
  const file = str(values, 'handlers');
  const handlers = file ? await loadHandlers(file) : {};
  const hub = await Taskhub.open({ store: str(values, 'store'), logger, leaseMs: int(values, 'lease-ms') });
  const concurrency = int(values, 'concurrency') ?? 10;
  for (const [type, handler] of Object.entries(handlers)) hub.handle(type, handler, { concurrency });
  const { createServer } = await import('../../server/server.ts');
  const corsOrigins = str(values, 'cors-origin')?.split(',').map((o) => o.trim()).filter(Boolean) ?? [];
  const app = await createServer({ hub, logger, corsOrigins, bodyLimitBytes: int(values, 'body-limit') ?? 1_048_576 });
  const address = await app.listen({ host, port });
  logger.info({ address, store: hub.engine.store.backend, types: hub.worker.types }, `taskhub listening on ${address}`);
  process.stdout.write(`Taskhub listening on ${address}  (dashboard ${address}/dashboard, API docs ${address}/docs)\n`);
  onShutdown(async () => {
    await app.close();
    await hub.close({ graceMs: int(values, 'shutdown-grace') ?? 10_000 });
  });
}
