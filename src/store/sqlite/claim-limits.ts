// What holds a SQLite claim back now: queue settings (paused, capped, rate-limited, fair) and rate-limited types,
// read inside the claim's write transaction so that the room they leave is exact.
import { queueRoom, STARTS_KEPT_PAST_WINDOW_MS, typeRoom } from '../claim-order.ts';
import type { SqliteConnection } from './connection.ts';
import { SQL } from './sql.ts';

export interface QueueLimitsNow {
  blocked: string[];
  allowance: Map<string, number>;
  rateLimited: Set<string>;
  fair: Map<string, number>;
}

/** Paused queues and queues at their cap are blocked; others with a cap or rate limit get an allowance. */
export function queueLimitsNow(c: SqliteConnection, now: number): QueueLimitsNow {
  const blocked: string[] = [];
  const allowance = new Map<string, number>();
  const rateLimited = new Set<string>();
  const fair = new Map<string, number>();
  for (const q of c.all(SQL.queueControls)) {
    const name = q.name as string;
    if (q.paused === 1) {
      blocked.push(name);
      continue;
    }
    if (q.max_per_key !== null) fair.set(name, q.max_per_key as number);
    const rateLimit =
      q.rate_count === null || q.rate_interval_ms === null ? null : { count: q.rate_count as number, intervalMs: q.rate_interval_ms as number };
    if (rateLimit) rateLimited.add(name);
    const windowStart = now - (rateLimit?.intervalMs ?? 0);
    const allowed = queueRoom({
      maxConcurrency: q.max_concurrency as number | null,
      running: () => c.get(SQL.runningInQueue, name)?.n as number,
      rateLimit,
      startsInWindow: () => {
        c.run(SQL.pruneStarts, name, windowStart - STARTS_KEPT_PAST_WINDOW_MS);
        return c.get(SQL.startsInWindow, name, windowStart)?.n as number;
      },
    });
    if (allowed <= 0) blocked.push(name);
    else if (allowed !== Number.POSITIVE_INFINITY) allowance.set(name, allowed);
  }
  return { blocked, allowance, rateLimited, fair };
}

/** The rate room (0 or more) of each rate-limited type among `types`, pruning starts that left the window. */
export function typeRoomsNow(c: SqliteConnection, types: readonly string[], now: number): Map<string, number> {
  const room = new Map<string, number>();
  for (const t of c.all(SQL.typeControls)) {
    const type = t.type as string;
    if (!types.includes(type) || t.rate_interval_ms === null) continue;
    const windowStart = now - (t.rate_interval_ms as number);
    const left = typeRoom({ count: t.rate_count as number, intervalMs: t.rate_interval_ms as number }, () => {
      c.run(SQL.pruneTypeStarts, type, windowStart - STARTS_KEPT_PAST_WINDOW_MS);
      return c.get(SQL.typeStartsInWindow, type, windowStart)?.n as number;
    });
    room.set(type, Math.max(0, left));
  }
  return room;
}
