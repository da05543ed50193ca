import type { Logger } from 'pino';
import { ValidationError } from '../core/errors.ts';
import type { Json, Progress, Task } from '../core/task.ts';
import type { AttemptRef } from '../store/store.ts';
import type { WorkerBackend } from './backend.ts';

/** What a handler gets besides its payload. */
export interface TaskContext {
  readonly task: Task;
  readonly taskId: string;
  /** 1 on the first run, 2 on the first retry, … */
  readonly attempt: number;
  /** Aborts when the task is cancelled, times out, loses its lease, or the worker shuts down; `reason` says which. */
  readonly signal: AbortSignal;
  /** A logger with taskId, queue, type and attempt bound. */
  readonly log: Logger;
  /** Reports progress: `progress(30, 'calling the model')` or `progress({ percent, message, phase, data })`. */
  progress(percent: number | Progress, message?: string, data?: Json): Promise<void>;
  /** Streams a piece of partial output (generated text, a log line) to followers. */
  output(chunk: string): Promise<void>;
}

export type Handler<P = Json, R = unknown> = (payload: P, ctx: TaskContext) => R | Promise<R>;

function toProgress(percent: number | Progress, message?: string, data?: Json): Progress {
  const p: Progress = typeof percent === 'number' ? { percent, ...(message === undefined ? {} : { message }), ...(data === undefined ? {} : { data }) } : percent;
  if (typeof p.percent !== 'number' || !(p.percent >= 0 && p.percent <= 100)) {
    throw new ValidationError('progress.percent: must be a number from 0 to 100', 'percent');
  }
  return p;
}

/** `signal` and `log` are made on first use: most handlers of short tasks use neither. */
export function createContext(backend: WorkerBackend, task: Task, ref: AttemptRef, signal: () => AbortSignal, log: () => Logger): TaskContext {
  return {
    task,
    taskId: task.id,
    attempt: task.attempts,
    get signal() {
      return signal();
    },
    get log() {
      return log();
    },
    async progress(percent, message, data) {
      await backend.progress(ref, toProgress(percent, message, data));
    },
    async output(chunk) {
      if (typeof chunk !== 'string') throw new ValidationError('output: chunk must be a string', 'chunk');
      await backend.output(ref, chunk);
    },
  };
}
