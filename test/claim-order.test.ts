// Claim order and queue allowances (store/claim-order.ts), shared by every backend: pure functions, no store.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { byClaimOrder, type Candidate, chooseCandidates, freeSlotsPerKey, inClaimOrder, type QueueLoad, queueRoom } from '../src/store/claim-order.ts';
import type { Task } from '../src/core/task.ts';
import type { Claim } from '../src/store/store.ts';

const c = (id: string, over: Partial<Candidate> = {}): Candidate => ({ id, queue: 'q', priority: 0, runAt: 0, round: 0, ...over });

describe('claim order', () => {
  it('takes higher priority first, then the earlier round, then the earlier runAt, then the smaller id', () => {
    const sorted = [
      c('e', { runAt: 5 }),
      c('d', { round: 1 }),
      c('b'),
      c('a', { priority: 10, round: 3 }),
      c('c', { runAt: 1 }),
      c('ab'),
    ].sort(byClaimOrder);
    assert.deepEqual(
      sorted.map((x) => x.id),
      ['a', 'ab', 'b', 'c', 'e', 'd'],
    );
  });

  it('compares ids as bytes (as the indexes do), not by locale', () => {
    assert.ok(byClaimOrder(c('B'), c('a')) < 0);
    assert.ok(byClaimOrder(c('a'), c('a')) === 0);
  });

  it('orders claimed tasks without a round like candidates of round 0', () => {
    const task = { id: 'x', priority: 1, runAt: 3 };
    assert.equal(byClaimOrder(task, c('x', { priority: 1, runAt: 3 })), 0);
    assert.ok(byClaimOrder(task, { id: 'y', priority: 2, runAt: 0 }) > 0);
  });
});

describe('chooseCandidates', () => {
  it('takes up to max in claim order, whatever order the candidates come in', () => {
    const chosen = chooseCandidates([c('c', { runAt: 2 }), c('a', { priority: 1 }), c('b', { runAt: 1 })], 2, new Map());
    assert.deepEqual(chosen, ['a', 'b']);
  });

  it('keeps each limited queue within its allowance, and consumes it; other queues are unlimited', () => {
    const allowance = new Map([['capped', 1]]);
    const chosen = chooseCandidates(
      [c('a', { queue: 'capped', priority: 5 }), c('b', { queue: 'capped', priority: 4 }), c('c', { queue: 'free' }), c('d', { queue: 'free' })],
      10,
      allowance,
    );
    assert.deepEqual(chosen, ['a', 'c', 'd']);
    assert.equal(allowance.get('capped'), 0);
  });

  it('does not reorder the array it was given', () => {
    const candidates = [c('b'), c('a')];
    chooseCandidates(candidates, 2, new Map());
    assert.deepEqual(
      candidates.map((x) => x.id),
      ['b', 'a'],
    );
  });
});

describe('inClaimOrder', () => {
  const claim = (id: string): Claim => ({ task: { id } as Task, attemptToken: `t-${id}`, leaseExpiresAt: 0 });
  it('puts claims in the order their ids were chosen, whatever order the store returned them in', () => {
    const ids = (claims: Claim[]) => claims.map((x) => x.task.id);
    assert.deepEqual(ids(inClaimOrder([claim('c'), claim('a'), claim('b')], ['a', 'b', 'c'])), ['a', 'b', 'c']);
    assert.deepEqual(ids(inClaimOrder([claim('a'), claim('b'), claim('c')], ['a', 'b', 'c'])), ['a', 'b', 'c']);
    // A chosen task another process took meanwhile is missing: the others keep their order.
    assert.deepEqual(ids(inClaimOrder([claim('c'), claim('a')], ['a', 'b', 'c'])), ['a', 'c']);
  });
});

describe('freeSlotsPerKey', () => {
  it('gives each key maxPerKey minus its running tasks, and leaves out keys with no room', () => {
    const running = new Map<string | null, number>([
      ['ann', 2],
      ['bob', 1],
      [null, 5],
    ]);
    const free = freeSlotsPerKey(['ann', 'bob', 'cid', null], running, 2);
    assert.deepEqual([...free], [
      ['bob', 1],
      ['cid', 2],
    ]);
  });
});

describe('queueRoom', () => {
  const load = (over: Partial<QueueLoad>): QueueLoad => ({
    maxConcurrency: null,
    running: () => assert.fail('running is not read without a maxConcurrency'),
    rateLimit: null,
    startsInWindow: () => assert.fail('starts are not read without a rateLimit'),
    ...over,
  });

  it('is unlimited without limits, and reads only what the limits need', () => {
    assert.equal(queueRoom(load({})), Number.POSITIVE_INFINITY);
  });

  it('is the least of the concurrency room and the rate room', () => {
    assert.equal(queueRoom(load({ maxConcurrency: 5, running: () => 2 })), 3);
    assert.equal(queueRoom(load({ rateLimit: { count: 10, intervalMs: 1000 }, startsInWindow: () => 9 })), 1);
    assert.equal(
      queueRoom(load({ maxConcurrency: 5, running: () => 6, rateLimit: { count: 10, intervalMs: 1000 }, startsInWindow: () => 0 })),
      -1,
    );
  });
});
