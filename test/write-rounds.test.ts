// When SSE streams write (server/write-rounds.ts): at the end of the turn while few streams write; after a round that
// wrote to many, the next waits GATHER_MS so that each stream's frames of several commits go out in one write.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BUSY_ROUND, GATHER_MS, WriteRounds } from '../src/server/write-rounds.ts';

const nextTimer = () => new Promise((resolve) => setTimeout(resolve, 0));
const fail = (error: unknown) => assert.fail(`a write threw: ${(error as Error).message}`);

describe('SSE write rounds', () => {
  it('writes at the end of the turn while few streams write, each once however often asked', async () => {
    const rounds = new WriteRounds(fail);
    const written: string[] = [];
    const a = () => written.push('a');
    const b = () => written.push('b');
    rounds.add(a);
    rounds.add(b);
    rounds.add(a);
    assert.deepEqual(written, [], 'not within the turn that asked');
    await nextTimer();
    assert.deepEqual(written, ['a', 'b']);
  });

  it('after a round of many streams, gathers for GATHER_MS; a small round brings it back to at once', async () => {
    const rounds = new WriteRounds(fail);
    let writes = 0;
    const many = Array.from({ length: BUSY_ROUND }, () => () => void writes++);
    for (const write of many) rounds.add(write);
    await nextTimer();
    assert.equal(writes, BUSY_ROUND);

    // Busy: the next round waits, and takes what more streams asked for meanwhile.
    const asked = performance.now();
    let ranAt = 0;
    rounds.add(() => {
      ranAt = performance.now();
    });
    await nextTimer();
    assert.equal(ranAt, 0, 'a busy server does not write at the end of the turn');
    await new Promise((resolve) => setTimeout(resolve, GATHER_MS + 20));
    assert.ok(ranAt - asked >= GATHER_MS - 1, `waited ${(ranAt - asked).toFixed(1)} ms`);

    // That round wrote to one stream: the next is at once again.
    let quick = false;
    rounds.add(() => {
      quick = true;
    });
    await nextTimer();
    assert.equal(quick, true);
  });

  it('writes the other streams of a round when one write throws', async () => {
    const thrown: unknown[] = [];
    const rounds = new WriteRounds((error) => thrown.push(error));
    const written: string[] = [];
    rounds.add(() => {
      throw new Error('socket gone');
    });
    rounds.add(() => written.push('b'));
    await nextTimer();
    assert.deepEqual(written, ['b']);
    assert.deepEqual(thrown.map((e) => (e as Error).message), ['socket gone']);
  });

  it('drops a removed stream from the coming round', async () => {
    const rounds = new WriteRounds(fail);
    const written: string[] = [];
    const a = () => written.push('a');
    rounds.add(a);
    rounds.add(() => written.push('b'));
    rounds.remove(a);
    await nextTimer();
    assert.deepEqual(written, ['b']);
  });
});
