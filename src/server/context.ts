// What every route plugin is given.
import type { Taskhub } from '../taskhub.ts';
import type { FollowTokens } from './auth.ts';
import type { StreamConnections } from './connections.ts';

export interface RouteContext {
  hub: Taskhub;
  connections: StreamConnections;
  /** Interval of SSE comment lines and WebSocket pings that keep idle connections open through proxies, ms. */
  heartbeatMs: number;
  /** Signs and verifies follow tokens (POST /tasks/{id}/token), with a key shared by every API node. */
  followTokens: FollowTokens;
}
