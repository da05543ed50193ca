// Schedules and subscriptions: cron schedules with their next and last runs, topic subscriptions, and the queue
// controls (pause and resume). Parts of the API this server lacks are shown as unavailable rather than as errors.
import type { Schedule, Subscription } from '../../store/store.ts';
import { api, optional } from '../api.ts';
import { dateTime, duration, fill, h, relative, shortId } from '../dom.ts';
import { type AppContext, errorText, failure, pageHead, type View } from '../ui.ts';
import type { Stats } from './overview.ts';

/** Accepts `{ key: [...] }` or a bare array, whichever the server answers. */
function listOf<T>(answer: unknown, key: string): T[] {
  if (Array.isArray(answer)) return answer as T[];
  const inner = (answer as Record<string, unknown> | null)?.[key];
  return Array.isArray(inner) ? (inner as T[]) : [];
}

function unavailable(what: string): HTMLElement {
  return h('p', { class: 'notice' }, `This server does not offer ${what}.`);
}

export function schedulesView(root: HTMLElement, _params: URLSearchParams, app: AppContext): View {
  let disposed = false;
  const queues = h('div', { class: 'card' }, h('h2', null, 'Queues'), h('p', { class: 'empty' }, 'Loading…'));
  const schedules = h('div', { class: 'card' }, h('h2', null, 'Schedules'), h('p', { class: 'empty' }, 'Loading…'));
  const subscriptions = h('div', { class: 'card' }, h('h2', null, 'Subscriptions'), h('p', { class: 'empty' }, 'Loading…'));
  fill(root, pageHead('Schedules and subscriptions', 'Cron schedules, topic subscriptions and queue controls, shared by every process.'), schedules, subscriptions, queues);

  async function loadSchedules(): Promise<void> {
    try {
      const answer = await optional<unknown>('/api/v1/schedules');
      if (disposed) return;
      if (answer === null) return fill(schedules, h('h2', null, 'Schedules'), unavailable('cron schedules'));
      const list = listOf<Schedule>(answer, 'schedules');
      const now = Date.now();
      fill(schedules, h('h2', null, 'Schedules', h('span', { class: 'hint' }, `${list.length}`)),
        list.length === 0
          ? h('p', { class: 'empty' }, 'No schedules. Create one with PUT /api/v1/schedules/{name} or taskhub schedules put.')
          : h('div', { class: 'table-wrap' }, h('table', null,
              h('thead', null, h('tr', null, h('th', null, 'Name'), h('th', null, 'When'), h('th', { class: 'hide-sm' }, 'Task'), h('th', null, 'Next run'), h('th', { class: 'hide-sm' }, 'Last run'), h('th', { class: 'hide-md' }, 'Missed slots'))),
              h('tbody', null, ...list.map((s) => h('tr', { 'data-schedule': s.name },
                h('td', null, s.name, ' ', s.paused ? h('span', { class: 'badge warn' }, 'paused') : null),
                s.everyMs !== null && s.everyMs !== undefined
                  ? h('td', { 'data-every': String(s.everyMs) }, `every ${duration(s.everyMs)}`)
                  : h('td', null, h('code', null, s.cron ?? ''), s.timezone && s.timezone !== 'UTC' ? h('span', { class: 'muted' }, ` ${s.timezone}`) : null),
                h('td', { class: 'hide-sm' }, s.task.type, h('span', { class: 'muted' }, ` → ${s.task.queue ?? 'default'}`)),
                h('td', { title: s.nextRunAt === null ? '' : dateTime(s.nextRunAt) }, s.paused ? h('span', { class: 'muted' }, 'paused') : s.nextRunAt === null ? '–' : relative(s.nextRunAt, now)),
                h('td', { class: 'hide-sm', title: s.lastRunAt === null ? '' : dateTime(s.lastRunAt) },
                  s.lastRunAt === null ? h('span', { class: 'muted' }, 'never') : relative(s.lastRunAt, now),
                  s.lastTaskId ? [' ', h('a', { class: 'mono', href: `#/tasks/${encodeURIComponent(s.lastTaskId)}` }, shortId(s.lastTaskId))] : null),
                h('td', { class: 'hide-md' }, s.missedPolicy),
              ))),
            )),
      );
    } catch (error) {
      if (!disposed) fill(schedules, h('h2', null, 'Schedules'), failure(error));
    }
  }

  async function loadSubscriptions(): Promise<void> {
    try {
      const answer = await optional<unknown>('/api/v1/subscriptions');
      if (disposed) return;
      if (answer === null) return fill(subscriptions, h('h2', null, 'Subscriptions'), unavailable('topic subscriptions'));
      const list = listOf<Subscription>(answer, 'subscriptions');
      fill(subscriptions, h('h2', null, 'Subscriptions', h('span', { class: 'hint' }, `${list.length}`)),
        list.length === 0
          ? h('p', { class: 'empty' }, 'No subscriptions. Each one turns matching publishes (POST /api/v1/events) into tasks.')
          : h('div', { class: 'table-wrap' }, h('table', null,
              h('thead', null, h('tr', null, h('th', null, 'Name'), h('th', null, 'Pattern'), h('th', null, 'Makes'), h('th', { class: 'hide-sm' }, 'Since'))),
              h('tbody', null, ...list.map((s) => h('tr', null,
                h('td', null, s.name),
                h('td', null, h('code', null, s.pattern)),
                h('td', null, h('a', { href: `#/tasks?type=${encodeURIComponent(s.type)}&queue=${encodeURIComponent(s.queue)}` }, s.type), h('span', { class: 'muted' }, ` → ${s.queue}`)),
                h('td', { class: 'hide-sm' }, dateTime(s.createdAt)),
              ))),
            )),
      );
    } catch (error) {
      if (!disposed) fill(subscriptions, h('h2', null, 'Subscriptions'), failure(error));
    }
  }

  async function loadQueues(): Promise<void> {
    try {
      const stats = await api<Stats>('GET', '/api/v1/stats');
      if (disposed) return;
      const settings = new Map(stats.queues.map((q) => [q.name, q]));
      const names = [...new Set([...stats.counts.queues.map((q) => q.queue), ...settings.keys()])].sort();
      const toggle = async (name: string, pause: boolean) => {
        try {
          await api('POST', `/api/v1/queues/${encodeURIComponent(name)}/${pause ? 'pause' : 'resume'}`);
          app.toast(`Queue ${name} ${pause ? 'paused' : 'resumed'}`);
        } catch (error) {
          app.toast(errorText(error), 'error');
        }
        await loadQueues();
      };
      fill(queues, h('h2', null, 'Queues', h('span', { class: 'hint' }, 'a paused queue hands out no tasks; running ones go on')),
        names.length === 0
          ? h('p', { class: 'empty' }, 'No queues yet.')
          : h('div', { class: 'table-wrap' }, h('table', null,
              h('thead', null, h('tr', null, h('th', null, 'Queue'), h('th', null, 'State'), h('th', { class: 'hide-sm' }, 'Concurrency cap'), h('th', { class: 'hide-sm' }, 'Rate limit'), h('th', { class: 'num' }, ''))),
              h('tbody', null, ...names.map((name) => {
                const q = settings.get(name);
                return h('tr', { 'data-queue': name },
                  h('td', null, h('a', { href: `#/tasks?queue=${encodeURIComponent(name)}` }, name)),
                  h('td', null, q?.paused ? h('span', { class: 'badge warn' }, 'paused') : h('span', { class: 'muted' }, 'active')),
                  h('td', { class: 'hide-sm' }, q?.maxConcurrency ? String(q.maxConcurrency) : h('span', { class: 'muted' }, 'none')),
                  h('td', { class: 'hide-sm' }, q?.rateLimit ? `${q.rateLimit.count} per ${duration(q.rateLimit.intervalMs)}` : h('span', { class: 'muted' }, 'none')),
                  h('td', { class: 'num' }, q?.paused
                    ? h('button', { type: 'button', class: 'small', onclick: () => void toggle(name, false) }, 'Resume')
                    : h('button', { type: 'button', class: 'small', onclick: () => void toggle(name, true) }, 'Pause')),
                );
              })),
            )),
      );
    } catch (error) {
      if (!disposed) fill(queues, h('h2', null, 'Queues'), failure(error));
    }
  }

  const loadAll = () => Promise.all([loadSchedules(), loadSubscriptions(), loadQueues()]);
  void loadAll();
  const poll = setInterval(() => void loadAll(), 10_000);
  return {
    dispose() {
      disposed = true;
      clearInterval(poll);
    },
  };
}
