// Helpers of the store conformance suite (suite.ts).
import assert from 'node:assert/strict';
import { uuidv7 } from '../../core/ids.ts';
import type { Progress, Task, TaskEvent, TaskSpec } from '../../core/task.ts';
import { DEFAULT_TASK_DEFAULTS, type NewTask, normalizeTaskSpec } from '../../core/validate.ts';
import type { AttemptRef, Claim, ClaimRequest, FinishRequest, Store, StoreNotice } from '../store.ts';

export interface ConformanceTarget {
  /** A store on a fresh, empty, migrated database. */
  open(): Promise<Store>;
  /** A second store (its own connections) on the database of the last `open()`: a second process, in effect. */
  openAnother(): Promise<Store>;
  /** Drops what `open` made. */
  cleanup(): Promise<void>;
}

export const T0 = 1_800_000_000_000;
export const LEASE = 30_000;

export function newTask(spec: Partial<TaskSpec> = {}, now = T0): NewTask {
  return normalizeTaskSpec({ type: 'work', ...spec }, DEFAULT_TASK_DEFAULTS, now, () => uuidv7(now));
}

export function claimRequest(overrides: Partial<ClaimRequest> = {}): ClaimRequest {
  return { workerId: 'w1', types: ['work'], queues: null, max: 1, leaseMs: LEASE, now: T0, ...overrides };
}

export async function claimOne(store: Store, overrides: Partial<ClaimRequest> = {}): Promise<Claim> {
  const claims = await store.claim(claimRequest(overrides));
  assert.equal(claims.length, 1, 'expected exactly one claim');
  return claims[0];
}

/** Finishes one attempt; checks the slim answer against the stored row and returns the whole task. */
export async function finishOne(store: Store, request: FinishRequest, now = T0): Promise<Task> {
  const [result] = await store.finish([request], now);
  if (!result.ok) throw result.error;
  const task = await store.getTask(request.ref.taskId);
  assert.ok(task);
  const stored = task as unknown as Record<string, unknown>;
  const slim = result.task as unknown as Record<string, unknown>;
  assert.deepEqual(slim, Object.fromEntries(Object.keys(slim).map((key) => [key, stored[key]])), 'the slim answer matches the row');
  for (const key of ['id', 'queue', 'type', 'owner', 'status', 'attempts', 'runAt', 'startedAt', 'lastEventSeq']) assert.ok(key in slim, `finish answers ${key}`);
  return task;
}

export async function kinds(store: Store, id: string): Promise<string[]> {
  return (await store.listEvents(id, 0, 1000)).map((e) => e.kind);
}

export async function waitFor(condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** What the test groups share: the store of the suite (opened in its `before`), and fresh task types. */
export interface Suite {
  target: ConformanceTarget;
  store(): Store;
  /** A task type no other test uses, so tests share one database without seeing each other's tasks. */
  freshType(): string;
}

/** One progress report through appendAttemptEvents; throws its refusal. */
export async function appendProgress(store: Pick<Store, 'appendAttemptEvents'>, ref: AttemptRef, progress: Progress, now = T0): Promise<TaskEvent> {
  const [result] = await store.appendAttemptEvents([{ ref, progress }], now);
  if (!result.ok) throw result.error;
  return result.event;
}

/** One output chunk through appendAttemptEvents; throws its refusal. */
export async function appendOutput(store: Pick<Store, 'appendAttemptEvents'>, ref: AttemptRef, chunk: string, now = T0): Promise<TaskEvent> {
  const [result] = await store.appendAttemptEvents([{ ref, chunk }], now);
  if (!result.ok) throw result.error;
  return result.event;
}

/**
 * Checks that the history of `taskId` reads back as `heard` (every notice since before the task was created)
 * announced it, whole and page by page from any seq (Last-Event-ID): a backend may keep an event in the task row
 * rather than store it (docs/postgres.md), and the history must not tell. Returns the history.
 */
export async function expectHistoryAsAnnounced(store: Store, heard: readonly StoreNotice[], taskId: string): Promise<TaskEvent[]> {
  const stored = await store.listEvents(taskId, 0, 1000);
  const announcedOf = () => heard.flatMap((n) => (n.kind === 'event' && n.event.taskId === taskId ? [n.event] : []));
  await waitFor(() => announcedOf().length >= stored.length);
  assert.deepEqual(stored, announcedOf().sort((x, y) => x.seq - y.seq));
  for (let after = 0; after <= stored.length; after++) {
    assert.deepEqual(await store.listEvents(taskId, after, 2), stored.filter((e) => e.seq > after).slice(0, 2));
  }
  return stored;
}
