// How a failed attempt ends (engine/attempts.ts), and the engine applying it for every worker: unit tests of the pure
// decision, then the rule "a fail while a cancel is requested ends cancelled" through the in-process gateway.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { BackoffPolicy } from '../src/core/task.ts';
import { type FailureFacts, outcomeOfFailure, toTaskError } from '../src/engine/attempts.ts';
import { openTestHub } from './helpers/hub.ts';

const FIXED: BackoffPolicy = { type: 'fixed', delayMs: 500, maxDelayMs: 10_000, jitter: 0 };
const EXPONENTIAL: BackoffPolicy = { type: 'exponential', delayMs: 1000, maxDelayMs: 5000, jitter: 0.5 };
const NOW = 1_000_000;
const facts = (over: Partial<FailureFacts> = {}): FailureFacts => ({ attempts: 1, maxAttempts: 3, backoff: FIXED, cancelRequested: false, ...over });
const boom = { message: 'boom', code: 'E_BOOM', retryable: true };

describe('outcomeOfFailure', () => {
  it('retries a retryable error while attempts remain, after the backoff', () => {
    assert.deepEqual(outcomeOfFailure(facts(), boom, NOW), { status: 'retry', error: boom, runAt: NOW + 500 });
    assert.deepEqual(outcomeOfFailure(facts({ attempts: 2 }), boom, NOW), { status: 'retry', error: boom, runAt: NOW + 500 });
  });

  it('doubles an exponential delay per attempt, caps it, and subtracts the jitter drawn', () => {
    const runAt = (attempts: number, random: number) => {
      const outcome = outcomeOfFailure(facts({ attempts, maxAttempts: 10, backoff: EXPONENTIAL }), boom, NOW, { random: () => random });
      assert.equal(outcome.status, 'retry');
      return outcome.status === 'retry' ? outcome.runAt - NOW : Number.NaN;
    };
    assert.deepEqual([1, 2, 3, 4, 5].map((n) => runAt(n, 0)), [1000, 2000, 4000, 5000, 5000]);
    assert.equal(runAt(2, 1), 1000, 'jitter 0.5 at its largest halves the delay');
  });

  it('fails for good (dead-letters) when attempts are used up or the error is not retryable', () => {
    assert.deepEqual(outcomeOfFailure(facts({ attempts: 3 }), boom, NOW), { status: 'failed', error: boom });
    const fatal = { ...boom, retryable: false };
    assert.deepEqual(outcomeOfFailure(facts(), fatal, NOW), { status: 'failed', error: fatal });
  });

  it('ends cancelled when a cancel is pending, whatever the error and attempts', () => {
    assert.deepEqual(outcomeOfFailure(facts({ cancelRequested: true }), boom, NOW), { status: 'cancelled', reason: 'boom' });
    assert.deepEqual(outcomeOfFailure(facts({ cancelRequested: true, attempts: 3 }), { ...boom, retryable: false }, NOW, { cancelReason: 'gone' }), {
      status: 'cancelled',
      reason: 'gone',
    });
  });
});

describe('toTaskError', () => {
  it('keeps message, code and stack of an Error, retryable unless it says otherwise', () => {
    const error = Object.assign(new Error('nope'), { code: 'E_NOPE' });
    const converted = toTaskError(error);
    assert.equal(converted.message, 'nope');
    assert.equal(converted.code, 'E_NOPE');
    assert.equal(converted.retryable, true);
    assert.ok(converted.stack?.includes('nope'));
    assert.equal(toTaskError(Object.assign(new Error('x'), { retryable: false })).retryable, false);
    assert.equal(toTaskError(new Error('x'), false).retryable, false);
  });

  it('treats a NonRetryableError as final and describes thrown non-errors', () => {
    const final = new Error('bad input');
    final.name = 'NonRetryableError';
    assert.equal(toTaskError(final).retryable, false);
    assert.deepEqual(toTaskError('plain'), { message: 'plain', retryable: true });
    assert.deepEqual(toTaskError({ why: 1 }), { message: '{"why":1}', retryable: true });
    assert.equal(toTaskError(new Error('')).message, 'Error', 'an empty message falls back to the name');
  });
});

describe('the engine applies the decision for every worker', () => {
  it('a fail while a cancel is requested ends cancelled; without one, it is retried', async () => {
    const hub = await openTestHub({ autoStart: false });
    try {
      const asked = await hub.enqueue('slow', null, { maxAttempts: 3 });
      const plain = await hub.enqueue('slow', null, { maxAttempts: 3 });
      const claims = await hub.attempts.claim({ workerId: 'w', types: ['slow'], max: 2 });
      assert.equal(claims.length, 2);
      const refOf = (id: string) => {
        const claim = claims.find((c) => c.task.id === id);
        assert.ok(claim);
        return { taskId: id, attemptToken: claim.attemptToken };
      };
      assert.equal((await hub.cancel(asked.id)).cancelRequested, true);
      const error = { message: 'handler stopped', retryable: true };
      const cancelled = await hub.attempts.fail(refOf(asked.id), error);
      assert.equal(cancelled.status, 'cancelled');
      assert.equal((await hub.get(asked.id)).status, 'cancelled');
      assert.equal((await hub.attempts.fail(refOf(plain.id), error)).status, 'scheduled', 'retried after its backoff');
    } finally {
      await hub.dispose();
    }
  });
});
