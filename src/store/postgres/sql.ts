// Every SQL statement of the PostgreSQL backend, and its migrations. Times are epoch milliseconds in bigint columns,
// so rows map to the contract exactly as on SQLite; JSON is jsonb.
//
// Each write is ONE statement (data-modifying CTEs): it updates the task row (allocating the event seq by
// incrementing tasks.event_seq under the row lock) and appends the event, atomically, in one round trip and without
// BEGIN/COMMIT. Notices are not sent from these statements but right after they commit (see publishNotices and
// docs/postgres.md for why); only createTasksIn, whose commit belongs to the application, notifies from inside.
//
// The statements live by operation group in sql/*.ts; this file puts one schema's together. The events they append
// (kind and data) are those of ../transitions.ts, which the store announces: the conformance suite checks that both
// agree ("announces every event exactly as it stores it").
import { attemptSql } from './sql/attempts.ts';
import { claimSql } from './sql/claim.ts';
import { names } from './sql/common.ts';
import { controlSql } from './sql/control.ts';
import { durableSql } from './sql/durable.ts';
import { flowSql as flowLimitSql } from './sql/flow-limits.ts';
import { flowSql } from './sql/flow.ts';
import { schemaSql } from './sql/migrations.ts';
import { noticeSql } from './sql/notices.ts';
import { settingsSql } from './sql/settings.ts';
import { taskSql } from './sql/tasks.ts';

export { listenStatement, MAX_NOTIFY_BYTES, NOTICE_SEPARATOR, noticeChannel, type Statement } from './sql/common.ts';
export { migrations } from './sql/migrations.ts';

/** Every statement of one schema. `schema` is the raw name; it is quoted here. */
export function buildSql(schema: string) {
  const n = names(schema);
  return {
    ...schemaSql(n),
    ...taskSql(n),
    ...claimSql(n),
    ...attemptSql(n),
    ...controlSql(n),
    ...settingsSql(n),
    ...noticeSql(n),
    ...durableSql(n),
    ...flowLimitSql(n),
    ...flowSql(n),
  };
}

export type PostgresSql = ReturnType<typeof buildSql>;
