// The queue's vocabulary (store/transitions.ts): each state change's status, event and notices, defined once for
// every backend. Pure checks, then the real SQLite store: what it stores is what it announces.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TaskErrorCode } from '../src/core/error-codes.ts';
import { uuidv7 } from '../src/core/ids.ts';
import { DEFAULT_TASK_DEFAULTS, normalizeTaskSpec } from '../src/core/validate.ts';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.ts';
import { appendOutput, appendProgress } from '../src/store/conformance/helpers.ts';
import type { AttemptOutcome, StoreNotice } from '../src/store/store.ts';
import {
  cancelledError,
  createdNotices,
  FINISH_EVENT_KIND,
  finishedNotices,
  finishError,
  finishEventData,
  finishStatus,
  finishValue,
  queueSettingsNotices,
} from '../src/store/transitions.ts';

const error = { message: 'boom', retryable: true };

describe('transitions', () => {
  it('names the status and event of every outcome', () => {
    const outcomes: AttemptOutcome[] = [
      { status: 'completed', result: { ok: true } },
      { status: 'retry', error, runAt: 50 },
      { status: 'retry', error, runAt: 200 },
      { status: 'failed', error },
      { status: 'cancelled', reason: 'stop' },
    ];
    assert.deepEqual(
      outcomes.map((o) => [finishStatus(o, 100), FINISH_EVENT_KIND[o.status]]),
      [
        ['completed', 'completed'],
        ['queued', 'retrying'],
        ['scheduled', 'retrying'],
        ['failed', 'failed'],
        ['cancelled', 'cancelled'],
      ],
    );
  });

  it('gives a cancelled task the CANCELLED error, and builds each outcome\'s event data from its value', () => {
    const cancelled: AttemptOutcome = { status: 'cancelled', reason: 'stop' };
    assert.deepEqual(cancelledError('stop'), { message: 'stop', code: TaskErrorCode.CANCELLED, retryable: false });
    assert.deepEqual(finishError(cancelled), cancelledError('stop'));
    assert.equal(finishError({ status: 'completed', result: 1 }), null);
    assert.deepEqual(finishEventData(cancelled, finishValue(cancelled), 2), { error: cancelledError('stop') });
    const retry: AttemptOutcome = { status: 'retry', error, runAt: 9 };
    assert.deepEqual(finishEventData(retry, finishValue(retry), 2), { attempt: 2, error, runAt: 9 });
    const done: AttemptOutcome = { status: 'completed', result: 7 };
    assert.deepEqual(finishEventData(done, finishValue(done), 1), { result: 7 });
  });

  it('announces ready only for tasks claimable now', () => {
    const notices: StoreNotice[] = [];
    const base = { queue: 'q', owner: null, createdAt: 1, runAt: 1 };
    createdNotices({ ...base, id: 'a', status: 'queued' }, notices);
    createdNotices({ ...base, id: 'b', status: 'scheduled', runAt: 5 }, notices);
    assert.deepEqual(
      notices.map((n) => n.kind),
      ['event', 'ready', 'event'],
    );
    const finished: StoreNotice[] = [];
    const retry: AttemptOutcome = { status: 'retry', error, runAt: 1 };
    finishedNotices({ id: 'a', queue: 'q', owner: null, status: 'queued', lastEventSeq: 3 }, retry, finishValue(retry), 1, 2, finished);
    assert.deepEqual(finished[1], { kind: 'ready', queue: 'q' });
    assert.equal(finished[0].kind === 'event' && finished[0].event.kind, 'retrying');
  });

  it('wakes workers when a queue is resumed or its limits change, not when it is paused', () => {
    assert.deepEqual(queueSettingsNotices('q', { paused: false }), [{ kind: 'ready', queue: 'q' }]);
    assert.deepEqual(queueSettingsNotices('q', { maxConcurrency: 3 }), [{ kind: 'ready', queue: 'q' }]);
    assert.deepEqual(queueSettingsNotices('q', { paused: true }), []);
  });

  it('is what the SQLite store both stores and announces, for every state change', async () => {
    const store = new SqliteStore({ path: ':memory:' });
    await store.migrate();
    const heard: StoreNotice[] = [];
    const stop = store.listen((n) => heard.push(n));
    try {
      const now = Date.now();
      const spec = (type: string) => normalizeTaskSpec({ type }, DEFAULT_TASK_DEFAULTS, now, () => uuidv7(now));
      const [{ task: a }, { task: b }, { task: c }] = await store.createTasks([spec('t'), spec('t'), spec('t')]);
      const claims = await store.claim({ workerId: 'w', types: ['t'], queues: null, max: 3, leaseMs: 30_000, now });
      const ref = (id: string) => {
        const claim = claims.find((x) => x.task.id === id);
        assert.ok(claim);
        return { taskId: id, attemptToken: claim.attemptToken };
      };
      await appendProgress(store, ref(a.id), { percent: 50 }, now);
      await appendOutput(store, ref(a.id), 'line', now);
      await store.finish(
        [
          { ref: ref(a.id), outcome: { status: 'completed', result: { n: 1 } } },
          { ref: ref(b.id), outcome: { status: 'retry', error, runAt: now } },
          { ref: ref(c.id), outcome: { status: 'cancelled', reason: 'asked' } },
        ],
        now,
      );
      await store.retry(c.id, now);
      await store.cancel(c.id, 'again', now);
      for (const id of [a.id, b.id, c.id]) {
        const announced = heard.flatMap((n) => (n.kind === 'event' && n.event.taskId === id ? [n.event] : []));
        assert.deepEqual(announced, await store.listEvents(id, 0, 100));
      }
      assert.deepEqual(
        (await store.listEvents(c.id, 0, 100)).map((e) => e.kind),
        ['created', 'started', 'cancelled', 'retrying', 'cancelled'],
      );
    } finally {
      stop();
      await store.close();
    }
  });
});
