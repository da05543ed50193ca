// `taskhub follow` and `submit --wait` on the store itself, in a process of their own, while another process runs the
// task: the follower stays until the task ends (it once exited as soon as the history was printed), and hears the
// started and completed events that the task row holds, which reach another process only through the pollers'
// check-in (docs/architecture.md, "Events held by the task row").
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import pino from 'pino';
import { type TaskEvent, Taskhub } from '../src/index.ts';
import { tempDir } from './helpers/hub.ts';

const CLI = join(import.meta.dirname, '..', 'bin', 'taskhub.js');
const tmp = tempDir();
const store = `sqlite:${join(tmp.dir, 'follow.db')}`;
after(() => tmp.remove());

/** Runs the CLI to its end; resolves with its exit code and output. */
async function run(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [CLI, ...args, '--store', store], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const [code] = (await once(child, 'exit')) as [number | null];
  return { code, stdout, stderr };
}

describe('taskhub follow on a local store, beside the process that runs the task', () => {
  it('follows to the end and hears the events the task row holds', async () => {
    const hub = await Taskhub.open({ store, logger: pino({ level: 'silent' }) });
    try {
      const task = await hub.enqueue('later', { n: 1 }, { delayMs: 1500 });
      const following = run(['follow', task.id, '--json']);
      hub.handle('later', async (_payload, ctx) => {
        await ctx.output('half way');
        return 'done';
      });
      const { code, stdout, stderr } = await following;
      assert.equal(code, 0, stderr);
      const events = stdout.trim().split('\n').map((line) => JSON.parse(line) as TaskEvent);
      assert.deepEqual(events.map((e) => e.kind), ['created', 'started', 'output', 'completed']);
      assert.deepEqual(events.at(-1)?.data, { result: 'done' });
    } finally {
      await hub.close({ graceMs: 0 });
    }
  });

  it('submit --wait waits for the task another process runs', async () => {
    const hub = await Taskhub.open({ store, logger: pino({ level: 'silent' }) });
    try {
      hub.handle('echo-later', async (payload: { word: string }) => {
        await new Promise((resolve) => setTimeout(resolve, 300));
        return payload.word;
      });
      const { code, stdout, stderr } = await run(['submit', 'echo-later', '{"word":"hello"}', '--wait', '--json']);
      assert.equal(code, 0, stderr);
      const { task } = JSON.parse(stdout) as { task: { status: string; result: unknown } };
      assert.equal(task.status, 'completed');
      assert.equal(task.result, 'hello');
    } finally {
      await hub.close({ graceMs: 0 });
    }
  });
});
