// Rate limits, per token (per client address without auth), with a budget for each kind of call: submits (the calls
// that create tasks), control (every other POST, PUT and DELETE: cancel, retry, delete, admin changes) and reads (GET,
// SSE and WebSocket connects). Each has its own counter, so a flood of submits from one tenant does not stop it, or
// anyone else, from cancelling or following its tasks (the services Taskhub replaces set create 10/min beside
// status 100/min). @fastify/rate-limit with its in-memory store: the counters are
// per API node (a fixed window each), so N nodes behind a balancer let a token through up to N times the limit.
// Public routes (health, docs), unknown paths and the worker protocol (long-polls and heartbeats, which the claim's
// own queue controls govern) are not limited.
import rateLimit from '@fastify/rate-limit';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { HttpProblem } from './http-problem.ts';
import { routeAccess } from './principal.ts';

export interface RateLimit {
  /** Requests allowed in each window. */
  max: number;
  windowMs: number;
}

export interface RateLimits {
  /** Calls that create tasks: submit, batch, publish. */
  submit?: RateLimit | null;
  /** Other changes: cancel, retry, delete, follow tokens, and the admin routes that change things. */
  control?: RateLimit | null;
  /** Reads: get, list, events, result, queues, and each SSE or WebSocket connection. */
  read?: RateLimit | null;
}

export type Bucket = 'submit' | 'control' | 'read';

const WORKER_PREFIX = '/api/v1/worker/';

/** The routes that create tasks (POST only); every other change counts as control. */
const SUBMIT_ROUTES = new Set(['/api/v1/tasks', '/api/v1/tasks/batch', '/api/v1/events']);

const WHAT: Record<Bucket, string> = { submit: 'submits', control: 'changes', read: 'reads' };

function bucketOf(request: FastifyRequest): Bucket | null {
  const config = request.routeOptions.config;
  const url = config?.url;
  if (url === undefined || url.startsWith(WORKER_PREFIX)) return null;
  if (routeAccess(request.method, url, config.access) === 'public') return null;
  if (request.method === 'GET' || request.method === 'HEAD') return 'read';
  return request.method === 'POST' && SUBMIT_ROUTES.has(url) ? 'submit' : 'control';
}

const seconds = (ms: number) => `${Math.round(ms / 100) / 10} s`;

/** Registers the limiter; call before the routes are registered (it attaches itself to each route as it is added). */
export async function installRateLimits(app: FastifyInstance, limits: RateLimits): Promise<void> {
  const active: Record<Bucket, RateLimit | null> = { submit: limits.submit ?? null, control: limits.control ?? null, read: limits.read ?? null };
  if (!active.submit && !active.control && !active.read) return;
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
      const what = WHAT[bucketOf(request) ?? 'control'];
      return new HttpProblem(429, 'RATE_LIMITED', `too many ${what}: at most ${context.max} per ${seconds(windowMs)} for this token; retry in ${context.after}`);
    },
  });
}
