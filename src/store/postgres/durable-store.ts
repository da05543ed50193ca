// Durable execution on PostgreSQL (docs/durable.md, "Store model"): checkpoints, recover and derive, steps, suspend,
// children's outcomes, signals, and the cancel of a waiting task or of a child of a wait. Each is a function of the
// pool and the schema's statements (sql/durable.ts) that maps rows (rows.ts) and hands its notices to `announce` once
// its write committed; PostgresStore delegates to them. The calls that must decide on what they read (suspend,
// sendSignal, recover, that cancel) are one short transaction that first locks the task row. What a wait means is
// decided in ../waits.ts, events and notices are named in ../transitions.ts. The wake-ups that ride on the hot paths
// stay in their statements: a child's finish (sql/attempts.ts, finishChildren) and due waits (the claim's promotion).
import type { PoolClient } from 'pg';
import { InvalidStateError, StepExistsError, TaskNotFoundError, ValidationError } from '../../core/errors.ts';
import { isTerminal, type Json, type Task, type TaskError, type TaskStatus } from '../../core/task.ts';
import { checkDurableName, type NewTask } from '../../core/validate.ts';
import type {
  AttemptRef,
  Checkpoint,
  CheckpointInfo,
  ChildOutcome,
  SendSignalResult,
  SignalRecord,
  StepRecord,
  StoreNotice,
  SuspendResult,
  WaitRequest,
} from '../store.ts';
import {
  cancelledEvent,
  cancelRequestNotice,
  checkpointEvent,
  childFinishedEvent,
  createdNotices,
  eventNotice,
  readyNotice,
  recoverEvent,
  resumedEvent,
  type ResumeReason,
  signalEvent,
  waitingEvent,
} from '../transitions.ts';
import { checkDerivedTask, checkWait, decideWait, derivedLabel, recoverLabel, waitColumns } from '../waits.ts';
import { newTaskParams } from './encoding.ts';
import { DEADLOCK_DETECTED } from './errors.ts';
import type { PgPool } from './pool.ts';
import { mustExist, refusal } from './refusal.ts';
import {
  type AppendedEventRow,
  type CheckpointRow,
  type ChildRow,
  rowToCheckpoint,
  rowToCheckpointInfo,
  rowToChildOutcome,
  rowToSignal,
  rowToStep,
  rowToTask,
  type SignalRow,
  type StepRow,
  type TaskRow,
} from './rows.ts';
import type { PostgresSql } from './sql.ts';

/** What the store's delegated calls (durable, attempts, flow) use of it: its pool, its statements, how notices go out. */
export interface PgStoreDb {
  pool: PgPool;
  sql: PostgresSql;
  /** After a write committed: its notices to this process's listeners at once, and to the other processes. */
  announce: (notices: readonly StoreNotice[]) => void;
  /** Whether anyone, here or in another process, may want the notices of attempts starting and completing now. */
  announcesStartsAndCompletions: () => boolean;
}

export async function saveCheckpoint(db: PgStoreDb, ref: AttemptRef, state: Json, options: { label?: string | null; size: number }, now: number): Promise<CheckpointInfo> {
  const label = options.label ?? null;
  const [row] = await db.pool.query<AppendedEventRow & { checkpoint_version: number }>(db.sql.saveCheckpoint, [
    ref.taskId,
    ref.attemptToken,
    label,
    JSON.stringify(state ?? null),
    now,
    options.size,
  ]);
  if (!row) throw await refusal(db, ref.taskId);
  const version = row.checkpoint_version;
  db.announce([eventNotice(row, checkpointEvent(ref.taskId, row.event_seq, { version, label, size: options.size }, now))]);
  return { version, label, size: options.size, createdAt: now };
}

export async function listCheckpoints(db: PgStoreDb, taskId: string): Promise<CheckpointInfo[]> {
  const rows = await db.pool.query<CheckpointRow>(db.sql.listCheckpoints, [taskId]);
  if (rows.length === 0) await mustExist(db, taskId);
  return rows.map(rowToCheckpointInfo);
}

export async function getCheckpoint(db: PgStoreDb, taskId: string, version: number | 'latest'): Promise<Checkpoint | null> {
  const [row] =
    version === 'latest'
      ? await db.pool.query<CheckpointRow>(db.sql.latestCheckpoint, [taskId])
      : await db.pool.query<CheckpointRow>(db.sql.getCheckpoint, [taskId, version]);
  return row ? rowToCheckpoint(row) : null;
}

export async function recover(db: PgStoreDb, taskId: string, options: { fromVersion?: number }, now: number): Promise<Task> {
  const from = options.fromVersion;
  const task = await db.pool.transaction(async (client) => {
    const [current] = await db.pool.query<{ status: TaskStatus; checkpoint_version: number }>(db.sql.lockForRecover, [taskId], client);
    if (!current) throw new TaskNotFoundError(taskId);
    if (current.status !== 'failed' && current.status !== 'cancelled') throw new InvalidStateError(taskId, current.status, 'recover');
    let version = current.checkpoint_version;
    if (from !== undefined && from !== version) {
      const copied = await db.pool.query(db.sql.copyCheckpoint, [taskId, from, version + 1, recoverLabel(from), now], client);
      if (copied.length === 0) throw new ValidationError(`task ${taskId} has no checkpoint version ${from}`, 'fromVersion');
      version += 1;
    }
    const [row] = await db.pool.query<TaskRow>(db.sql.recover, [taskId, now, version, from ?? null], client);
    return rowToTask(row);
  });
  db.announce([eventNotice(task, recoverEvent(taskId, task.lastEventSeq, from ?? null, now)), readyNotice(task.queue)]);
  return task;
}

export async function deriveTask(db: PgStoreDb, t: NewTask, from: { taskId: string; version: number | 'latest' }, now: number): Promise<Task> {
  checkDerivedTask(t);
  const { task, label, size } = await db.pool.transaction(async (client) => {
    // Checkpoints are immutable: the version read here is still there when the copy below runs.
    const [source] = await db.pool.query<{ version: number }>(db.sql.checkpointToCopy, [from.taskId, from.version === 'latest' ? null : from.version], client);
    if (!source) {
      await mustExist(db, from.taskId);
      throw new ValidationError(`task ${from.taskId} has no checkpoint ${from.version === 'latest' ? 'yet' : `version ${from.version}`}`, 'fromCheckpoint');
    }
    await db.pool.query(db.sql.createTasks, newTaskParams([t]), client);
    const label = derivedLabel(from.taskId, source.version);
    const [row] = await db.pool.query<TaskRow & { copied_size: number }>(db.sql.startFromCheckpoint, [t.id, from.taskId, source.version, label, now], client);
    // Nothing copied: the source was deleted between the two statements (its checkpoints go with it).
    if (!row) throw new TaskNotFoundError(from.taskId);
    return { task: rowToTask(row), label, size: row.copied_size };
  });
  const notices: StoreNotice[] = [];
  createdNotices(t, notices);
  notices.push(eventNotice(task, checkpointEvent(task.id, task.lastEventSeq, { version: 1, label, size }, now)));
  db.announce(notices);
  return task;
}

export async function saveStep(db: PgStoreDb, ref: AttemptRef, name: string, result: Json, now: number): Promise<StepRecord> {
  checkDurableName('step', name);
  const [row] = await db.pool.query<{ owned: number; inserted: number }>(db.sql.saveStep, [
    ref.taskId,
    ref.attemptToken,
    name,
    JSON.stringify(result ?? null),
    now,
  ]);
  if (row.owned === 0) throw await refusal(db, ref.taskId);
  if (row.inserted === 0) throw new StepExistsError(ref.taskId, name);
  return { name, result: result ?? null, createdAt: now };
}

export async function listSteps(db: PgStoreDb, taskId: string): Promise<StepRecord[]> {
  const rows = await db.pool.query<StepRow>(db.sql.listSteps, [taskId]);
  if (rows.length === 0) await mustExist(db, taskId);
  return rows.map(rowToStep);
}

export async function suspend(db: PgStoreDb, ref: AttemptRef, wait: WaitRequest, now: number): Promise<SuspendResult> {
  checkWait(ref.taskId, wait);
  const notices: StoreNotice[] = [];
  const result = await db.pool.transaction(async (client): Promise<SuspendResult> => {
    const [owner] = await db.pool.query<{ id: string }>(db.sql.lockRunning, [ref.taskId, ref.attemptToken], client);
    if (!owner) throw await refusal(db, ref.taskId);
    const children =
      wait.kind === 'children'
        ? (await db.pool.query<ChildRow>(db.sql.lockChildrenOfWait, [ref.taskId, wait.name], client)).map(rowToChildOutcome)
        : undefined;
    const [signal] = wait.kind === 'signal' ? await db.pool.query<SignalRow>(db.sql.firstSignal, [ref.taskId, wait.name], client) : [];
    const decision = decideWait(wait, { children, signal: signal ? rowToSignal(signal) : null }, now);
    if (decision.hold) {
      const { outcome } = decision;
      if (outcome.kind !== 'signal' || !signal) return { suspended: false, outcome };
      if (signal.consumed_at === null) await db.pool.query(db.sql.consumeSignal, [signal.id, now], client);
      return { suspended: false, outcome: { kind: 'signal', signal: { ...outcome.signal, consumedAt: outcome.signal.consumedAt ?? now } } };
    }
    if (decision.create && wait.kind === 'children') {
      const tasks = wait.tasks.map((t) => ({ ...t, parentId: ref.taskId }));
      await db.pool.query(db.sql.createTasks, newTaskParams(tasks), client);
      await db.pool.query(db.sql.markChildren, [tasks.map((t) => t.id), wait.name], client);
      for (const t of tasks) createdNotices(t, notices);
    }
    const c = waitColumns(decision.waitingFor);
    const [row] = await db.pool.query<TaskRow>(
      db.sql.suspend,
      [ref.taskId, c.kind, c.name, c.wakeAt, c.pending, c.total, now, JSON.stringify(decision.waitingFor)],
      client,
    );
    const task = rowToTask(row);
    notices.push(eventNotice(task, waitingEvent(task.id, task.lastEventSeq, decision.waitingFor, now)));
    return { suspended: true, task, waitingFor: decision.waitingFor };
  });
  db.announce(notices);
  return result;
}

export async function childOutcomes(db: PgStoreDb, parentId: string, name: string): Promise<ChildOutcome[]> {
  return (await db.pool.query<ChildRow>(db.sql.childrenOfWait, [parentId, name])).map(rowToChildOutcome);
}

export async function sendSignal(db: PgStoreDb, taskId: string, name: string, data: Json, now: number): Promise<SendSignalResult> {
  checkDurableName('signal', name);
  const notices: StoreNotice[] = [];
  const result = await db.pool.transaction(async (client): Promise<SendSignalResult> => {
    type Target = { status: TaskStatus; wait_kind: string | null; wait_name: string | null };
    const [target] = await db.pool.query<Target>(db.sql.lockForSignal, [taskId], client);
    if (!target) throw new TaskNotFoundError(taskId);
    if (isTerminal(target.status)) throw new InvalidStateError(taskId, target.status, 'signal');
    const [sent] = await db.pool.query<AppendedEventRow & { signal_id: string }>(
      db.sql.sendSignal,
      [taskId, name, JSON.stringify(data ?? null), now],
      client,
    );
    notices.push(eventNotice(sent, signalEvent(taskId, sent.event_seq, name, now)));
    const resumed = target.status === 'waiting' && target.wait_kind === 'signal' && target.wait_name === name;
    if (resumed) {
      await db.pool.query(db.sql.consumeSignal, [sent.signal_id, now], client);
      await resume(db, client, taskId, 'signal', name, now, notices);
    }
    const [row] = await db.pool.query<TaskRow>(db.sql.getTask, [taskId], client);
    return { task: rowToTask(row), resumed };
  });
  db.announce(notices);
  return result;
}

export async function listSignals(db: PgStoreDb, taskId: string): Promise<SignalRecord[]> {
  const rows = await db.pool.query<SignalRow>(db.sql.listSignals, [taskId]);
  if (rows.length === 0) await mustExist(db, taskId);
  return rows.map(rowToSignal);
}

/** Inside a transaction: queues a waiting task again with its `resumed` event. */
async function resume(
  db: PgStoreDb,
  client: PoolClient,
  id: string,
  reason: ResumeReason,
  name: string,
  now: number,
  notices: StoreNotice[],
): Promise<void> {
  const [row] = await db.pool.query<AppendedEventRow & { id: string }>(db.sql.resume, [id, now, reason, name], client);
  if (!row) return;
  notices.push(eventNotice(row, resumedEvent(id, row.event_seq, reason, name, now)), readyNotice(row.queue));
}

/** The cancel of a waiting task or of a child of a wait, in one transaction (run again after a deadlock). */
export async function cancelDurable(db: PgStoreDb, id: string, error: TaskError, now: number): Promise<Task> {
  for (let round = 1; ; round++) {
    const notices: StoreNotice[] = [];
    try {
      const task = await db.pool.transaction((client) => cancelOne(db, client, id, error, now, notices));
      db.announce(notices);
      return task;
    } catch (e) {
      if ((e as { code?: unknown }).code !== DEADLOCK_DETECTED || round >= 3) throw e;
    }
  }
}

/**
 * Inside a transaction. A waiting parent's unfinished children of its wait are cancelled with it (each as by its
 * own cancel: running ones get cancelRequested, waiting ones cancel theirs); a child cancelled at once tells its parent.
 */
export async function cancelOne(db: PgStoreDb, client: PoolClient, id: string, error: TaskError, now: number, notices: StoreNotice[]): Promise<Task> {
  type Target = { status: TaskStatus; parent_id: string | null; child_key: string | null; wait_kind: string | null; wait_name: string | null };
  const [target] = await db.pool.query<Target>(db.sql.lockForCancel, [id], client);
  if (!target) throw new TaskNotFoundError(id);
  if (isTerminal(target.status)) throw new InvalidStateError(id, target.status, 'cancel');
  if (target.status === 'running') {
    const [row] = await db.pool.query<TaskRow>(db.sql.requestCancel, [id, now], client);
    notices.push(cancelRequestNotice(id));
    return rowToTask(row);
  }
  const [row] = await db.pool.query<TaskRow>(db.sql.cancelNowDurable, [id, JSON.stringify(error), now], client);
  const task = rowToTask(row);
  notices.push(eventNotice(task, cancelledEvent(id, task.lastEventSeq, error, now)));
  if (target.status === 'waiting' && target.wait_kind === 'children') {
    const children = await db.pool.query<{ id: string }>(db.sql.unfinishedChildren, [id, target.wait_name], client);
    for (const child of children) await cancelOne(db, client, child.id, error, now, notices);
  }
  if (target.child_key !== null && target.parent_id !== null) {
    await childFinished(db, client, target.parent_id, target.child_key, { id, status: 'cancelled' }, now, notices);
  }
  return task;
}

/** Inside a transaction: a child of its parent's current wait ended (outside finish, which does this in its statement). */
async function childFinished(
  db: PgStoreDb,
  client: PoolClient,
  parentId: string,
  name: string,
  child: { id: string; status: TaskStatus },
  now: number,
  notices: StoreNotice[],
): Promise<void> {
  type ParentRow = { id: string; queue: string; owner: string | null; status: TaskStatus; event_seq: number; children_pending: number };
  const [parent] = await db.pool.query<ParentRow>(db.sql.childFinished, [parentId, name, child.id, child.status, now], client);
  if (!parent) return;
  const woke = parent.status === 'queued';
  const seq = parent.event_seq;
  notices.push(eventNotice(parent, childFinishedEvent(parentId, woke ? seq - 1 : seq, child, name, parent.children_pending, now)));
  if (woke) notices.push(eventNotice(parent, resumedEvent(parentId, seq, 'children', name, now)), readyNotice(parent.queue));
}

