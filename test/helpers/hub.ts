import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { Taskhub, type TaskhubOptions } from '../../src/index.ts';

export function tempDir(prefix = 'taskhub-test-'): { dir: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** A Taskhub on a fresh SQLite file; close() also removes the file. */
export async function openTestHub(options: TaskhubOptions = {}): Promise<Taskhub & { dbPath: string; dispose(): Promise<void> }> {
  const tmp = tempDir();
  const dbPath = join(tmp.dir, 'taskhub.db');
  const hub = await Taskhub.open({ store: `sqlite:${dbPath}`, logger: pino({ level: 'silent' }), ...options });
  return Object.assign(hub, {
    dbPath,
    async dispose() {
      await hub.close({ graceMs: 200 });
      tmp.remove();
    },
  });
}

export async function waitUntil(condition: () => boolean | Promise<boolean>, timeoutMs = 5000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
