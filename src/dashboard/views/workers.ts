// Workers: every live worker of the cluster (local and remote, as they last reported: every 5 s), with its host,
// pid, task types, queues, running tasks against its concurrency, and last heartbeat. A worker that stops reporting
// drops off after 15 s. Polled every 3 s.
import type { WorkerInfo } from '../../store/store.ts';
import { api } from '../api.ts';
import { duration, fill, h, num, relative } from '../dom.ts';
import { type AppContext, failure, pageHead, type View } from '../ui.ts';

export function workersView(root: HTMLElement, _params: URLSearchParams, _app: AppContext): View {
  let disposed = false;
  let workers: WorkerInfo[] | null = null;
  const sub = h('span');
  const body = h('div', { class: 'card' }, h('p', { class: 'empty' }, 'Loading…'));
  fill(root, pageHead('Workers', sub), body);

  async function load(): Promise<void> {
    try {
      const answer = await api<{ workers: WorkerInfo[] }>('GET', '/api/v1/workers');
      if (disposed) return;
      workers = answer.workers;
      render();
    } catch (error) {
      if (!disposed) fill(body, failure(error));
    }
  }

  function render(): void {
    if (!workers) return;
    const now = Date.now();
    const running = workers.reduce((n, w) => n + w.running, 0);
    const capacity = workers.reduce((n, w) => n + w.concurrency, 0);
    sub.textContent = workers.length ? `${workers.length} live, ${num(running)} of ${num(capacity)} slots busy. Workers report every 5 s; one silent for 15 s drops off.` : '';
    if (workers.length === 0) {
      fill(body, h('p', { class: 'empty' }, 'No live workers. Start one with ', h('code', null, 'taskhub worker --handlers FILE'), ' or serve with --handlers.'));
      return;
    }
    fill(body, h('div', { class: 'table-wrap' }, h('table', null,
      h('thead', null, h('tr', null, h('th', null, 'Worker'), h('th', { class: 'hide-sm' }, 'Host'), h('th', { class: 'num hide-sm' }, 'PID'), h('th', null, 'Types'), h('th', { class: 'hide-md' }, 'Queues'), h('th', null, 'Running'), h('th', { class: 'hide-sm' }, 'Heartbeat'), h('th', { class: 'hide-md' }, 'Up'))),
      h('tbody', null, ...workers.map((w) => {
        const busy = w.concurrency ? w.running / w.concurrency : 0;
        const inner = h('span');
        inner.style.width = `${Math.round(busy * 100)}%`;
        const stale = now - w.lastSeenAt > 7000;
        return h('tr', { 'data-worker-id': w.id },
          // A worker that only claims (never registered) is listed from its claims: host, pid and running unknown.
          h('td', { class: 'mono wrap' }, w.id, w.registered === false ? [' ', h('span', { class: 'badge', title: 'Seen from its claims; it does not call /worker/register, so host, pid and running tasks are unknown' }, 'claims only')] : null),
          h('td', { class: 'hide-sm' }, w.host ?? '–'),
          h('td', { class: 'num hide-sm' }, w.pid === null ? '–' : String(w.pid)),
          h('td', { class: 'wrap' }, w.types.length ? w.types.join(', ') : h('span', { class: 'muted' }, 'none')),
          h('td', { class: 'hide-md wrap' }, w.queues ? w.queues.join(', ') : h('span', { class: 'muted' }, 'all')),
          h('td', null, h('div', { class: 'cell-progress' }, h('div', { class: 'progress', 'data-status': 'running' }, inner), h('small', { class: 'count' }, w.registered === false ? `?/${w.concurrency}` : `${w.running}/${w.concurrency}`))),
          h('td', { class: `hide-sm${stale ? ' error-text' : ''}` }, relative(w.lastSeenAt, now)),
          h('td', { class: 'hide-md' }, duration(now - w.startedAt).replace(/ \d+ (s|min)$/, '')),
        );
      })),
    )));
  }

  void load();
  const poll = setInterval(() => void load(), 3000);
  const tick = setInterval(render, 1000);
  return {
    dispose() {
      disposed = true;
      clearInterval(poll);
      clearInterval(tick);
    },
  };
}
