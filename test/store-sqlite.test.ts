import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { storeConformance } from '../src/store/conformance/suite.ts';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.ts';

let dir = '';
async function openAt(path: string) {
  const store = new SqliteStore({ path, pollIntervalMs: 5 });
  await store.migrate();
  return store;
}

storeConformance('sqlite', {
  async open() {
    dir = mkdtempSync(join(tmpdir(), 'taskhub-conformance-'));
    return openAt(join(dir, 'taskhub.db'));
  },
  openAnother: () => openAt(join(dir, 'taskhub.db')),
  async cleanup() {
    rmSync(dir, { recursive: true, force: true });
  },
});
