// The process logger of `taskhub serve` and `taskhub worker`: JSON lines (pino) for log collectors, or, when stdout is
// a terminal and JSON was not asked for, the same records pretty-printed, one line each, task fields up front.
import pino, { type Logger } from 'pino';
import PinoPretty from 'pino-pretty';

export const LOG_FORMATS = ['auto', 'json', 'pretty'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

export function isLogFormat(value: string): value is LogFormat {
  return (LOG_FORMATS as readonly string[]).includes(value);
}

export interface LoggerOptions {
  /** fatal, error, warn, info (default), debug, trace or silent. */
  level?: string;
  /** `auto` (default): pretty on a terminal, JSON otherwise. */
  format?: LogFormat;
  /** Default process.stdout. */
  stream?: NodeJS.WritableStream & { isTTY?: boolean };
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const level = options.level ?? 'info';
  const stream = options.stream ?? process.stdout;
  const format = options.format ?? 'auto';
  const pretty = format === 'pretty' || (format === 'auto' && stream.isTTY === true);
  if (!pretty) return options.stream ? pino({ level }, options.stream) : pino({ level });
  const prettyStream = PinoPretty({
    destination: stream,
    sync: true,
    colorize: stream.isTTY === true,
    translateTime: 'SYS:HH:MM:ss.l',
    singleLine: true,
    // `[queue/type task-id #attempt] message` for lines about a task, the rest of the fields after it.
    messageFormat: '{if taskId}[{queue}/{type} {taskId} #{attempt}] {end}{msg}',
    ignore: 'pid,hostname,taskId,queue,type,attempt,reqId,component',
  });
  return pino({ level }, new RequestLineMerger(prettyStream));
}

/**
 * For people reading a terminal: Fastify logs each request twice ("incoming request" with the method and URL,
 * "request completed" with the status); this makes it one line, `POST /api/v1/tasks 202 3.7 ms`. JSON logs are left
 * as they are (collectors can join them by reqId).
 */
class RequestLineMerger {
  readonly #next: { write(line: string): unknown };
  readonly #pending = new Map<string, string>();

  constructor(next: { write(line: string): unknown }) {
    this.#next = next;
  }

  write(line: string): void {
    let record: Record<string, unknown>;
    try {
      record = JSON.parse(line) as Record<string, unknown>;
    } catch {
      this.#next.write(line);
      return;
    }
    const reqId = typeof record.reqId === 'string' ? record.reqId : undefined;
    const req = record.req as { method?: string; url?: string } | undefined;
    if (reqId && record.msg === 'incoming request' && req) {
      this.#pending.set(reqId, `${req.method ?? '?'} ${req.url ?? '?'}`);
      // A request that never completes (a stream cut by shutdown) must not keep its entry forever.
      if (this.#pending.size > 10_000) this.#pending.delete(this.#pending.keys().next().value as string);
      return;
    }
    if (reqId && record.msg === 'request completed') {
      const request = this.#pending.get(reqId) ?? `request ${reqId}`;
      this.#pending.delete(reqId);
      const status = (record.res as { statusCode?: number } | undefined)?.statusCode ?? '?';
      const ms = typeof record.responseTime === 'number' ? ` ${record.responseTime.toFixed(1)} ms` : '';
      const { res: _res, responseTime: _time, ...rest } = record;
      this.#next.write(`${JSON.stringify({ ...rest, msg: `${request} ${status}${ms}` })}\n`);
      return;
    }
    this.#next.write(line);
  }
}
