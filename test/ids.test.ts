import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isUuid, uuidv7 } from '../src/core/ids.ts';

const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/** The 48-bit millisecond timestamp an id carries. */
const msOf = (id: string) => Number.parseInt(id.slice(0, 8) + id.slice(9, 13), 16);

describe('uuidv7', () => {
  it('is a version 7, variant 10 UUID carrying its millisecond', () => {
    // Ascending: an earlier millisecond than the last id's would get the last one (ids never go backwards).
    for (const now of [1, 1_700_000_000_123, Date.now() + 1_000_000]) {
      const id = uuidv7(now);
      assert.match(id, UUID_V7);
      assert.ok(isUuid(id));
      assert.equal(msOf(id), now);
    }
  });

  it('sorts in creation order within a millisecond and across them, past 4,096 ids in one millisecond', () => {
    const base = Date.now() + 10_000_000;
    const ids: string[] = [];
    for (let i = 0; i < 10_000; i++) ids.push(uuidv7(base));
    for (let i = 0; i < 100; i++) ids.push(uuidv7(base + 1 + i));
    assert.deepEqual([...ids].sort(), ids);
    assert.equal(new Set(ids).size, ids.length);
    // The counter ran out within `base` and borrowed the next milliseconds: the timestamp never goes backwards.
    assert.ok(ids.every((id, i) => i === 0 || msOf(id) >= msOf(ids[i - 1])));
  });

  it('gives distinct ids whose random parts differ', () => {
    const ids = Array.from({ length: 50_000 }, () => uuidv7());
    assert.equal(new Set(ids).size, ids.length);
    assert.equal(new Set(ids.map((id) => id.slice(24))).size, ids.length);
  });
});
