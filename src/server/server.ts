// The HTTP service: REST, SSE and WebSocket over one Taskhub. This file is the one place that shows the whole server:
// its settings, the cross-cutting pieces (errors, auth seam, CORS) and every group of routes.
import websocket from '@fastify/websocket';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { Taskhub } from '../taskhub.ts';
import { type AuthOptions, Authenticator, FollowTokens } from './auth.ts';
import { StreamConnections } from './connections.ts';
import type { RouteContext } from './context.ts';
import { installCors } from './cors.ts';
import { installErrorHandling } from './errors.ts';
import { openApiRoutes, recordRoutes } from './openapi.ts';
import { installPrincipal } from './principal.ts';
import { installRateLimits, type RateLimits } from './rate-limit.ts';
import { installSecurityHeaders, redactingLogger } from './security.ts';
import { installPromptClose } from './shutdown.ts';
import { healthRoutes } from './routes/health.ts';
import { queueRoutes } from './routes/queues.ts';
import { streamRoutes } from './routes/stream.ts';
import { taskRoutes } from './routes/tasks.ts';
import { durableRoutes } from './routes/durable.ts';
import { wsRoutes } from './routes/ws.ts';
import { workerRoutes } from './routes/worker.ts';
import { workerDurableRoutes } from './routes/worker-durable.ts';
import { workerEventsRoutes } from './routes/worker-events.ts';
import { topicRoutes } from './routes/topics.ts';
import { scheduleRoutes } from './routes/schedules.ts';
import { queueControlRoutes } from './routes/queue-controls.ts';
import { typeRoutes } from './routes/types.ts';
import { dashboardRoutes } from './routes/dashboard.ts';
import { feedRoutes } from './routes/feed.ts';
import { metricsRoutes } from './routes/metrics.ts';
import { validatorCompiler } from './validation.ts';

export interface ServerOptions {
  hub: Taskhub;
  /** Request logs; default the hub's logger; false for none. */
  logger?: Logger | false;
  /** Largest request body, bytes. Default 1 MiB. */
  bodyLimitBytes?: number;
  /** Origins allowed by CORS. Default none. */
  corsOrigins?: string[];
  /**
   * Access control: API keys from the store, and JWTs when a secret or public key is given. Absent: none, every
   * request is the anonymous administrator (`taskhub serve` then listens on loopback only).
   */
  auth?: AuthOptions;
  /** Rate limits per token (per client address without auth), for changes and reads separately. Default none. */
  rateLimits?: RateLimits;
  /** Interval of SSE heartbeat comments and WebSocket pings, ms. Default 15000. */
  sseHeartbeatMs?: number;
}

/** Largest WebSocket message a client may send; subscribe messages are tiny. */
const WS_MAX_MESSAGE_BYTES = 64 * 1024;

declare module 'fastify' {
  interface FastifyInstance {
    /** Open SSE and WebSocket connections, for metrics. */
    streamConnections: StreamConnections;
  }
}

/** Builds the server, ready to `listen`. Closing it ends open streams; the hub stays open (the caller owns it). */
export async function createServer(options: ServerOptions): Promise<FastifyInstance> {
  const { hub } = options;
  const bodyLimit = options.bodyLimitBytes ?? 1024 * 1024;
  const logger = options.logger ?? hub.logger.child({ component: 'http' });
  const app =
    logger === false
      ? Fastify({ logger: false, bodyLimit })
      : Fastify({ loggerInstance: redactingLogger(logger) as FastifyBaseLogger, bodyLimit });

  app.setValidatorCompiler(validatorCompiler);
  // Response schemas document the answers; serializing with them could silently drop or coerce fields, so don't.
  app.setSerializerCompiler(() => (data) => JSON.stringify(data));
  installErrorHandling(app, { bodyLimitBytes: bodyLimit, pingStore: () => hub.ping() });
  // Order matters. Prompt close first: its preClose hook closes WebSockets with 1001 before the WebSocket plugin's
  // would close them without a code. Then the WebSocket plugin: its onRequest hook marks upgrade requests, so that an
  // upgrade refused below (401, 403, 429) has its socket closed after the answer instead of left open. Then headers
  // and CORS, so that a refusal still reaches a browser readable; then who is asking; then the rate limiter
  // (registered before the routes, it counts per principal).
  const connections = new StreamConnections();
  app.decorate('streamConnections', connections);
  installPromptClose(app, connections);
  await app.register(websocket, { options: { maxPayload: WS_MAX_MESSAGE_BYTES } });
  installSecurityHeaders(app);
  installCors(app, options.corsOrigins ?? []);
  const followTokens = new FollowTokens(hub.keys);
  const authenticator = options.auth ? new Authenticator(hub.keys, followTokens, options.auth) : undefined;
  installPrincipal(app, authenticator ? { authenticate: authenticator.authenticate } : {});
  await installRateLimits(app, options.rateLimits ?? {});

  const catalog = recordRoutes(app);
  const context: RouteContext = { hub, connections, heartbeatMs: options.sseHeartbeatMs ?? 15_000, followTokens };
  await app.register(healthRoutes, context);
  await app.register(taskRoutes, { ...context, prefix: '/api/v1' });
  await app.register(durableRoutes, { ...context, prefix: '/api/v1' });
  await app.register(streamRoutes, { ...context, prefix: '/api/v1' });
  await app.register(queueRoutes, { ...context, prefix: '/api/v1' });
  await app.register(wsRoutes, { ...context, prefix: '/api/v1' });
  await app.register(workerRoutes, { ...context, prefix: '/api/v1' });
  await app.register(workerEventsRoutes, { ...context, prefix: '/api/v1' });
  await app.register(workerDurableRoutes, { ...context, prefix: '/api/v1' });
  await app.register(topicRoutes, { ...context, prefix: '/api/v1' });
  await app.register(scheduleRoutes, { ...context, prefix: '/api/v1' });
  await app.register(queueControlRoutes, { ...context, prefix: '/api/v1' });
  await app.register(typeRoutes, { ...context, prefix: '/api/v1' });
  await app.register(feedRoutes, { ...context, prefix: '/api/v1' });
  await app.register(metricsRoutes, context);
  await app.register(dashboardRoutes, context);
  await app.register(openApiRoutes, { catalog });
  return app;
}
