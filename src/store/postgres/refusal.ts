// What an empty answer stands for on PostgreSQL: the task is gone, or (for an attempt call) its token is not current.
import { StaleAttemptError, TaskNotFoundError } from '../../core/errors.ts';
import type { TaskStatus } from '../../core/task.ts';
import type { PgPool } from './pool.ts';
import type { PostgresSql } from './sql.ts';

interface Db {
  pool: PgPool;
  sql: PostgresSql;
}

/** Distinguishes an unknown task from a stale token, for the error a refused call throws. */
export async function refusal(db: Db, taskId: string): Promise<Error> {
  const rows = await db.pool.query<{ status: TaskStatus }>(db.sql.taskStatus, [taskId]);
  return rows.length > 0 ? new StaleAttemptError(taskId) : new TaskNotFoundError(taskId);
}

/** Throws TaskNotFoundError unless the task exists (a list that came back empty). */
export async function mustExist(db: Db, taskId: string): Promise<void> {
  const rows = await db.pool.query<{ status: TaskStatus }>(db.sql.taskStatus, [taskId]);
  if (rows.length === 0) throw new TaskNotFoundError(taskId);
}
