// Group commit (engine/coalescer.ts): calls of one event-loop turn go out as one batch, and each caller gets its own
// result back in order.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Coalescer } from '../src/engine/coalescer.ts';

/** A coalescer that records each batch it runs and answers each item doubled. */
function doubling(maxBatch?: number) {
  const batches: number[][] = [];
  const coalescer = new Coalescer<number, number>(async (items) => {
    batches.push([...items]);
    return items.map((n) => n * 2);
  }, { maxBatch });
  return { coalescer, batches };
}

describe('Coalescer', () => {
  it('runs the calls of one turn as one batch and answers each caller in order', async () => {
    const { coalescer, batches } = doubling();
    const results = await Promise.all([1, 2, 3].map((n) => coalescer.submit(n)));
    assert.deepEqual(results, [2, 4, 6]);
    assert.deepEqual(batches, [[1, 2, 3]]);
  });

  it('starts a new batch in a later turn', async () => {
    const { coalescer, batches } = doubling();
    assert.equal(await coalescer.submit(1), 2);
    assert.equal(await coalescer.submit(2), 4);
    assert.deepEqual(batches, [[1], [2]]);
  });

  it('flushes at once when a batch reaches its limit', async () => {
    const { coalescer, batches } = doubling(2);
    const results = await Promise.all([1, 2, 3, 4, 5].map((n) => coalescer.submit(n)));
    assert.deepEqual(results, [2, 4, 6, 8, 10]);
    assert.deepEqual(batches, [[1, 2], [3, 4], [5]]);
  });

  it('serial: runs one batch at a time, gathering what arrives meanwhile into the next, in order', async () => {
    const batches: number[][] = [];
    let running = 0;
    let overlapped = false;
    const coalescer = new Coalescer<number, number>(async (items) => {
      overlapped ||= running > 0;
      running++;
      batches.push([...items]);
      await new Promise((resolve) => setTimeout(resolve, 20));
      running--;
      return items;
    }, { serial: true, maxBatch: 3 });
    const first = coalescer.submit(1);
    await new Promise((resolve) => setImmediate(resolve));
    // The first batch is running now: these wait for it, then go as batches of at most 3.
    const rest = [2, 3, 4, 5].map((n) => coalescer.submit(n));
    assert.deepEqual(await Promise.all([first, ...rest]), [1, 2, 3, 4, 5]);
    assert.equal(overlapped, false);
    assert.deepEqual(batches, [[1], [2, 3, 4], [5]]);
  });

  it('rejects every caller of a failed batch, and only those', async () => {
    let calls = 0;
    const coalescer = new Coalescer<string, string>(async (items) => {
      calls++;
      if (calls === 1) throw new Error('store down');
      return items.map((s) => s.toUpperCase());
    });
    const first = [coalescer.submit('a'), coalescer.submit('b')];
    const outcomes = await Promise.allSettled(first);
    assert.deepEqual(
      outcomes.map((o) => o.status),
      ['rejected', 'rejected'],
    );
    assert.equal((outcomes[0] as PromiseRejectedResult).reason.message, 'store down');
    assert.equal(await coalescer.submit('c'), 'C', 'the next batch runs normally');
  });
});

describe('Coalescer: one bad item', () => {
  it('splits a batch the store refused a value of, down to the bad item: only its caller is refused', async () => {
    const { ValidationError } = await import('../src/core/errors.ts');
    const batches: number[][] = [];
    const coalescer = new Coalescer<number, number>(async (items) => {
      batches.push([...items]);
      if (items.includes(13)) throw new ValidationError('13 cannot be stored');
      return items.map((n) => n * 2);
    });
    const outcomes = await Promise.allSettled(Array.from({ length: 60 }, (_, i) => coalescer.submit(i)));
    for (const [i, outcome] of outcomes.entries()) {
      if (i === 13) assert.equal(outcome.status, 'rejected');
      else assert.deepEqual(outcome, { status: 'fulfilled', value: i * 2 });
    }
    assert.ok(batches.length <= 2 * Math.ceil(Math.log2(60)) + 1, `bisected, not one by one: ${batches.length} batches`);
  });
});
