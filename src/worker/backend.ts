// What the worker runtime needs from whoever hands out tasks: the local engine's WorkerGateway (hub.attempts), or a
// Taskhub server over HTTP.
import type { Json, Progress, TaskError, TaskEvent } from '../core/task.ts';
import type { FinishExtras, SuspendAnswer, WorkerWait } from '../engine/attempt-service.ts';
import type { AttemptRef, CheckpointInfo, Claim, FinishedTask, LeaseState, StepRecord, WorkerInfo } from '../store/store.ts';

export interface WorkerBackend {
  readonly leaseMs: number;
  claim(options: { workerId: string; types: readonly string[]; queues?: readonly string[] | null; max: number }): Promise<Claim[]>;
  /** Read before claiming, pass to waitForWork, so a wake-up between the two is not lost. */
  readonly readyVersion: number;
  waitForWork(seenVersion: number, queues: readonly string[] | null, maxWaitMs: number, signal?: AbortSignal): Promise<void>;
  onCancelRequested(listener: (taskId: string) => void): () => void;
  heartbeat(ref: AttemptRef): Promise<LeaseState>;
  progress(ref: AttemptRef, progress: Progress): Promise<TaskEvent>;
  output(ref: AttemptRef, chunk: string): Promise<TaskEvent>;
  /** `extras`: what the handler reported beside its outcome (its cost: ctx.reportCost). */
  complete(ref: AttemptRef, result: Json, extras?: FinishExtras): Promise<FinishedTask>;
  /** Retried or dead-lettered as the engine decides; ends `cancelled` when a cancel is pending. */
  fail(ref: AttemptRef, error: TaskError, extras?: FinishExtras): Promise<FinishedTask>;
  cancelled(ref: AttemptRef, reason?: string, extras?: FinishExtras): Promise<FinishedTask>;
  release(ref: AttemptRef, reason?: string): Promise<FinishedTask>;
  /** The worker's periodic announcement of itself, for the workers list. */
  reportWorker(info: WorkerInfo): Promise<void>;
  forgetWorker(id: string): Promise<void>;

  // ---- durable execution (docs/durable.md): used only by handlers that call ctx.checkpoint, step, children, … ----
  /** CheckpointTooLargeError over the server's limit (nothing stored). */
  checkpoint(ref: AttemptRef, state: Json, label?: string | null): Promise<CheckpointInfo>;
  steps(taskId: string): Promise<StepRecord[]>;
  /** StepExistsError when the name is stored already. */
  saveStep(ref: AttemptRef, name: string, result: Json): Promise<StepRecord>;
  /** `suspended: true` ends the attempt: the runtime reports no outcome for it. */
  suspend(ref: AttemptRef, wait: WorkerWait): Promise<SuspendAnswer>;
}
