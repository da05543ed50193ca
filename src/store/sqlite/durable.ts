// Durable execution on SQLite (docs/durable.md, "Store model"): checkpoints, recover and derive, steps, suspend,
// children's outcomes and signals. Each is a function of the connection that runs its SQL (sql.ts) and maps rows
// (rows.ts); SqliteStore delegates to them. What a wait means is decided in ../waits.ts, events and notices are named in
// ../transitions.ts. The wake-ups that ride on other calls stay with those calls in sqlite-store.ts: a child's finish or
// cancel telling its parent (finish, cancel), due sleeps and signal timeouts (the claim's promotion).
import { InvalidStateError, StepExistsError, TaskNotFoundError, ValidationError } from '../../core/errors.ts';
import { isTerminal, type Json, type Task, type TaskEvent, type TaskStatus } from '../../core/task.ts';
import { checkDurableName, type NewTask } from '../../core/validate.ts';
import type {
  AttemptRef,
  Checkpoint,
  CheckpointInfo,
  ChildOutcome,
  SendSignalResult,
  SignalRecord,
  StepRecord,
  SuspendResult,
  WaitRequest,
} from '../store.ts';
import {
  checkpointEvent,
  createdNotices,
  eventNotice,
  readyNotice,
  recoverEvent,
  resumedEvent,
  type ResumeReason,
  signalEvent,
  type TaskPlace,
  waitingEvent,
} from '../transitions.ts';
import { checkDerivedTask, checkWait, decideWait, derivedLabel, recoverLabel, waitColumns } from '../waits.ts';
import type { SqliteConnection } from './connection.ts';
import { storeHeldStart } from './history.ts';
import { refusal } from './refusal.ts';
import { newTaskParams, type Row, rowToCheckpoint, rowToCheckpointInfo, rowToChildOutcome, rowToSignal, rowToStep, rowToTask } from './rows.ts';
import { SQL } from './sql.ts';

/** Inside a write: adds the event's row to the transaction, and its notice for when it commits. */
function append(c: SqliteConnection, place: TaskPlace, event: TaskEvent): void {
  c.push(eventNotice(place, event));
}

/** Inside a write: queues a waiting task again with its `resumed` event, and a ready notice. */
function resume(c: SqliteConnection, id: string, reason: ResumeReason, name: string, now: number): void {
  const row = c.get(SQL.resume, now, id);
  if (!row) return;
  const place = { queue: row.queue as string, owner: row.owner as string | null };
  append(c, place, resumedEvent(id, row.event_seq as number, reason, name, now));
  c.push(readyNotice(place.queue));
}

export function saveCheckpoint(c: SqliteConnection, ref: AttemptRef, state: Json, options: { label?: string | null; size: number }, now: number): Promise<CheckpointInfo> {
  const label = options.label ?? null;
  return c.write(() => {
    const row = c.get(SQL.bumpCheckpoint, now, ref.taskId, ref.attemptToken);
    if (!row) throw refusal(c, ref.taskId);
    const version = row.checkpoint_version as number;
    c.run(SQL.insertCheckpoint, ref.taskId, version, label, JSON.stringify(state), options.size, now);
    const place = { queue: row.queue as string, owner: row.owner as string | null };
    append(c, place, checkpointEvent(ref.taskId, row.event_seq as number, { version, label, size: options.size }, now));
    return { version, label, size: options.size, createdAt: now };
  });
}

export function listCheckpoints(c: SqliteConnection, taskId: string): CheckpointInfo[] {
  const rows = c.all(SQL.listCheckpoints, taskId);
  if (rows.length === 0 && !c.get(SQL.taskExists, taskId)) throw new TaskNotFoundError(taskId);
  return rows.map(rowToCheckpointInfo);
}

export function getCheckpoint(c: SqliteConnection, taskId: string, version: number | 'latest'): Checkpoint | null {
  const row = version === 'latest' ? c.get(SQL.latestCheckpoint, taskId) : c.get(SQL.getCheckpoint, taskId, version);
  return row ? rowToCheckpoint(row) : null;
}

export function recover(c: SqliteConnection, taskId: string, options: { fromVersion?: number }, now: number): Promise<Task> {
  return c.write(() => {
    const current = c.get(SQL.recoverTarget, taskId);
    if (!current) throw new TaskNotFoundError(taskId);
    if (current.status !== 'failed' && current.status !== 'cancelled') throw new InvalidStateError(taskId, current.status as string, 'recover');
    let version = current.checkpoint_version as number;
    const from = options.fromVersion;
    if (from !== undefined && from !== version) {
      const source = c.get(SQL.getCheckpoint, taskId, from);
      if (!source) throw new ValidationError(`task ${taskId} has no checkpoint version ${from}`, 'fromVersion');
      version += 1;
      c.run(SQL.insertCheckpoint, taskId, version, recoverLabel(from), source.state, source.size, now);
    }
    const row = c.get(SQL.recover, now, version, now, taskId);
    if (!row) throw new InvalidStateError(taskId, current.status as string, 'recover');
    const task = rowToTask(row);
    append(c, task, recoverEvent(taskId, task.lastEventSeq, from ?? null, now));
    c.push(readyNotice(task.queue));
    return task;
  });
}

export function deriveTask(c: SqliteConnection, t: NewTask, from: { taskId: string; version: number | 'latest' }, now: number): Promise<Task> {
  checkDerivedTask(t);
  return c.write(() => {
    const source = c.get(SQL.checkpointToCopy, from.taskId, from.version === 'latest' ? null : from.version);
    if (!source) {
      if (!c.get(SQL.taskExists, from.taskId)) throw new TaskNotFoundError(from.taskId);
      throw new ValidationError(`task ${from.taskId} has no checkpoint ${from.version === 'latest' ? 'yet' : `version ${from.version}`}`, 'fromCheckpoint');
    }
    const version = source.version as number;
    c.sql(SQL.insertTask).run(...newTaskParams(t));
    createdNotices(t, c);
    const label = derivedLabel(from.taskId, version);
    const copied = c.get(SQL.copyCheckpointTo, t.id, label, now, from.taskId, version);
    const row = c.get(SQL.startFromCheckpoint, now, t.id);
    if (!copied || !row) throw new Error(`task ${t.id}: the derived checkpoint was not stored`);
    const task = rowToTask(row);
    append(c, task, checkpointEvent(t.id, task.lastEventSeq, { version: 1, label, size: copied.size as number }, now));
    return task;
  });
}

export function saveStep(c: SqliteConnection, ref: AttemptRef, name: string, result: Json, now: number): Promise<StepRecord> {
  checkDurableName('step', name);
  return c.write(() => {
    if (!c.get(SQL.runningWithToken, ref.taskId, ref.attemptToken)) throw refusal(c, ref.taskId);
    if (c.run(SQL.insertStep, ref.taskId, name, JSON.stringify(result ?? null), now) === 0) throw new StepExistsError(ref.taskId, name);
    return { name, result: result ?? null, createdAt: now };
  });
}

export function listSteps(c: SqliteConnection, taskId: string): StepRecord[] {
  const rows = c.all(SQL.listSteps, taskId);
  if (rows.length === 0 && !c.get(SQL.taskExists, taskId)) throw new TaskNotFoundError(taskId);
  return rows.map(rowToStep);
}

export function suspend(c: SqliteConnection, ref: AttemptRef, wait: WaitRequest, now: number): Promise<SuspendResult> {
  checkWait(ref.taskId, wait);
  return c.write((): SuspendResult => {
    if (!c.get(SQL.runningWithToken, ref.taskId, ref.attemptToken)) throw refusal(c, ref.taskId);
    const signal = wait.kind === 'signal' ? c.get(SQL.firstSignal, ref.taskId, wait.name) : undefined;
    const decision = decideWait(
      wait,
      {
        children: wait.kind === 'children' ? c.all(SQL.childrenOfWait, ref.taskId, wait.name).map(rowToChildOutcome) : undefined,
        signal: signal ? rowToSignal(signal) : null,
      },
      now,
    );
    if (decision.hold) {
      if (signal && signal.consumed_at === null) c.run(SQL.consumeSignal, now, signal.id);
      const { outcome } = decision;
      return { suspended: false, outcome: outcome.kind === 'signal' ? { kind: 'signal', signal: { ...outcome.signal, consumedAt: outcome.signal.consumedAt ?? now } } : outcome };
    }
    if (decision.create && wait.kind === 'children') {
      for (const [index, t] of wait.tasks.entries()) {
        c.run(SQL.insertChild, ...newTaskParams(t, ref.taskId, null), wait.name, index);
        createdNotices(t, c);
      }
    }
    const w = waitColumns(decision.waitingFor);
    const row = c.get(SQL.suspend, w.kind, w.name, w.wakeAt, w.pending, w.total, now, ref.taskId);
    if (!row) throw refusal(c, ref.taskId);
    const task = rowToTask(row);
    // The attempt ends (and is given back): its started event, which the row held, is stored before its waiting event.
    storeHeldStart(c, row, task.attempts + 1);
    append(c, task, waitingEvent(task.id, task.lastEventSeq, decision.waitingFor, now));
    return { suspended: true, task, waitingFor: decision.waitingFor };
  });
}

export function childOutcomes(c: SqliteConnection, parentId: string, name: string): ChildOutcome[] {
  return c.all(SQL.childrenOfWait, parentId, name).map(rowToChildOutcome);
}

export function sendSignal(c: SqliteConnection, taskId: string, name: string, data: Json, now: number): Promise<SendSignalResult> {
  checkDurableName('signal', name);
  return c.write((): SendSignalResult => {
    const target = c.get(SQL.signalTarget, taskId);
    if (!target) throw new TaskNotFoundError(taskId);
    if (isTerminal(target.status as TaskStatus)) throw new InvalidStateError(taskId, target.status as string, 'signal');
    const signalId = c.get(SQL.insertSignal, taskId, name, JSON.stringify(data ?? null), now)?.id;
    const bumped = c.get(SQL.bumpEventSeq, now, taskId) as Row;
    append(c, { queue: bumped.queue as string, owner: bumped.owner as string | null }, signalEvent(taskId, bumped.event_seq as number, name, now));
    const resumed = target.status === 'waiting' && target.wait_kind === 'signal' && target.wait_name === name;
    if (resumed) {
      c.run(SQL.consumeSignal, now, signalId as number);
      resume(c, taskId, 'signal', name, now);
    }
    return { task: rowToTask(c.get(SQL.getTask, taskId) as Row), resumed };
  });
}

export function listSignals(c: SqliteConnection, taskId: string): SignalRecord[] {
  const rows = c.all(SQL.listSignals, taskId);
  if (rows.length === 0 && !c.get(SQL.taskExists, taskId)) throw new TaskNotFoundError(taskId);
  return rows.map(rowToSignal);
}

