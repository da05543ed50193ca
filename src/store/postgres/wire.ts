// The NOTIFY wire format (documented in docs/postgres.md): how notices travel between processes on one schema's
// channel, packed into as few messages as fit.
import type { Json, TaskEvent, TaskEventKind } from '../../core/task.ts';
import { TASK_EVENT_KINDS } from '../../core/task.ts';
import type { StoreNotice } from '../store.ts';
import { MAX_NOTIFY_BYTES } from './sql/common.ts';

/**
 * One NOTIFY payload: `{"origin": ..., "notices": [...]}`. Each notice is a StoreNotice as JSON, except that an event
 * too large for a message travels as a stub without its `event`, naming it by taskId and seq.
 */
export type WireItem = StoreNotice | { kind: 'event'; queue: string; owner: string | null; taskId: string; seq: number };

export interface WireMessage {
  /** The store instance that sent it; null for NOTIFYs from an application's transaction (createTasksIn). */
  origin: string | null;
  /** Sent by a store that just started listening: the others answer with a message of their own. */
  join: boolean;
  notices: WireItem[];
}

/** Packs notices into as few messages as fit in MAX_NOTIFY_BYTES each, keeping their order. */
export function encodeNotices(origin: string | null, notices: readonly StoreNotice[]): string[] {
  const envelope = (items: string[]) => `{"origin":${JSON.stringify(origin)},"notices":[${items.join(',')}]}`;
  const emptySize = Buffer.byteLength(envelope([]));
  const messages: string[] = [];
  let items: string[] = [];
  let size = emptySize;
  for (const notice of notices) {
    let item = JSON.stringify(notice);
    if (emptySize + Buffer.byteLength(item) > MAX_NOTIFY_BYTES && notice.kind === 'event') {
      const { queue, owner, event } = notice;
      item = JSON.stringify({ kind: 'event', queue, owner, taskId: event.taskId, seq: event.seq });
    }
    const itemSize = Buffer.byteLength(item) + 1;
    if (items.length > 0 && size + itemSize > MAX_NOTIFY_BYTES) {
      messages.push(envelope(items));
      items = [];
      size = emptySize;
    }
    items.push(item);
    size += itemSize;
  }
  if (items.length > 0) messages.push(envelope(items));
  return messages;
}

/** A `ready` notice says "look at this queue": once per queue is enough in one batch (a bulk enqueue has one per task). */
export function withoutRepeatedReadies(notices: readonly StoreNotice[]): StoreNotice[] {
  const seen = new Set<string | null>();
  return notices.filter((notice) => {
    if (notice.kind !== 'ready') return true;
    if (seen.has(notice.queue)) return false;
    seen.add(notice.queue);
    return true;
  });
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const EVENT_KINDS: ReadonlySet<string> = new Set(TASK_EVENT_KINDS);

function isEventKind(value: unknown): value is TaskEventKind {
  return typeof value === 'string' && EVENT_KINDS.has(value);
}

function parseEvent(value: unknown): TaskEvent | null {
  if (!isRecord(value)) return null;
  const { taskId, seq, kind, data, at } = value;
  if (typeof taskId !== 'string' || typeof seq !== 'number' || !isEventKind(kind) || typeof at !== 'number') return null;
  return { taskId, seq, kind, data: (data ?? null) as Json, at };
}

function parseWireItem(value: unknown): WireItem | null {
  if (!isRecord(value)) return null;
  switch (value.kind) {
    case 'event': {
      const { queue, owner } = value;
      if (typeof queue !== 'string' || (owner !== null && typeof owner !== 'string')) return null;
      if (value.event !== undefined) {
        const event = parseEvent(value.event);
        return event ? { kind: 'event', queue, owner, event } : null;
      }
      const { taskId, seq } = value;
      return typeof taskId === 'string' && typeof seq === 'number' ? { kind: 'event', queue, owner, taskId, seq } : null;
    }
    case 'ready':
      return { kind: 'ready', queue: typeof value.queue === 'string' ? value.queue : null };
    case 'cancel':
      return typeof value.taskId === 'string' ? { kind: 'cancel', taskId: value.taskId } : null;
    default:
      return null;
  }
}

/** Null for anything that is not a well-formed Taskhub message (someone else may NOTIFY on the channel). */
export function decodeNotices(payload: string | undefined): WireMessage | null {
  if (!payload) return null;
  let value: unknown;
  try {
    value = JSON.parse(payload);
  } catch {
    return null;
  }
  if (!isRecord(value) || !Array.isArray(value.notices)) return null;
  const notices: WireItem[] = [];
  for (const item of value.notices) {
    const notice = parseWireItem(item);
    if (notice) notices.push(notice);
  }
  return { origin: typeof value.origin === 'string' ? value.origin : null, join: value.join === true, notices };
}

/** How every message of the store instance `origin` begins: its echo is recognized by this, without parsing. */
export function echoPrefix(origin: string): string {
  return `{"origin":${JSON.stringify(origin)},`;
}

/** A message without notices, telling the others that `origin` listens (`join`: it just started; they answer). */
export function presenceMessage(origin: string, join: boolean): string {
  return `${echoPrefix(origin)}${join ? '"join":true,' : ''}"notices":[]}`;
}
