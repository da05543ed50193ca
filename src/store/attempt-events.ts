// Progress reports and output chunks of running attempts, appended in batches (Store.appendAttemptEvents): what
// every backend decides the same way, so each only runs its statement. Items of one attempt are grouped so the task
// row is updated once per batch, taking one seq per item in the order they were given; groups go in task id order,
// so that two batches touching the same tasks lock their rows in the same order.
import type { Progress, TaskEvent } from '../core/task.ts';
import type { AttemptEventInput, AttemptRef } from './store.ts';
import { outputEvent, progressEvent } from './transitions.ts';

/** The inputs of one attempt in a batch. */
export interface AttemptEventGroup {
  ref: AttemptRef;
  /** Places of this attempt's inputs in the batch, in order. */
  inputs: number[];
  /** The last progress among them (what the task row keeps), or null when there is none. */
  lastProgress: Progress | null;
}

export function groupByAttempt(inputs: readonly AttemptEventInput[]): AttemptEventGroup[] {
  const groups = new Map<string, AttemptEventGroup>();
  for (const [place, input] of inputs.entries()) {
    const key = `${input.ref.taskId}\u0000${input.ref.attemptToken}`;
    let group = groups.get(key);
    if (!group) {
      group = { ref: input.ref, inputs: [], lastProgress: null };
      groups.set(key, group);
    }
    group.inputs.push(place);
    if ('progress' in input) group.lastProgress = input.progress;
  }
  return [...groups.values()].sort((a, b) => (a.ref.taskId < b.ref.taskId ? -1 : a.ref.taskId > b.ref.taskId ? 1 : 0));
}

/** The events of a group whose task row now has `lastSeq` (its update added one seq per input). */
export function groupEvents(group: AttemptEventGroup, inputs: readonly AttemptEventInput[], lastSeq: number, now: number): TaskEvent[] {
  const first = lastSeq - group.inputs.length + 1;
  return group.inputs.map((place, k) => {
    const input = inputs[place];
    const seq = first + k;
    return 'progress' in input ? progressEvent(input.ref.taskId, seq, input.progress, now) : outputEvent(input.ref.taskId, seq, input.chunk, now);
  });
}
