// Logs: every line about a task carries taskId, queue, type and attempt, the worker's and the sweeper's alike; on a
// terminal the same records read as one line each.
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import pino from 'pino';
import { createLogger } from '../src/observability/logger.ts';
import { openTestHub, waitUntil } from './helpers/hub.ts';

function sink(): { stream: Writable; lines: () => Record<string, unknown>[]; text: () => string } {
  let text = '';
  const stream = new Writable({
    write(chunk, _encoding, done) {
      text += String(chunk);
      done();
    },
  });
  return {
    stream,
    text: () => text,
    lines: () =>
      text
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line) as Record<string, unknown>),
  };
}

describe('logs', () => {
  it('bind taskId, queue, type and attempt on the worker\'s lines and on lease expiries', async () => {
    const out = sink();
    const hub = await openTestHub({ logger: pino({ level: 'info' }, out.stream), leaseMs: 60, sweepIntervalMs: 20, worker: { pollIntervalMs: 20 } });
    try {
      hub.handle('breaks', async () => {
        throw new Error('it broke');
      });
      const broken = await hub.enqueue('breaks', null, { queue: 'lq', maxAttempts: 1 });
      await waitUntil(async () => (await hub.get(broken.id)).status === 'failed', 5000, 'the failure');
      // An attempt whose worker vanished: nobody reports it but the sweeper.
      const lost = await hub.enqueue('vanishes', null, { queue: 'lq' });
      await hub.attempts.claim({ workerId: 'gone', types: ['vanishes'], max: 1 });
      await waitUntil(async () => (await hub.get(lost.id)).status === 'queued', 5000, 'the sweep');

      const failed = out.lines().find((l) => l.msg === 'task attempt failed');
      assert.ok(failed, 'the worker logged the failure');
      assert.deepEqual({ taskId: failed.taskId, queue: failed.queue, type: failed.type, attempt: failed.attempt }, { taskId: broken.id, queue: 'lq', type: 'breaks', attempt: 1 });
      assert.equal((failed.err as { message: string }).message, 'it broke');
      const swept = out.lines().find((l) => typeof l.msg === 'string' && l.msg.startsWith('lease expired'));
      assert.ok(swept, 'the sweeper logged the expiry');
      assert.deepEqual(
        { taskId: swept.taskId, queue: swept.queue, type: swept.type, attempt: swept.attempt, outcome: swept.outcome, level: swept.level },
        { taskId: lost.id, queue: 'lq', type: 'vanishes', attempt: 1, outcome: 'retried', level: 40 },
      );
      for (const line of out.lines()) {
        if ('taskId' in line) for (const key of ['queue', 'type', 'attempt']) assert.ok(key in line, `${String(line.msg)} has ${key}`);
      }
    } finally {
      await hub.dispose();
    }
  });

  it('logs every attempt at debug level, with its outcome and run time', async () => {
    const out = sink();
    const hub = await openTestHub({ logger: pino({ level: 'debug' }, out.stream), worker: { pollIntervalMs: 20 } });
    try {
      hub.handle('fine', async () => 'ok');
      const task = await hub.enqueue('fine', null, { queue: 'dq' });
      await waitUntil(async () => (await hub.get(task.id)).status === 'completed', 5000, 'the task');
      await waitUntil(() => out.lines().some((l) => l.msg === 'attempt ended'), 2000, 'the line');
      const started = out.lines().find((l) => l.msg === 'attempt started');
      const ended = out.lines().find((l) => l.msg === 'attempt ended');
      assert.equal(started?.taskId, task.id);
      assert.equal(typeof started?.waitMs, 'number');
      assert.deepEqual({ taskId: ended?.taskId, queue: ended?.queue, type: ended?.type, attempt: ended?.attempt, outcome: ended?.outcome }, { taskId: task.id, queue: 'dq', type: 'fine', attempt: 1, outcome: 'completed' });
      assert.equal(typeof ended?.durationMs, 'number');
    } finally {
      await hub.dispose();
    }
  });

  it('reads as one line per record on a terminal: task fields first, one line per request', () => {
    const out = sink();
    const log = createLogger({ format: 'pretty', stream: Object.assign(out.stream, { isTTY: false }) });
    log.child({ taskId: 't-1', queue: 'q', type: 'render', attempt: 2 }).warn({ extra: 1 }, 'task attempt failed');
    log.info({ reqId: 'req-1', req: { method: 'POST', url: '/api/v1/tasks' } }, 'incoming request');
    log.info({ reqId: 'req-1', res: { statusCode: 202 }, responseTime: 3.21 }, 'request completed');
    const lines = out.text().trim().split('\n');
    assert.equal(lines.length, 2);
    assert.match(lines[0], /WARN: \[q\/render t-1 #2\] task attempt failed \{"extra":1\}$/);
    assert.match(lines[1], /INFO: POST \/api\/v1\/tasks 202 3\.2 ms$/);
    const json = sink();
    createLogger({ format: 'json', stream: json.stream }).info({ taskId: 'x' }, 'plain');
    assert.equal(json.lines()[0].taskId, 'x');
  });
});
