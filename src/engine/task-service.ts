// The producer and reader side of the engine: validation and defaults, group commit of submits, reads, cancel, retry,
// redrive, and live events for followers.
import { TaskNotFoundError, ValidationError } from '../core/errors.ts';
import { uuidv7 } from '../core/ids.ts';
import { isTerminal, type Task, type TaskEvent, type TaskSpec } from '../core/task.ts';
import { checkName, type NewTask, normalizeTaskSpec, type TaskDefaults } from '../core/validate.ts';
import type { CreatedTask, Store, TaskPage, TaskQuery } from '../store/store.ts';
import type { CancelSignal } from './cancel-signal.ts';
import { Coalescer } from './coalescer.ts';
import type { HubFollowOptions, QueueEvent, TaskEventHub } from './event-hub.ts';
import type { TypeRegistry } from './type-settings.ts';

export type { HubFollowOptions as FollowOptions } from './event-hub.ts';

export interface TaskServiceDeps {
  store: Pick<Store, 'createTasks' | 'getTask' | 'listTasks' | 'listEvents' | 'cancel' | 'retry' | 'retryFailed' | 'deleteTask'>;
  now: () => number;
  /** Defaults for tasks that do not say (before each type's own). */
  defaults: TaskDefaults;
  types: Pick<TypeRegistry, 'prepare'>;
  events: TaskEventHub;
  cancels: CancelSignal;
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
    this.#creates = new Coalescer((tasks) => store.createTasks(tasks));
  }

  /** Validates (type settings and payload schema included) and fills in defaults: a task ready for any store call. */
  prepare(spec: TaskSpec): Promise<NewTask> {
    return this.#prepare(spec, this.#now());
  }

  async #prepare(spec: TaskSpec, now: number): Promise<NewTask> {
    if (typeof spec !== 'object' || spec === null) throw new ValidationError('task must be an object');
    checkName('type', spec.type);
    const defaults = await this.#types.prepare(spec.type, spec.payload, this.#defaults);
    return normalizeTaskSpec(spec, defaults, now, () => uuidv7(now));
  }

  /** Validates and stores one task. Concurrent calls share one transaction. */
  async enqueue(spec: TaskSpec): Promise<CreatedTask> {
    return this.#creates.submit(await this.#prepare(spec, this.#now()));
  }

  /** All or nothing: one invalid spec rejects the whole batch before anything is stored. */
  async enqueueMany(specs: readonly TaskSpec[]): Promise<CreatedTask[]> {
    if (!Array.isArray(specs)) throw new ValidationError('tasks: must be an array', 'tasks');
    if (specs.length > 10_000) throw new ValidationError('tasks: at most 10000 tasks per batch', 'tasks');
    const now = this.#now();
    const tasks: NewTask[] = [];
    for (const [i, spec] of specs.entries()) {
      try {
        tasks.push(await this.#prepare(spec, now));
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
    const task = await this.#store.getTask(id);
    if (!task) throw new TaskNotFoundError(id);
    return task;
  }

  list(query: TaskQuery): Promise<TaskPage> {
    return this.#store.listTasks(query);
  }

  events(taskId: string, afterSeq = 0, limit = 1000): Promise<TaskEvent[]> {
    return this.#store.listEvents(taskId, afterSeq, limit);
  }

  async cancel(id: string, reason = 'cancelled by request'): Promise<Task> {
    const task = await this.#store.cancel(id, reason, this.#now());
    if (task.status === 'running') this.#cancels.emit(id);
    return task;
  }

  retry(id: string): Promise<Task> {
    return this.#store.retry(id, this.#now());
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
    if (!(await this.#store.deleteTask(id))) throw new TaskNotFoundError(id);
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
