// Workers that claim without registering (issue 14, point 9): a worker written from docs/workers.md that only calls
// /worker/claim (and reports its attempts) is listed by GET /workers with what its claims say; registering adds the
// rest (host, pid, running) and is not overwritten by later claims.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { startServer } from './helpers/server.ts';

interface Listed {
  id: string;
  host: string | null;
  pid: number | null;
  types: string[];
  queues: string[] | null;
  concurrency: number;
  lastSeenAt: number;
  registered?: boolean;
}

describe('workers seen from their claims', () => {
  it('lists a raw-HTTP worker that only claims, with its types, queues and last seen, and keeps it listed while it long-polls', async () => {
    const s = await startServer({ autoStart: false });
    try {
      const workers = async () => ((await (await s.request('GET', '/api/v1/workers')).json()) as { workers: Listed[] }).workers;
      const claim = (body: Record<string, unknown>) => s.request('POST', '/api/v1/worker/claim', { workerId: 'raw-1', max: 2, ...body });
      assert.deepEqual(await workers(), []);

      const before = Date.now();
      assert.equal((await claim({ types: ['resize'], queues: ['images'] })).status, 200);
      let [listed] = await workers();
      assert.equal(listed?.id, 'raw-1', 'listed after its first claim');
      assert.deepEqual(
        { types: listed.types, queues: listed.queues, concurrency: listed.concurrency, host: listed.host, pid: listed.pid, registered: listed.registered },
        { types: ['resize'], queues: ['images'], concurrency: 2, host: null, pid: null, registered: false },
      );
      assert.ok(listed.lastSeenAt >= before - 5 && listed.lastSeenAt <= Date.now());

      // A claim of another type (one worker, several handlers) adds it.
      await claim({ types: ['thumbnail'], queues: ['images'] });
      [listed] = await workers();
      assert.deepEqual(listed.types.sort(), ['resize', 'thumbnail']);

      // It runs a task like any worker.
      const task = await s.hub.enqueue('resize', { w: 100 }, { queue: 'images' });
      const answer = (await (await claim({ types: ['resize'], queues: ['images'] })).json()) as { claims: { task: { id: string }; attemptToken: string }[] };
      assert.equal(answer.claims[0]?.task.id, task.id);
      const done = await s.request('POST', `/api/v1/worker/tasks/${task.id}/complete`, { attemptToken: answer.claims[0].attemptToken, result: 'ok' });
      assert.equal(done.status, 200);

      // Registering adds the detail; a later claim refreshes lastSeenAt and keeps it.
      const reg = await s.request('POST', '/api/v1/worker/register', { workerId: 'raw-1', types: ['resize', 'thumbnail', 'crop'], host: 'box-7', pid: 4242, concurrency: 4, running: 1 });
      assert.equal(reg.status, 200);
      await new Promise((resolve) => setTimeout(resolve, 10));
      await claim({ types: ['resize'], queues: ['images'] });
      [listed] = await workers();
      assert.deepEqual(
        { types: listed.types, host: listed.host, pid: listed.pid, concurrency: listed.concurrency, registered: listed.registered },
        { types: ['resize', 'thumbnail', 'crop'], host: 'box-7', pid: 4242, concurrency: 4, registered: undefined },
      );

      // Unregistering takes it off the list, even with a claim of its just behind.
      await claim({ types: ['resize'] });
      assert.equal((await s.request('POST', '/api/v1/worker/unregister', { workerId: 'raw-1' })).status, 204);
      await claim({ types: ['resize'] });
      assert.deepEqual(await workers(), []);
      // So does a report of its sent before the unregister and overtaken by it on another connection.
      const late = await s.request('POST', '/api/v1/worker/register', { workerId: 'raw-1', types: ['resize'], host: 'box-7', pid: 4242 });
      assert.equal(late.status, 200);
      assert.deepEqual(await workers(), []);
    } finally {
      await s.close();
    }
  });

  it('keeps a claims-only worker listed through a long idle long-poll', async () => {
    // The long-poll claims again every report interval (5 s) while it waits, so its worker never looks stale (15 s).
    const s = await startServer({ autoStart: false });
    try {
      const poll = s.request('POST', '/api/v1/worker/claim', { workerId: 'raw-2', types: ['never'], waitMs: 12_000 });
      await new Promise((resolve) => setTimeout(resolve, 11_000));
      const { workers } = (await (await s.request('GET', '/api/v1/workers')).json()) as { workers: Listed[] };
      assert.equal(workers.length, 1);
      assert.ok(Date.now() - workers[0].lastSeenAt < 7000, `last seen ${Date.now() - workers[0].lastSeenAt} ms ago`);
      assert.deepEqual(((await (await poll).json()) as { claims: unknown[] }).claims, []);
    } finally {
      await s.close();
    }
  });
});
