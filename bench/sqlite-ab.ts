// Two versions of the code side by side on the SQLite store, for a host whose speed drifts: both trees are loaded in
// one process, each gets its own file of 20,000 queued tasks, and their calls alternate (the order flips every call),
// so both see the same minutes. Prints µs per task for each, per round.
//   claim   claims of 250 (the tasks are claimed, then timed)
//   finish  the tasks claimed untimed, then completed 1,000 per finish; RESULT_BYTES gives each result a text that long
//   append  RUNNING tasks (default 500) claimed untimed, then 100 batches of output chunks of 40 characters, two per
//           task (one from 1,000 tasks on), as ctx.output's coalescing sends the streaming benchmark's: µs per chunk
// usage: node bench/sqlite-ab.ts <claim|finish|append> <repo root A> [repo root B, default A] [rounds, default 3]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const [mode, rootA = '.', rootB = rootA, roundsArg = '3'] = process.argv.slice(2);
if (mode !== 'claim' && mode !== 'finish' && mode !== 'append') throw new Error('usage: node bench/sqlite-ab.ts <claim|finish|append> <root A> [root B] [rounds]');
const roots = [resolve(rootA), resolve(rootB)];
const TASKS = mode === 'append' ? Number(process.env.RUNNING ?? 500) : 20_000;
const APPEND_BATCHES = 100;
const CLAIM = 250;
const FINISH = 1000;
const result = process.env.RESULT_BYTES ? { text: 'x'.repeat(Number(process.env.RESULT_BYTES)), quoted: 'a "quoted" line' } : null;

interface Claimed {
  task: { id: string };
  attemptToken: string;
}

interface Side {
  dir: string;
  store: {
    claim(request: object): Promise<Claimed[]>;
    finish(requests: object[], now: number): Promise<{ ok: boolean }[]>;
    appendAttemptEvents(inputs: object[], now: number): Promise<{ ok: boolean }[]>;
  };
  hub: { enqueueMany(specs: object[]): Promise<unknown>; close(options: object): Promise<void> };
  claims: Claimed[];
  ms: number;
  done: number;
}

const claimRequest = (max: number) => ({ workerId: 'bench', types: ['ab'], queues: null, max, leaseMs: 600_000, now: Date.now() });

async function open(root: string): Promise<Side> {
  const { SqliteStore } = await import(join(root, 'src/store/sqlite/sqlite-store.ts'));
  const { Taskhub } = await import(join(root, 'src/index.ts'));
  const dir = mkdtempSync(join(tmpdir(), 'sqlite-ab-'));
  const store = new SqliteStore({ path: join(dir, 'ab.db') });
  await store.migrate();
  const hub = await Taskhub.open({ store });
  for (let i = 0; i < TASKS; i += 1000) {
    await hub.enqueueMany(Array.from({ length: 1000 }, (_, k) => ({ type: 'ab', payload: { i: i + k } })));
  }
  const side: Side = { dir, store, hub, claims: [], ms: 0, done: 0 };
  if (mode !== 'claim') while (side.claims.length < TASKS) side.claims.push(...(await store.claim(claimRequest(500))));
  return side;
}

/** One timed call of `side`'s workload, the `step`th; how many tasks it handled. */
async function call(side: Side, step: number): Promise<number> {
  if (mode === 'claim') return (await side.store.claim(claimRequest(CLAIM))).length;
  if (mode === 'append') {
    const inputs = (TASKS >= 1000 ? [0] : [0, 1]).flatMap((k) =>
      side.claims.map((c, t) => ({ ref: { taskId: c.task.id, attemptToken: c.attemptToken }, chunk: `t${t} c${2 * step + k} `.padEnd(40, 'x') })),
    );
    return (await side.store.appendAttemptEvents(inputs, Date.now())).filter((r) => r.ok).length;
  }
  const requests = side.claims.slice(step * FINISH, (step + 1) * FINISH).map((c) => ({
    ref: { taskId: c.task.id, attemptToken: c.attemptToken, claimed: c.task },
    outcome: { status: 'completed', result },
  }));
  return (await side.store.finish(requests, Date.now())).filter((r) => r.ok).length;
}

for (let round = 0; round < Number(roundsArg); round++) {
  const sides = [await open(roots[0]), await open(roots[1])];
  const steps = mode === 'append' ? APPEND_BATCHES : TASKS / (mode === 'claim' ? CLAIM : FINISH);
  for (let step = 0; step < steps; step++) {
    for (const side of step % 2 === 0 ? sides : [...sides].reverse()) {
      const t0 = performance.now();
      side.done += await call(side, step);
      side.ms += performance.now() - t0;
    }
  }
  console.log(JSON.stringify({ mode, round, [mode === 'append' ? 'usPerChunk' : 'usPerTask']: sides.map((s) => +((s.ms * 1000) / s.done).toFixed(2)), done: sides.map((s) => s.done) }));
  for (const side of sides) {
    await side.hub.close({ graceMs: 10 });
    rmSync(side.dir, { recursive: true, force: true });
  }
}
