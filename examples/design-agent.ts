// The design-agent flow on Taskhub (docs/durable.md): a long "design" task that goes brief → moodboard → layout →
// render with a checkpoint after each phase, fails in render, is recovered from its last checkpoint, fans its exports
// out as child tasks, waits for a person's approval, gets a variant derived from an earlier checkpoint, and a second
// design is cancelled while it runs. Everything goes through the HTTP API with the SDK (the same calls as curl).
//
//   npm run example:durable                      # starts its own server on a temporary SQLite file
//   npm run example:durable -- --url http://127.0.0.1:8080   # or against `npm start` (it serves examples/handlers.ts)
//
// Prints what happens and exits 0 when every step behaved as expected, 1 otherwise.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { type Task, type TaskEvent, TaskhubClient } from 'taskhub/client';

const ROOT = join(import.meta.dirname, '..');
const { values: args } = parseArgs({ options: { url: { type: 'string' }, token: { type: 'string' } } });

let failures = 0;
function check(ok: boolean, what: string): void {
  if (ok) return;
  failures++;
  console.log(`  ✗ UNEXPECTED: ${what}`);
}
const say = (line = '') => console.log(line);

/** Starts `taskhub serve` with the example handlers on a fresh SQLite file; resolves with its URL. */
async function startServer(): Promise<{ url: string; stop: () => Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), 'taskhub-design-'));
  const child: ChildProcess = spawn(
    process.execPath,
    [join(ROOT, 'bin', 'taskhub.js'), 'serve', '--port', '0', '--store', `sqlite:${join(dir, 'design.db')}`, '--handlers', join(ROOT, 'examples', 'handlers.ts'), '--log-level', 'warn'],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`the server did not start within 20 s:\n${out}`)), 20_000);
    child.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const match = /Taskhub listening on (http:\/\/\S+)/.exec(out);
      if (match) {
        clearTimeout(timer);
        resolve(match[1] as string);
      }
    });
    child.once('exit', (code) => reject(new Error(`the server exited (${code}) before listening:\n${out}`)));
  });
  return {
    url,
    stop: async () => {
      if (child.exitCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

const server = args.url ? { url: args.url, stop: async () => {} } : await startServer();
const client = new TaskhubClient({ url: server.url, ...(args.token ? { token: args.token } : {}) });

/** Polls the task until `done` says so (or 20 s pass: an unexpected state). */
async function until(id: string, what: string, done: (task: Task) => boolean): Promise<Task> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const task = await client.get(id);
    if (done(task)) return task;
    if (Date.now() > deadline) throw new Error(`task ${id}: still ${task.status} after 20 s, expected ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const progressOf = (events: TaskEvent[]) =>
  events.filter((e) => e.kind === 'progress').map((e) => e.data as { percent: number; message?: string; phase?: string });
const phaseRuns = (events: TaskEvent[], phase: string) => progressOf(events).filter((p) => p.phase === phase).length;
const short = (id: string) => id.slice(-8);

try {
  say(`Taskhub at ${server.url}${args.url ? '' : ' (its own server, on a temporary SQLite file)'}`);

  // 1. Create: a design whose render service fails once; one attempt only, so the failure exhausts its attempts.
  say('\n1. create a design task (the render service will fail once; maxAttempts 1)');
  const design = await client.submit(
    'design',
    { prompt: 'Launch poster for a tea shop', style: 'watercolor', layout: 'grid', phaseMs: 150, renderFailures: 1 },
    { maxAttempts: 1 },
  );
  say(`   created ${design.id} (${design.status})`);
  const failed = await client.result(design.id, { timeoutMs: 20_000 });
  say(`   ${failed.status}: ${failed.error?.message} (attempt ${failed.attempts} of ${failed.maxAttempts})`);
  check(failed.status === 'failed' && failed.error?.message === 'render service timed out', 'the design should fail in render');

  // 2. Progress history (GET /tasks/{id}/events).
  say('\n2. progress history (GET /api/v1/tasks/{id}/events)');
  for (const e of await client.events(design.id)) {
    const d = (e.data ?? {}) as { percent?: number; message?: string; version?: number; label?: string };
    if (e.kind === 'progress') say(`   #${e.seq} progress ${d.percent}% ${d.message}`);
    else if (e.kind === 'checkpoint') say(`   #${e.seq} checkpoint v${d.version} (${d.label})`);
    else say(`   #${e.seq} ${e.kind}`);
  }

  // 3. Snapshots: the list, the latest and one version.
  say('\n3. snapshots (GET .../checkpoints, .../checkpoints/latest, .../checkpoints/2)');
  const snapshots = await client.checkpoints(design.id);
  for (const c of snapshots) say(`   v${c.version} ${c.label} (${c.size} bytes)`);
  check(snapshots.map((c) => c.label).join() === 'brief,moodboard,layout', 'three snapshots before the failure: brief, moodboard, layout');
  const latest = await client.checkpoint(design.id, 'latest');
  say(`   latest: v${latest?.version} ${latest?.label}, layout ${JSON.stringify((latest?.state as { layout?: unknown })?.layout)}`);
  const v2 = await client.checkpoint(design.id, 2);
  say(`   v2: ${v2?.label}, palette ${JSON.stringify((v2?.state as { moodboard?: { palette: string[] } })?.moodboard?.palette)}`);
  check(latest?.version === 3 && v2?.label === 'moodboard', 'latest is v3 (layout), v2 is the moodboard');

  // 4. Recover: resumes from the latest snapshot; then the exports fan out and the task waits for approval.
  say('\n4. recover (POST .../recover): resume from the last snapshot');
  const before = (await client.events(design.id)).at(-1)?.seq ?? 0;
  const recovered = await client.recover(design.id);
  say(`   ${recovered.status}, attempts reset to ${recovered.attempts}, resuming from v${recovered.checkpointVersion}`);
  const waiting = await until(design.id, 'waiting for approval', (t) => t.status === 'waiting' && t.waitingFor?.kind === 'signal');
  say(`   render done, exports done; now ${waiting.status} for ${JSON.stringify(waiting.waitingFor)} (no worker slot held)`);
  const children = (await client.list({ parentId: design.id })).tasks.filter((t) => t.type === 'design-export');
  for (const c of children.reverse()) say(`   child ${short(c.id)} ${c.type} ${JSON.stringify((c.payload as { size: number }).size)}px: ${c.status} → ${JSON.stringify(c.result)}`);
  check(children.length === 3 && children.every((c) => c.status === 'completed'), 'three export children, all completed');

  // 5. Approval: a signal wakes the waiting task, which finishes.
  say('\n5. approve (POST .../signals/approval)');
  const sent = await client.signal(design.id, 'approval', { approved: true, by: 'ana@studio' });
  say(`   signal sent, resumed: ${sent.resumed}`);
  check(sent.resumed, 'the signal should wake the waiting design');
  const done = await client.result(design.id, { timeoutMs: 20_000 });
  const result = done.result as { render?: { image: string }; exports?: { file: string }[]; approval?: unknown };
  say(`   ${done.status}: ${result?.render?.image}, exports ${result?.exports?.map((e) => e.file).join(', ')}, approval ${JSON.stringify(result?.approval)}`);
  check(done.status === 'completed' && result?.exports?.length === 3, 'the design should complete with three exports');

  // Proof that the recover did not run the earlier phases again.
  const history = await client.events(design.id);
  const afterRecover = history.filter((e) => e.seq > before);
  say('   phases run after the recover: ' + (['brief', 'moodboard', 'layout', 'render'].filter((p) => phaseRuns(afterRecover, p) > 0).join(', ') || 'none'));
  say(`   runs per phase over the whole history: ${['brief', 'moodboard', 'layout', 'render'].map((p) => `${p} ${phaseRuns(history, p)}`).join(', ')}`);
  say('   history since the recover:');
  for (const e of afterRecover) {
    const d = (e.data ?? {}) as { percent?: number; message?: string; version?: number; label?: string; reason?: string; name?: string; status?: string; waitingFor?: { kind: string; name: string } };
    const detail =
      e.kind === 'progress' ? `${d.percent}% ${d.message}`
      : e.kind === 'checkpoint' ? `v${d.version} (${d.label})`
      : e.kind === 'waiting' ? `for ${d.waitingFor?.kind} "${d.waitingFor?.name}"`
      : e.kind === 'resumed' ? `(${d.reason} "${d.name}")`
      : e.kind === 'child-finished' ? `(${d.name}: ${d.status})`
      : e.kind === 'signal' ? `"${d.name}"`
      : e.kind === 'retrying' ? '(recover)'
      : '';
    say(`     #${e.seq} ${e.kind} ${detail}`.trimEnd());
  }
  say('   (each run after a resume replays from the top: durable calls answer from the store, so only the plain code');
  say('    between them, like the "exporting sizes" progress report, runs again)');
  check(['brief', 'moodboard', 'layout'].every((p) => phaseRuns(afterRecover, p) === 0), 'brief, moodboard and layout must not run again');
  check(phaseRuns(afterRecover, 'render') === 1 && phaseRuns(history, 'render') === 2, 'render ran once before and once after the recover');

  // 6. Derive: a variant from snapshot 2 (after the moodboard) with a different layout.
  say('\n6. derive a variant from snapshot 2 with another layout (POST .../derive)');
  const variant = await client.derive(design.id, { payload: { layout: 'hero', renderFailures: 0 }, fromCheckpoint: 2 });
  say(`   created ${variant.id}, parentId ${variant.parentId === design.id ? 'the original' : variant.parentId}, payload.layout ${(variant.payload as { layout: string }).layout}`);
  // A signal sent before the task waits for it is kept, not lost.
  const early = await client.signal(variant.id, 'approval', { approved: true, by: 'ana@studio' });
  say(`   approval sent before it waits: resumed ${early.resumed} (kept for the wait)`);
  const variantDone = await client.result(variant.id, { timeoutMs: 20_000 });
  const variantEvents = await client.events(variant.id);
  const variantSnapshots = await client.checkpoints(variant.id);
  say(`   ${variantDone.status}: ${(variantDone.result as { render?: { image: string } })?.render?.image}`);
  say(`   its snapshots: ${variantSnapshots.map((c) => `v${c.version} ${c.label}`).join(', ')}`);
  say(`   phases it ran: ${['brief', 'moodboard', 'layout', 'render'].filter((p) => phaseRuns(variantEvents, p) > 0).join(', ')}`);
  check(variant.parentId === design.id && variantDone.status === 'completed', 'the variant is derived from the design and completes');
  check(variantSnapshots[0]?.label === `derived:${design.id}@2`, 'the variant starts from the original snapshot 2');
  check(phaseRuns(variantEvents, 'brief') === 0 && phaseRuns(variantEvents, 'moodboard') === 0 && phaseRuns(variantEvents, 'layout') === 1, 'the variant runs layout and render only');
  check(!early.resumed, 'the early signal is kept, not delivered to a wait');

  say('\n   lineage (GET /api/v1/tasks?parentId=…):');
  const lineage = (await client.list({ parentId: design.id })).tasks;
  say(`   ${short(design.id)} design`);
  for (const t of lineage.reverse()) say(`   └─ ${short(t.id)} ${t.type}${t.type === 'design' ? ' (derived)' : ' (child)'} ${t.status}`);
  check(lineage.length === 4, 'three children and one derived task');

  // 7. Cancel another design while it runs.
  say('\n7. cancel another design while it runs (POST .../cancel)');
  const other = await client.submit('design', { prompt: 'Menu card', style: 'ink', phaseMs: 600 });
  await until(other.id, 'running, its brief saved', (t) => t.status === 'running' && t.checkpointVersion >= 1);
  const asked = await client.cancel(other.id, { reason: 'client changed the brief' });
  say(`   cancel asked while ${asked.status} (${asked.progress?.message ?? 'starting'}), cancelRequested ${asked.cancelRequested}`);
  const cancelled = await client.result(other.id, { timeoutMs: 20_000 });
  say(`   ${cancelled.status}: ${cancelled.error?.message}; snapshots kept: ${(await client.checkpoints(other.id)).map((c) => `v${c.version} ${c.label}`).join(', ') || 'none'}`);
  check(cancelled.status === 'cancelled', 'the second design should end cancelled');
} catch (error) {
  failures++;
  console.log(`  ✗ UNEXPECTED: ${error instanceof Error ? error.stack : String(error)}`);
} finally {
  await server.stop();
}

say(failures === 0 ? '\nok: every step behaved as expected' : `\n${failures} unexpected result(s)`);
process.exit(failures === 0 ? 0 : 1);
