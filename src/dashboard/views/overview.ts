// Overview: every queue's counts by status and controls, throughput and failures over the last hour, and how long
// tasks wait to start. Reloaded when the feed shows activity (at most every 2 s) and every 10 s.
import type { TaskStatus } from '../../core/task.ts';
import { api } from '../api.ts';
import type { ActivityMinute } from '../../observability/activity.ts';
import { throughputChart, waitChart } from '../chart.ts';
import { count, duration, fill, h, num, relative, throttle } from '../dom.ts';
import { type AppContext, errorText, failure, pageHead, STATUSES, type View } from '../ui.ts';

export interface Stats {
  counts: { queues: { queue: string; counts: Record<TaskStatus, number> }[]; capped: TaskStatus[]; cap: number; countedAt: number };
  queues: {
    name: string;
    paused: boolean;
    maxConcurrency: number | null;
    rateLimit: { count: number; intervalMs: number } | null;
    costLimit: { budget: number; periodMs: number; perKey: boolean } | null;
  }[];
  /** What flow control holds back now, per queue, key and reason (queues with scheduled or queued tasks only). */
  heldBack: { queue: string; key: string; reason: string; tasks: number }[];
  activity: { since: number; minutes: ActivityMinute[] };
  streams: { sse: number; ws: number };
  now: number;
}

function figure(label: string, value: string, note?: string): HTMLElement {
  return h('div', { class: 'figure' }, h('div', { class: 'label' }, label), h('div', { class: 'value' }, value), h('div', { class: 'note' }, note ?? ''));
}

/** Status columns a phone leaves out of the queues table (waiting tasks also show under Running's figure). */
const HIDDEN_ON_PHONES: ReadonlySet<TaskStatus> = new Set(['scheduled', 'waiting', 'completed', 'cancelled']);

export function overviewView(root: HTMLElement, _params: URLSearchParams, app: AppContext): View {
  let stats: Stats | null = null;
  let disposed = false;
  const head = h('div');
  const figures = h('div', { class: 'figures' });
  const throughputBox = h('div', { class: 'chart-box' });
  const waitBox = h('div', { class: 'chart-box' });
  const charts = h('div', { class: 'grid-2 charts' },
    h('div', { class: 'card' },
      h('h2', null, 'Throughput', h('span', { class: 'hint' }, 'per minute, last hour')),
      throughputBox,
      h('div', { class: 'legend' }, h('span', null, h('i', { class: 'ok' }), 'completed'), h('span', null, h('i', { class: 'fail' }), 'failed'), h('span', null, h('i', { class: 'rate' }), 'failure rate (right axis)')),
    ),
    h('div', { class: 'card' },
      h('h2', null, 'Enqueue to start', h('span', { class: 'hint' }, 'per minute')),
      waitBox,
      h('div', { class: 'legend' }, h('span', null, h('i', { class: 'p50' }), 'median'), h('span', null, h('i', { class: 'p95' }), '95th percentile')),
    ),
  );
  const queues = h('div', { class: 'card' });
  const held = h('div', { class: 'card held-back' });
  fill(root, head, figures, charts, queues, held);
  // The charts are drawn at the width they get: again when it changes (a rotated phone, a resized window).
  const widths = new Map<Element, number>();
  const resized = new ResizeObserver((entries) => {
    let changed = false;
    for (const entry of entries) {
      const width = Math.round(entry.contentRect.width);
      if (widths.get(entry.target) !== width) changed = true;
      widths.set(entry.target, width);
    }
    if (changed) drawCharts();
  });
  resized.observe(throughputBox);
  resized.observe(waitBox);
  fill(head, pageHead('Overview'));
  fill(queues, h('h2', null, 'Queues'), h('p', { class: 'empty' }, 'Loading…'));

  const load = async () => {
    try {
      const next = await api<Stats>('GET', '/api/v1/stats');
      if (disposed) return;
      stats = next;
      render(next);
    } catch (error) {
      if (!disposed && !stats) fill(queues, h('h2', null, 'Queues'), failure(error));
    }
  };
  const reload = throttle(() => void load(), 2000);
  const timer = setInterval(() => void load(), 10_000);
  void load();

  /** Runs an action, then says what it did (the call's answer) and reloads. */
  const act = async (call: () => Promise<string>) => {
    try {
      app.toast(await call());
      await load();
    } catch (error) {
      app.toast(errorText(error), 'error');
    }
  };

  function render(s: Stats): void {
    const { minutes, since } = s.activity;
    const capped = new Set(s.counts.capped);
    const totals = Object.fromEntries(STATUSES.map((st) => [st, 0])) as Record<TaskStatus, number>;
    for (const q of s.counts.queues) for (const st of STATUSES) totals[st] += q.counts[st];
    const completed = minutes.reduce((n, m) => n + m.completed, 0);
    const failed = minutes.reduce((n, m) => n + m.failed, 0);
    const recent = minutes.slice(-5).filter((m) => m.waitP95Ms !== null);
    const p95 = recent.length ? Math.max(...recent.map((m) => m.waitP95Ms ?? 0)) : null;
    const p50 = recent.length ? recent[recent.length - 1].waitP50Ms : null;
    const young = s.now - since < 3_600_000;
    fill(head, pageHead('Overview', young ? `Live. The charts start when this server started, ${relative(since, s.now)}.` : 'Live. The charts show the last hour.'));
    fill(
      figures,
      figure('Running', count(totals.running, capped.has('running')), totals.waiting ? `+${count(totals.waiting, capped.has('waiting'))} waiting` : undefined),
      figure('Queued', count(totals.queued, capped.has('queued')), totals.scheduled ? `+${count(totals.scheduled, capped.has('scheduled'))} later` : undefined),
      figure('Failed (dead letters)', count(totals.failed, capped.has('failed'))),
      figure('Completed, last hour', num(completed)),
      figure('Failure rate, last hour', completed + failed ? `${((failed / (completed + failed)) * 100).toFixed(1)}%` : '–', failed ? `${num(failed)} failed` : undefined),
      figure('Wait to start, p95', p95 === null ? '–' : duration(p95), p50 === null ? undefined : `median ${duration(p50)}`),
    );
    drawCharts();
    renderQueues(s, capped);
    renderHeldBack(s);
  }

  /** Throttled and over-budget keys (debounce and singleton too, where the server has them); hidden when none. */
  function renderHeldBack(s: Stats): void {
    const rows = s.heldBack ?? [];
    held.hidden = rows.length === 0;
    if (rows.length === 0) {
      fill(held);
      return;
    }
    fill(
      held,
      h('h2', null, 'Held back', h('span', { class: 'hint' }, 'queued tasks that flow control holds back now, by key')),
      h('div', { class: 'table-wrap' }, h('table', null,
        h('thead', null, h('tr', null, h('th', null, 'Queue'), h('th', null, 'Key'), h('th', null, 'Why'), h('th', { class: 'num' }, 'Tasks'))),
        h('tbody', null, ...rows.map((r) => h('tr', { 'data-held': `${r.queue}:${r.reason}:${r.key}` },
          h('td', null, h('a', { href: `#/tasks?queue=${encodeURIComponent(r.queue)}&status=queued` }, r.queue)),
          h('td', { class: 'wrap' }, r.key),
          h('td', null, h('span', { class: 'badge' }, r.reason)),
          h('td', { class: 'num' }, num(r.tasks)),
        ))),
      )),
    );
  }

  function drawCharts(): void {
    if (!stats) return;
    const { minutes, since } = stats.activity;
    fill(throughputBox, throughputChart(minutes, since, throughputBox.clientWidth));
    fill(waitBox, waitChart(minutes, since, waitBox.clientWidth));
  }

  function renderQueues(s: Stats, capped: Set<TaskStatus>): void {
    const settings = new Map(s.queues.map((q) => [q.name, q]));
    const names = [...new Set([...s.counts.queues.map((q) => q.queue), ...settings.keys()])].sort();
    const countsOf = new Map(s.counts.queues.map((q) => [q.queue, q.counts]));
    const cell = (queue: string, status: TaskStatus, n: number) =>
      h('td', { class: `num${HIDDEN_ON_PHONES.has(status) ? ' hide-sm' : ''}` },
        n === 0 ? h('span', { class: 'zero' }, '0') : h('a', { href: `#/tasks?queue=${encodeURIComponent(queue)}&status=${status}` }, count(n, capped.has(status))));
    const rows = names.map((name) => {
      const c = countsOf.get(name) ?? (Object.fromEntries(STATUSES.map((st) => [st, 0])) as Record<TaskStatus, number>);
      const q = settings.get(name);
      const limits = [
        q?.maxConcurrency ? `max ${q.maxConcurrency} running` : '',
        q?.rateLimit ? `${q.rateLimit.count} per ${duration(q.rateLimit.intervalMs)}` : '',
        q?.costLimit ? `cost ${num(q.costLimit.budget)} per ${duration(q.costLimit.periodMs)}${q.costLimit.perKey ? ' per key' : ''}` : '',
      ].filter(Boolean).join(', ');
      const heldHere = s.heldBack.filter((x) => x.queue === name);
      const heldBadge = heldHere.length
        ? h('span', { class: 'badge hide-md', title: heldHere.map((x) => `${x.key}: ${x.tasks} (${x.reason})`).join('\n') },
            `held: ${heldHere.reduce((n, x) => n + x.tasks, 0)} by ${heldHere.length} key${heldHere.length === 1 ? '' : 's'}`)
        : null;
      return h('tr', { 'data-queue': name },
        h('td', { class: 'wrap' }, h('a', { href: `#/tasks?queue=${encodeURIComponent(name)}` }, name), ' ', q?.paused ? h('span', { class: 'badge warn' }, 'paused') : null, limits ? h('span', { class: 'badge hide-md' }, limits) : null, heldBadge),
        ...STATUSES.map((st) => cell(name, st, c[st])),
        h('td', { class: 'num actions-cell' }, h('div', { class: 'actions' },
          q?.paused
            ? h('button', { type: 'button', class: 'small pause-button', onclick: () => void setPaused(name, false) }, 'Resume')
            : h('button', { type: 'button', class: 'small pause-button', onclick: () => void setPaused(name, true) }, 'Pause'),
          c.failed > 0
            ? h('button', { type: 'button', class: 'small', 'data-action': 'redrive', onclick: () => void redrive(name, c.failed) }, 'Retry failed')
            : null,
        )),
      );
    });
    fill(
      queues,
      h('h2', null, 'Queues', h('span', { class: 'hint' }, capped.size ? `counting at most ${num(s.counts.cap)} tasks of each status` : '')),
      names.length === 0
        ? h('p', { class: 'empty' }, 'No queues yet: submit a task and it appears here.')
        : h('div', { class: 'table-wrap' }, h('table', null,
            h('thead', null, h('tr', null, h('th', null, 'Queue'), ...STATUSES.map((st) => h('th', { class: `num${HIDDEN_ON_PHONES.has(st) ? ' hide-sm' : ''}` }, st)), h('th', { class: 'num' }, ''))),
            h('tbody', null, ...rows),
          )),
    );
  }

  async function setPaused(queue: string, paused: boolean): Promise<void> {
    await act(async () => {
      await api('POST', `/api/v1/queues/${encodeURIComponent(queue)}/${paused ? 'pause' : 'resume'}`);
      return `Queue ${queue} ${paused ? 'paused' : 'resumed'}`;
    });
  }

  async function redrive(queue: string, failed: number): Promise<void> {
    const ok = await app.confirm({
      title: `Retry every failed task of ${queue}?`,
      text: `${num(failed)} failed task${failed === 1 ? '' : 's'} go back in the queue with fresh attempts.`,
      action: 'Retry all',
    });
    if (!ok) return;
    await act(async () => {
      const result = await api<{ retried: number }>('POST', `/api/v1/queues/${encodeURIComponent(queue)}/redrive`);
      return `${num(result.retried)} task${result.retried === 1 ? '' : 's'} of ${queue} back in the queue`;
    });
  }

  // Counts are shared by the server for a couple of seconds: one more load after the activity settles shows where it
  // ended, rather than a count taken in the middle of it.
  let settle: ReturnType<typeof setTimeout> | undefined;
  return {
    onFeed(batch) {
      if (!(batch.resync || batch.dropped || batch.events.some((e) => e.kind !== 'progress'))) return;
      reload();
      clearTimeout(settle);
      settle = setTimeout(() => void load(), 2500);
    },
    dispose() {
      disposed = true;
      clearInterval(timer);
      clearTimeout(settle);
      resized.disconnect();
    },
  };
}
