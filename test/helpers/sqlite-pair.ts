// Two SQLite stores on one file, as two processes would have them: `writer` writes, `reader` polls for what others
// commit and records every event it is told of in `heard`. close() stops both and removes the file.
import { join } from 'node:path';
import type { TaskEvent } from '../../src/core/task.ts';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import { tempDir } from './hub.ts';

export async function sqlitePair(readerPollMs: number) {
  const tmp = tempDir();
  const path = join(tmp.dir, 'taskhub.db');
  const writer = new SqliteStore({ path });
  await writer.migrate();
  const reader = new SqliteStore({ path, pollIntervalMs: readerPollMs });
  await reader.migrate();
  const heard: TaskEvent[] = [];
  const stop = reader.listen((notice) => {
    if (notice.kind === 'event') heard.push(notice.event);
  });
  return {
    path,
    writer,
    reader,
    heard,
    async close(): Promise<void> {
      stop();
      await reader.close();
      await writer.close();
      tmp.remove();
    },
  };
}
