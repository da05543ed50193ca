// Issue 17 items 1 and 3 in the Python client (clients/python, run from the source folder): `debounce` (seconds) and
// `singleton` keyword arguments, merged answers, and SingletonConflictError carrying the holding task's id. Needs
// python3 (3.9+), or TASKHUB_PYTHON.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { runPythonScript } from './helpers/python.ts';
import { startServer } from './helpers/server.ts';


describe('Python client: debounce and singleton', () => {
  it('debounce merges submits into one task; singleton reject raises SingletonConflictError with the task id; queue-one merges', async () => {
    const s = await startServer({ autoStart: false });
    try {
      const py = runPythonScript('flow_client.py', s.base);
      assert.equal(await py.exited(), 0, py.output());
      const steps = Object.fromEntries(py.lines.map((l) => [l.step as string, l]));
      const submits = steps.debounced.submits as [string, boolean, boolean, unknown][];
      assert.equal(new Set(submits.map((x) => x[0])).size, 1, 'one task');
      assert.deepEqual(submits.map((x) => [x[1], x[2], x[3]]), [[true, false, { n: 0 }], [false, true, { n: 1 }], [false, true, { n: 2 }]]);
      assert.deepEqual({ ...(steps.debounced.debounce as object), firstAt: 0 }, { key: 'doc', delayMs: 30_000, maxWaitMs: 60_000, firstAt: 0 });
      const task = await s.hub.get(submits[0][0]);
      assert.deepEqual([task.status, task.payload], ['scheduled', { n: 2 }]);
      const rejected = steps.rejected as { first: string; taskId: string; key: string; status: number };
      assert.deepEqual([rejected.taskId, rejected.key, rejected.status], [rejected.first, 'nightly', 409]);
      assert.deepEqual(steps['queue-one'], { step: 'queue-one', same: true, created: false, merged: 'queue-one', payload: 'b' });
    } finally {
      await s.close();
    }
  });
});
