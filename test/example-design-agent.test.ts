// examples/design-agent.ts as a user runs it (`npm run example:durable`): its own server on a temporary SQLite file,
// the whole design-agent flow over HTTP; exit 0 and the key lines of its narrative.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { describe, it } from 'node:test';

const ROOT = join(import.meta.dirname, '..');

function run(): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--conditions=taskhub-source', join(ROOT, 'examples', 'design-agent.ts')], { cwd: ROOT });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => { stdout += c.toString(); });
    child.stderr.on('data', (c: Buffer) => { stderr += c.toString(); });
    const timer = setTimeout(() => child.kill('SIGKILL'), 28_000);
    child.once('error', reject);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

describe('examples/design-agent.ts', () => {
  it('runs the design-agent flow and exits 0', { timeout: 30_000 }, async () => {
    const { code, stdout, stderr } = await run();
    assert.equal(code, 0, `exit ${code}\n${stdout}\n${stderr}`);
    assert.doesNotMatch(stdout, /UNEXPECTED/);
    // Create, fail in render with attempts exhausted, the progress history and the snapshots.
    assert.match(stdout, /failed: render service timed out \(attempt 1 of 1\)/);
    assert.match(stdout, /#\d+ progress 30% moodboard: working/);
    assert.match(stdout, /v1 brief \(\d+ bytes\)\n {3}v2 moodboard \(\d+ bytes\)\n {3}v3 layout \(\d+ bytes\)/);
    assert.match(stdout, /latest: v3 layout/);
    // Recover: only render runs again; children and the approval wait.
    assert.match(stdout, /resuming from v3/);
    assert.match(stdout, /now waiting for \{"kind":"signal","name":"approval"/);
    assert.equal(stdout.match(/child \w+ design-export \d+px: completed/g)?.length, 3);
    assert.match(stdout, /signal sent, resumed: true/);
    assert.match(stdout, /phases run after the recover: render\n/);
    assert.match(stdout, /runs per phase over the whole history: brief 1, moodboard 1, layout 1, render 2/);
    // Derive from snapshot 2, lineage, cancel.
    assert.match(stdout, /its snapshots: v1 derived:[\w-]+@2, v2 layout, v3 render/);
    assert.match(stdout, /phases it ran: layout, render\n/);
    assert.match(stdout, /approval sent before it waits: resumed false/);
    assert.match(stdout, /└─ \w+ design \(derived\) completed/);
    assert.match(stdout, /cancelled: .*snapshots kept: v1 brief/);
    assert.match(stdout, /ok: every step behaved as expected/);
  });
});
