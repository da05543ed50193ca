// Draws a followed task in a terminal: the streamed output on stdout as it arrives, and a progress bar below it.
//
// When stdout and stderr are both the terminal, the bar stays on the last row and the text above it keeps its shape:
// the view wraps the output itself at the terminal's width (at a space when it can), prints each finished row for
// good, and redraws only a small block at the bottom, the row being written and the bar, so that streamed text
// without newlines (generated text, chunk by chunk) is never cut where a progress report happened to arrive. With
// stdout redirected the bar is redrawn in place on stderr; with stderr redirected it is one line per change. --json
// prints one event per line.
import { fstatSync } from 'node:fs';
import type { Task, TaskEvent, WaitingFor } from '../core/task.ts';
import { describeWait } from './format.ts';

export interface Terminal {
  write(text: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

const BAR_WIDTH = 30;
const RESULT_PREVIEW = 300;
/** East Asian wide and fullwidth characters and emoji take two columns. */
const WIDE = /[\u1100-\u115F\u2E80-\u303E\u3041-\u33FF\u3400-\u4DBF\u4E00-\u9FFF\uA000-\uA4CF\uAC00-\uD7A3\uF900-\uFAFF\uFE30-\uFE4F\uFF00-\uFF60\uFFE0-\uFFE6\u{1F300}-\u{1F64F}\u{1F900}-\u{1F9FF}\u{20000}-\u{3FFFD}]/u;
/** The text without control characters and escape sequences, which would move the cursor behind the view's back. */
function printable(text: string): string {
  let out = '';
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 27) {
      // ESC [ parameters final-byte (a CSI sequence, such as a colour), or ESC and one character.
      if (text[i + 1] === '[') for (i += 2; i < text.length && !(text.charCodeAt(i) >= 0x40 && text.charCodeAt(i) <= 0x7e); i++);
      else i++;
      continue;
    }
    if ((c < 32 && c !== 10) || c === 127) continue;
    out += text[i];
  }
  return out;
}

function columnsOf(text: string): number {
  let n = 0;
  for (const ch of text) n += WIDE.test(ch) ? 2 : 1;
  return n;
}

/** The longest prefix of `text` that fits in `cols` columns. */
function fit(text: string, cols: number): string {
  let n = 0;
  let out = '';
  for (const ch of text) {
    n += WIDE.test(ch) ? 2 : 1;
    if (n > cols) break;
    out += ch;
  }
  return out;
}

function sameFile(a: number, b: number): boolean {
  try {
    const x = fstatSync(a);
    const y = fstatSync(b);
    return x.dev === y.dev && x.ino === y.ino;
  } catch {
    return true;
  }
}

function unicodeTerminal(): boolean {
  const locale = `${process.env.LC_ALL ?? ''}${process.env.LC_CTYPE ?? ''}${process.env.LANG ?? ''}`;
  return process.env.TERM !== 'dumb' && /utf-?8/i.test(locale);
}

export class FollowView {
  readonly #out: Terminal;
  readonly #err: Terminal;
  readonly #json: boolean;
  readonly #mode: 'json' | 'live' | 'bar' | 'plain';
  readonly #fill: [string, string];
  /** live: the row being written, not yet printed for good. */
  #row = '';
  /** The bar as last drawn (live and bar modes), or the last bar line printed (plain). */
  #bar: string | null = null;
  /** live: rows of the block (row being written, bar) on screen now. */
  #drawn = 0;
  /** plain: the output ended without a newline. */
  #midLine = false;
  #startedAt: number | null = null;
  /** plain: stdout and stderr go to the same file (2>&1), so a bar line must not land in the middle of a text line. */
  readonly #shared: boolean;

  constructor(out: Terminal = process.stdout, json = false, err: Terminal = process.stderr) {
    this.#out = out;
    this.#err = err;
    this.#json = json;
    this.#mode = json ? 'json' : err.isTTY ? (out.isTTY ? 'live' : 'bar') : 'plain';
    this.#fill = unicodeTerminal() ? ['█', '░'] : ['#', '-'];
    this.#shared = this.#mode === 'plain' && out === process.stdout && err === process.stderr && sameFile(1, 2);
  }

  get #cols(): number {
    return Math.max(20, (this.#mode === 'live' ? this.#out.columns : this.#err.columns) ?? 80);
  }

  show(event: TaskEvent): void {
    if (this.#json) {
      this.#out.write(`${JSON.stringify(event)}\n`);
      return;
    }
    const data = (event.data ?? {}) as Record<string, unknown>;
    switch (event.kind) {
      case 'output':
        this.#output(String(data.chunk ?? ''));
        break;
      case 'progress':
        this.#progress(Number(data.percent ?? 0), typeof data.message === 'string' ? data.message : '');
        break;
      case 'started':
        this.#startedAt ??= event.at;
        this.#status(`started, attempt ${String(data.attempt ?? '?')}${typeof data.workerId === 'string' ? ` on ${data.workerId}` : ''}`);
        break;
      case 'retrying': {
        const error = (data.error ?? null) as { message?: string } | null;
        const when = typeof data.runAt === 'number' ? ` in ${Math.max(0, Math.round((data.runAt - event.at) / 1000))} s` : '';
        this.#status(data.manual ? 'retried by hand' : `attempt failed: ${error?.message ?? 'error'}; retrying${when}`);
        break;
      }
      // Durable tasks: a waiting task holds no worker; say what it waits for, and when it goes on.
      case 'waiting':
        if (data.waitingFor) this.#status(`waiting for ${describeWait(data.waitingFor as WaitingFor)}`);
        break;
      case 'resumed':
        this.#status(`resumed (${String(data.reason ?? '')} "${String(data.name ?? '')}")`);
        break;
      case 'checkpoint':
        this.#status(`checkpoint ${String(data.version ?? '?')}${typeof data.label === 'string' ? ` "${data.label}"` : ''} saved`);
        break;
      default:
        // created: nothing to say yet; completed, failed, cancelled: end() says how it ended.
        break;
    }
  }

  end(task: Task): void {
    if (this.#json) return;
    let tail = '';
    if (task.status === 'completed') {
      const result = JSON.stringify(task.result);
      tail = result === undefined || result === 'null' ? '' : `: result ${this.#mode === 'plain' || result.length <= RESULT_PREVIEW ? result : `${result.slice(0, RESULT_PREVIEW)}…`}`;
    } else if (task.error) tail = `: ${task.error.message}`;
    const took = this.#startedAt !== null && task.completedAt !== null ? ` in ${((task.completedAt - this.#startedAt) / 1000).toFixed(1)} s` : '';
    // On a terminal the summary keeps to one row: the whole result is one `taskhub status ID --json` away.
    const summary = this.#mode === 'plain' ? `${task.status}${took}${tail}` : fit(`${task.status}${took}${tail}`, this.#cols - 2) + (columnsOf(`${task.status}${took}${tail}`) > this.#cols - 2 ? '…' : '');
    if (this.#mode === 'live') {
      // The bar stays, as it ended; the row being written becomes a line of its own.
      const bar = this.#bar;
      this.#update([...(this.#row ? [this.#row] : [])], { row: '', bar: null });
      if (bar) this.#err.write(`${bar}\n`);
    } else if (this.#mode === 'bar') {
      if (this.#bar) this.#err.write(`\r\x1b[2K${this.#bar}\n`);
    } else this.#breakLine();
    this.#err.write(`${summary}\n`);
    if (task.status !== 'completed') process.exitCode = 1;
  }

  #barText(percent: number, message: string): string {
    const p = Math.max(0, Math.min(100, percent));
    const suffix = ` ${String(Math.round(p)).padStart(3)}%${message ? ` ${message}` : ''}`;
    // A narrow terminal gets a shorter bar before the message is cut.
    const width = Math.max(10, Math.min(BAR_WIDTH, this.#cols - 1 - columnsOf(suffix)));
    const filled = Math.round((p / 100) * width);
    return fit(`${this.#fill[0].repeat(filled)}${this.#fill[1].repeat(width - filled)}${suffix}`, this.#cols - 1);
  }

  #output(chunk: string): void {
    const text = printable(chunk.replace(/\r\n?/g, '\n').replace(/\t/g, '    '));
    if (this.#mode !== 'live') {
      if (this.#mode === 'bar' && this.#bar) this.#err.write('\r\x1b[2K');
      this.#out.write(text);
      if (text) this.#midLine = !text.endsWith('\n');
      if (this.#mode === 'bar' && this.#bar) this.#err.write(this.#bar);
      return;
    }
    // Wrap at the terminal's width ourselves (at the last space that fits, else anywhere), so that every finished
    // row is known and the block below it can be redrawn exactly.
    const width = this.#cols - 1;
    const done: string[] = [];
    let row = this.#row;
    for (const ch of text) {
      if (ch === '\n') {
        done.push(row);
        row = '';
        continue;
      }
      row += ch;
      if (columnsOf(row) > width) {
        const space = row.lastIndexOf(' ', row.length - 2);
        if (space > 0 && columnsOf(row.slice(0, space)) <= width) {
          done.push(row.slice(0, space));
          row = row.slice(space + 1);
        } else {
          const head = fit(row, width);
          done.push(head);
          row = row.slice(head.length);
        }
      }
    }
    this.#update(done, { row, bar: this.#bar });
  }

  #progress(percent: number, message: string): void {
    const bar = this.#barText(percent, message);
    if (this.#mode === 'live') {
      if (bar !== this.#bar) this.#update([], { row: this.#row, bar });
    } else if (this.#mode === 'bar') {
      this.#bar = bar;
      this.#err.write(`\r\x1b[2K${bar}`);
    } else if (bar !== this.#bar) {
      this.#bar = bar;
      this.#breakLine();
      this.#err.write(`${bar}\n`);
    }
  }

  #status(text: string): void {
    const line = `[${text}]`;
    if (this.#mode === 'live') {
      // The row being written ends here: the status goes below it, the block after.
      this.#update(this.#row ? [this.#row] : [], { row: '', bar: this.#bar }, line);
    } else if (this.#mode === 'bar') {
      this.#err.write(`\r\x1b[2K${line}\n${this.#bar ?? ''}`);
    } else {
      this.#breakLine();
      this.#err.write(`${line}\n`);
    }
  }

  #breakLine(): void {
    if (this.#midLine && this.#shared) this.#err.write('\n');
    this.#midLine = false;
  }

  /**
   * live: erases the block, prints `rows` of output for good (then `status` on stderr), and draws the new block: the
   * row being written and the bar, each on one terminal row.
   */
  #update(rows: string[], next: { row: string; bar: string | null }, status?: string): void {
    if (this.#drawn > 0) this.#err.write(`\r${this.#drawn > 1 ? `\x1b[${this.#drawn - 1}A` : ''}\x1b[J`);
    if (rows.length > 0) this.#out.write(`${rows.join('\n')}\n`);
    if (status) this.#err.write(`${status}\n`);
    this.#row = next.row;
    this.#bar = next.bar;
    const block = [...(next.row ? [next.row] : []), ...(next.bar ? [next.bar] : [])];
    this.#drawn = block.length;
    if (block.length > 0) this.#err.write(block.join('\n'));
  }
}
