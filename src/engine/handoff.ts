// Direct hand-off: a task submitted in this process while one of its workers waits idle starts in the submit's own
// transaction, for that worker, instead of waiting for the worker to wake and claim it in a second one (a commit and
// an event-loop hop less between enqueue and start). Only where a claim could not decide otherwise: the store
// refuses a hand-off when the queue or type has limits or older tasks of the type are ready (store.ts,
// HandoffStore); refused tasks stay queued and the worker claims as usual.
import type { NewTask } from '../core/validate.ts';
import { hasFlowRules } from '../store/flow.ts';
import type { Claim } from '../store/store.ts';

/** What an idle in-process worker could take at once: free slots per type, from these queues (null: all). */
export interface WorkOffer {
  workerId: string;
  queues: readonly string[] | null;
  slots: ReadonlyMap<string, number>;
}

/** A worker's offer: the free slots of each type it runs (its claimed-ahead buffer counts as taken). */
export function offerOf(
  workerId: string,
  queues: readonly string[] | null,
  types: Iterable<{ type: string; concurrency: number; running: number; buffer: readonly unknown[] }>,
): WorkOffer {
  const slots = new Map<string, number>();
  for (const t of types) {
    const free = t.concurrency - t.running - t.buffer.length;
    if (free > 0) slots.set(t.type, free);
  }
  return { workerId, queues, slots };
}

/** An offer while its worker waits. Once `taken`, `claims` settles with what the store started for it (maybe none). */
export interface OpenOffer {
  readonly taken: boolean;
  readonly claims: Promise<Claim[]>;
  /** The worker stopped waiting: an offer not taken by then is gone. */
  withdraw(): void;
}

/**
 * Which worker each handed-over task starts for; `settle` must follow, whatever the store did. The first call counts:
 * later ones do nothing, so a caller may settle early (on commit) and again on every way out.
 */
export interface Assignment {
  starts: Map<string, string>;
  settle(claims: readonly Claim[]): void;
}

class Offer implements OpenOffer {
  readonly claims: Promise<Claim[]>;
  taken = false;
  readonly #board: Set<Offer>;
  readonly slots: Map<string, number>;
  readonly workerId: string;
  readonly queues: readonly string[] | null;
  resolve!: (claims: Claim[]) => void;

  constructor(board: Set<Offer>, offer: WorkOffer) {
    this.#board = board;
    this.workerId = offer.workerId;
    this.queues = offer.queues;
    this.slots = new Map(offer.slots);
    this.claims = new Promise((resolve) => (this.resolve = resolve));
  }

  withdraw(): void {
    this.#board.delete(this);
  }
}

export class Handoffs {
  readonly #offers = new Set<Offer>();

  open(offer: WorkOffer): OpenOffer {
    const open = new Offer(this.#offers, offer);
    this.#offers.add(open);
    return open;
  }

  /**
   * Matches new tasks with open offers, synchronously, so that no other submit is given the same slots. Null when
   * nothing matched. Tasks with flow rules (claim-time decisions) and scheduled tasks are never handed over.
   */
  assign(tasks: readonly NewTask[]): Assignment | null {
    if (this.#offers.size === 0) return null;
    const starts = new Map<string, string>();
    const taken: Offer[] = [];
    for (const task of tasks) {
      if (task.status !== 'queued' || task.throttle !== null || hasFlowRules(task)) continue;
      const offer = this.#offerFor(task, taken);
      if (!offer) continue;
      offer.slots.set(task.type, (offer.slots.get(task.type) as number) - 1);
      starts.set(task.id, offer.workerId);
      if (!offer.taken) {
        offer.taken = true;
        offer.withdraw();
        taken.push(offer);
      }
    }
    if (taken.length === 0) return null;
    let settled = false;
    return {
      starts,
      settle(claims) {
        if (settled) return;
        settled = true;
        for (const offer of taken) offer.resolve(claims.filter((c) => starts.get(c.task.id) === offer.workerId));
      },
    };
  }

  /** An offer with a free slot for the task: one this assignment took already, or an open one. */
  #offerFor(task: NewTask, taken: readonly Offer[]): Offer | undefined {
    const fits = (offer: Offer) => (offer.slots.get(task.type) ?? 0) > 0 && (offer.queues === null || offer.queues.includes(task.queue));
    return taken.find(fits) ?? [...this.#offers].find(fits);
  }
}
