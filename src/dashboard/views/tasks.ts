// Tasks: filter by queue, status, type, tag or id, page through newest first, and watch the rows change live. New
// tasks that match appear on the first page without a reload; rows on screen follow their task's status and progress.
import type { Task, TaskStatus, WaitingFor } from '../../core/task.ts';
import { api, query } from '../api.ts';
import { duration, fill, h, relative, shortId, throttle } from '../dom.ts';
import type { FeedEvent } from '../feed.ts';
import { type AppContext, failure, pageHead, progressBar, STATUSES, statusPill, type View, waitText } from '../ui.ts';

interface TaskList {
  tasks: Task[];
  nextCursor: string | null;
}

const PAGE = 50;

/** The task as a feed event leaves it (the feed carries lifecycle changes, not whole tasks). */
export function applyEvent(task: Task, event: FeedEvent): boolean {
  if (event.seq <= task.lastEventSeq) return false;
  const data = event.data ?? {};
  task.lastEventSeq = event.seq;
  task.updatedAt = event.at;
  switch (event.kind) {
    case 'started':
      task.status = 'running';
      task.startedAt = event.at;
      task.completedAt = null;
      if (typeof data.attempt === 'number') task.attempts = data.attempt;
      break;
    case 'progress':
      task.progress = { percent: Number(data.percent ?? 0), ...(typeof data.message === 'string' ? { message: data.message } : {}) };
      break;
    case 'retrying':
      task.status = typeof data.runAt === 'number' && data.runAt > event.at ? 'scheduled' : 'queued';
      if (data.manual === true) task.attempts = 0;
      task.completedAt = null;
      break;
    case 'completed':
    case 'failed':
    case 'cancelled':
      task.status = event.kind;
      task.completedAt = event.at;
      task.cancelRequested = false;
      task.waitingFor = null;
      break;
    case 'waiting':
      task.status = 'waiting';
      task.waitingFor = (data.waitingFor ?? null) as WaitingFor | null;
      break;
    case 'resumed':
      task.status = 'queued';
      task.waitingFor = null;
      break;
    case 'child-finished':
      if (task.waitingFor?.kind === 'children' && typeof data.pending === 'number') task.waitingFor = { ...task.waitingFor, pending: data.pending };
      break;
    case 'checkpoint':
      if (typeof data.version === 'number') task.checkpointVersion = data.version;
      break;
    default:
      break;
  }
  return true;
}

/** The status a task has after this event, when the event says. */
function statusAfter(event: FeedEvent): TaskStatus | null {
  switch (event.kind) {
    case 'created':
      return (event.data?.status as TaskStatus | undefined) ?? null;
    case 'started':
      return 'running';
    case 'retrying':
      return typeof event.data?.runAt === 'number' && event.data.runAt > event.at ? 'scheduled' : 'queued';
    case 'completed':
    case 'failed':
    case 'cancelled':
      return event.kind;
    case 'waiting':
      return 'waiting';
    case 'resumed':
      return 'queued';
    default:
      return null;
  }
}

export function percentOf(task: Task): number {
  if (task.status === 'completed') return 100;
  return task.progress?.percent ?? 0;
}

function runTime(task: Task, now: number): string {
  if (task.startedAt === null) return '–';
  if (task.status === 'running') return duration(now - task.startedAt);
  return task.completedAt !== null && task.completedAt >= task.startedAt ? duration(task.completedAt - task.startedAt) : '–';
}

export function tasksView(root: HTMLElement, params: URLSearchParams, app: AppContext): View {
  const filter = {
    queue: params.get('queue') ?? '',
    status: params.get('status') ?? '',
    type: params.get('type') ?? '',
    tag: params.get('tag') ?? '',
  };
  let disposed = false;
  /** Cursors of the pages before this one; empty on the first page. */
  const previous: (string | null)[] = [];
  let cursor: string | null = null;
  let nextCursor: string | null = null;
  const rows = new Map<string, { task: Task; tr: HTMLTableRowElement }>();

  const input = (name: keyof typeof filter | 'id', placeholder: string) =>
    h('input', { name, placeholder, value: name === 'id' ? '' : filter[name], autocomplete: 'off', spellcheck: 'false' });
  const statusSelect = h('select', { name: 'status' }, h('option', { value: '' }, 'any status'), ...STATUSES.map((s) => h('option', { value: s, selected: filter.status === s }, s)));
  const form = h('form', { class: 'filters', 'aria-label': 'Filter tasks' },
    h('label', null, 'Queue', input('queue', 'any queue')),
    h('label', null, 'Status', statusSelect),
    h('label', null, 'Type', input('type', 'any type')),
    h('label', null, 'Tag', input('tag', 'key:value')),
    h('label', null, 'Task id', input('id', 'go to a task')),
    h('div', { class: 'actions filter-actions' }, h('button', { type: 'submit', class: 'primary' }, 'Filter'), h('button', { type: 'button', onclick: () => app.navigate('#/tasks') }, 'Clear')),
  );
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const data = new FormData(form);
    const id = String(data.get('id') ?? '').trim();
    if (id) return app.navigate(`#/tasks/${encodeURIComponent(id)}`);
    const next = new URLSearchParams();
    for (const key of ['queue', 'status', 'type', 'tag'] as const) {
      const value = String(data.get(key) ?? '').trim();
      if (value) next.set(key, value);
    }
    const text = next.toString();
    app.navigate(text ? `#/tasks?${text}` : '#/tasks');
  });

  const body = h('tbody');
  const table = h('div', { class: 'table-wrap' }, h('table', null,
    h('thead', null, h('tr', null,
      h('th', null, 'Status'), h('th', null, 'Type'), h('th', { class: 'hide-sm' }, 'Task'), h('th', { class: 'hide-sm' }, 'Queue'),
      h('th', null, 'Progress'), h('th', { class: 'num hide-sm' }, 'Attempts'), h('th', { class: 'hide-md' }, 'Created'), h('th', { class: 'num hide-md' }, 'Run time'),
    )),
    body,
  ));
  const status = h('div', { class: 'empty' }, 'Loading…');
  const newer = h('button', { type: 'button', class: 'small', onclick: () => void page(previous.pop() ?? null) }, '← Newer');
  const older = h('button', { type: 'button', class: 'small', onclick: () => void older_() }, 'Older →');
  const pagerText = h('span');
  const pager = h('div', { class: 'pager' }, newer, pagerText, older);
  const described = ['queue', 'status', 'type', 'tag'].filter((k) => filter[k as keyof typeof filter]).map((k) => `${k} ${filter[k as keyof typeof filter]}`).join(', ');
  fill(root, pageHead('Tasks', described ? `Filtered by ${described}. Newest first.` : 'Every task, newest first.'), h('div', { class: 'card' }, form), h('div', { class: 'card' }, table, status, pager));

  function row(task: Task, now: number): HTMLTableRowElement {
    const tr = h('tr', { class: 'clickable', 'data-task-id': task.id, onclick: () => app.navigate(`#/tasks/${encodeURIComponent(task.id)}`) });
    renderRow(tr, task, now);
    return tr;
  }

  function renderRow(tr: HTMLTableRowElement, task: Task, now: number): void {
    const percent = percentOf(task);
    fill(tr,
      h('td', null, statusPill(task.status), task.waitingFor ? h('div', { class: 'waits-for', 'data-testid': 'waits-for' }, waitText(task.waitingFor)) : null),
      h('td', { class: 'wrap' }, h('a', { href: `#/tasks/${encodeURIComponent(task.id)}` }, task.type)),
      h('td', { class: 'mono hide-sm', title: task.id }, shortId(task.id)),
      h('td', { class: 'hide-sm' }, task.queue),
      h('td', null, h('div', { class: 'cell-progress' }, progressBar(percent, task.status), h('small', { class: 'count' }, `${Math.round(percent)}%`))),
      h('td', { class: 'num hide-sm' }, `${task.attempts}/${task.maxAttempts}`),
      h('td', { class: 'hide-md', title: new Date(task.createdAt).toISOString() }, relative(task.createdAt, now)),
      h('td', { class: 'num hide-md' }, runTime(task, now)),
    );
  }

  async function page(at: string | null): Promise<void> {
    cursor = at;
    status.textContent = 'Loading…';
    status.hidden = false;
    try {
      const list = await api<TaskList>('GET', `/api/v1/tasks${query({ ...filter, limit: PAGE, cursor })}`);
      if (disposed) return;
      nextCursor = list.nextCursor;
      const now = Date.now();
      const fresh = new Map<string, { task: Task; tr: HTMLTableRowElement }>();
      const trs = list.tasks.map((task) => {
        const tr = row(task, now);
        // A row that was not on screen a moment ago (a new task) is briefly highlighted.
        if (rows.size > 0 && !rows.has(task.id) && cursor === null) tr.classList.add('flash');
        fresh.set(task.id, { task, tr });
        return tr;
      });
      rows.clear();
      for (const [id, entry] of fresh) rows.set(id, entry);
      fill(body, ...trs);
      status.textContent = list.tasks.length === 0 ? (cursor ? 'No older tasks.' : 'No tasks match.') : '';
      status.hidden = list.tasks.length > 0;
      newer.disabled = previous.length === 0 && cursor === null;
      older.disabled = nextCursor === null;
      pagerText.textContent = list.tasks.length ? `${previous.length * PAGE + 1}–${previous.length * PAGE + list.tasks.length}` : '';
    } catch (error) {
      if (!disposed) fill(status, failure(error));
    }
  }

  async function older_(): Promise<void> {
    if (nextCursor === null) return;
    previous.push(cursor);
    await page(nextCursor);
  }

  const reloadFirstPage = throttle(() => {
    if (cursor === null) void page(null);
  }, 700);
  const ticker = setInterval(() => {
    const now = Date.now();
    for (const { task, tr } of rows.values()) if (task.status === 'running' || now - task.createdAt < 3_600_000) renderRow(tr, task, now);
  }, 5000);
  void page(null);

  /** Whether a task not on screen may now belong on the first page. */
  const mayMatch = (event: FeedEvent) => {
    if (filter.queue && event.queue !== filter.queue) return false;
    if (!filter.status) return event.kind === 'created';
    return statusAfter(event) === filter.status;
  };

  return {
    onFeed(batch) {
      if (batch.resync || batch.dropped) return reloadFirstPage();
      const now = Date.now();
      for (const event of batch.events) {
        const entry = rows.get(event.taskId);
        if (entry) {
          if (applyEvent(entry.task, event)) renderRow(entry.tr, entry.task, now);
        } else if (mayMatch(event)) reloadFirstPage();
      }
    },
    dispose() {
      disposed = true;
      clearInterval(ticker);
    },
  };
}

