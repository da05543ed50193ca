// What a refused attempt call stands for on SQLite: the task is gone, or the attempt token is not current.
import { StaleAttemptError, TaskNotFoundError } from '../../core/errors.ts';
import type { SqliteConnection } from './connection.ts';
import { SQL } from './sql.ts';

/** Distinguishes an unknown task from a stale token, for the error a refused call throws. */
export function refusal(c: SqliteConnection, taskId: string): Error {
  return c.get(SQL.taskExists, taskId) ? new StaleAttemptError(taskId) : new TaskNotFoundError(taskId);
}
