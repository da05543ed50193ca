// Who is asking, and may they: resolved once per request, here and nowhere else. One onRequest hook turns the bearer
// token into request.principal (auth.ts knows the token kinds) and checks it against the route's access (the table
// below), before the body is parsed or validated: a caller without the right learns nothing else. Routes then ask
// only which owner new tasks get and whether a task is visible. Without auth configured every request is the
// anonymous administrator (and `taskhub serve` listens on loopback only).
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ForbiddenError, TaskNotFoundError, UnauthorizedError } from '../core/errors.ts';
import type { Task } from '../core/task.ts';
import type { Taskhub } from '../taskhub.ts';

export const SCOPES = ['tasks:read', 'tasks:write', 'worker', 'admin'] as const;
export type Scope = (typeof SCOPES)[number];

export const isScope = (value: string): value is Scope => (SCOPES as readonly string[]).includes(value);

export interface Principal {
  /** Owner stamped on tasks this caller submits; null for none. */
  owner: string | null;
  /** Sees and manages every owner's tasks. */
  admin: boolean;
  /** What the token may do; `admin` implies every scope. */
  scopes: readonly Scope[];
  /** Set for a follow token: it may read this one task and nothing else. */
  taskId?: string;
  /** For a follow token: the signals it may also send to its task (POST /tasks/{id}/signals/{name}). */
  signals?: readonly string[];
  /**
   * Who, for logs and rate limits, never a secret: `key:<id>`, `jwt:<sub>` or `follow:<taskId>`; absent without auth
   * (the rate limiter then counts by client address).
   */
  subject?: string;
}

/**
 * What a route requires: nothing (`public`), a scope, or `follow`: `tasks:read`, or a follow token, which the route
 * then checks against the task it names (`visibleTask`); or `signal`: `tasks:write`, or a follow token, which the
 * route then checks against its task and its signal rights (`mayTaskSignal`).
 */
export type Access = 'public' | 'follow' | 'signal' | Scope;

declare module 'fastify' {
  interface FastifyRequest {
    principal: Principal;
  }
  interface FastifyContextConfig {
    /** Overrides the access table below for this route. */
    access?: Access;
  }
}

/**
 * The access policy, by method and route. Routes not listed here need `admin` (default deny: queue controls,
 * subscriptions, schedules, type settings, the workers list, metrics, the dashboard), unless they declare
 * `config: { access }` or fall under a prefix of ROUTE_PREFIX_ACCESS. HEAD is checked as GET.
 */
export const ROUTE_ACCESS: Readonly<Record<string, Access>> = Object.freeze({
  'GET /healthz': 'public',
  'GET /readyz': 'public',
  'GET /openapi.json': 'public',
  'GET /docs': 'public',
  // CORS preflights carry no credentials by design.
  'OPTIONS /*': 'public',
  'POST /api/v1/tasks': 'tasks:write',
  'POST /api/v1/tasks/batch': 'tasks:write',
  'POST /api/v1/tasks/:id/cancel': 'tasks:write',
  'POST /api/v1/tasks/:id/retry': 'tasks:write',
  // Durable execution (routes/durable.ts). Checkpoint states are task data like results, read with tasks:read.
  'POST /api/v1/tasks/:id/recover': 'tasks:write',
  'POST /api/v1/tasks/:id/derive': 'tasks:write',
  'GET /api/v1/tasks/:id/checkpoints': 'tasks:read',
  'GET /api/v1/tasks/:id/checkpoints/latest': 'tasks:read',
  'GET /api/v1/tasks/:id/checkpoints/:version': 'tasks:read',
  'POST /api/v1/tasks/:id/signals/:name': 'signal',
  'POST /api/v1/events': 'tasks:write',
  'GET /api/v1/tasks': 'tasks:read',
  'GET /api/v1/queues': 'tasks:read',
  'GET /api/v1/queues/:name': 'tasks:read',
  'POST /api/v1/tasks/:id/token': 'tasks:read',
  'GET /api/v1/tasks/:id': 'follow',
  'GET /api/v1/tasks/:id/result': 'follow',
  'GET /api/v1/tasks/:id/events': 'follow',
  'GET /api/v1/tasks/:id/stream': 'follow',
  'GET /api/v1/ws': 'follow',
});

/** Whole groups of routes, by path prefix. */
export const ROUTE_PREFIX_ACCESS: readonly (readonly [string, Access])[] = [['/api/v1/worker/', 'worker']];

/** The access a route requires. */
export function routeAccess(method: string, url: string, declared?: Access): Access {
  if (declared !== undefined) return declared;
  const exact = ROUTE_ACCESS[`${method === 'HEAD' ? 'GET' : method} ${url}`];
  if (exact !== undefined) return exact;
  for (const [prefix, access] of ROUTE_PREFIX_ACCESS) if (url.startsWith(prefix)) return access;
  return 'admin';
}

const ANONYMOUS_ADMIN: Principal = Object.freeze({ owner: null, admin: true, scopes: Object.freeze(['admin'] as Scope[]) });
/** The principal of public routes and unknown paths under auth: may do nothing. */
const NOBODY: Principal = Object.freeze({ owner: null, admin: false, scopes: Object.freeze([] as Scope[]) });

export interface PrincipalOptions {
  /**
   * Turns a bearer token into its principal, or throws UnauthorizedError. Absent: no auth is configured and every
   * request is the anonymous administrator.
   */
  authenticate?: (token: string) => Promise<Principal>;
}

const BEARER_RE = /^Bearer +([^\s]+) *$/i;

/** The request's token: the Authorization header, else (where follow tokens are accepted) `?access_token=`. */
function requestToken(request: FastifyRequest, queryAllowed: boolean): string | undefined {
  const header = request.headers.authorization;
  if (header !== undefined) {
    const match = BEARER_RE.exec(header);
    if (!match) throw new UnauthorizedError('the Authorization header must be "Bearer <token>"');
    return match[1];
  }
  if (!queryAllowed) return undefined;
  const query = request.query as Record<string, unknown> | undefined;
  const token = query?.access_token;
  return typeof token === 'string' && token !== '' ? token : undefined;
}

/** Throws ForbiddenError unless the principal may use a route of this access. */
export function authorize(principal: Principal, access: Access): void {
  if (access === 'public') return;
  if (principal.taskId !== undefined) {
    // A signal route checks the token's rights itself, once it knows the task and the signal (mayTaskSignal).
    if (access === 'follow' || access === 'signal') return;
    throw new ForbiddenError('tasks:read', 'a follow token reads its one task (get, events, result, stream, WebSocket) and nothing else');
  }
  requireScope(principal, access === 'follow' ? 'tasks:read' : access === 'signal' ? 'tasks:write' : access);
}

/**
 * Sets request.principal before anything else runs (also for WebSocket upgrades, which run onRequest hooks): 401 for
 * no or an invalid token, 403 for a valid one without the access the route requires.
 */
export function installPrincipal(app: FastifyInstance, options: PrincipalOptions = {}): void {
  // Decorators must not hold a shared object; the hook below sets the real value before anything reads it.
  app.decorateRequest('principal', null as unknown as Principal);
  const { authenticate } = options;
  if (!authenticate) {
    app.addHook('onRequest', async (request) => {
      request.principal = ANONYMOUS_ADMIN;
    });
    return;
  }
  app.addHook('onRequest', async (request, reply) => {
    request.principal = NOBODY;
    const config = request.routeOptions.config;
    // An unknown path answers 404 whoever asks: the routes are public knowledge (/openapi.json).
    if (config?.url === undefined) return;
    const access = routeAccess(request.method, config.url, config.access);
    if (access === 'public') return;
    const token = requestToken(request, access === 'follow');
    if (token === undefined) throw new UnauthorizedError();
    const principal = await authenticate(token);
    request.principal = principal;
    // Who asked goes on every later line about the request ("request completed" comes from reply.log).
    request.log = request.log.child({ subject: principal.subject });
    reply.log = request.log;
    authorize(principal, access);
  });
}

/** Throws ForbiddenError unless the principal holds `scope` (or `admin`). */
export function requireScope(principal: Principal, scope: Scope): void {
  if (principal.admin || principal.scopes.includes('admin') || principal.scopes.includes(scope)) return;
  throw new ForbiddenError(scope);
}

/** Whether the caller may see tasks of this owner. A follow token sees its one task only (visibleTask), never by owner. */
export function canSee(principal: Principal, owner: string | null): boolean {
  if (principal.taskId !== undefined) return false;
  return principal.admin || owner === principal.owner;
}

/** The owner filter for lists and watches: undefined means everyone's. */
export function ownerFilter(principal: Principal): string | undefined {
  if (principal.admin) return undefined;
  // A store filter cannot say "owner IS NULL"; an ownerless non-admin would otherwise see everyone's tasks.
  if (principal.owner === null) throw new Error('a principal that is not admin must have an owner');
  return principal.owner;
}

/**
 * Throws ForbiddenError unless the caller may send signal `name` to the task it can see: a follow token only with
 * that signal's right (issued with `{ signals }`); any other principal passed the route's `tasks:write` check.
 */
export function mayTaskSignal(principal: Principal, name: string): void {
  if (principal.taskId === undefined) return;
  if (principal.signals?.includes(name)) return;
  throw new ForbiddenError(`signal:${name}`, `this follow token may not send the signal "${name}" (issue one with { signals: ["${name}"] })`);
}

/**
 * The task if this caller may see it; another owner's task, and for a follow token any task but its own, is reported
 * exactly like one that does not exist.
 */
export async function visibleTask(hub: Taskhub, principal: Principal, id: string): Promise<Task> {
  if (principal.taskId !== undefined && principal.taskId !== id) throw new TaskNotFoundError(id);
  const task = await hub.get(id);
  if (principal.taskId === undefined && !canSee(principal, task.owner)) throw new TaskNotFoundError(id);
  return task;
}
