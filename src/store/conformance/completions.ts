// Store conformance: what a claim answers, which a backend may build from what the claimer knows rather than read back
// (the PostgreSQL claim's slim rows), and batches of completions whose requests name their task as its claim returned
// it (AttemptRef.claimed), answered from the claim: both must be the same as a read of the stored row, whatever the
// task's type, owner, attempt, due time or place under a waiting parent.
import assert from 'node:assert/strict';
import { before, it } from 'node:test';
import { StaleAttemptError } from '../../core/errors.ts';
import type { AttemptRef, Claim, FinishResult, Store } from '../store.ts';
import { claimOne, claimRequest, finishOne, kinds, LEASE, newTask, type Suite, T0 } from './helpers.ts';

/** The ref an in-process worker sends: with the task its claim returned. */
const claimedRef = (claim: Claim): AttemptRef => ({ taskId: claim.task.id, attemptToken: claim.attemptToken, claimed: claim.task });

export function completionTests(suite: Suite): void {
  let store: Store;
  before(() => {
    store = suite.store();
  });
  const { freshType } = suite;

  /** Each applied result's answer, field by field, against the stored task. */
  async function assertAnswersMatchRows(results: readonly FinishResult[]): Promise<void> {
    for (const result of results) {
      if (!result.ok) continue;
      const stored = (await store.getTask(result.task.id)) as unknown as Record<string, unknown>;
      const answer = result.task as unknown as Record<string, unknown>;
      assert.deepEqual(answer, Object.fromEntries(Object.keys(answer).map((key) => [key, stored[key]])), `the answer for ${result.task.id} matches its row`);
    }
  }

  it('claims tasks that read as their stored rows, of any of the claim\'s types, each with a token of its own', async () => {
    const [a, b] = [freshType(), freshType()];
    await store.createTasks([newTask({ type: a, owner: 'tenant-a' }), newTask({ type: b, priority: 3 }), newTask({ type: a, runAt: T0 + 5 })]);
    const claims = await store.claim(claimRequest({ types: [a, b], max: 3, now: T0 + 10 }));
    assert.deepEqual(claims.map((c) => c.task.type), [b, a, a]);
    for (const claim of claims) {
      assert.deepEqual(await store.getTask(claim.task.id), claim.task, `the claim of ${claim.task.type} reads as its row`);
      assert.equal((await store.heartbeat({ taskId: claim.task.id, attemptToken: claim.attemptToken }, LEASE, T0 + 11)).cancelRequested, false);
    }
    assert.equal(new Set(claims.map((c) => c.attemptToken)).size, 3);
    // Tokens are not interchangeable: a token held for one task does not hold another's attempt.
    const [first, second] = claims;
    const crossed = await store.finish([{ ref: { taskId: first.task.id, attemptToken: second.attemptToken }, outcome: { status: 'completed', result: null } }], T0 + 12);
    assert.ok(!crossed[0].ok && crossed[0].error instanceof StaleAttemptError);
    // A later claim of the same task (after a retry) holds a new token; the first one is spent.
    await finishOne(store, { ref: claimedRef(first), outcome: { status: 'retry', error: { message: 'again', retryable: true }, runAt: T0 + 13 } }, T0 + 12);
    const again = await claimOne(store, { types: [b], now: T0 + 14 });
    assert.equal(again.task.id, first.task.id);
    assert.notEqual(again.attemptToken, first.attemptToken);
    assert.deepEqual(await store.getTask(again.task.id), again.task);
    await assert.rejects(store.heartbeat({ taskId: first.task.id, attemptToken: first.attemptToken }, LEASE, T0 + 15), StaleAttemptError);
  });

  it('answers completions that name their claimed tasks as their stored rows read', async () => {
    const type = freshType();
    // A plain task, one with an owner, one due later than it was made, and one on its second attempt after a retry.
    await store.createTasks([newTask({ type }), newTask({ type }, T0 - 50)]);
    await store.createTasks([newTask({ type, owner: 'tenant-a' }), newTask({ type, runAt: T0 + 20 })]);
    const first = await claimOne(store, { types: [type], now: T0 + 30 });
    await finishOne(store, { ref: claimedRef(first), outcome: { status: 'retry', error: { message: 'again', retryable: true }, runAt: T0 + 40 } }, T0 + 35);
    const claims = await store.claim(claimRequest({ types: [type], max: 10, now: T0 + 60 }));
    assert.equal(claims.length, 4);
    assert.deepEqual(claims.map((c) => c.task.attempts).sort(), [1, 1, 1, 2]);
    const results = await store.finish(claims.map((c, i) => ({ ref: claimedRef(c), outcome: { status: 'completed', result: { i } } })), T0 + 70);
    assert.deepEqual(results.map((r) => r.ok && r.task.status), ['completed', 'completed', 'completed', 'completed']);
    await assertAnswersMatchRows(results);
    assert.deepEqual(
      results.map((r) => r.ok && r.task.owner),
      claims.map((c) => c.task.owner),
    );
    for (const result of results) {
      assert.ok(result.ok);
      const last = (await store.listEvents(result.task.id, 0, 100)).at(-1);
      assert.deepEqual([last?.kind, last?.seq], ['completed', result.task.lastEventSeq]);
    }
  });

  it('completes a batch that mixes claimed and bare refs, and refuses a spent token however it is named', async () => {
    const type = freshType();
    await store.createTasks([newTask({ type }), newTask({ type }), newTask({ type })]);
    const claims = await store.claim(claimRequest({ types: [type], max: 3 }));
    const bare = { taskId: claims[1].task.id, attemptToken: claims[1].attemptToken };
    const results = await store.finish(
      [
        { ref: claimedRef(claims[0]), outcome: { status: 'completed', result: 0 } },
        { ref: bare, outcome: { status: 'completed', result: 1 } },
        { ref: claimedRef(claims[2]), outcome: { status: 'completed', result: 2 } },
      ],
      T0 + 5,
    );
    assert.ok(results.every((r) => r.ok));
    await assertAnswersMatchRows(results);
    const again = await store.finish(
      claims.map((c) => ({ ref: claimedRef(c), outcome: { status: 'completed', result: 'late' } })),
      T0 + 6,
    );
    assert.ok(again.every((r) => !r.ok && r.error instanceof StaleAttemptError));
    for (const claim of claims) assert.deepEqual(await kinds(store, claim.task.id), ['created', 'started', 'completed']);
    assert.deepEqual(
      await Promise.all(claims.map(async (c) => (await store.getTask(c.task.id))?.result)),
      [0, 1, 2],
    );
  });

  it('completes claimed children of a wait in one batch and wakes their parent once', async () => {
    const type = freshType();
    const childType = freshType();
    await store.createTasks([newTask({ type })]);
    const parent = await claimOne(store, { types: [type] });
    await store.suspend(claimedRef(parent), { kind: 'children', name: 'all', tasks: [newTask({ type: childType }), newTask({ type: childType })] }, T0);
    const kids = await store.claim(claimRequest({ types: [childType], max: 2 }));
    assert.deepEqual(kids.map((k) => k.task.parentId), [parent.task.id, parent.task.id]);
    const results = await store.finish(kids.map((c, i) => ({ ref: claimedRef(c), outcome: { status: 'completed', result: i } })), T0 + 1);
    assert.deepEqual(results.map((r) => r.ok && r.task.status), ['completed', 'completed']);
    await assertAnswersMatchRows(results);
    assert.equal((await store.getTask(parent.task.id))?.status, 'queued');
    const events = await store.listEvents(parent.task.id, 0, 100);
    assert.deepEqual(
      events.filter((e) => e.kind === 'child-finished' || e.kind === 'resumed').map((e) => e.kind),
      ['child-finished', 'child-finished', 'resumed'],
    );
  });
}
