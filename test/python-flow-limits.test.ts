// Issue 17 in the Python client (clients/python, run from the source folder): throttle= and cost= at submit,
// set_queue_limits(cost_limit=) and put_type(cost_limit=), and ctx.report_cost in a handler (which runs in the
// worker's handler process): the reported cost reaches the task, with a completion and with a failure. Needs
// python3 (3.9+), or TASKHUB_PYTHON.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { waitUntil } from './helpers/hub.ts';
import { runPythonScript } from './helpers/python.ts';
import { startServer } from './helpers/server.ts';


describe('Python client: flow control', () => {
  it('submits throttle and cost, sets cost limits, and reports costs from the handler', async () => {
    const s = await startServer({ autoStart: false, leaseMs: 5000 });
    const py = runPythonScript('flow_control.py', s.base);
    const { lines } = py;
    try {
      await waitUntil(() => lines.some((l) => l.step === 'running'), 20_000, `the Python worker started; output: ${py.output()}`);
      const submitted = lines.find((l) => l.step === 'submitted') as { queueCostLimit: unknown; typeCostLimit: unknown; throttle: unknown; ids: string[]; costs: number[] };
      assert.deepEqual(submitted.queueCostLimit, { budget: 10_000, periodMs: 1000, perKey: false });
      assert.deepEqual(submitted.typeCostLimit, { budget: 50_000, periodMs: 60_000, perKey: true });
      assert.deepEqual(submitted.throttle, { key: 'user-7', limit: 2, periodMs: 1500 });
      assert.deepEqual(submitted.costs, [3000, 3000]);
      const celery = await s.hub.get((submitted as unknown as { celeryId: string }).celeryId);
      assert.deepEqual({ cost: celery.cost, throttle: celery.throttle }, { cost: 42, throttle: { key: 'celery-key', limit: 1, periodMs: 60_000 } }, 'apply_async(cost=, throttle=)');
      const [done, failed] = submitted.ids as [string, string];
      const finished = (id: string) => async () => ['completed', 'failed'].includes((await s.hub.get(id)).status);
      for (const id of [done, failed]) await waitUntil(finished(id), 30_000, `task ${id} finished; output: ${py.output()}`);
      const a = await s.hub.get(done);
      assert.equal(a.status, 'completed', JSON.stringify(a.error));
      assert.equal(a.reportedCost, 1200);
      const b = await s.hub.get(failed);
      assert.equal(b.status, 'failed');
      assert.equal(b.reportedCost, 700, 'a failure carries the reported cost too');
    } finally {
      await py.stop();
      await s.close();
    }
  });
});
