import { readFileSync } from 'node:fs';
import { parseDuration } from '../../core/duration.ts';
import { ValidationError } from '../../core/errors.ts';
import type { RetentionOptions } from '../../engine/retention.ts';
import { Taskhub } from '../../taskhub.ts';
import type { AuthOptions } from '../../server/auth.ts';
import type { RateLimit } from '../../server/rate-limit.ts';
import { COMMON_OPTIONS, int, parseCommand, str, UsageError, type OptionSpecs, type ParsedCommand } from '../config.ts';
import { loadHandlers } from '../load-handlers.ts';
import { onShutdown } from '../shutdown.ts';
import { checkpointMaxBytesOf, localWorkerOptions, loggerOf, workerOptions } from './worker.ts';

export const serveOptions: OptionSpecs = {
  host: { type: 'string', env: 'TASKHUB_HOST', default: '127.0.0.1', help: 'address to listen on' },
  port: { type: 'string', env: 'TASKHUB_PORT', default: '8080', help: 'port to listen on (0: any free port)' },
  'cors-origin': { type: 'string', env: 'TASKHUB_CORS_ORIGIN', help: 'comma-separated origins allowed by CORS (default none)' },
  'body-limit': { type: 'string', env: 'TASKHUB_BODY_LIMIT', default: '1048576', help: 'largest request body in bytes' },
  auth: { type: 'boolean', env: 'TASKHUB_AUTH', help: 'require a token on every API request: API keys (taskhub keys create), and JWTs when configured below' },
  'jwt-secret': { type: 'string', env: 'TASKHUB_JWT_SECRET', help: 'accept HS256 JWTs signed with this secret (32+ characters; prefer the env variable); implies --auth' },
  'jwt-public-key': { type: 'string', env: 'TASKHUB_JWT_PUBLIC_KEY', help: 'accept RS256/ES256/EdDSA JWTs verified with this public key file (PEM or JWK); implies --auth' },
  'jwt-audience': { type: 'string', env: 'TASKHUB_JWT_AUDIENCE', help: 'JWTs must name this audience (aud); recommended when your identity provider serves other services too' },
  'jwt-issuer': { type: 'string', env: 'TASKHUB_JWT_ISSUER', help: 'JWTs must come from this issuer (iss)' },
  'rate-limit-submit': { type: 'string', env: 'TASKHUB_RATE_LIMIT_SUBMIT', default: '2000/1000', help: 'submits (POST /tasks, /tasks/batch, /events) allowed per token (per address without auth): N/MS, or off' },
  'rate-limit-control': { type: 'string', env: 'TASKHUB_RATE_LIMIT_CONTROL', default: '2000/1000', help: 'other changes (cancel, retry, delete, settings, …) allowed per token: N/MS, or off' },
  'rate-limit-read': { type: 'string', env: 'TASKHUB_RATE_LIMIT_READ', default: '5000/1000', help: 'reads (get, list, stream connects, …) allowed per token: N/MS, or off' },
  'retain-completed': { type: 'string', env: 'TASKHUB_RETAIN_COMPLETED', help: 'delete completed tasks (and their events) this long after they finished: 7d, 24h, 30m or ms (default keep forever)' },
  'retain-failed': { type: 'string', env: 'TASKHUB_RETAIN_FAILED', help: 'delete failed (dead-lettered) tasks this long after they failed (default keep forever)' },
  'retain-cancelled': { type: 'string', env: 'TASKHUB_RETAIN_CANCELLED', help: 'delete cancelled tasks this long after they ended (default keep forever)' },
  'retention-interval': { type: 'string', env: 'TASKHUB_RETENTION_INTERVAL', default: '60s', help: 'how often the retention pass runs, when a --retain-* is set' },
  ...workerOptions,
  handlers: { ...workerOptions.handlers, help: 'handlers module to run in this process (optional)' },
  store: COMMON_OPTIONS.store,
};
export const serveSummary = 'Runs the HTTP API (REST, SSE, WebSocket) and, with --handlers, a worker in the same process.';

const LOOPBACK = new Set(['::1', 'localhost', '::ffff:127.0.0.1']);
const isLoopback = (host: string) => LOOPBACK.has(host.toLowerCase()) || /^127(\.\d{1,3}){3}$/.test(host);

/** `--rate-limit-*`: N/MS, or off (also 0 and none). */
function rateLimitOf(values: ParsedCommand['values'], name: string): RateLimit | null {
  const text = str(values, name);
  if (text === undefined || ['off', 'none', '0'].includes(text)) return null;
  const match = /^(\d+)\/(\d+)$/.exec(text);
  if (!match || Number(match[1]) < 1 || Number(match[2]) < 1) throw new UsageError(`--${name} "${text}": expected N/MS (e.g. 100/1000) or off`);
  return { max: Number(match[1]), windowMs: Number(match[2]) };
}

/** `--retain-*` and `--retention-interval`: the engine's retention options, or undefined when nothing is deleted. */
function retentionOf(values: ParsedCommand['values']): RetentionOptions | undefined {
  const duration = (name: string): number | undefined => {
    const text = str(values, name);
    if (text === undefined || text === '') return undefined;
    try {
      return parseDuration(text, `--${name}`);
    } catch (error) {
      if (error instanceof ValidationError) throw new UsageError(error.message);
      throw error;
    }
  };
  const ages = { completedMs: duration('retain-completed'), failedMs: duration('retain-failed'), cancelledMs: duration('retain-cancelled') };
  if (Object.values(ages).every((age) => age === undefined)) return undefined;
  const intervalMs = duration('retention-interval') ?? 60_000;
  return { ...Object.fromEntries(Object.entries(ages).filter(([, age]) => age !== undefined)), intervalMs };
}

/** What the startup log says about auth: which kinds of token are accepted, never a secret. */
const authSummary = (auth: AuthOptions | undefined) =>
  auth ? { apiKeys: true, hs256: auth.jwtSecret !== undefined, publicKey: auth.jwtPublicKey !== undefined, audience: auth.jwtAudience ?? null, issuer: auth.jwtIssuer ?? null } : 'none';

/** The auth settings of the flags; undefined when no auth is configured. */
async function authOf(values: ParsedCommand['values']): Promise<AuthOptions | undefined> {
  const jwtSecret = str(values, 'jwt-secret');
  const keyFile = str(values, 'jwt-public-key');
  if (!values.auth && jwtSecret === undefined && keyFile === undefined) return undefined;
  // Loaded here, not at the top: jose costs every other command ~40 ms of startup.
  const { MIN_JWT_SECRET_LENGTH } = await import('../../server/auth.ts');
  if (jwtSecret !== undefined && jwtSecret.length < MIN_JWT_SECRET_LENGTH) {
    throw new UsageError(`--jwt-secret: must be at least ${MIN_JWT_SECRET_LENGTH} characters (256 bits for HS256)`);
  }
  let jwtPublicKey: string | undefined;
  if (keyFile !== undefined) {
    try {
      jwtPublicKey = readFileSync(keyFile, 'utf8');
    } catch (error) {
      throw new UsageError(`--jwt-public-key ${keyFile}: ${(error as Error).message}`);
    }
  }
  const jwtAudience = str(values, 'jwt-audience');
  const jwtIssuer = str(values, 'jwt-issuer');
  return {
    ...(jwtSecret !== undefined ? { jwtSecret } : {}),
    ...(jwtPublicKey !== undefined ? { jwtPublicKey } : {}),
    ...(jwtAudience !== undefined ? { jwtAudience } : {}),
    ...(jwtIssuer !== undefined ? { jwtIssuer } : {}),
  };
}

export async function serveCommand(argv: string[]): Promise<void> {
  const { values } = parseCommand(argv, serveOptions);
  const host = str(values, 'host') ?? '127.0.0.1';
  const auth = await authOf(values);
  if (!auth && !isLoopback(host)) {
    throw new UsageError(`--host ${host}: listening beyond loopback requires auth (--auth, --jwt-secret or --jwt-public-key), and none is configured`);
  }
  const rateLimits = {
    submit: rateLimitOf(values, 'rate-limit-submit'),
    control: rateLimitOf(values, 'rate-limit-control'),
    read: rateLimitOf(values, 'rate-limit-read'),
  };
  const port = int(values, 'port') ?? 8080;
  const logger = loggerOf(values);
  const file = str(values, 'handlers');
  const handlers = file ? await loadHandlers(file) : {};
  const retention = retentionOf(values);
  // The in-process worker takes the same worker flags as `taskhub worker` (queues, poll interval, heartbeat).
  const hub = await Taskhub.open({
    store: str(values, 'store'),
    logger,
    leaseMs: int(values, 'lease-ms'),
    checkpointMaxBytes: checkpointMaxBytesOf(values),
    worker: localWorkerOptions(values),
    ...(retention ? { retention } : {}),
  });
  const concurrency = int(values, 'concurrency') ?? 10;
  for (const [type, handler] of Object.entries(handlers)) hub.handle(type, handler, { concurrency });
  const { createServer } = await import('../../server/server.ts');
  const corsOrigins = str(values, 'cors-origin')?.split(',').map((o) => o.trim()).filter(Boolean) ?? [];
  const app = await createServer({ hub, logger, corsOrigins, auth, rateLimits, bodyLimitBytes: int(values, 'body-limit') ?? 1_048_576 });
  const address = await app.listen({ host, port });
  logger.info({ address, store: hub.backend, types: hub.worker.types, queues: hub.worker.queues, retention: retention ?? 'keep forever', auth: authSummary(auth) }, `taskhub listening on ${address}`);
  process.stdout.write(`Taskhub listening on ${address}  (dashboard ${address}/dashboard, API docs ${address}/docs)\n`);
  onShutdown(async () => {
    await app.close();
    await hub.close({ graceMs: int(values, 'shutdown-grace') ?? 10_000 });
  });
}
