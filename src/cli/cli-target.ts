// What task commands talk to (submit, status, list, events, follow): the local store, or a running server with --url.
// Its own module so that both implementations (target.ts, remote-target.ts) import it and neither imports the other.
import type { Task, TaskEvent, TaskSpec } from '../core/task.ts';
import type { TaskPage, TaskQuery } from '../store/store.ts';

export interface CliTarget {
  submit(spec: TaskSpec): Promise<{ task: Task; created: boolean }>;
  get(id: string): Promise<Task>;
  list(query: TaskQuery): Promise<TaskPage>;
  events(id: string): Promise<TaskEvent[]>;
  follow(id: string): AsyncIterable<TaskEvent>;
  close(): Promise<void>;
}
