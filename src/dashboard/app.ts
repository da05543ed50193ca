// The dashboard's shell: hash routes to views, one live feed shared by them, the token prompt when the server wants
// one, confirmations and toasts. Everything is built with DOM calls from the modules next to this file.
import { type ApiError, onAuthProblem, token } from './api.ts';
import { fill, h } from './dom.ts';
import { connectFeed, type FeedState } from './feed.ts';
import type { AppContext, ConfirmOptions, View, ViewFactory } from './ui.ts';
import { overviewView } from './views/overview.ts';
import { schedulesView } from './views/schedules.ts';
import { taskView } from './views/task.ts';
import { tasksView } from './views/tasks.ts';
import { workersView } from './views/workers.ts';

const viewRoot = document.getElementById('view') as HTMLElement;
const live = document.getElementById('live') as HTMLElement;
const toasts = document.getElementById('toasts') as HTMLElement;
const signOut = document.getElementById('sign-out') as HTMLButtonElement;

let current: View | null = null;
let stopFeed: (() => void) | null = null;

const app: AppContext = {
  toast(text, kind = 'info') {
    const el = h('div', { class: `toast${kind === 'error' ? ' error' : ''}` }, text);
    toasts.append(el);
    setTimeout(() => el.remove(), kind === 'error' ? 6000 : 3000);
  },
  confirm,
  navigate(hash) {
    if (location.hash === hash) route();
    else location.hash = hash;
  },
};

function confirm(options: ConfirmOptions): Promise<boolean> {
  return new Promise((resolve) => {
    const yes = h('button', { type: 'submit', class: options.danger ? 'danger solid' : 'primary', 'data-action': 'confirm' }, options.action);
    const no = h('button', { type: 'button', 'data-action': 'dismiss' }, 'Keep');
    const form = h('form', null, h('h2', null, options.title), h('p', null, options.text), h('div', { class: 'actions' }, no, yes));
    const dialog = h('dialog', { class: 'modal confirm' }, form);
    let answer = false;
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      answer = true;
      dialog.close();
    });
    no.addEventListener('click', () => dialog.close());
    dialog.addEventListener('close', () => {
      dialog.remove();
      resolve(answer);
    });
    document.body.append(dialog);
    dialog.showModal();
    yes.focus();
  });
}

let asking = false;

/** Asks for a token (401: none or a bad one; 403: one without the admin scope), then starts over with it. */
function askForToken(reason: ApiError | null): void {
  if (asking) return;
  asking = true;
  const input = h('input', { type: 'password', name: 'token', autocomplete: 'off', spellcheck: 'false', placeholder: 'API key or JWT', required: true, 'aria-label': 'Token' });
  const problem = reason?.status === 403
    ? 'This token may not use the dashboard: it needs the admin scope.'
    : token.get()
      ? 'The server did not accept this token.'
      : 'This server requires a token with the admin scope.';
  const form = h('form', null,
    h('h2', null, 'Sign in to Taskhub'),
    h('p', null, problem, ' It is kept in this tab only (sessionStorage) and sent in the Authorization header.'),
    input,
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary' }, 'Continue')),
  );
  const dialog = h('dialog', { class: 'modal token' }, form);
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const value = input.value.trim();
    if (!value) return;
    token.set(value);
    dialog.close();
  });
  // Escape would leave the page unusable; keep the prompt until a token is given.
  dialog.addEventListener('cancel', (event) => event.preventDefault());
  dialog.addEventListener('close', () => {
    dialog.remove();
    asking = false;
    restart();
  });
  document.body.append(dialog);
  dialog.showModal();
  input.focus();
}

onAuthProblem((error) => askForToken(error));

function setLive(state: FeedState): void {
  live.dataset.state = state;
  live.textContent = state === 'live' ? 'live' : state === 'unauthorized' ? 'signed out' : state;
  if (state === 'unauthorized') askForToken(null);
}

function startFeed(): void {
  stopFeed?.();
  stopFeed = connectFeed((batch) => current?.onFeed?.(batch), setLive);
}

const ROUTES: { pattern: RegExp; nav: string; view: ViewFactory }[] = [
  { pattern: /^\/?$/, nav: 'overview', view: overviewView },
  { pattern: /^\/tasks\/?$/, nav: 'tasks', view: tasksView },
  { pattern: /^\/tasks\/([^/]+)$/, nav: 'tasks', view: taskView },
  { pattern: /^\/workers\/?$/, nav: 'workers', view: workersView },
  { pattern: /^\/schedules\/?$/, nav: 'schedules', view: schedulesView },
];

function route(): void {
  current?.dispose?.();
  current = null;
  const hash = location.hash.replace(/^#/, '');
  const [path, search = ''] = hash.split('?');
  const params = new URLSearchParams(search);
  for (const r of ROUTES) {
    const match = r.pattern.exec(path);
    if (!match) continue;
    for (const a of document.querySelectorAll<HTMLAnchorElement>('[data-nav]')) a.classList.toggle('active', a.dataset.nav === r.nav);
    viewRoot.replaceChildren();
    current = r.view(viewRoot, params, app, match[1] ? decodeURIComponent(match[1]) : undefined);
    window.scrollTo(0, 0);
    return;
  }
  fill(viewRoot, h('div', { class: 'card' }, h('p', { class: 'notice' }, 'Nothing here. '), h('a', { href: '#/' }, 'Overview')));
}

/** After signing in: the feed and the view start again with the token. */
function restart(): void {
  signOut.hidden = !token.get();
  startFeed();
  route();
}

signOut.addEventListener('click', () => {
  token.clear();
  location.reload();
});
window.addEventListener('hashchange', route);
restart();
