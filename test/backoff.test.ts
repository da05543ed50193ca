// retryDelayMs: the delay before each retry, from a task's backoff policy (core/backoff.ts).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DEFAULT_BACKOFF, retryDelayMs } from '../src/core/backoff.ts';
import type { BackoffPolicy } from '../src/core/task.ts';

const noJitter = () => 0;
const policy = (overrides: Partial<BackoffPolicy>): BackoffPolicy => ({
  type: 'exponential',
  delayMs: 1000,
  maxDelayMs: 3_600_000,
  jitter: 0,
  ...overrides,
});

describe('retryDelayMs', () => {
  it('doubles the delay after each attempt when exponential', () => {
    const delays = [1, 2, 3, 4, 5].map((attempt) => retryDelayMs(policy({}), attempt, noJitter));
    assert.deepEqual(delays, [1000, 2000, 4000, 8000, 16_000]);
  });

  it('keeps the delay when fixed', () => {
    const delays = [1, 2, 10, 100].map((attempt) => retryDelayMs(policy({ type: 'fixed', delayMs: 500 }), attempt, noJitter));
    assert.deepEqual(delays, [500, 500, 500, 500]);
  });

  it('never exceeds maxDelayMs, however many attempts (no overflow to Infinity or NaN)', () => {
    const capped = policy({ delayMs: 1000, maxDelayMs: 5000 });
    assert.deepEqual([3, 4, 5].map((a) => retryDelayMs(capped, a, noJitter)), [4000, 5000, 5000]);
    assert.equal(retryDelayMs(capped, 10_000, noJitter), 5000);
    assert.equal(retryDelayMs(policy({ delayMs: 2 ** 31, maxDelayMs: 2 ** 31 }), 1_000_000, noJitter), 2 ** 31);
    // A fixed delay above the cap is capped too.
    assert.equal(retryDelayMs(policy({ type: 'fixed', delayMs: 9000, maxDelayMs: 5000 }), 1, noJitter), 5000);
  });

  it('treats an attempt number below 1 as the first attempt', () => {
    assert.equal(retryDelayMs(policy({}), 0, noJitter), 1000);
    assert.equal(retryDelayMs(policy({}), -3, noJitter), 1000);
  });

  it('subtracts at most the jitter fraction of the delay, drawn at random', () => {
    const jittered = policy({ type: 'fixed', delayMs: 1000, jitter: 0.2 });
    assert.equal(retryDelayMs(jittered, 1, () => 0), 1000);
    assert.equal(retryDelayMs(jittered, 1, () => 0.5), 900);
    assert.equal(retryDelayMs(jittered, 1, () => 0.999_999), 800);
    for (let i = 0; i < 1000; i++) {
      const delay = retryDelayMs(jittered, 1);
      assert.ok(delay >= 800 && delay <= 1000, `${delay} outside [800, 1000]`);
      assert.ok(Number.isInteger(delay));
    }
  });

  it('applies jitter after the cap, and never goes below zero', () => {
    const capped = policy({ delayMs: 1000, maxDelayMs: 3000, jitter: 0.5 });
    assert.equal(retryDelayMs(capped, 10, () => 0.999_999), 1500);
    assert.equal(retryDelayMs(policy({ jitter: 1 }), 1, () => 0.999_999_999), 0);
    assert.equal(retryDelayMs(policy({ delayMs: 0 }), 5, () => 0.5), 0);
  });

  it('defaults to exponential from 1 s, capped at an hour, with 20% jitter', () => {
    assert.deepEqual(DEFAULT_BACKOFF, { type: 'exponential', delayMs: 1000, maxDelayMs: 3_600_000, jitter: 0.2 });
    const first = retryDelayMs(DEFAULT_BACKOFF, 1);
    assert.ok(first >= 800 && first <= 1000);
    assert.equal(retryDelayMs(DEFAULT_BACKOFF, 40, () => 0), 3_600_000);
  });
});
