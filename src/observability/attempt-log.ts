// Log lines about attempts that no worker writes: an expired lease that the sweeper ended (the worker is gone, so
// nobody else will say it), and, at debug level, every attempt this process starts and ends. Every line carries
// taskId, queue, type and attempt, like the worker's own lines.
import type { Logger } from 'pino';
import type { AttemptObserver } from '../engine/finisher.ts';
import { runOutcome } from './metrics.ts';

/** `observe` adds an attempt observer and returns its remover (Engine.observeAttempts). */
export function logAttempts(observe: (observer: AttemptObserver) => () => void, logger: Logger): () => void {
  return observe({
    onTaskStarted(claims, now) {
      if (!logger.isLevelEnabled('debug')) return;
      for (const { task } of claims) {
        logger.debug({ taskId: task.id, queue: task.queue, type: task.type, attempt: task.attempts, waitMs: Math.max(0, now - task.runAt) }, 'attempt started');
      }
    },
    onAttemptFinished(attempts, now) {
      const debug = logger.isLevelEnabled('debug');
      // An index loop: it runs once per finish batch, too rarely to be optimized before a for-of made an iterator
      // result per attempt.
      for (let i = 0; i < attempts.length; i++) {
        const { request, task } = attempts[i];
        const swept = request.onlyIfLeaseExpired === true;
        if (!swept && !debug) continue;
        // The attempt that ended: a refunded attempt (shutdown) no longer counts in task.attempts.
        const attempt = request.outcome.status === 'retry' && request.outcome.refundAttempt ? task.attempts + 1 : task.attempts;
        const fields = {
          taskId: task.id,
          queue: task.queue,
          type: task.type,
          attempt,
          outcome: runOutcome(request),
          status: task.status,
          ...(task.startedAt === null ? {} : { durationMs: Math.max(0, now - task.startedAt) }),
        };
        if (swept) {
          const then = task.status === 'cancelled' ? 'cancelled (a cancel was pending)' : task.status === 'failed' ? 'dead-lettered' : 'put back for a retry';
          logger.warn(fields, `lease expired: the worker stopped heartbeating; task ${then}`);
        } else logger.debug(fields, 'attempt ended');
      }
    },
  });
}
