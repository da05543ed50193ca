// `taskhub follow` on a terminal: checked on a small emulated screen (enough of a VT100 for what the view writes),
// so that streamed text without newlines keeps its shape around a progress bar that stays on the last row.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FollowView, type Terminal } from '../src/cli/follow-view.ts';
import type { Task, TaskEvent } from '../src/core/task.ts';

/** A screen `cols` wide: printable characters, \n (as the tty driver does it: CR LF), \r, CSI n A, CSI J, CSI 2K. */
class Screen {
  readonly rows: string[][] = [[]];
  r = 0;
  c = 0;
  pendingWrap = false;
  readonly cols: number;
  constructor(cols: number) {
    this.cols = cols;
  }
  write(text: string): void {
    for (let i = 0; i < text.length; i++) {
      const ch = text[i];
      if (ch === '\x1b' && text[i + 1] === '[') {
        let j = i + 2;
        while (!/[@-~]/.test(text[j])) j++;
        const param = text.slice(i + 2, j);
        const final = text[j];
        if (final === 'A') this.r = Math.max(0, this.r - Number(param || 1));
        else if (final === 'J') {
          this.rows[this.r] = (this.rows[this.r] ?? []).slice(0, this.c);
          this.rows.length = this.r + 1;
        } else if (final === 'K' && param === '2') this.rows[this.r] = [];
        else throw new Error(`unexpected escape ${JSON.stringify(text.slice(i, j + 1))}`);
        this.pendingWrap = false;
        i = j;
      } else if (ch === '\n') {
        this.r++;
        this.c = 0;
        this.pendingWrap = false;
      } else if (ch === '\r') {
        this.c = 0;
        this.pendingWrap = false;
      } else {
        if (this.pendingWrap) {
          this.r++;
          this.c = 0;
          this.pendingWrap = false;
        }
        this.rows[this.r] ??= [];
        this.rows[this.r][this.c] = ch;
        this.c++;
        if (this.c === this.cols) {
          this.c = this.cols - 1;
          this.pendingWrap = true;
        }
      }
      this.rows[this.r] ??= [];
    }
  }
  lines(): string[] {
    const out = [...this.rows].map((row) => Array.from({ length: row.length }, (_, i) => row[i] ?? ' ').join('').trimEnd());
    while (out.length && out[out.length - 1] === '') out.pop();
    return out;
  }
}

function terminal(screen: Screen, isTTY: boolean): Terminal & { text: string } {
  const t = {
    isTTY,
    columns: screen.cols,
    text: '',
    write(s: string) {
      t.text += s;
      if (isTTY) screen.write(s);
      return true;
    },
  };
  return t;
}

let seq = 0;
const ev = (kind: TaskEvent['kind'], data: unknown): TaskEvent => ({ taskId: 't', seq: ++seq, kind, data: data as TaskEvent['data'], at: 1000 + seq });
const finished = { status: 'completed', result: { ok: true }, error: null, completedAt: 3000 } as unknown as Task;

const WORDS = 'The quick brown fox jumps over the lazy dog while the streamed text keeps coming in small pieces'.split(' ');

describe('taskhub follow view', () => {
  it('keeps streamed text whole above a bar that stays on the last row', () => {
    const screen = new Screen(40);
    const view = new FollowView(terminal(screen, true), false, terminal(screen, true));
    view.show(ev('created', { status: 'queued' }));
    view.show(ev('started', { attempt: 1, workerId: 'w1' }));
    for (const [i, word] of WORDS.entries()) {
      view.show(ev('output', { chunk: `${word} ` }));
      if (i % 4 === 3) view.show(ev('progress', { percent: Math.round(((i + 1) / WORDS.length) * 100), message: 'writing' }));
      // At every moment: the bar (once there is one) is the last row, and no row is wider than the screen.
      const lines = screen.lines();
      if (i >= 3) assert.match(lines[lines.length - 1], /^[#█][#█░-]* +\d+% writing$/);
      for (const line of lines) assert.ok(line.length < 40, `fits: ${line}`);
    }
    view.show(ev('output', { chunk: 'end.\nA second line.' }));
    view.show(ev('progress', { percent: 100, message: 'done' }));
    view.show(ev('completed', { result: { ok: true } }));
    view.end(finished);
    const lines = screen.lines();
    assert.equal(lines[0], '[started, attempt 1 on w1]');
    const text = lines.slice(1, -2);
    // The words come back in order, wrapped at spaces only, and the newline of the output is kept.
    assert.deepEqual(text.join(' ').split(/\s+/).filter(Boolean), [...WORDS, 'end.', 'A', 'second', 'line.']);
    assert.ok(text.includes('A second line.'), 'the output\'s own newline starts a row');
    assert.match(lines[lines.length - 2], /100% done$/);
    assert.equal(lines[lines.length - 1], 'completed in 0.0 s: result {"ok":true}'.replace('0.0', ((3000 - 1002) / 1000).toFixed(1)));
  });

  it('with stdout redirected: the text goes whole to stdout and the bar is redrawn in place', () => {
    const screen = new Screen(60);
    const out = terminal(new Screen(60), false);
    const view = new FollowView(out, false, terminal(screen, true));
    view.show(ev('started', { attempt: 1 }));
    view.show(ev('output', { chunk: 'Hello ' }));
    view.show(ev('progress', { percent: 50, message: 'half' }));
    view.show(ev('output', { chunk: 'world' }));
    view.end(finished);
    assert.equal(out.text, 'Hello world');
    const lines = screen.lines();
    assert.equal(lines.length, 3);
    assert.match(lines[1], /50% half$/);
    assert.match(lines[2], /^completed/);
  });

  it('with stderr redirected: one bar line per change, and text kept apart from them', () => {
    const out = terminal(new Screen(80), false);
    const err = terminal(new Screen(80), false);
    const view = new FollowView(out, false, err);
    view.show(ev('output', { chunk: 'partial ' }));
    view.show(ev('progress', { percent: 10, message: 'a' }));
    view.show(ev('progress', { percent: 10, message: 'a' }));
    view.show(ev('progress', { percent: 20, message: 'b' }));
    view.end({ status: 'failed', result: null, error: { message: 'boom', retryable: false }, completedAt: null } as unknown as Task);
    assert.equal(out.text, 'partial ');
    assert.equal(err.text.split('\n').filter((l) => /%/.test(l)).length, 2, 'an unchanged bar is not repeated');
    assert.match(err.text, /failed: boom\n$/);
    process.exitCode = 0;
  });

  it('says what a durable task waits for, when it resumes and when it saves a checkpoint', () => {
    const out = terminal(new Screen(80), false);
    const err = terminal(new Screen(80), false);
    const view = new FollowView(out, false, err);
    view.show(ev('checkpoint', { version: 2, label: 'draft', size: 10 }));
    view.show(ev('waiting', { waitingFor: { kind: 'signal', name: 'approval', timeoutAt: null } }));
    view.show(ev('resumed', { reason: 'signal', name: 'approval' }));
    view.end(finished);
    assert.match(err.text, /checkpoint 2 "draft" saved[\s\S]*waiting for signal "approval"[\s\S]*resumed \(signal "approval"\)/);
  });

  it('prints one JSON event per line with --json', () => {
    const out = terminal(new Screen(80), false);
    const view = new FollowView(out, true, terminal(new Screen(80), true));
    const event = ev('progress', { percent: 5 });
    view.show(event);
    view.end(finished);
    assert.deepEqual(JSON.parse(out.text), event);
  });
});
