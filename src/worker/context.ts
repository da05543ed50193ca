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
  /**
   * Aborts when the task is cancelled, times out (its hard limit, timeoutMs: the attempt has failed with TIMEOUT),
   * loses its lease, or the worker shuts down; `reason` says which.
   */
  readonly signal: AbortSignal;
  /**
   * Aborts when the soft time limit (softTimeoutMs) passes, with a `SoftTimeLimitExceeded` error as its reason: wrap
   * up and return. Unlike `signal`, nothing has failed: what the handler returns after it is the task's result. Never
   * aborts for a task without a soft limit.
   */
  readonly softSignal: AbortSignal;
  /** When the soft limit passes, epoch ms on this worker's clock; null without one. */
  readonly softDeadline: number | null;
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

/** What the runtime gives a context besides the task: its signals and logger, made on first use. */
export interface ContextParts {
  signal: () => AbortSignal;
  softSignal: () => AbortSignal;
  softDeadline: number | null;
  log: () => Logger;
}

/** `signal`, `softSignal` and `log` are made on first use: most handlers of short tasks use none of them. */
export function createContext(backend: WorkerBackend, task: Task, ref: AttemptRef, parts: ContextParts): TaskContext {
  const { signal, softSignal, log } = parts;
  return {
    task,
    taskId: task.id,
    attempt: task.attempts,
    get signal() {
      return signal();
    },
    get softSignal() {
      return softSignal();
    },
    softDeadline: parts.softDeadline,
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
