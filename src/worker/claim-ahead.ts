// How many tasks a worker claims beyond its free slots (claim-ahead, docs/workers.md "Claiming ahead"): what the
// type's handlers can start within a short horizon at their recent pace. Claims then come in batches large enough
// for a deep queue of short tasks (each claim and each finish statement has a fixed cost: on PostgreSQL, claims of
// 250 instead of 100 cut the drain's CPU per task by about a sixth, docs/benchmarks.md), while no buffered task
// waits in one worker for long when another is idle.

/** Handlers that took this long or more (weighted average, ms) never claim ahead: a long task must not wait in a buffer. */
export const FAST_RUN_MS = 20;
/** A buffered task should start within about this long (ms) at the handlers' recent pace. */
export const AHEAD_HORIZON_MS = 25;
/** The most a type claims ahead, whatever its pace, unless its backend says otherwise (Store.maxClaimAhead). */
export const MAX_CLAIM_AHEAD = 200;

/** What a type's recent runs say about how soon its slots free. */
export interface Pace {
  concurrency: number;
  running: number;
  /** Recent run time of its handlers, ms (weighted average); null before the first run ended. */
  recentRunMs: number | null;
  /** When its last handler returned (performance.now()). */
  lastRunEndAt: number;
}

/**
 * Tasks to claim beyond the free slots: at least `concurrency` for a fast type, more the faster it is. None while every
 * slot is busy and none freed within the horizon: the handlers running now are not keeping that pace, and whatever a
 * buffer took would only wait (then be given back).
 */
export function claimAheadFor(pace: Pace, now: number, bound = MAX_CLAIM_AHEAD): number {
  const { concurrency, running, recentRunMs, lastRunEndAt } = pace;
  if (recentRunMs === null || recentRunMs >= FAST_RUN_MS) return 0;
  if (running >= concurrency && now - lastRunEndAt > AHEAD_HORIZON_MS) return 0;
  const startable = Math.floor((concurrency * AHEAD_HORIZON_MS) / Math.max(recentRunMs, 0.001));
  return Math.min(bound, Math.max(concurrency, startable));
}
