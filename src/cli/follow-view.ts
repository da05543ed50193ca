// Draws a followed task in a terminal: the streamed output on stdout as it arrives, a progress bar on stderr
// (redrawn in place on a TTY, one line per update otherwise). With --json, one event per line.
import type { Task, TaskEvent } from '../core/task.ts';

const WIDTH = 30;

export class FollowView {
  readonly #out: NodeJS.WriteStream;
  readonly #json: boolean;
  readonly #tty: boolean;
  #barShown = false;
  /** Output text ended without a newline: the bar must start a fresh line rather than erase it. */
  #midLine = false;

  constructor(out: NodeJS.WriteStream, json: boolean) {
    this.#out = out;
    this.#json = json;
    this.#tty = Boolean(process.stderr.isTTY);
  }

  show(event: TaskEvent): void {
    if (this.#json) {
      this.#out.write(`${JSON.stringify(event)}\n`);
      return;
    }
    const data = (event.data ?? {}) as Record<string, unknown>;
    switch (event.kind) {
      case 'output':
        this.#clearBar();
        this.#out.write(String(data.chunk ?? ''));
        this.#midLine = !String(data.chunk ?? '').endsWith('\n');
        break;
      case 'progress':
        this.#bar(Number(data.percent ?? 0), typeof data.message === 'string' ? data.message : '');
        break;
      case 'started':
        this.#status(`started (attempt ${String(data.attempt ?? '?')})`);
        break;
      case 'retrying':
        this.#status(`retrying: ${JSON.stringify(data.error ?? data)}`);
        break;
      default:
        this.#status(event.kind);
    }
  }

  end(task: Task): void {
    if (this.#json) return;
    this.#clearBar();
    this.#breakLine();
    const tail = task.status === 'completed' ? `result ${JSON.stringify(task.result)}` : task.error ? task.error.message : '';
    process.stderr.write(`\n${task.status}${tail ? `: ${tail}` : ''}\n`);
    if (task.status !== 'completed') process.exitCode = 1;
  }

  #bar(percent: number, message: string): void {
    const filled = Math.round((Math.max(0, Math.min(100, percent)) / 100) * WIDTH);
    const line = `[${'#'.repeat(filled)}${'-'.repeat(WIDTH - filled)}] ${String(Math.round(percent)).padStart(3)}% ${message}`;
    this.#breakLine();
    if (this.#tty) {
      process.stderr.write(`\r\x1b[2K${line}`);
      this.#barShown = true;
    } else process.stderr.write(`${line}\n`);
  }

  #breakLine(): void {
    if (this.#midLine) process.stderr.write('\n');
    this.#midLine = false;
  }

  #status(text: string): void {
    this.#clearBar();
    this.#breakLine();
    process.stderr.write(`[${text}]\n`);
  }

  #clearBar(): void {
    if (this.#barShown) process.stderr.write('\r\x1b[2K');
    this.#barShown = false;
  }
}
