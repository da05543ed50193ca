import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ValidationError } from '../src/index.ts';
import { openTestHub } from './helpers/hub.ts';

describe('topics', () => {
  it('fans a publish out to every matching subscription, each copy its own task', async () => {
    const hub = await openTestHub({ autoStart: false });
    try {
      await hub.topics.subscribe('audit', 'orders.#', { type: 'audit-log' });
      await hub.topics.subscribe('email', 'orders.*.created', { type: 'send-email', queue: 'emails' });
      await hub.topics.subscribe('billing', 'invoices.*', { type: 'bill' });
      const { tasks } = await hub.publish('orders.eu.created', { orderId: 7 });
      assert.deepEqual(tasks.map((t) => [t.type, t.queue, t.tags.subscription]).sort(), [
        ['audit-log', 'default', 'audit'],
        ['send-email', 'emails', 'email'],
      ]);
      assert.ok(tasks.every((t) => t.tags.topic === 'orders.eu.created' && (t.payload as { orderId: number }).orderId === 7));
      const none = await hub.publish('nobody.listens', {});
      assert.deepEqual(none.tasks, []);
      assert.equal(hub.topics.unmatchedPublishes, 1);
      // The same idempotency key publishes once.
      const first = await hub.publish('invoices.paid', 1, { idempotencyKey: 'evt-1' });
      const again = await hub.publish('invoices.paid', 1, { idempotencyKey: 'evt-1' });
      assert.deepEqual(again.tasks.map((t) => t.id), first.tasks.map((t) => t.id));
    } finally {
      await hub.dispose();
    }
  });

  it('creates every copy or none', async () => {
    const hub = await openTestHub({ autoStart: false });
    try {
      await hub.topics.subscribe('a', 'user.signup', { type: 'welcome' });
      await hub.topics.subscribe('b', 'user.signup', { type: 'strict-crm' });
      await hub.setTypeSettings('strict-crm', { payloadSchema: { type: 'object', required: ['email'] } });
      await assert.rejects(hub.publish('user.signup', { name: 'Ada' }), (error: unknown) => error instanceof ValidationError && /email/.test(error.message));
      assert.equal((await hub.list({ type: 'welcome' })).tasks.length, 0, 'no copy was created for the other subscriber');
      const ok = await hub.publish('user.signup', { name: 'Ada', email: 'ada@example.com' });
      assert.equal(ok.tasks.length, 2);
    } finally {
      await hub.dispose();
    }
  });

  it('retries and dead-letters each subscriber on its own', async () => {
    const hub = await openTestHub();
    try {
      let failing = 0;
      await hub.subscribe('shipments.*', 'notify', async () => 'sent');
      await hub.subscribe('shipments.*', 'flaky-sync', async () => {
        failing++;
        throw new Error('downstream is down');
      });
      await hub.setTypeSettings('flaky-sync', { defaults: { maxAttempts: 2, backoff: { type: 'fixed', delayMs: 10, jitter: 0 } } });
      const { tasks } = await hub.publish('shipments.sent', { id: 1 });
      const done = await Promise.all(tasks.map((t) => hub.wait(t.id, 5000)));
      const byType = Object.fromEntries(done.map((t) => [t.type, t]));
      assert.equal(byType.notify.status, 'completed');
      assert.equal(byType.notify.attempts, 1);
      assert.equal(byType['flaky-sync'].status, 'failed');
      assert.equal(byType['flaky-sync'].attempts, 2);
      assert.equal(failing, 2);
    } finally {
      await hub.dispose();
    }
  });

  it('rejects bad patterns, topics and payloads naming the field', async () => {
    const hub = await openTestHub({ autoStart: false });
    try {
      await assert.rejects(hub.topics.subscribe('x', 'a..b', { type: 't' }), /pattern:/);
      await assert.rejects(hub.publish('a b', {}), /topic:/);
      await hub.setTypeSettings('trip', { payloadSchema: { type: 'object', properties: { city: { type: 'string' }, days: { type: 'integer' } }, required: ['city'] } });
      await assert.rejects(hub.enqueue('trip', { days: 2 }), (e: unknown) => e instanceof ValidationError && e.field === 'payload.city');
      await assert.rejects(hub.enqueue('trip', { city: 'Rome', days: 'two' }), (e: unknown) => e instanceof ValidationError && e.field === 'payload.days');
      await assert.rejects(hub.setTypeSettings('trip', { payloadSchema: { type: 'no-such-type' } }), /payloadSchema/);
      assert.equal((await hub.enqueue('trip', { city: 'Rome', days: 2 })).status, 'queued');
    } finally {
      await hub.dispose();
    }
  });
});
