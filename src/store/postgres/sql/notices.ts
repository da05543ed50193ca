// Notices between processes: the NOTIFY that publishes them, who else listens, and what a reconnect re-reads.
import { escapeLiteral } from 'pg';
import { listenStatement, type Names, prepared } from './common.ts';

export function noticeSql({ tasks, channel }: Names) {
  return {
    channel,

    /**
     * $1: wire messages (docs/postgres.md) joined by U+001E, sent in order in one notify-only transaction. Such a
     * transaction writes no WAL, so it commits without waiting for a disk flush and holds PostgreSQL's global NOTIFY
     * lock only for a moment. The separator cannot occur in a message (JSON text escapes every control character), so
     * nothing needs escaping, which as a text[] or JSON parameter would cost a pass over every character at both ends.
     */
    publishNotices: prepared(`SELECT pg_notify(${escapeLiteral(channel)}, message)
      FROM unnest(string_to_array($1::text, chr(30))) AS message`),
    /**
     * $1 the backend pid of this process's listener: how many other sessions of this database listen on this schema's
     * channel, as far as pg_stat_activity shows (the listener connections of other Taskhub processes, of whatever
     * version, whose last statement is their LISTEN), and whether it shows every session's statement (superuser or
     * pg_read_all_stats, with track_activities on; otherwise other roles' sessions are hidden).
     */
    otherListeners: prepared(`SELECT count(*)::integer AS n,
        current_setting('track_activities')::boolean AND (
          (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) OR pg_has_role('pg_read_all_stats', 'MEMBER')
        ) AS sees_all
      FROM pg_stat_activity
      WHERE pid <> $1::integer AND datname = current_database() AND query = ${escapeLiteral(listenStatement(channel))}`),
    /** After the listener reconnects: cancel requests it may have missed. */
    cancelRequestedIds: prepared(`SELECT id FROM ${tasks} WHERE status = 'running' AND cancel_requested`),
  } as const;
}
