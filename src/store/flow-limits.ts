// Flow control inside the claim, shared by every backend: per-key throttles and cost-weighted rate limits
// (docs/queues.md, "Throttle" and "Cost limits"). A backend records each start of a flow-controlled task in its
// starts table as (scope, at, until = at + periodMs, task, cost) and answers the usage of a scope (starts and summed
// cost with until > now): an exact sliding window, like queue_starts and type_starts. What a scope is, what fits and
// what is held back is decided here, once; PostgreSQL computes the same scopes in SQL (postgres/sql/flow-limits.ts).
import type { Throttle } from '../core/task.ts';
import type { CostLimit, HeldBack, QueueSettings, TypeSettings } from './store.ts';

/** Separates the parts of a scope: a character no queue, type or key name can hold unnoticed (U+001F). */
export const SCOPE_SEPARATOR = '\u001f';

/** The window of a throttle key: per owner, so one tenant's key never throttles another's. */
export function throttleScope(owner: string | null, key: string): string {
  return ['throttle', owner ?? '', key].join(SCOPE_SEPARATOR);
}

/** The window of a queue's or type's cost limit; with perKey, one per concurrencyKey (null: the unkeyed tasks). */
export function costScope(kind: 'queue' | 'type', name: string, limit: CostLimit, concurrencyKey: string | null): string {
  return limit.perKey ? [kind, name, concurrencyKey ?? ''].join(SCOPE_SEPARATOR) : [kind, name].join(SCOPE_SEPARATOR);
}

/** A task without a declared cost counts this much where a cost limit applies. */
export const DEFAULT_COST = 1;

/** The cost limits in force: by queue name and by type. */
export interface FlowLimits {
  queues: ReadonlyMap<string, CostLimit>;
  types: ReadonlyMap<string, CostLimit>;
}

export const NO_FLOW_LIMITS: FlowLimits = { queues: new Map(), types: new Map() };

export function flowLimitsOf(queues: readonly QueueSettings[], types: readonly TypeSettings[]): FlowLimits {
  return {
    queues: new Map(queues.flatMap((q) => (q.costLimit ? [[q.name, q.costLimit] as const] : []))),
    types: new Map(types.flatMap((t) => (t.costLimit ? [[t.type, t.costLimit] as const] : []))),
  };
}

/** What the claim needs to know of a candidate to apply flow control. */
export interface FlowTask {
  id: string;
  queue: string;
  type: string;
  owner: string | null;
  concurrencyKey: string | null;
  throttle: Throttle | null;
  cost: number | null;
}

/**
 * One window a start counts in: a throttle's (`cost` null: starts are counted against `cap`) or a cost limit's
 * (`cost` the units it adds; the sum must stay within `cap`).
 */
export interface FlowWindow {
  scope: string;
  periodMs: number;
  cap: number;
  cost: number | null;
}

/** The windows a task's start counts in; none for a task without throttle in queues and types without cost limits. */
export function flowWindowsOf(task: FlowTask, limits: FlowLimits): FlowWindow[] {
  const windows: FlowWindow[] = [];
  if (task.throttle) {
    windows.push({ scope: throttleScope(task.owner, task.throttle.key), periodMs: task.throttle.periodMs, cap: task.throttle.limit, cost: null });
  }
  const cost = task.cost ?? DEFAULT_COST;
  const queueLimit = limits.queues.get(task.queue);
  if (queueLimit) windows.push({ scope: costScope('queue', task.queue, queueLimit, task.concurrencyKey), periodMs: queueLimit.periodMs, cap: queueLimit.budget, cost });
  const typeLimit = limits.types.get(task.type);
  if (typeLimit) windows.push({ scope: costScope('type', task.type, typeLimit, task.concurrencyKey), periodMs: typeLimit.periodMs, cap: typeLimit.budget, cost });
  return windows;
}

/** A scope's window now: how many starts it holds and the sum of their costs (declared, or reported when known). */
export interface Usage {
  starts: number;
  cost: number;
}

/**
 * Whether one more start fits a window. A throttle: fewer than `cap` starts. A cost limit: the sum plus this cost
 * within `cap`, or an empty window, so a task that costs more than the whole budget still runs (alone in its window)
 * instead of waiting forever.
 */
export function fits(window: FlowWindow, usage: Usage): boolean {
  if (window.cost === null) return usage.starts < window.cap;
  return usage.starts === 0 || usage.cost + window.cost <= window.cap;
}

/**
 * The claim's flow gate: admits candidates in claim order while their windows have room, counting what it admits.
 * A cost window that turns one candidate away takes no later one in this claim, so small tasks cannot starve a
 * large one by slipping past it; a throttle key at its limit holds back only its own tasks.
 */
export class FlowGate {
  readonly #limits: FlowLimits;
  readonly #read: (scope: string) => Usage;
  readonly #usage = new Map<string, Usage>();
  readonly #closed = new Set<string>();
  #refused = 0;

  /** `read`: the usage of a scope now, read once per scope per claim. */
  constructor(limits: FlowLimits, read: (scope: string) => Usage) {
    this.#limits = limits;
    this.#read = read;
  }

  /** How many candidates the gate turned away: the caller may walk further when it chose fewer than it could. */
  get refused(): number {
    return this.#refused;
  }

  /** The windows of `task` when it fits them all (and counts it in them), else null. */
  admit(task: FlowTask): FlowWindow[] | null {
    const windows = flowWindowsOf(task, this.#limits);
    let ok = true;
    for (const w of windows) {
      if (this.#closed.has(w.scope) || !fits(w, this.#usageOf(w.scope))) {
        ok = false;
        if (w.cost !== null) this.#closed.add(w.scope);
      }
    }
    if (!ok) {
      this.#refused++;
      return null;
    }
    for (const w of windows) {
      const usage = this.#usageOf(w.scope);
      usage.starts++;
      usage.cost += w.cost ?? 0;
    }
    return windows;
  }

  #usageOf(scope: string): Usage {
    let usage = this.#usage.get(scope);
    if (!usage) {
      usage = { ...this.#read(scope) };
      this.#usage.set(scope, usage);
    }
    return usage;
  }
}

/** Queued throttled tasks of a queue, grouped by owner and key (the most lenient limit among them). */
export interface ThrottleGroup {
  owner: string | null;
  key: string;
  limit: number;
  tasks: number;
}

/** Queued tasks of a queue grouped by type, concurrencyKey and cost (absent cost: DEFAULT_COST). */
export interface CostGroup {
  type: string;
  concurrencyKey: string | null;
  cost: number;
  tasks: number;
}

/** What a backend answers so heldBack can be computed here. */
export interface HeldBackSource {
  throttleGroups(queue: string): Promise<ThrottleGroup[]>;
  /** Asked only when a cost limit applies to the queue or some type. */
  costGroups(queue: string): Promise<CostGroup[]>;
  usage(scopes: readonly string[], now: number): Promise<Map<string, Usage>>;
  limits(): Promise<FlowLimits>;
}

/**
 * Store.heldBack from a backend's groups: a throttle key at its limit holds back all its queued tasks; a cost window
 * holds back the tasks whose cost does not fit what is left of it (reported under the concurrencyKey with perKey,
 * else under the queue's or type's name).
 */
export async function heldBackOf(queue: string, source: HeldBackSource, now: number): Promise<HeldBack[]> {
  const held = new Map<string, HeldBack>();
  const add = (key: string, reason: HeldBack['reason'], tasks: number) => {
    const id = `${reason}${SCOPE_SEPARATOR}${key}`;
    const entry = held.get(id);
    if (entry) entry.tasks += tasks;
    else held.set(id, { key, reason, tasks });
  };
  const throttled = await source.throttleGroups(queue);
  const limits = await source.limits();
  const queueLimit = limits.queues.get(queue);
  const costs = queueLimit || limits.types.size > 0 ? await source.costGroups(queue) : [];
  const windowsOf = (g: CostGroup) => {
    const windows: { key: string; window: FlowWindow }[] = [];
    const typeLimit = limits.types.get(g.type);
    if (queueLimit) {
      const window = { scope: costScope('queue', queue, queueLimit, g.concurrencyKey), periodMs: queueLimit.periodMs, cap: queueLimit.budget, cost: g.cost };
      windows.push({ key: queueLimit.perKey ? (g.concurrencyKey ?? '') : queue, window });
    }
    if (typeLimit) {
      const window = { scope: costScope('type', g.type, typeLimit, g.concurrencyKey), periodMs: typeLimit.periodMs, cap: typeLimit.budget, cost: g.cost };
      windows.push({ key: typeLimit.perKey ? (g.concurrencyKey ?? '') : g.type, window });
    }
    return windows;
  };
  const scopes = new Set<string>(throttled.map((g) => throttleScope(g.owner, g.key)));
  for (const g of costs) for (const { window } of windowsOf(g)) scopes.add(window.scope);
  if (scopes.size === 0) return [];
  const usage = await source.usage([...scopes], now);
  const usageOf = (scope: string) => usage.get(scope) ?? { starts: 0, cost: 0 };
  for (const g of throttled) {
    if (usageOf(throttleScope(g.owner, g.key)).starts >= g.limit) add(g.key, 'throttled', g.tasks);
  }
  for (const g of costs) {
    const over = windowsOf(g).find(({ window }) => !fits(window, usageOf(window.scope)));
    if (over) add(over.key, 'over-budget', g.tasks);
  }
  return [...held.values()].sort((a, b) => b.tasks - a.tasks || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

/**
 * Wakes this process's waiting claimers when a flow window that held tasks back moves on: nothing else announces
 * it (no task changed), so without this a worker would find out at its next poll, and a remote worker's long-poll
 * claim only when its wait ran out. After a claim that flow control cut short, the backend arms it with the earliest
 * end of a start in a window (`until`); the wake is a local `ready` notice (each process arms its own for its own
 * claimers). A wake that comes early (another scope's start ended) costs one claim, which arms the next.
 */
export class FlowWake {
  readonly #emit: () => void;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #at = Number.POSITIVE_INFINITY;

  constructor(emit: () => void) {
    this.#emit = emit;
  }

  /** Wakes at `at` (epoch ms, the claims' clock), unless an earlier wake is armed already. */
  arm(at: number | null, now: number): void {
    if (at === null || at >= this.#at) return;
    clearTimeout(this.#timer);
    this.#at = at;
    this.#timer = setTimeout(
      () => {
        this.#at = Number.POSITIVE_INFINITY;
        this.#timer = undefined;
        this.#emit();
      },
      Math.max(0, at - now) + 1,
    );
    // A pending wake never keeps a process alive on its own.
    this.#timer.unref?.();
  }

  close(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}
