// Rate limits, per token (per client address without auth), counted separately for changes ("submits": every POST,
// PUT and DELETE of the API) and reads (GET, SSE and WebSocket connects): a flood of submits from one tenant does not
// stop it, or anyone else, from following its tasks. @fastify/rate-limit with its in-memory store: the counters are
// per API node (a fixed window each), so N nodes behind a balancer let a token through up to N times the limit.
// Public routes (health, docs), unknown paths and the worker protocol (long-polls and heartbeats, which the claim's
// own queue controls govern) are not limited.
import rateLimit from '@fastify/rate-limit';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { HttpProblem } from './errors.ts';
import { routeAccess } from './principal.ts';

export interface RateLimit {
  /** Requests allowed in each window. */
  max: number;
  windowMs: number;
}

export interface RateLimits {
  /** Changes: submit, batch, publish, cancel, retry, follow tokens, and the admin routes that change things. */
  submit?: RateLimit | null;
  /** Reads: get, list, events, result, queues, and each SSE or WebSocket connection. */
  read?: RateLimit | null;
}

type Bucket = 'submit' | 'read';

const WORKER_PREFIX = '/api/v1/worker/';

function bucketOf(request: FastifyRequest): Bucket | null {
  const config = request.routeOptions.config;
  const url = config?.url;
  if (url === undefined || url.startsWith(WORKER_PREFIX)) return null;
  if (routeAccess(request.method, url, config.access) === 'public') return null;
  return request.method === 'GET' || request.method === 'HEAD' ? 'read' : 'submit';
}

const seconds = (ms: number) => `${Math.round(ms / 100) / 10} s`;

/** Registers the limiter; call before the routes are registered (it attaches itself to each route as it is added). */
export async function installRateLimits(app: FastifyInstance, limits: RateLimits): Promise<void> {
  const active: Record<Bucket, RateLimit | null> = { submit: limits.submit ?? null, read: limits.read ?? null };
  if (!active.submit && !active.read) return;
  const limitOf = (request: FastifyRequest): RateLimit => {
    const bucket = bucketOf(request);
    return (bucket && active[bucket]) ?? { max: Number.MAX_SAFE_INTEGER, windowMs: 1000 };
  };
  await app.register(rateLimit, {
    global: true,
    // Route-level onRequest hooks run after the server's, so the principal (and its subject) is known by now.
    hook: 'onRequest',
    keyGenerator: (request) => `${bucketOf(request)}|${request.principal.subject ?? `ip:${request.ip}`}`,
    allowList: (request) => {
      const bucket = bucketOf(request);
      return bucket === null || active[bucket] === null;
    },
    max: async (request) => limitOf(request).max,
    timeWindow: async (request) => limitOf(request).windowMs,
    errorResponseBuilder: (request, context) => {
      const { windowMs } = limitOf(request);
      const what = bucketOf(request) === 'submit' ? 'changes' : 'reads';
      return new HttpProblem(429, 'RATE_LIMITED', `too many ${what}: at most ${context.max} per ${seconds(windowMs)} for this token; retry in ${context.after}`);
    },
  });
}
