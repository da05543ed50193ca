// The SQLite claim alone, for comparing two versions of the code on a host whose speed drifts: both trees are loaded
// in one process, each gets its own file of 20,000 queued tasks, and their claims of 250 alternate (the order flips
// every claim), so both see the same minutes. Prints µs of claim per task for each, per round.
// usage: node bench/sqlite-claim.ts <repo root A> [repo root B, default A] [rounds, default 3]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const roots = [resolve(process.argv[2] ?? '.'), resolve(process.argv[3] ?? process.argv[2] ?? '.')];
const rounds = Number(process.argv[4] ?? 3);
const TASKS = 20_000;
const CLAIM = 250;

interface Side {
  dir: string;
  store: { claim(request: object): Promise<unknown[]> };
  hub: { enqueueMany(specs: object[]): Promise<unknown>; close(options: object): Promise<void> };
  ms: number;
  claimed: number;
}

async function open(root: string): Promise<Side> {
  const { SqliteStore } = await import(join(root, 'src/store/sqlite/sqlite-store.ts'));
  const { Taskhub } = await import(join(root, 'src/index.ts'));
  const dir = mkdtempSync(join(tmpdir(), 'sqlite-claim-'));
  const store = new SqliteStore({ path: join(dir, 'claim.db') });
  await store.migrate();
  const hub = await Taskhub.open({ store });
  for (let i = 0; i < TASKS; i += 1000) {
    await hub.enqueueMany(Array.from({ length: 1000 }, (_, k) => ({ type: 'claimed', payload: { i: i + k } })));
  }
  return { dir, store, hub, ms: 0, claimed: 0 };
}

for (let round = 0; round < rounds; round++) {
  const sides = [await open(roots[0]), await open(roots[1])];
  for (let step = 0; step < TASKS / CLAIM; step++) {
    for (const side of step % 2 === 0 ? sides : [...sides].reverse()) {
      const t0 = performance.now();
      const claims = await side.store.claim({ workerId: 'bench', types: ['claimed'], queues: null, max: CLAIM, leaseMs: 60_000, now: Date.now() });
      side.ms += performance.now() - t0;
      side.claimed += claims.length;
    }
  }
  console.log(JSON.stringify({ round, usPerTask: sides.map((s) => +((s.ms * 1000) / s.claimed).toFixed(2)), claimed: sides.map((s) => s.claimed) }));
  for (const side of sides) {
    await side.hub.close({ graceMs: 10 });
    rmSync(side.dir, { recursive: true, force: true });
  }
}
