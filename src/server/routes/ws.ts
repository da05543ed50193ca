// WebSocket: one connection follows any number of tasks and queues. A task subscription replays the task's history
// and then goes live, ending after its terminal event; a queue subscription carries live events of every task in the
// queue. An event reaches a connection at most once, however many of its subscriptions it matches.
import type { FastifyBaseLogger, FastifyPluginAsync } from 'fastify';
import type { WebSocket } from 'ws';
import { ForbiddenError, TaskhubError, ValidationError } from '../../core/errors.ts';
import { isTerminal, type TaskEvent } from '../../core/task.ts';
import { checkName } from '../../core/validate.ts';
import type { QueueEvent } from '../../engine/event-hub.ts';
import type { RouteContext } from '../context.ts';
import { instanceOf, problem, sendProblem } from '../errors.ts';
import { SLOW_READER_MAX_BYTES, wsEventFrame } from '../frames.ts';
import { parseJsonBody } from '../json-body.ts';
import { canSee, type Principal, requireScope, visibleTask } from '../principal.ts';
import { problemResponses } from '../schemas/common.ts';
import { WsClientMessage } from '../schemas/ws.ts';
import { compileBodyValidator, describeSchemaError } from '../validation.ts';

/** (taskId, seq) pairs remembered per connection to drop repeats; repeats arrive close together, so a window will do. */
const SEEN_WINDOW = 10_000;

const validateMessage = compileBodyValidator(WsClientMessage);

class Session {
  readonly #socket: WebSocket;
  readonly #principal: Principal;
  readonly #context: RouteContext;
  readonly #log: FastifyBaseLogger;
  readonly #tasks = new Map<string, AbortController>();
  readonly #queues = new Set<string>();
  readonly #seen = new Set<string>();
  #unwatch: (() => void) | null = null;

  constructor(socket: WebSocket, principal: Principal, context: RouteContext, log: FastifyBaseLogger) {
    this.#socket = socket;
    this.#principal = principal;
    this.#context = context;
    this.#log = log;
  }

  send(message: string | object): void {
    if (this.#socket.readyState !== this.#socket.OPEN) return;
    // A client this far behind is cut off (close code 1013, try again later) rather than buffered without bound.
    if (this.#socket.bufferedAmount > SLOW_READER_MAX_BYTES) {
      this.#socket.close(1013, 'too slow: fell behind the event stream');
      return;
    }
    this.#socket.send(typeof message === 'string' ? message : JSON.stringify(message));
  }

  #deliver(event: TaskEvent, queue: string): void {
    const key = `${event.taskId}:${event.seq}`;
    if (this.#seen.has(key)) return;
    this.#seen.add(key);
    if (this.#seen.size > SEEN_WINDOW) this.#seen.delete(this.#seen.values().next().value as string);
    this.send(wsEventFrame(event, queue));
  }

  #error(detail: string, about: { taskId?: string; queue?: string } = {}): void {
    this.send({ type: 'error', ...about, detail });
  }

  onMessage(data: Buffer, isBinary: boolean): void {
    const refusal = this.#dispatch(data, isBinary);
    if (refusal) this.#error(refusal.detail, refusal.about);
  }

  /** Acts on one client message; what comes back is why it was refused. */
  #dispatch(data: Buffer, isBinary: boolean): { detail: string; about?: { queue: string } } | undefined {
    let message: unknown;
    try {
      if (isBinary) throw new Error('the message is not valid JSON: messages must be text');
      // The input rules of request bodies: UTF-8, no key twice, no U+0000, bounded nesting.
      message = parseJsonBody(data);
    } catch (error) {
      return { detail: (error as Error).message.replace('the request body', 'the message') };
    }
    if (!validateMessage(message)) return { detail: describeSchemaError(validateMessage.errors![0], 'message').detail };
    const { op, taskId, queue, afterSeq } = message;
    if (taskId !== undefined && queue === undefined) {
      if (op === 'subscribe') void this.#subscribeTask(taskId, afterSeq ?? 0);
      else this.#unsubscribeTask(taskId);
    } else if (queue !== undefined && taskId === undefined) {
      if (afterSeq !== undefined) return { detail: 'afterSeq: applies to task subscriptions only', about: { queue } };
      if (op === 'subscribe') this.#subscribeQueue(queue);
      else this.#unsubscribeQueue(queue);
    } else return { detail: 'give exactly one of taskId and queue' };
    return undefined;
  }

  async #subscribeTask(taskId: string, afterSeq: number): Promise<void> {
    if (this.#tasks.has(taskId)) return this.send({ type: 'subscribed', taskId });
    const stop = new AbortController();
    this.#tasks.set(taskId, stop);
    try {
      const task = await visibleTask(this.#context.hub, this.#principal, taskId);
      if (stop.signal.aborted) return;
      this.send({ type: 'subscribed', taskId });
      if (!(isTerminal(task.status) && afterSeq >= task.lastEventSeq)) {
        for await (const event of this.#context.hub.follow(taskId, { afterSeq, signal: stop.signal })) {
          this.#deliver(event, task.queue);
        }
      }
      if (!stop.signal.aborted) this.send({ type: 'end', taskId });
    } catch (error) {
      if (error instanceof TaskhubError) this.#error(error.message, { taskId });
      else {
        this.#log.warn({ err: error, taskId }, 'WebSocket task subscription failed');
        this.#error('the subscription failed; subscribe again', { taskId });
      }
    } finally {
      if (this.#tasks.get(taskId) === stop) this.#tasks.delete(taskId);
    }
  }

  #unsubscribeTask(taskId: string): void {
    this.#tasks.get(taskId)?.abort();
    this.#tasks.delete(taskId);
    this.send({ type: 'unsubscribed', taskId });
  }

  #subscribeQueue(queue: string): void {
    try {
      checkName('queue', queue);
      // A follow token reads its one task; a queue (even filtered to the caller's own tasks) needs tasks:read.
      if (this.#principal.taskId !== undefined) throw new ForbiddenError('tasks:read', 'a follow token cannot subscribe to a queue');
      requireScope(this.#principal, 'tasks:read');
    } catch (error) {
      if (!(error instanceof ValidationError || error instanceof ForbiddenError)) throw error;
      this.#error(error.message, { queue });
      return;
    }
    this.#queues.add(queue);
    this.#unwatch ??= this.#context.hub.watchAll((notice) => this.#onQueueEvent(notice));
    this.send({ type: 'subscribed', queue });
  }

  #unsubscribeQueue(queue: string): void {
    this.#queues.delete(queue);
    if (this.#queues.size === 0) this.#stopWatching();
    this.send({ type: 'unsubscribed', queue });
  }

  #onQueueEvent(notice: QueueEvent): void {
    if (this.#queues.has(notice.queue) && canSee(this.#principal, notice.owner)) this.#deliver(notice.event, notice.queue);
  }

  #stopWatching(): void {
    this.#unwatch?.();
    this.#unwatch = null;
  }

  close(): void {
    for (const stop of this.#tasks.values()) stop.abort();
    this.#tasks.clear();
    this.#queues.clear();
    this.#stopWatching();
  }
}

export const wsRoutes: FastifyPluginAsync<RouteContext> = async (app, context) => {
  app.route({
    method: 'GET',
    url: '/ws',
    schema: {
      summary: 'Follow tasks and queues over a WebSocket',
      description:
        'Send `{"op":"subscribe","taskId":"…"}` (history, then live, then `{"type":"end"}` after the terminal ' +
        'event; `afterSeq` resumes) or `{"op":"subscribe","queue":"…"}` (live events of every task in the queue), ' +
        'and `unsubscribe` likewise. The server answers `subscribed`/`unsubscribed`, pushes ' +
        '`{"type":"event","taskId","queue","event"}`, and explains refused messages with `{"type":"error","detail"}`. ' +
        'Messages: WsClientMessage and WsServerMessage in components.schemas.',
      tags: ['live'],
      response: {
        101: { description: 'Switching to the WebSocket protocol.', type: 'null' },
        ...problemResponses(426),
      },
    },
    // A HEAD cannot be upgraded.
    exposeHeadRoute: false,
    handler: (request, reply) =>
      sendProblem(reply.header('upgrade', 'websocket'), {
        ...problem(426, 'UPGRADE_REQUIRED', 'this endpoint speaks WebSocket only: connect with Upgrade: websocket'),
        instance: instanceOf(request),
      }),
    wsHandler: (socket, request) => {
      const session = new Session(socket, request.principal, context, request.log);
      const release = context.connections.opened('ws', () => socket.close(1001, 'server shutting down'));
      let alive = true;
      // Pings both keep proxies from closing an idle connection and find peers that vanished without a close.
      const heartbeat = setInterval(() => {
        if (!alive) return socket.terminate();
        alive = false;
        socket.ping();
      }, context.heartbeatMs);
      socket.on('pong', () => {
        alive = true;
      });
      socket.on('message', (data: Buffer, isBinary: boolean) => session.onMessage(data, isBinary));
      socket.on('close', () => {
        clearInterval(heartbeat);
        session.close();
        release();
      });
    },
  });
};
