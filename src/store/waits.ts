// Durable execution's decisions, written once above the backends (docs/durable.md, "Store model"): how a wait is
// stored in a task's columns and read back, whether a wait's condition holds already, why a woken task resumes, and
// the checks on suspend and recover input. Backends run the SQL and call these; events and notices are in
// transitions.ts.
import { ValidationError } from '../core/errors.ts';
import { isTerminal, type Json, type TaskError, type TaskStatus, type WaitingFor } from '../core/task.ts';
import { checkDurableName } from '../core/validate.ts';
import type { ChildOutcome, SignalRecord, WaitOutcome, WaitRequest } from './store.ts';
import type { ResumeReason } from './transitions.ts';

/** A wait as the task row stores it: wait_kind, wait_name, wake_at, children_pending, children_total. */
export interface WaitColumns {
  kind: WaitingFor['kind'] | null;
  name: string | null;
  /** When the wait ends by itself (sleep end, signal timeout): what promotion and nextScheduledAt look at. */
  wakeAt: number | null;
  pending: number | null;
  total: number | null;
}


export function waitColumns(w: WaitingFor): WaitColumns {
  switch (w.kind) {
    case 'children':
      return { kind: w.kind, name: w.name, wakeAt: null, pending: w.pending, total: w.total };
    case 'sleep':
      return { kind: w.kind, name: w.name, wakeAt: w.until, pending: null, total: null };
    case 'signal':
      return { kind: w.kind, name: w.name, wakeAt: w.timeoutAt, pending: null, total: null };
  }
}

/** Task.waitingFor from the row's wait columns (null when the task waits for nothing). */
export function waitingForOf(c: WaitColumns): WaitingFor | null {
  if (c.kind === null || c.name === null) return null;
  switch (c.kind) {
    case 'children':
      return { kind: 'children', name: c.name, pending: c.pending ?? 0, total: c.total ?? 0 };
    case 'sleep':
      return { kind: 'sleep', name: c.name, until: c.wakeAt ?? 0 };
    case 'signal':
      return { kind: 'signal', name: c.name, timeoutAt: c.wakeAt };
  }
}

/** Why promotion woke a waiting task whose wake time passed. */
export function timedWakeReason(kind: WaitingFor['kind']): ResumeReason {
  return kind === 'signal' ? 'signal-timeout' : 'slept';
}

/** What a backend found before deciding a suspend: the wait's existing children, or its signal. */
export interface WaitFindings {
  /** The children of this wait name that exist already, in order (empty: none yet). */
  children?: readonly ChildOutcome[];
  /** The earliest signal of this name, if one was sent. */
  signal?: SignalRecord | null;
}

/**
 * A suspend's decision: the outcome when the condition holds already (no suspension), else what the task waits for.
 * `create`: the children to create (only when none of this wait exist yet).
 */
export type WaitDecision =
  | { hold: true; outcome: WaitOutcome }
  | { hold: false; waitingFor: WaitingFor; create: boolean };

export function decideWait(wait: WaitRequest, found: WaitFindings, now: number): WaitDecision {
  switch (wait.kind) {
    case 'children': {
      const existing = found.children ?? [];
      if (existing.length > 0) {
        const pending = existing.filter((c) => !isTerminal(c.status)).length;
        if (pending === 0) return { hold: true, outcome: { kind: 'children', children: [...existing] } };
        return { hold: false, waitingFor: { kind: 'children', name: wait.name, pending, total: existing.length }, create: false };
      }
      if (wait.tasks.length === 0) return { hold: true, outcome: { kind: 'children', children: [] } };
      const n = wait.tasks.length;
      return { hold: false, waitingFor: { kind: 'children', name: wait.name, pending: n, total: n }, create: true };
    }
    case 'sleep':
      if (wait.until <= now) return { hold: true, outcome: { kind: 'sleep' } };
      return { hold: false, waitingFor: { kind: 'sleep', name: wait.name, until: wait.until }, create: false };
    case 'signal':
      if (found.signal) return { hold: true, outcome: { kind: 'signal', signal: found.signal } };
      if (wait.timeoutAt !== null && wait.timeoutAt <= now) return { hold: true, outcome: { kind: 'signal-timeout' } };
      return { hold: false, waitingFor: { kind: 'signal', name: wait.name, timeoutAt: wait.timeoutAt }, create: false };
  }
}

/** Checks a suspend's input before anything is read or written. */
export function checkWait(taskId: string, wait: WaitRequest): void {
  checkDurableName('wait', wait.name);
  if (wait.kind === 'children') {
    for (const child of wait.tasks) {
      // Children are keyed by (parent, wait name, position): that is their idempotency, and a key could match a task
      // outside this wait.
      if (child.idempotencyKey !== null) throw new ValidationError('children take no idempotencyKey', 'idempotencyKey');
      if (child.parentId !== null && child.parentId !== taskId) throw new ValidationError('a child\'s parentId is its parent', 'parentId');
    }
  }
}

/** A child's outcome from its row's values. */
export function childOutcome(id: string, status: TaskStatus, result: Json | null, error: TaskError | null): ChildOutcome {
  return { id, status, result: status === 'completed' ? (result ?? null) : null, error: isTerminal(status) ? error : null };
}

/** The label of the checkpoint a recover writes when it resumes from an older version. */
export function recoverLabel(fromVersion: number): string {
  return `recover:${fromVersion}`;
}

/** The label of a derived task's first checkpoint: where its state came from. */
export function derivedLabel(sourceId: string, version: number): string {
  return `derived:${sourceId}@${version}`;
}

/** A derived task is a new task of its own: an idempotency key would make a replay skip the copied checkpoint. */
export function checkDerivedTask(task: { idempotencyKey: string | null }): void {
  if (task.idempotencyKey !== null) throw new ValidationError('idempotencyKey: a task derived from a checkpoint takes none', 'idempotencyKey');
}
