// What every route plugin is given.
import type { FastifyPluginAsync, RawServerDefault } from 'fastify';
import type { Taskhub } from '../taskhub.ts';
import type { FollowTokens } from './auth.ts';
import type { StreamConnections } from './connections.ts';
import type { SchemaTypes } from './schemas/provider.ts';

export interface RouteContext {
  hub: Taskhub;
  connections: StreamConnections;
  /** Interval of SSE comment lines and WebSocket pings that keep idle connections open through proxies, ms. */
  heartbeatMs: number;
  /** Signs and verifies follow tokens (POST /tasks/{id}/token), with a key shared by every API node. */
  followTokens: FollowTokens;
}

/** A group of routes: given the context, its requests typed from their schemas (schemas/provider.ts). */
export type RoutePlugin = FastifyPluginAsync<RouteContext, RawServerDefault, SchemaTypes>;
