// Issue 14 point 6 in the Python client (clients/python, run from the source folder): the soft time limit comes from
// the task's softTimeoutMs in the claim (the handler's registration has none) and raises SoftTimeLimitExceeded, after
// which the handler returns its result; the hard limit (timeoutMs) still kills a handler that ignores it; the
// Celery-style layer's soft_time_limit becomes softTimeoutMs at submit; put_type and set_type_rate_limit set a
// type's rate limit (point 7). Needs python3 (3.9+), or TASKHUB_PYTHON.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Task } from '../src/index.ts';
import { waitUntil } from './helpers/hub.ts';
import { runPythonScript } from './helpers/python.ts';
import { startServer } from './helpers/server.ts';


describe('Python client: soft time limits and type settings', () => {
  it('returns after the soft limit from the claim; the hard limit still fails the attempt; soft_time_limit maps to softTimeoutMs; put_type sets a rate limit', async () => {
    const s = await startServer({ autoStart: false, leaseMs: 5000 });
    const py = runPythonScript('soft_flow.py', s.base);
    const { lines } = py;
    try {
      await waitUntil(() => lines.some((l) => l.step === 'running'), 20_000, `the Python worker started; output: ${py.output()}`);
      const celeryId = lines.find((l) => l.step === 'submitted')?.id as string;
      const celery = await s.hub.get(celeryId);
      assert.equal(celery.softTimeoutMs, 250, 'soft_time_limit=0.25 arrives as softTimeoutMs');
      assert.equal(celery.timeoutMs, 5000);
      // put_type / set_type_rate_limit: the type's rate limit, stored as the server's own settings.
      const typed = lines.find((l) => l.step === 'typed') as unknown as { rateLimit: unknown; defaults: unknown };
      assert.deepEqual(typed.rateLimit, { count: 5, intervalMs: 1000 });
      assert.deepEqual(typed.defaults, { maxAttempts: 2 });
      assert.deepEqual((await s.hub.types.list()).find((t) => t.type === 'py-limited')?.rateLimit, { count: 5, intervalMs: 1000 });

      const submit = async (body: unknown) => {
        const res = await s.request('POST', '/api/v1/tasks', body);
        assert.equal(res.status, 202, await res.clone().text());
        return (await res.json()) as Task;
      };
      const soft = await submit({ type: 'py-wrap-up', softTimeoutMs: 300, timeoutMs: 20_000 });
      const hard = await submit({ type: 'py-stubborn', softTimeoutMs: 100, timeoutMs: 800, maxAttempts: 1 });
      const finished = (id: string) => async () => ['completed', 'failed'].includes((await s.hub.get(id)).status);
      for (const id of [celeryId, soft.id, hard.id]) await waitUntil(finished(id), 30_000, `task ${id} finished; output: ${py.output()}`);

      const a = await s.hub.get(soft.id);
      assert.equal(a.status, 'completed', JSON.stringify(a.error));
      const result = a.result as { stoppedAt: string; done: number };
      assert.equal(result.stoppedAt, 'soft limit');
      assert.ok(result.done >= 2, `${result.done} steps before the soft limit`);
      const c = await s.hub.get(celeryId);
      assert.equal(c.status, 'completed', JSON.stringify(c.error));
      assert.equal((c.result as { stoppedAt: string }).stoppedAt, 'soft limit');
      const b = await s.hub.get(hard.id);
      assert.equal(b.status, 'failed');
      assert.equal(b.error?.code, 'TIMEOUT', JSON.stringify(b.error));
    } finally {
      await py.stop();
      await s.close();
    }
  });
});
