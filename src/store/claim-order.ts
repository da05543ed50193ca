// The order in which a claim takes ready tasks, shared by every backend: priority first, then (in fair queues) the
// round, so each key gets its first task before any key gets its second, then runAt, then id.
import type { Claim } from './store.ts';

export interface Candidate {
  id: string;
  queue: string;
  /** Needed only when a type is rate-limited (the claim's type allowance). */
  type?: string;
  priority: number;
  runAt: number;
  /** In a fair queue, the task's position among its key's candidates (0, 1, 2 …); 0 elsewhere. */
  round: number;
  /** Owner-scoped singleton key (null: none): one claim never takes two tasks of one key. */
  singleton?: string | null;
}

/** What claim order compares: a candidate, or a claimed task (whose round no longer matters: 0). */
export type Ordered = Pick<Candidate, 'id' | 'priority' | 'runAt'> & { round?: number };

/** Priority (higher first), round, runAt, then id compared as bytes, like the ready indexes of every backend. */
export function byClaimOrder(a: Ordered, b: Ordered): number {
  return (
    b.priority - a.priority ||
    (a.round ?? 0) - (b.round ?? 0) ||
    a.runAt - b.runAt ||
    (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)
  );
}

/**
 * Up to `max` ids in claim order, within each limited queue's allowance and each rate-limited type's (both consumed
 * here): a candidate takes one start from its queue's and its type's allowance, and is passed over when either is 0.
 * `admit`, when given (flow control, store/flow-limits.ts), has the last word on a candidate the allowances let through.
 */
export function chooseCandidates(
  candidates: Candidate[],
  max: number,
  allowance: Map<string, number>,
  typeAllowance = new Map<string, number>(),
  admit?: (id: string) => boolean,
): string[] {
  const chosen: string[] = [];
  const singletons = new Set<string>();
  for (const candidate of [...candidates].sort(byClaimOrder)) {
    if (chosen.length === max) break;
    if (candidate.singleton != null && singletons.has(candidate.singleton)) continue;
    const left = allowance.get(candidate.queue);
    const typeLeft = candidate.type === undefined ? undefined : typeAllowance.get(candidate.type);
    if (left === 0 || typeLeft === 0) continue;
    if (admit && !admit(candidate.id)) continue;
    if (left !== undefined) allowance.set(candidate.queue, left - 1);
    if (typeLeft !== undefined && candidate.type !== undefined) typeAllowance.set(candidate.type, typeLeft - 1);
    if (candidate.singleton != null) singletons.add(candidate.singleton);
    chosen.push(candidate.id);
  }
  return chosen;
}

/** Free slots per key in a fair queue; `null` stands for tasks without a key, which share one slot group. */
export function freeSlotsPerKey(keys: (string | null)[], running: Map<string | null, number>, maxPerKey: number): Map<string | null, number> {
  const free = new Map<string | null, number>();
  for (const key of keys) {
    const left = maxPerKey - (running.get(key) ?? 0);
    if (left > 0) free.set(key, left);
  }
  return free;
}

/** What holds a queue's claims back: its settings, and what it has running and started recently. */
export interface QueueLoad {
  maxConcurrency: number | null;
  /** Running tasks of the queue (read only when it has a maxConcurrency). */
  running: () => number;
  rateLimit: { count: number; intervalMs: number } | null;
  /** Starts of the queue inside the current rate window (read only when it has a rateLimit). */
  startsInWindow: () => number;
}

/**
 * How long a start is kept after its window ended. A claim reads its clock before it waits for the write lock, so its
 * window may begin up to this much earlier than that of a claim that committed before it; pruning by the later clock
 * alone would delete starts the earlier one must still count, and let it start more than a limit allows.
 */
export const STARTS_KEPT_PAST_WINDOW_MS = 10_000;

/** How many more tasks a queue may start now: the least of its concurrency and rate room; Infinity without limits. */
export function queueRoom(load: QueueLoad): number {
  let room = Number.POSITIVE_INFINITY;
  if (load.maxConcurrency !== null) room = Math.min(room, load.maxConcurrency - load.running());
  if (load.rateLimit !== null) room = Math.min(room, load.rateLimit.count - load.startsInWindow());
  return room;
}

/** How many more tasks of a rate-limited type may start now: its rate room (a type has no concurrency cap). */
export function typeRoom(rateLimit: { count: number; intervalMs: number }, startsInWindow: () => number): number {
  return queueRoom({ maxConcurrency: null, running: () => 0, rateLimit, startsInWindow });
}

/**
 * The claims in the order their ids were chosen. The update returns its rows in table order, which for a backlog
 * enqueued in order is the claim order already: then nothing is sorted (this runs once per claimed task).
 */
export function inClaimOrder(claims: Claim[], chosen: readonly string[]): Claim[] {
  if (claims.length === chosen.length && claims.every((claim, i) => claim.task.id === chosen[i])) return claims;
  const order = new Map(chosen.map((id, i) => [id, i]));
  return claims.sort((a, b) => (order.get(a.task.id) as number) - (order.get(b.task.id) as number));
}
