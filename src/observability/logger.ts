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
  return pino(
    { level },
    PinoPretty({
      destination: stream,
      sync: true,
      colorize: stream.isTTY === true,
      translateTime: 'SYS:HH:MM:ss.l',
      singleLine: true,
      // `[queue/type task-id #attempt] message` for lines about a task, the rest of the fields after it.
      messageFormat: '{if taskId}[{queue}/{type} {taskId} #{attempt}] {end}{msg}',
      ignore: 'pid,hostname,taskId,queue,type,attempt',
    }),
  );
}
