import type { BackoffPolicy } from './task.ts';

export const DEFAULT_BACKOFF: BackoffPolicy = { type: 'exponential', delayMs: 1000, maxDelayMs: 3_600_000, jitter: 0.2 };

/**
 * Whether a policy is the default one. The stores keep nothing for it (nearly every task has it, and its JSON was
 * over a third of a task row), and give the default back when they read a task.
 */
export function isDefaultBackoff(policy: BackoffPolicy): boolean {
  return (
    policy.type === DEFAULT_BACKOFF.type &&
    policy.delayMs === DEFAULT_BACKOFF.delayMs &&
    policy.maxDelayMs === DEFAULT_BACKOFF.maxDelayMs &&
    policy.jitter === DEFAULT_BACKOFF.jitter
  );
}

/** Delay before the retry that follows attempt number `attempt` (1-based). `random` is injectable for tests. */
export function retryDelayMs(policy: BackoffPolicy, attempt: number, random: () => number = Math.random): number {
  const exponent = policy.type === 'exponential' ? Math.min(Math.max(attempt - 1, 0), 50) : 0;
  const raw = Math.min(policy.delayMs * 2 ** exponent, policy.maxDelayMs);
  return Math.max(0, Math.round(raw - raw * policy.jitter * random()));
}
