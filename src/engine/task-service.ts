// The producer and reader side of the engine: validation and defaults, group commit of submits, reads, cancel, retry,
// redrive, live events for followers, and the public side of durable execution (recover, derive, checkpoints,
// signals: docs/durable.md).
import { TaskNotFoundError, ValidationError } from '../core/errors.ts';
import { uuidv7 } from '../core/ids.ts';
import { type DeriveSpec, isTerminal, type Json, type Task, type TaskEvent, type TaskSpec } from '../core/task.ts';
import { checkText } from '../core/input-rules.ts';
import {
  checkCheckpointVersion,
  checkDurableName,
  checkJson,
  checkName,
  type NewTask,
  normalizeTaskSpec,
  type TaskDefaults,
} from '../core/validate.ts';
import type { Checkpoint, CheckpointInfo, CreatedTask, HandoffStore, SendSignalResult, Store, TaskPage, TaskQuery } from '../store/store.ts';
import type { CancelSignal } from './cancel-signal.ts';
import { Coalescer } from './coalescer.ts';
import type { HubFollowOptions, QueueEvent, TaskEventHub } from './event-hub.ts';
import type { Handoffs } from './handoff.ts';
import type { Preparer, TypeRegistry } from './type-settings.ts';

export type { HubFollowOptions as FollowOptions } from './event-hub.ts';

export type { DeriveSpec } from '../core/task.ts';

const isObject = (value: Json): value is { [key: string]: Json } => typeof value === 'object' && value !== null && !Array.isArray(value);

/** The payload of a derived task: a shallow merge when both are objects, else the given payload (or the original's). */
function derivedPayload(original: Json, given: Json | undefined): Json {
  if (given === undefined) return original;
  return isObject(original) && isObject(given) ? { ...original, ...given } : given;
}

/** What a spec must be before its type's settings are read. */
function checkSpec(spec: TaskSpec): void {
  if (typeof spec !== 'object' || spec === null) throw new ValidationError('task must be an object');
  checkName('type', spec.type);
}

export interface TaskServiceDeps {
  store: Pick<
    Store,
    | 'createTasks' | 'getTask' | 'listTasks' | 'listEvents' | 'cancel' | 'retry' | 'retryFailed' | 'deleteTask'
    | 'recover' | 'deriveTask' | 'listCheckpoints' | 'getCheckpoint' | 'sendSignal'
  >;
  now: () => number;
  /** Defaults for tasks that do not say (before each type's own). */
  defaults: TaskDefaults;
  types: Pick<TypeRegistry, 'preparer'>;
  events: TaskEventHub;
  cancels: CancelSignal;
  /** Where the store can start a submitted task for an idle worker of this process (engine/handoff.ts). */
  handoff?: { offers: Handoffs; createAndStart: HandoffStore['createAndStart']; leaseMs: number };
}

export class TaskService {
  readonly #store: TaskServiceDeps['store'];
  readonly #now: () => number;
  readonly #defaults: TaskDefaults;
  readonly #types: TaskServiceDeps['types'];
  readonly #events: TaskEventHub;
  readonly #cancels: CancelSignal;
  readonly #creates: Coalescer<NewTask, CreatedTask>;

  constructor(deps: TaskServiceDeps) {
    this.#store = deps.store;
    this.#now = deps.now;
    this.#defaults = deps.defaults;
    this.#types = deps.types;
    this.#events = deps.events;
    this.#cancels = deps.cancels;
    const store = deps.store;
    const handoff = deps.handoff;
    this.#creates = new Coalescer(handoff ? (tasks) => this.#createHandingOff(tasks, handoff) : (tasks) => store.createTasks(tasks));
  }

  /** A batch of submits, some of which may start at once for idle workers; the workers learn what they got either way. */
  async #createHandingOff(tasks: NewTask[], handoff: NonNullable<TaskServiceDeps['handoff']>): Promise<CreatedTask[]> {
    const assignment = handoff.offers.assign(tasks);
    if (!assignment) return this.#store.createTasks(tasks);
    // The workers get their tasks as soon as the store has them, before they are on the disk (HandoffStore); a
    // submit that failed before its commit settles with none.
    try {
      return (await handoff.createAndStart(tasks, assignment.starts, handoff.leaseMs, this.#now(), (claims) => assignment.settle(claims))).created;
    } finally {
      assignment.settle([]);
    }
  }

  /** Validates (type settings and payload schema included) and fills in defaults: a task ready for any store call. */
  prepare(spec: TaskSpec): Promise<NewTask> {
    return this.#prepare(spec, this.#now());
  }

  async #prepare(spec: TaskSpec, now: number): Promise<NewTask> {
    checkSpec(spec);
    return this.#prepareWith(await this.#types.preparer(), spec, now);
  }

  /** A spec that passed checkSpec, under type settings read once (a batch's tasks share one read). */
  #prepareWith(preparer: Preparer, spec: TaskSpec, now: number): NewTask {
    return normalizeTaskSpec(spec, preparer(spec.type, spec.payload, this.#defaults), now, uuidv7);
  }

  /** Validates and stores one task. Concurrent calls share one transaction. */
  async enqueue(spec: TaskSpec): Promise<CreatedTask> {
    const task = await this.#prepare(spec, this.#now());
    // A debounce or singleton submit may be refused (SingletonConflictError) or merged: its own transaction, so a
    // refusal never fails a batch of others' submits.
    if (task.debounce !== null || task.singleton !== null) return (await this.#store.createTasks([task]))[0];
    return this.#creates.submit(task);
  }

  /** All or nothing: one invalid spec rejects the whole batch before anything is stored. */
  async enqueueMany(specs: readonly TaskSpec[]): Promise<CreatedTask[]> {
    if (!Array.isArray(specs)) throw new ValidationError('tasks: must be an array', 'tasks');
    if (specs.length > 10_000) throw new ValidationError('tasks: at most 10000 tasks per batch', 'tasks');
    const now = this.#now();
    let preparer: Preparer | undefined;
    const tasks = new Array<NewTask>(specs.length);
    for (let i = 0; i < specs.length; i++) {
      try {
        const spec = specs[i];
        checkSpec(spec);
        preparer ??= await this.#types.preparer();
        tasks[i] = this.#prepareWith(preparer, spec, now);
      } catch (error) {
        if (error instanceof ValidationError) {
          throw new ValidationError(`tasks[${i}].${error.message}`, `tasks[${i}].${error.field ?? ''}`);
        }
        throw error;
      }
    }
    return tasks.length ? this.#store.createTasks(tasks) : [];
  }

  async get(id: string): Promise<Task> {
    const task = await this.#store.getTask(checkId(id));
    if (!task) throw new TaskNotFoundError(id);
    return task;
  }

  list(query: TaskQuery): Promise<TaskPage> {
    return this.#store.listTasks(query);
  }

  async events(taskId: string, afterSeq = 0, limit = 1000): Promise<TaskEvent[]> {
    return this.#store.listEvents(checkId(taskId), afterSeq, limit);
  }

  async cancel(id: string, reason = 'cancelled by request'): Promise<Task> {
    const task = await this.#store.cancel(checkId(id), checkText('reason', reason), this.#now());
    if (task.status === 'running') this.#cancels.emit(id);
    return task;
  }

  async retry(id: string): Promise<Task> {
    return this.#store.retry(checkId(id), this.#now());
  }

  /**
   * `retry` for durable tasks: a failed or cancelled task goes back to its queue and resumes from its latest
   * checkpoint, or from `fromVersion` (saved again as the new latest, so history is kept).
   */
  async recover(id: string, options: { fromVersion?: number } = {}): Promise<Task> {
    checkId(id);
    if (typeof options !== 'object' || options === null) throw new ValidationError('options: must be an object');
    const { fromVersion } = options;
    if (fromVersion !== undefined) checkCheckpointVersion('fromVersion', fromVersion);
    return this.#store.recover(id, fromVersion === undefined ? {} : { fromVersion }, this.#now());
  }

  /**
   * A new task made from task `id` (its parentId), validated like any submit. With `fromCheckpoint` it starts from a
   * copy of that checkpoint as its version 1, created in the same transaction (Store.deriveTask).
   */
  async derive(id: string, spec: DeriveSpec = {}): Promise<Task> {
    if (typeof spec !== 'object' || spec === null || Array.isArray(spec)) throw new ValidationError('spec: must be an object');
    const { fromCheckpoint } = spec;
    if (fromCheckpoint !== undefined) checkCheckpointVersion('fromCheckpoint', fromCheckpoint, 'latest');
    // The rest of the spec (payload, type, queue, tags, …) is checked as a submit's, after the merge with the original.
    const original = await this.get(id);
    const now = this.#now();
    const task = await this.#prepare(
      {
        type: spec.type ?? original.type,
        payload: derivedPayload(original.payload, spec.payload),
        queue: spec.queue ?? original.queue,
        priority: spec.priority ?? original.priority,
        maxAttempts: spec.maxAttempts ?? original.maxAttempts,
        backoff: original.backoff,
        timeoutMs: spec.timeoutMs === undefined ? original.timeoutMs : spec.timeoutMs,
        tags: spec.tags ?? original.tags,
        parentId: original.id,
        ...(original.owner !== null ? { owner: original.owner } : {}),
        ...(original.concurrencyKey !== null ? { concurrencyKey: original.concurrencyKey } : {}),
        // A derived run is the same kind of work: it counts against the same throttle key and cost windows.
        ...(original.throttle !== null ? { throttle: original.throttle } : {}),
        ...(original.cost !== null ? { cost: original.cost } : {}),
      },
      now,
    );
    if (fromCheckpoint === undefined) return (await this.#creates.submit(task)).task;
    return this.#store.deriveTask(task, { taskId: original.id, version: fromCheckpoint }, now);
  }

  /** The task's checkpoint versions, oldest first, without their states. */
  async checkpoints(id: string): Promise<CheckpointInfo[]> {
    return this.#store.listCheckpoints(checkId(id));
  }

  /** One checkpoint with its state, or the latest; null when the task has no such version. */
  async checkpoint(id: string, version: number | 'latest'): Promise<Checkpoint | null> {
    return this.#store.getCheckpoint(checkId(id), checkCheckpointVersion('version', version, 'latest'));
  }

  /**
   * Sends signal `name` to a task: a task waiting for it is queued again (`resumed`), otherwise it is kept for a later
   * wait. A finished task refuses it (InvalidStateError). Name and data follow the input rules (a result's, for data).
   */
  async signal(id: string, name: string, data: Json = null): Promise<SendSignalResult> {
    checkId(id);
    checkDurableName('signal', name);
    return this.#store.sendSignal(id, name, checkJson('data', data), this.#now());
  }

  /** Dead-letter redrive: puts every task of the queue that has failed by now back in it, in batches; how many. */
  async redrive(queue: string, batchSize = 500): Promise<number> {
    checkName('queue', queue);
    const now = this.#now();
    let total = 0;
    for (;;) {
      const n = await this.#store.retryFailed(queue, batchSize, now);
      total += n;
      if (n < batchSize) return total;
    }
  }

  /** Deletes a task that is not running, with its history. */
  async deleteTask(id: string): Promise<void> {
    if (!(await this.#store.deleteTask(checkId(id)))) throw new TaskNotFoundError(id);
  }

  /** History then live events of one task, ending after its terminal event. */
  follow(taskId: string, options: HubFollowOptions = {}): AsyncGenerator<TaskEvent> {
    return this.#events.follow(taskId, options);
  }

  /** Every event of every task as it happens (deduping is the watcher's job); returns the function that stops it. */
  watchAll(watcher: (event: QueueEvent) => void): () => void {
    return this.#events.watchAll(watcher);
  }

  get followerCount(): number {
    return this.#events.followerCount;
  }

  /** The task once it is finished, or as it is when `timeoutMs` runs out. */
  async waitUntilFinished(id: string, timeoutMs: number): Promise<Task> {
    const task = await this.get(id);
    if (isTerminal(task.status) || timeoutMs <= 0) return task;
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), timeoutMs);
    try {
      for await (const event of this.follow(id, { afterSeq: task.lastEventSeq, signal: abort.signal })) {
        if (event.kind === 'completed' || event.kind === 'failed' || event.kind === 'cancelled') break;
      }
    } finally {
      clearTimeout(timer);
      abort.abort();
    }
    return this.get(id);
  }
}

/** A task id as the store can look it up: on PostgreSQL, text with U+0000 is an error rather than no such task. */
function checkId(id: string): string {
  if (typeof id !== 'string') throw new ValidationError('id: must be a string', 'id');
  return checkText('id', id);
}
