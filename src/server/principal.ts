// Who is asking: resolved once per request, here and nowhere else, so that adding API keys and JWTs later changes this
// file and not the routes. Routes only ever ask two questions: which owner new tasks get, and whether a task is
// visible. Today every request is the anonymous administrator (the server listens on loopback only without auth).
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ForbiddenError, TaskNotFoundError } from '../core/errors.ts';
import type { Task } from '../core/task.ts';
import type { Taskhub } from '../taskhub.ts';

export type Scope = 'tasks:read' | 'tasks:write' | 'worker' | 'admin';

export interface Principal {
  /** Owner stamped on tasks this caller submits; null for none. */
  owner: string | null;
  /** Sees and manages every owner's tasks. */
  admin: boolean;
  /** What the token may do; `admin` implies every scope. */
  scopes: readonly Scope[];
  /** Set for a follow token: it may read this one task and nothing else. */
  taskId?: string;
}

declare module 'fastify' {
  interface FastifyRequest {
    principal: Principal;
  }
}

export type PrincipalResolver = (request: FastifyRequest) => Principal | Promise<Principal>;

const ANONYMOUS_ADMIN: Principal = Object.freeze({ owner: null, admin: true, scopes: Object.freeze(['admin'] as Scope[]) });

export const anonymousAdmin: PrincipalResolver = () => ANONYMOUS_ADMIN;

/** Sets request.principal before any handler runs (also for WebSocket upgrades, which run onRequest hooks). */
export function installPrincipal(app: FastifyInstance, resolve: PrincipalResolver = anonymousAdmin): void {
  // Decorators must not hold a shared object; the hook below sets the real value before anything reads it.
  app.decorateRequest('principal', null as unknown as Principal);
  app.addHook('onRequest', async (request) => {
    request.principal = await resolve(request);
  });
}

/** Throws ForbiddenError unless the principal holds `scope` (or `admin`). */
export function requireScope(principal: Principal, scope: Scope): void {
  if (principal.admin || principal.scopes.includes('admin') || principal.scopes.includes(scope)) return;
  throw new ForbiddenError(scope);
}

export function canSee(principal: Principal, owner: string | null): boolean {
  return principal.admin || owner === principal.owner;
}

/** The owner filter for lists and watches: undefined means everyone's. */
export function ownerFilter(principal: Principal): string | undefined {
  if (principal.admin) return undefined;
  // A store filter cannot say "owner IS NULL"; an ownerless non-admin would otherwise see everyone's tasks.
  if (principal.owner === null) throw new Error('a principal that is not admin must have an owner');
  return principal.owner;
}

/** The task if this caller may see it; another owner's task is reported exactly like one that does not exist. */
export async function visibleTask(hub: Taskhub, principal: Principal, id: string): Promise<Task> {
  const task = await hub.get(id);
  if (!canSee(principal, task.owner)) throw new TaskNotFoundError(id);
  return task;
}
