// One task: status and progress live (a waiting task says what it waits for), the streamed output as it arrives, the
// event timeline, payload, result, error with its stack, attempts and timings, its checkpoints and its lineage (parent,
// children and derived tasks); cancel, retry, recover and delete. Follows the task's own event stream (the SDK's
// fetch-based SSE, with the token in a header) from its first event, so the page shows the whole history, then live.
import type { Task, TaskEvent } from '../../core/task.ts';
import { api, ApiError, optional, token } from '../api.ts';
import { clock, dateTime, duration, fill, h, json, num, relative } from '../dom.ts';
import { TaskhubClient } from '../sdk.ts';
import { type AppContext, errorText, failure, pageHead, progressBar, setProgress, statusPill, type View, waitText } from '../ui.ts';
import { percentOf } from './tasks.ts';

const TERMINAL = new Set(['completed', 'failed', 'cancelled']);

/** One line of the timeline: an event, or a run of progress and output events merged (a chatty handler sends many). */
interface TimelineEntry {
  kind: TaskEvent['kind'];
  first: TaskEvent;
  last: TaskEvent;
  /** The latest progress event of a merged run. */
  progress: TaskEvent | null;
  chunks: number;
  chars: number;
  li: HTMLLIElement;
}

const CHATTY = new Set<TaskEvent['kind']>(['progress', 'output']);

function describe(event: TaskEvent): string {
  const d = (event.data ?? {}) as Record<string, unknown>;
  const err = (d.error ?? null) as { message?: string; code?: string } | null;
  switch (event.kind) {
    case 'created':
      return d.status === 'scheduled' && typeof d.runAt === 'number' ? `scheduled for ${dateTime(d.runAt)}` : 'queued';
    case 'started':
      return `attempt ${String(d.attempt ?? '?')}${d.workerId ? ` on ${String(d.workerId)}` : ''}`;
    case 'progress':
      return `${Math.round(Number(d.percent ?? 0))}%${d.message ? ` ${String(d.message)}` : ''}${d.phase ? ` (${String(d.phase)})` : ''}`;
    case 'retrying':
      if (d.recover) return `recovered by hand${typeof d.fromVersion === 'number' ? ` from checkpoint ${d.fromVersion}` : ''}`;
      if (d.manual) return 'retried by hand';
      return `${err?.message ?? 'failed'}; retry at ${typeof d.runAt === 'number' ? clock(d.runAt) : '?'}`;
    case 'failed':
    case 'cancelled':
      return `${err?.code ? `${err.code}: ` : ''}${err?.message ?? ''}`;
    case 'completed':
      return 'result stored';
    case 'checkpoint':
      return `version ${String(d.version ?? '?')}${d.label ? ` "${String(d.label)}"` : ''}, ${String(d.size ?? '?')} bytes`;
    case 'waiting':
      return `waits for ${waitText(d.waitingFor as Task['waitingFor'])}`;
    case 'resumed':
      return `${String(d.reason ?? '')} "${String(d.name ?? '')}"`;
    case 'signal':
      return `signal "${String(d.name ?? '')}" received`;
    case 'child-finished':
      return `child ${String(d.childId ?? '')} ${String(d.status ?? '')}, ${String(d.pending ?? '?')} pending`;
    default:
      return '';
  }
}

export function taskView(root: HTMLElement, _params: URLSearchParams, app: AppContext, id = ''): View {
  let task: Task | null = null;
  let disposed = false;
  let lastSeq = 0;
  let following: AbortController | null = null;
  /** Set while a delete is under way: nothing may ask for the task then (each request would be a 404). */
  let deleting = false;
  let lastWorker: string | null = null;
  let attemptShown = 0;
  const timeline: TimelineEntry[] = [];

  const head = h('div');
  const statusLine = h('div', { class: 'task-title' });
  const bar = progressBar(0, 'queued', true);
  const pct = h('span', { class: 'pct', 'data-testid': 'percent' }, '0%');
  const message = h('div', { class: 'progress-msg' });
  const outputText = document.createTextNode('');
  const output = h('pre', { class: 'output empty-output', 'data-testid': 'output' }, outputText);
  const facts = h('dl', { class: 'facts' });
  const data = h('div');
  const events = h('ol', { class: 'timeline' });
  // Durable tasks: the saved versions, and the tasks made from this one (children of its waits and derived tasks).
  const checkpointCard = h('div', { class: 'card', 'data-testid': 'checkpoints', hidden: true });
  const lineageCard = h('div', { class: 'card', 'data-testid': 'lineage', hidden: true });
  fill(root,
    head,
    h('div', { class: 'card' }, h('h2', null, 'Progress'), statusLine, h('div', { class: 'progress-line' }, bar, pct), message),
    h('div', { class: 'card' }, h('h2', null, 'Output', h('span', { class: 'hint' }, 'streamed as the handler writes it')), output),
    h('div', { class: 'grid-2' }, data, h('div', { class: 'side' }, h('div', { class: 'card' }, h('h2', null, 'Details'), facts), lineageCard, checkpointCard)),
    h('div', { class: 'card' }, h('h2', null, 'Timeline'), events),
  );
  fill(head, pageHead('Task', id));

  const client = new TaskhubClient({ url: location.origin, ...(token.get() ? { token: token.get() ?? '' } : {}), tokenInStreamUrl: false, pollIntervalMs: 2000 });

  async function load(): Promise<void> {
    try {
      const next = await api<Task>('GET', `/api/v1/tasks/${encodeURIComponent(id)}`);
      if (disposed) return;
      task = next;
      render();
      void loadDurable(next);
    } catch (error) {
      if (disposed) return;
      if (error instanceof ApiError && error.status === 404) {
        fill(root, pageHead('Task not found', id), h('div', { class: 'card' }, h('p', { class: 'notice' }, 'No task has this id (or it was deleted).'), h('p', null, h('a', { href: '#/tasks' }, '← All tasks'))));
        stop();
        return;
      }
      fill(head, pageHead('Task', id), failure(error));
    }
  }

  const act = async (call: () => Promise<string>) => {
    try {
      app.toast(await call());
    } catch (error) {
      app.toast(errorText(error), 'error');
    }
    await load();
    follow();
  };

  function actions(t: Task): HTMLElement[] {
    const buttons: HTMLElement[] = [];
    const path = `/api/v1/tasks/${encodeURIComponent(t.id)}`;
    if (t.status === 'scheduled' || t.status === 'queued' || t.status === 'running' || t.status === 'waiting') {
      buttons.push(h('button', {
        type: 'button', class: 'danger', 'data-action': 'cancel', disabled: t.cancelRequested,
        onclick: async () => {
          const text = t.status === 'running' ? 'Its handler is asked to stop; the task ends cancelled.' : t.status === 'waiting' ? 'It will not run again; its unfinished children are cancelled too.' : 'It will not run.';
          const ok = await app.confirm({ title: 'Cancel this task?', text, action: 'Cancel task', danger: true });
          if (ok) await act(async () => ((await api<Task>('POST', `${path}/cancel`, {})).status === 'cancelled' ? 'Task cancelled' : 'Cancel requested: the handler is stopping'));
        },
      }, t.cancelRequested ? 'Cancelling…' : 'Cancel'));
    }
    if (t.status === 'failed' || t.status === 'cancelled') {
      buttons.push(h('button', { type: 'button', class: 'primary', 'data-action': 'retry', onclick: () => void act(async () => {
        await api<Task>('POST', `${path}/retry`);
        return 'Task back in its queue';
      }) }, 'Retry'));
      if (t.checkpointVersion > 0) {
        buttons.push(h('button', { type: 'button', 'data-action': 'recover', title: 'Run again from its latest checkpoint', onclick: () => void act(async () => {
          await api<Task>('POST', `${path}/recover`, {});
          return `Task back in its queue, resuming from checkpoint ${t.checkpointVersion}`;
        }) }, 'Recover'));
      }
    }
    if (t.status !== 'running') {
      buttons.push(h('button', {
        type: 'button', 'data-action': 'delete',
        onclick: async () => {
          const ok = await app.confirm({ title: 'Delete this task?', text: 'The task and its whole history are removed for good.', action: 'Delete', danger: true });
          if (!ok) return;
          // Stop following first: a reconnect, or a feed batch naming the task, during the delete would ask for it.
          deleting = true;
          stop();
          try {
            await api('DELETE', path);
            app.toast('Task deleted');
            app.navigate('#/tasks');
          } catch (error) {
            deleting = false;
            app.toast(errorText(error), 'error');
            follow();
          }
        },
      }, 'Delete'));
    }
    return buttons;
  }

  function block(title: string, value: unknown, extra?: HTMLElement): HTMLElement {
    return h('div', { class: 'card', 'data-testid': title.toLowerCase() }, h('h2', null, title), h('pre', { class: 'json' }, json(value)), extra ?? null);
  }

  function render(): void {
    const t = task;
    if (!t) return;
    const now = Date.now();
    fill(head, pageHead(t.type, h('span', { class: 'mono' }, t.id), ...actions(t)));
    fill(statusLine,
      statusPill(t.status),
      t.waitingFor ? h('span', { class: 'waits-for', 'data-testid': 'waits-for' }, `waits for ${waitText(t.waitingFor)}`) : null,
      h('span', { class: 'muted' }, `attempt ${t.attempts} of ${t.maxAttempts}`),
      t.cancelRequested ? h('span', { class: 'badge warn' }, 'cancel requested') : null);
    const percent = percentOf(t);
    setProgress(bar, percent, t.status);
    pct.textContent = `${Math.round(percent)}%`;
    message.textContent = [t.progress?.message, t.progress?.phase ? `(${t.progress.phase})` : ''].filter(Boolean).join(' ');
    const waited = t.startedAt !== null ? t.startedAt - t.runAt : null;
    const end = t.completedAt ?? (t.status === 'running' ? now : null);
    const ran = t.startedAt !== null && end !== null ? end - t.startedAt : null;
    const fact = (k: string, v: string | Node | null) => (v === null || v === '' ? [] : [h('dt', null, k), h('dd', null, v)]);
    const tags = Object.entries(t.tags);
    fill(facts,
      ...fact('Queue', h('a', { href: `#/tasks?queue=${encodeURIComponent(t.queue)}` }, t.queue)),
      ...fact('Priority', String(t.priority)),
      ...fact('Attempts', `${t.attempts} of ${t.maxAttempts}`),
      ...fact('Created', `${dateTime(t.createdAt)} (${relative(t.createdAt, now)})`),
      ...fact('Ready at', t.runAt !== t.createdAt ? dateTime(t.runAt) : null),
      ...fact('Started', t.startedAt === null ? null : dateTime(t.startedAt)),
      ...fact('Finished', t.completedAt === null ? null : dateTime(t.completedAt)),
      ...fact('Waited', waited === null || waited < 0 ? null : duration(waited)),
      ...fact('Run time', ran === null ? null : duration(ran)),
      ...fact('Time limit', t.timeoutMs === null ? null : duration(t.timeoutMs)),
      // `?? null`: a task from a server older than soft limits has no such field.
      ...fact('Soft time limit', (t.softTimeoutMs ?? null) === null ? null : duration(t.softTimeoutMs as number)),
      // `?? null` again: flow control fields are absent on tasks from an older server.
      ...fact('Throttle', t.throttle ? `${t.throttle.key}: ${t.throttle.limit} per ${duration(t.throttle.periodMs)}` : null),
      ...fact('Cost', (t.cost ?? null) === null ? null : `${num(t.cost as number)}${(t.reportedCost ?? null) === null ? '' : `, reported ${num(t.reportedCost as number)}`}`),
      ...fact('Worker', lastWorker),
      ...fact('Owner', t.owner),
      ...fact('Tags', tags.length ? tags.map(([k, v]) => `${k}: ${v}`).join(', ') : null),
      ...fact('Parent', t.parentId ? h('a', { href: `#/tasks/${encodeURIComponent(t.parentId)}`, 'data-testid': 'parent' }, t.parentId) : null),
      ...fact('Checkpoint', t.checkpointVersion > 0 ? `version ${t.checkpointVersion}` : null),
      ...fact('Idempotency key', t.idempotencyKey),
      ...fact('Trace', t.traceparent ? h('span', { class: 'mono' }, t.traceparent.split('-')[1] ?? t.traceparent) : null),
    );
    const error = t.error;
    fill(data,
      block('Payload', t.payload),
      t.status === 'completed' ? block('Result', t.result) : null,
      error
        ? h('div', { class: 'card', 'data-testid': 'error' },
            h('h2', null, 'Error', h('span', { class: 'hint' }, [error.code, error.retryable ? 'retryable' : 'not retryable'].filter(Boolean).join(' · '))),
            h('pre', { class: 'json' }, error.message),
            error.stack ? h('pre', { class: 'json stack' }, error.stack) : null)
        : null,
    );
  }

  /** The checkpoints and the lineage cards: read when the task is (re)loaded, hidden when there is nothing to show. */
  async function loadDurable(t: Task): Promise<void> {
    try {
      const path = `/api/v1/tasks/${encodeURIComponent(t.id)}`;
      const [checkpoints, children] = await Promise.all([
        t.checkpointVersion > 0 ? optional<{ checkpoints: { version: number; label: string | null; size: number; createdAt: number }[] }>(`${path}/checkpoints`) : null,
        api<{ tasks: Task[]; nextCursor: string | null }>('GET', `/api/v1/tasks?parentId=${encodeURIComponent(t.id)}&limit=100`),
      ]);
      if (disposed) return;
      const versions = checkpoints?.checkpoints ?? [];
      checkpointCard.hidden = versions.length === 0;
      fill(checkpointCard, h('h2', null, 'Checkpoints', h('span', { class: 'hint' }, 'saved states; recover resumes from the latest')),
        h('table', { class: 'checkpoints' }, h('tbody', null, ...[...versions].reverse().map((c) =>
          h('tr', null, h('td', { class: 'num' }, `v${c.version}`), h('td', null, c.label ?? ''), h('td', { class: 'num' }, `${c.size} B`), h('td', { class: 'muted' }, relative(c.createdAt)))))));
      lineageCard.hidden = children.tasks.length === 0;
      fill(lineageCard, h('h2', null, 'Children and derived tasks', h('span', { class: 'hint' }, `${children.tasks.length}${children.nextCursor ? '+' : ''}`)),
        h('ul', { class: 'lineage' }, ...[...children.tasks].reverse().map((c) =>
          h('li', null, statusPill(c.status), h('a', { href: `#/tasks/${encodeURIComponent(c.id)}`, class: 'mono' }, c.id), h('span', { class: 'muted' }, c.type)))));
    } catch {
      // The cards are extras: the rest of the page stands without them.
    }
  }

  function addToTimeline(event: TaskEvent): void {
    const chars = event.kind === 'output' ? String((event.data as { chunk?: unknown } | null)?.chunk ?? '').length : 0;
    let entry = timeline[timeline.length - 1];
    if (!(entry && CHATTY.has(entry.kind) && CHATTY.has(event.kind))) {
      entry = { kind: event.kind, first: event, last: event, progress: null, chunks: 0, chars: 0, li: h('li') };
      timeline.push(entry);
      events.append(entry.li);
    }
    entry.last = event;
    if (event.kind === 'progress') {
      entry.progress = event;
      entry.kind = 'progress';
    } else if (event.kind === 'output') {
      entry.chunks++;
      entry.chars += chars;
    }
    renderEntry(entry);
  }

  function renderEntry(entry: TimelineEntry): void {
    const { first, last, kind } = entry;
    let what: string;
    if (CHATTY.has(kind)) {
      const output = entry.chunks ? `${entry.chunks} output chunk${entry.chunks === 1 ? '' : 's'}, ${entry.chars} characters` : '';
      what = [entry.progress ? describe(entry.progress) : '', output].filter(Boolean).join(' · ');
    } else what = describe(first);
    fill(entry.li,
      h('span', { class: 'seq' }, first.seq === last.seq ? String(first.seq) : `${first.seq}–${last.seq}`),
      h('span', { class: 'kind', 'data-kind': kind }, kind),
      h('span', { class: 'what' }, what),
      h('span', { class: 'when' }, clock(last.at)),
    );
  }

  function apply(event: TaskEvent): void {
    if (event.seq <= lastSeq) return;
    lastSeq = event.seq;
    addToTimeline(event);
    const d = (event.data ?? {}) as Record<string, unknown>;
    switch (event.kind) {
      case 'output': {
        const atBottom = output.scrollTop + output.clientHeight >= output.scrollHeight - 4;
        output.classList.remove('empty-output');
        outputText.appendData(String(d.chunk ?? ''));
        if (atBottom) output.scrollTop = output.scrollHeight;
        break;
      }
      case 'progress':
        if (task) {
          task.progress = { percent: Number(d.percent ?? 0), ...(typeof d.message === 'string' ? { message: d.message } : {}), ...(typeof d.phase === 'string' ? { phase: d.phase } : {}) };
          setProgress(bar, task.progress.percent, task.status);
          pct.textContent = `${Math.round(task.progress.percent)}%`;
          message.textContent = [task.progress.message, task.progress.phase ? `(${task.progress.phase})` : ''].filter(Boolean).join(' ');
        }
        break;
      case 'started': {
        const attempt = Number(d.attempt ?? 0);
        if (typeof d.workerId === 'string') lastWorker = d.workerId;
        if (attempt > 1 && attempt !== attemptShown && outputText.length > 0) outputText.appendData(`\n── attempt ${attempt} ──\n`);
        attemptShown = attempt;
        if (task && task.lastEventSeq < event.seq) void load();
        break;
      }
      default:
        // Status changes: read the task again (result, error, timings), unless this is history we already reflect.
        if (task && task.lastEventSeq < event.seq) void load();
        break;
    }
    if (TERMINAL.has(event.kind) && task && task.lastEventSeq >= event.seq) render();
  }

  /** Follows the task's events from the last one seen; ends after a terminal event (restarted by a retry). */
  function follow(): void {
    if (following || disposed || deleting) return;
    const controller = new AbortController();
    following = controller;
    void (async () => {
      try {
        for await (const event of client.follow(id, { afterSeq: lastSeq, signal: controller.signal })) apply(event);
      } catch (error) {
        if (!controller.signal.aborted && !(error instanceof Error && /not found|404/i.test(error.message))) app.toast(`Live updates stopped: ${errorText(error)}`, 'error');
      } finally {
        if (following === controller) following = null;
      }
    })();
  }

  function stop(): void {
    following?.abort();
    following = null;
  }

  const ticker = setInterval(() => {
    if (task?.status === 'running') render();
  }, 5000);
  void load().then(() => {
    if (task) follow();
  });

  return {
    onFeed(batch) {
      // A task that was retried or redriven elsewhere: follow it again.
      if (!following && batch.events.some((e) => e.taskId === id && e.seq > lastSeq)) follow();
    },
    dispose() {
      disposed = true;
      clearInterval(ticker);
      stop();
    },
  };
}
