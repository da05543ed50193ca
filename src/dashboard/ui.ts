// Pieces every view uses: what a view is, what the app offers it, and small widgets (status pills, progress bars).
import type { TaskStatus, WaitingFor } from '../core/task.ts';
import { ApiError } from './api.ts';
import { h } from './dom.ts';
import type { FeedBatch } from './feed.ts';

export interface View {
  /** Live events of every task (batched); views update in place or reload. */
  onFeed?(batch: FeedBatch): void;
  dispose?(): void;
}

export interface ConfirmOptions {
  title: string;
  text: string;
  action: string;
  danger?: boolean;
}

export interface AppContext {
  toast(text: string, kind?: 'info' | 'error'): void;
  confirm(options: ConfirmOptions): Promise<boolean>;
  navigate(hash: string): void;
}

export type ViewFactory = (root: HTMLElement, params: URLSearchParams, app: AppContext, id?: string) => View;

export const STATUSES: readonly TaskStatus[] = ['scheduled', 'queued', 'running', 'waiting', 'completed', 'failed', 'cancelled'];

/** What a waiting task waits for, in a few words (the task page and the tasks list show it beside the status). */
export function waitText(wait: WaitingFor | null | undefined): string {
  if (!wait) return '';
  switch (wait.kind) {
    case 'children':
      return `children "${wait.name}": ${wait.total - wait.pending} of ${wait.total} done`;
    case 'sleep':
      return `sleeping ("${wait.name}") until ${new Date(wait.until).toLocaleString()}`;
    case 'signal':
      return `signal "${wait.name}"${wait.timeoutAt === null ? '' : ` until ${new Date(wait.timeoutAt).toLocaleString()}`}`;
  }
}

export function statusPill(status: TaskStatus): HTMLElement {
  return h('span', { class: 'pill', 'data-status': status }, status);
}

/** A progress bar; `percent` 0..100. Its inner span's width is set through the CSSOM (no inline style markup). */
export function progressBar(percent: number, status: TaskStatus, big = false): HTMLElement {
  const inner = h('span');
  inner.style.width = `${Math.max(0, Math.min(100, percent))}%`;
  return h('div', { class: big ? 'progress big' : 'progress', 'data-status': status, role: 'progressbar', 'aria-valuemin': 0, 'aria-valuemax': 100, 'aria-valuenow': Math.round(percent) }, inner);
}

export function setProgress(bar: HTMLElement, percent: number, status: TaskStatus): void {
  bar.dataset.status = status;
  bar.setAttribute('aria-valuenow', String(Math.round(percent)));
  const inner = bar.firstElementChild as HTMLElement | null;
  if (inner) inner.style.width = `${Math.max(0, Math.min(100, percent))}%`;
}

export function errorText(error: unknown): string {
  if (error instanceof ApiError) return error.status ? `${error.message} (${error.status})` : error.message;
  return error instanceof Error ? error.message : String(error);
}

/** A card body for a failed load. */
export function failure(error: unknown): HTMLElement {
  return h('p', { class: 'notice error-text' }, `Could not load: ${errorText(error)}`);
}

export function pageHead(title: string, sub?: string | Node, ...end: Node[]): HTMLElement {
  return h('div', { class: 'page-head' }, h('div', null, h('h1', null, title), sub ? h('div', { class: 'sub' }, sub) : null), end.length ? h('div', { class: 'actions' }, ...end) : null);
}
