// A stopping Python worker (clients/python) sends no report after its unregister, even with a report in flight as it
// stops: such a report, handled after the unregister, would list the worker again (the server ignores it for 2 s,
// workers-seen.test.ts; the worker must not send it). The server here holds every report of the worker for a second,
// so one is nearly always on its way when SIGTERM lands, and records the order in which it handles them.
// Needs python3 (3.9+), or TASKHUB_PYTHON naming another interpreter.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { createServer } from '../src/server/server.ts';
import { openTestHub, waitUntil } from './helpers/hub.ts';

const PYTHON = process.env.TASKHUB_PYTHON ?? 'python3';
const ROOT = join(import.meta.dirname, '..');
const REPORT_HELD_MS = 1000;

describe('Python worker stop', () => {
  it('sends no report after its unregister, with a report in flight as it stops', async () => {
    const hub = await openTestHub({ autoStart: false });
    const app = await createServer({ hub, logger: false });
    /** `<register|unregister> <workerId>`, in the order the server handled them. */
    const handled: string[] = [];
    app.addHook('preHandler', async (request) => {
      const kind = request.url.split('/').pop();
      if (kind !== 'register' && kind !== 'unregister') return;
      const workerId = (request.body as { workerId?: unknown } | undefined)?.workerId;
      if (kind === 'register') await sleep(REPORT_HELD_MS);
      handled.push(`${kind} ${workerId}`);
    });
    await app.listen({ port: 0, host: '127.0.0.1' });
    const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
    try {
      for (let round = 0; round < 3; round++) {
        const id = `py-reporting-${round}`;
        const child = spawn(PYTHON, [join(ROOT, 'test', 'fixtures', 'python', 'reporting_worker.py'), id], {
          stdio: ['ignore', 'ignore', 'pipe'],
          env: { ...process.env, TASKHUB_URL: url, PYTHONPATH: join(ROOT, 'clients', 'python'), PYTHONUNBUFFERED: '1', PYTHONDONTWRITEBYTECODE: '1' },
        });
        let log = '';
        child.stderr?.on('data', (chunk: Buffer) => (log += chunk.toString()));
        const exited = once(child, 'exit');
        await waitUntil(async () => (await hub.workers()).some((w) => w.id === id), 15_000, `worker ${id} registered; its log: ${log}`);
        // Into the second held report, at a different point of it each round.
        await sleep(REPORT_HELD_MS / 2 + round * 200);
        child.kill('SIGTERM');
        const [code] = await exited;
        assert.equal(code, 0, log);
        await sleep(REPORT_HELD_MS + 200);
        const own = handled.filter((line) => line.endsWith(` ${id}`));
        assert.equal(own.at(-1), `unregister ${id}`, `round ${round}: ${own.slice(-3).join(', ')}`);
        assert.equal(own.filter((line) => line.startsWith('unregister')).length, 1, `round ${round}: ${own.join(', ')}`);
      }
    } finally {
      await app.close();
      await hub.dispose();
    }
  });
});
