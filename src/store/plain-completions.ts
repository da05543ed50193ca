// Which requests of a finish batch a backend may apply in one plain statement: the common case of a drain (a
// handler returned, its attempt completes), which needs none of the outcome-by-outcome machinery of the full finish.
import type { ClaimedTask, FinishedTask, FinishRequest } from './store.ts';

/**
 * Places of the requests that are completions without a lease condition, of tasks that appear once in the batch (a
 * task named twice is left to the full path, which keeps the first-wins order). Whatever a backend's plain statement
 * did not apply (a stale token, a child of a wait) goes the full way too, which refuses or applies it.
 */
export function plainCompletions(requests: readonly FinishRequest[]): number[] {
  const seen = new Map<string, number>();
  // Index loops: this runs for every finished task, and entries() makes two objects per element.
  for (let i = 0; i < requests.length; i++) {
    const { taskId } = requests[i].ref;
    seen.set(taskId, seen.has(taskId) ? -1 : i);
  }
  const places: number[] = [];
  for (let i = 0; i < requests.length; i++) {
    const { ref, outcome, onlyIfLeaseExpired } = requests[i];
    if (outcome.status === 'completed' && !onlyIfLeaseExpired && seen.get(ref.taskId) === i) places.push(i);
  }
  return places;
}

/**
 * The tasks the requests at `places` name as their claims returned them (AttemptRef.claimed), in that order; null when
 * any request names none (an HTTP worker's): its batch then reads the columns back.
 */
export function claimedTasks(requests: readonly FinishRequest[], places: readonly number[]): ClaimedTask[] | null {
  const tasks = new Array<ClaimedTask>(places.length);
  for (let k = 0; k < places.length; k++) {
    const { claimed } = requests[places[k]].ref;
    if (claimed === undefined) return null;
    tasks[k] = claimed;
  }
  return tasks;
}

/**
 * The task a plain completion left, from what its claim returned (AttemptRef.claimed) and the row's new event number:
 * a completion changes no other column of those a finish answers with.
 */
export function completedAsClaimed(taskId: string, claimed: ClaimedTask, lastEventSeq: number | string): FinishedTask {
  return {
    id: taskId,
    queue: claimed.queue,
    type: claimed.type,
    owner: claimed.owner,
    status: 'completed',
    attempts: claimed.attempts,
    runAt: claimed.runAt,
    startedAt: claimed.startedAt,
    lastEventSeq: Number(lastEventSeq),
  };
}
