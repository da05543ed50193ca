// Python fixture scripts (test/fixtures/python) against a test server: the client package from the source folder,
// unbuffered output, and the script's JSON lines collected as they come. Needs python3 (3.9+), or TASKHUB_PYTHON.
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

export const PYTHON = process.env.TASKHUB_PYTHON ?? 'python3';
const ROOT = join(import.meta.dirname, '..', '..');

export interface PythonScript {
  child: ChildProcessWithoutNullStreams;
  /** The JSON lines it printed so far, in order. */
  lines: Record<string, unknown>[];
  /** Everything it printed (stdout and stderr), for failure messages. */
  output(): string;
  /** Closes its stdin (a worker script's cue to stop) and waits for it to exit; killed after 10 s. */
  stop(): Promise<void>;
  /** Waits for it to exit by itself; its exit code. */
  exited(): Promise<number | null>;
}

export function runPythonScript(script: string, serverUrl: string): PythonScript {
  const child = spawn(PYTHON, [script], {
    cwd: join(ROOT, 'test', 'fixtures', 'python'),
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...process.env, TASKHUB_URL: serverUrl, TASKHUB_TOKEN: '', PYTHONPATH: join(ROOT, 'clients', 'python'), PYTHONUNBUFFERED: '1', PYTHONDONTWRITEBYTECODE: '1' },
  });
  let output = '';
  const lines: Record<string, unknown>[] = [];
  createInterface({ input: child.stdout }).on('line', (line) => {
    output += `${line}\n`;
    try {
      lines.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      // not a JSON line: kept in output for the failure message
    }
  });
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exit = once(child, 'exit').then(([code]) => code as number | null);
  return {
    child,
    lines,
    output: () => output,
    exited: () => exit,
    async stop() {
      child.stdin.end();
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exit;
      clearTimeout(timer);
    },
  };
}
