// What task commands talk to (submit, status, list, events, follow): the local store, or a running server with --url.
// Its own module so that both implementations (target.ts, remote-target.ts) import it and neither imports the other.
import type { Json, Task, TaskEvent, TaskSpec } from '../core/task.ts';
import type { DeriveSpec } from '../engine/task-service.ts';
import type { CheckpointInfo, TaskPage, TaskQuery } from '../store/store.ts';

export interface CliTarget {
  /** `merged`: folded into an existing task, by its debounce key or a singleton `queue-one`. */
  submit(spec: TaskSpec): Promise<{ task: Task; created: boolean; merged?: 'debounce' | 'queue-one' }>;
  get(id: string): Promise<Task>;
  list(query: TaskQuery): Promise<TaskPage>;
  events(id: string): Promise<TaskEvent[]>;
  follow(id: string): AsyncIterable<TaskEvent>;
  // durable execution (docs/durable.md)
  checkpoints(id: string): Promise<CheckpointInfo[]>;
  signal(id: string, name: string, data: Json): Promise<{ resumed: boolean; task: Task }>;
  recover(id: string, options: { fromVersion?: number }): Promise<Task>;
  derive(id: string, spec: DeriveSpec): Promise<Task>;
  close(): Promise<void>;
}
