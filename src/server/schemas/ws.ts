// Schemas of the WebSocket (routes/ws.ts): its messages are validated like request bodies (typed likewise, by
// validation.ts's compileBodyValidator) and published for documentation.
import { int32, nonEmptyString } from './common.ts';
import { TaskEvent } from './tasks.ts';

export const WsClientMessage = {
  title: 'WsClientMessage',
  description: 'Sent by the client on /api/v1/ws. Give exactly one of taskId and queue.',
  type: 'object',
  additionalProperties: false,
  required: ['op'],
  properties: {
    op: { enum: ['subscribe', 'unsubscribe'] },
    taskId: nonEmptyString(100),
    queue: nonEmptyString(200),
    afterSeq: { ...int32(0), description: 'Task subscriptions only: replay events after this seq.' },
  },
} as const;

export const WsServerMessage = {
  title: 'WsServerMessage',
  description:
    '`subscribed`/`unsubscribed` acknowledge a request; `event` carries a task event (each event at most once per ' +
    'connection); `end` says a task subscription ended after the terminal event; `error` explains a refused message.',
  type: 'object',
  required: ['type'],
  properties: {
    type: { enum: ['subscribed', 'unsubscribed', 'event', 'end', 'error'] },
    taskId: { type: 'string' },
    queue: { type: 'string' },
    event: TaskEvent,
    detail: { type: 'string' },
  },
} as const;
