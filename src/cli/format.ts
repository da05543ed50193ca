import type { Task, TaskEvent, WaitingFor } from '../core/task.ts';
import type { CheckpointInfo } from '../store/store.ts';

const iso = (ms: number | null) => (ms === null ? '-' : new Date(ms).toISOString());

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

export function describeTask(task: Task): string {
  const lines = [
    `id:        ${task.id}`,
    `type:      ${task.type}   queue: ${task.queue}   priority: ${task.priority}`,
    `status:    ${task.status}   attempts: ${task.attempts}/${task.maxAttempts}`,
    `created:   ${iso(task.createdAt)}   started: ${iso(task.startedAt)}   finished: ${iso(task.completedAt)}`,
  ];
  if (task.status === 'scheduled') lines.push(`runs at:   ${iso(task.runAt)}`);
  if (task.waitingFor) lines.push(`waits for: ${describeWait(task.waitingFor)}`);
  if (task.parentId) lines.push(`parent:    ${task.parentId}`);
  // `?? null`: a task from an older server has no flow control fields.
  if (task.throttle) lines.push(`throttle:  ${task.throttle.key}: ${task.throttle.limit} per ${task.throttle.periodMs} ms`);
  if ((task.cost ?? null) !== null || (task.reportedCost ?? null) !== null) {
    lines.push(`cost:      ${task.cost ?? 'none declared'}${(task.reportedCost ?? null) === null ? '' : `   reported: ${task.reportedCost}`}`);
  }
  if (task.progress) lines.push(`progress:  ${task.progress.percent}%${task.progress.message ? ` ${task.progress.message}` : ''}`);
  if (task.result !== null) lines.push(`result:    ${JSON.stringify(task.result)}`);
  if (task.error) lines.push(`error:     ${task.error.message}${task.error.code ? ` (${task.error.code})` : ''}`);
  return `${lines.join('\n')}\n`;
}

/** What a waiting task waits for, in words. */
export function describeWait(wait: WaitingFor): string {
  switch (wait.kind) {
    case 'children':
      return `children "${wait.name}": ${wait.pending} of ${wait.total} not finished`;
    case 'sleep':
      return `sleep "${wait.name}" until ${iso(wait.until)}`;
    case 'signal':
      return `signal "${wait.name}"${wait.timeoutAt === null ? '' : ` (gives up at ${iso(wait.timeoutAt)})`}`;
  }
}

/** The checkpoints section of `taskhub status`: one line per version. */
export function checkpointLines(checkpoints: readonly CheckpointInfo[]): string[] {
  return checkpoints.map((c) => `  v${String(c.version).padEnd(4)} ${String(c.size).padStart(9)} B  ${iso(c.createdAt)}  ${c.label ?? ''}`.trimEnd());
}

export function taskRow(task: Task): string {
  const progress = task.progress ? `${task.progress.percent}%` : '';
  return `${task.id}  ${task.status.padEnd(9)}  ${task.queue.padEnd(12)}  ${task.type.padEnd(16)}  ${String(task.attempts).padStart(2)}/${task.maxAttempts}  ${progress.padStart(4)}  ${iso(task.createdAt)}`;
}

export function eventLine(event: TaskEvent): string {
  return `#${event.seq} ${new Date(event.at).toISOString()} ${event.kind} ${JSON.stringify(event.data)}`;
}
