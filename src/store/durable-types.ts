// The shapes of durable execution's store calls (docs/durable.md, "Store model"): steps, signals, children, waits.
// Part of the Store contract (store.ts re-exports them); they depend on the core's types only.
import type { Json, Task, TaskError, TaskStatus, WaitingFor } from '../core/task.ts';
import type { NewTask } from '../core/validate.ts';

/** The stored result of a step: its function ran to success once, in some attempt. */
export interface StepRecord {
  name: string;
  result: Json;
  createdAt: number;
}

export interface SignalRecord {
  name: string;
  data: Json;
  createdAt: number;
  /** When a wait first took it; null while no wait has. */
  consumedAt: number | null;
}

/** A child of a wait, as the parent's handler receives it: in the order the children were given. */
export interface ChildOutcome {
  id: string;
  status: TaskStatus;
  result: Json | null;
  error: TaskError | null;
}

/** What a suspend waits for. Times are absolute: the caller makes them deterministic across re-runs (docs/durable.md). */
export type WaitRequest =
  /** Creates these children (parentId = the task) unless children of this wait name exist already. */
  | { kind: 'children'; name: string; tasks: readonly NewTask[] }
  | { kind: 'sleep'; name: string; until: number }
  | { kind: 'signal'; name: string; timeoutAt: number | null };

/** Why a wait needs no suspension: its condition holds already. */
export type WaitOutcome =
  | { kind: 'children'; children: ChildOutcome[] }
  | { kind: 'sleep' }
  | { kind: 'signal'; signal: SignalRecord }
  | { kind: 'signal-timeout' };

export type SuspendResult =
  /** The task waits now: the attempt is over (its token is no longer current) and was not counted. */
  | { suspended: true; task: Task; waitingFor: WaitingFor }
  /** The condition holds already: nothing changed, the attempt goes on with this outcome. */
  | { suspended: false; outcome: WaitOutcome };

export interface SendSignalResult {
  task: Task;
  /** True when the signal woke the task (it waited for this name); false when it is kept for a later wait. */
  resumed: boolean;
}

