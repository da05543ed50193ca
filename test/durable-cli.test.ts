// The durable-execution commands of the CLI, as a user runs them: `taskhub status` (checkpoints, children, what a
// waiting task waits for), `signal`, `recover` and `derive`, against the SQLite file and against a server (--url). The
// test process plays the worker through a store on the same file (the handler API is the worker side's).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { uuidv7 } from '../src/core/ids.ts';
import { DEFAULT_TASK_DEFAULTS, normalizeTaskSpec } from '../src/core/validate.ts';
import { type Task, unstable_openStore, type UnstableStore } from '../src/index.ts';
import type { AttemptRef } from '../src/store/store.ts';
import { startServer, type TestServer } from './helpers/server.ts';

const CLI = join(import.meta.dirname, '..', 'bin', 'taskhub.js');
const run = promisify(execFile);

describe('taskhub CLI: durable execution', () => {
  let s: TestServer;
  let store: UnstableStore;
  let n = 0;

  /** Runs the CLI without blocking this process (the server answers --url from it). */
  async function taskhub(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    try {
      const { stdout, stderr } = await run(process.execPath, [CLI, ...args], { timeout: 60_000, env: { ...process.env, TASKHUB_STORE: `sqlite:${s.hub.dbPath}` } });
      return { code: 0, stdout, stderr };
    } catch (error) {
      const e = error as { code: number; stdout: string; stderr: string };
      return { code: e.code, stdout: e.stdout, stderr: e.stderr };
    }
  }

  /** A task of a fresh type, claimed: its attempt. */
  async function running(spec: Record<string, unknown> = {}): Promise<{ task: Task; ref: AttemptRef; type: string }> {
    const type = `cli-durable-${++n}`;
    const { task } = await s.hub.submit({ type, ...spec });
    const [claim] = await store.claim({ workerId: 'cli-test', types: [type], queues: null, max: 1, leaseMs: 30_000, now: Date.now() });
    assert.ok(claim);
    return { task, ref: { taskId: task.id, attemptToken: claim.attemptToken }, type };
  }

  before(async () => {
    s = await startServer({ autoStart: false });
    store = await unstable_openStore(`sqlite:${s.hub.dbPath}`);
  });

  after(async () => {
    await store.close();
    await s.close();
  });

  for (const via of ['store', 'url'] as const) {
    const target = () => (via === 'url' ? ['--url', s.base] : []);

    it(`status shows checkpoints, children and what a waiting task waits for (${via})`, async () => {
      const { task, ref } = await running();
      await store.saveCheckpoint(ref, { step: 1 }, { label: 'outline', size: 10 }, Date.now());
      await store.saveCheckpoint(ref, { step: 2 }, { label: 'draft', size: 2048 }, Date.now());
      const now = Date.now();
      const kids = [1, 2].map((i) => normalizeTaskSpec({ type: 'section', payload: { i } }, DEFAULT_TASK_DEFAULTS, now, () => uuidv7(now)));
      await store.suspend(ref, { kind: 'children', name: 'sections', tasks: kids }, now);
      const status = await taskhub('status', task.id, ...target());
      assert.equal(status.code, 0, status.stderr);
      assert.match(status.stdout, /status: +waiting/);
      assert.match(status.stdout, /waits for: children "sections": 2 of 2 not finished/);
      assert.match(status.stdout, /checkpoints:\n {2}v1 +10 B .* outline\n {2}v2 +2048 B .* draft\n/);
      assert.match(status.stdout, new RegExp(`children:\\n  ${kids[0].id}  queued +section\\n  ${kids[1].id}  queued +section\\n`));
      const list = await taskhub('tasks', '--parent', task.id, ...target());
      assert.equal(list.stdout.trim().split('\n').length, 2, list.stdout);
    });

    it(`signal wakes a waiting task, or is kept; recover and derive (${via})`, async () => {
      const { task, ref, type } = await running({ payload: { a: 1 }, maxAttempts: 1 });
      await store.saveCheckpoint(ref, { phase: 1 }, { size: 11 }, Date.now());
      await store.saveCheckpoint(ref, { phase: 2 }, { size: 11 }, Date.now());
      await store.suspend(ref, { kind: 'signal', name: 'approval', timeoutAt: null }, Date.now());
      assert.match((await taskhub('status', task.id, ...target())).stdout, /waits for: signal "approval"/);
      const sent = await taskhub('signal', task.id, 'approval', '{"ok":true}', ...target());
      assert.equal(sent.code, 0, sent.stderr);
      assert.match(sent.stdout, /signal "approval" sent: task .* resumes \(queued\)/);
      const kept = await taskhub('signal', task.id, 'later', ...target(), '--json');
      assert.deepEqual([JSON.parse(kept.stdout).resumed, JSON.parse(kept.stdout).task.status], [false, 'queued']);
      const bad = await taskhub('signal', task.id, 'x', '{nope', ...target());
      assert.equal(bad.code, 2);

      const [again] = await store.claim({ workerId: 'cli-test', types: [type], queues: null, max: 1, leaseMs: 30_000, now: Date.now() });
      await store.finish([{ ref: { taskId: task.id, attemptToken: again.attemptToken }, outcome: { status: 'failed', error: { message: 'x', retryable: false } } }], Date.now());
      const recovered = await taskhub('recover', task.id, '--from-version', '1', ...target());
      assert.equal(recovered.code, 0, recovered.stderr);
      assert.match(recovered.stdout, /recovered: queued, resumes from checkpoint version 3/);
      const refused = await taskhub('recover', task.id, ...target());
      assert.equal(refused.code, 1);
      assert.match(refused.stderr, /cannot recover task .* it is queued/);

      const derived = await taskhub('derive', task.id, '--payload', '{"b":2}', '--from-checkpoint', '2', '--type', `${type}-v2`, '--json', ...target());
      assert.equal(derived.code, 0, derived.stderr);
      const d = JSON.parse(derived.stdout) as Task;
      assert.deepEqual([d.parentId, d.payload, d.checkpointVersion, d.type], [task.id, { a: 1, b: 2 }, 1, `${type}-v2`]);
      assert.deepEqual((await s.hub.checkpoint(d.id, 'latest'))?.state, { phase: 2 });
      assert.equal((await taskhub('derive', task.id, '--from-checkpoint', 'first', ...target())).code, 2);
    });
  }
});
