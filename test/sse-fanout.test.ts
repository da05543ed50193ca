// Fan-out: a thousand SSE followers of one task each receive every event, in order, within a few seconds.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Task, TaskEvent } from '../src/index.ts';
import { sseFrame } from '../src/server/frames.ts';
import { waitUntil } from './helpers/hub.ts';
import { gate, type SseEvent, sseFrames, startServer } from './helpers/server.ts';

const FOLLOWERS = 1000;
const CHUNKS = 30;

describe('SSE fan-out', () => {
  it('encodes an event once, however many followers it goes to', () => {
    const event: TaskEvent = { taskId: 't', seq: 1, kind: 'output', data: 'x', at: 0 };
    assert.equal(sseFrame(event), sseFrame(event));
  });

  it(`delivers every event to ${FOLLOWERS} concurrent followers of one task`, async () => {
    const s = await startServer({}, { sseHeartbeatMs: 60_000 });
    const release = gate();
    try {
      s.hub.handle('burst', async (_payload, ctx) => {
        await release.promise;
        for (let i = 1; i <= CHUNKS; i++) await ctx.output(`chunk ${i}`);
        return 'done';
      });
      const task = (await (await s.request('POST', '/api/v1/tasks', { type: 'burst' })).json()) as Task;
      await waitUntil(async () => (await s.hub.get(task.id)).status === 'running', 5000, 'the task to start');

      const t0 = performance.now();
      const received = Array.from({ length: FOLLOWERS }, () => [] as number[]);
      const followers = received.map(async (seqs) => {
        const res = await fetch(`${s.base}/api/v1/tasks/${task.id}/stream`);
        assert.equal(res.status, 200);
        for await (const frame of sseFrames(res.body!)) if (!('comment' in frame)) seqs.push(Number((frame as SseEvent).id));
      });
      // Everyone has the history (created, started) before the live events begin.
      await waitUntil(() => received.every((seqs) => seqs.length === 2), 20_000, 'every follower to replay the history');
      const connected = performance.now();
      assert.equal(s.app.streamConnections.count('sse'), FOLLOWERS);
      release.open();
      await Promise.all(followers);
      const done = performance.now();

      const expected = (await s.hub.events(task.id)).map((e) => e.seq);
      assert.equal(expected.length, CHUNKS + 3);
      for (const seqs of received) assert.deepEqual(seqs, expected);
      await waitUntil(() => s.app.streamConnections.count('sse') === 0, 2000, 'streams to close');
      const live = done - connected;
      assert.ok(live < 15_000, `live events reached all followers in ${live.toFixed(0)} ms`);
      process.stdout.write(
        `# ${FOLLOWERS} followers: connected and replayed in ${(connected - t0).toFixed(0)} ms, ` +
          `${CHUNKS + 1} live events to all in ${live.toFixed(0)} ms\n`,
      );
    } finally {
      release.open();
      await s.close();
    }
  });
});
