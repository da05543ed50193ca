// The last hour of activity, minute by minute, for the dashboard's charts: attempts started, completed, failed,
// retried and cancelled, and how long tasks waited between becoming ready and starting. Built from the engine's
// stream of task events, which carries every process's events (the store's notices), so one API node sees the whole
// cluster's work from the moment it started; it is not persisted (Prometheus keeps the long history).
import type { TaskEvent } from '../core/task.ts';
import type { QueueEvent } from '../engine/event-hub.ts';

export interface ActivityMinute {
  /** Start of the minute, epoch ms. */
  at: number;
  started: number;
  completed: number;
  failed: number;
  /** Automatic retries (a failed attempt with attempts left); manual retries are not counted. */
  retried: number;
  cancelled: number;
  /** Enqueue-to-start of the tasks started in this minute, ms; null without any. */
  waitP50Ms: number | null;
  waitP95Ms: number | null;
  waitMaxMs: number | null;
}

export interface ActivitySnapshot {
  /** Since when this process has been watching, epoch ms: earlier minutes are unknown, not idle. */
  since: number;
  minutes: ActivityMinute[];
}

interface Bucket {
  at: number;
  started: number;
  completed: number;
  failed: number;
  retried: number;
  cancelled: number;
  /** A uniform sample of the waits (reservoir), enough for percentiles. */
  waits: number[];
  waitCount: number;
  waitMax: number;
}

const MINUTE = 60_000;
const SAMPLE = 256;
/** Tasks remembered as ready and not yet started; beyond this the oldest are forgotten (their wait goes unmeasured). */
const MAX_READY = 100_000;
/** (taskId, seq) keys remembered to drop repeated notices. */
const SEEN_WINDOW = 20_000;

export class ActivityTracker {
  readonly since: number;
  readonly #minutes: number;
  readonly #now: () => number;
  readonly #buckets = new Map<number, Bucket>();
  /** Task id -> when it became ready to run (runAt of its creation or retry). */
  readonly #readyAt = new Map<string, number>();
  readonly #seen = new Set<string>();

  constructor(options: { minutes?: number; now?: () => number } = {}) {
    this.#minutes = options.minutes ?? 60;
    this.#now = options.now ?? Date.now;
    this.since = this.#now();
  }

  /** Feed for `hub.watchAll`. */
  readonly onEvent = (notice: QueueEvent): void => {
    const { event } = notice;
    if (event.kind === 'output' || event.kind === 'progress') return;
    const key = `${event.taskId}:${event.seq}`;
    if (this.#seen.has(key)) return;
    this.#seen.add(key);
    if (this.#seen.size > SEEN_WINDOW) this.#seen.delete(this.#seen.values().next().value as string);
    this.#record(event);
  };

  #record(event: TaskEvent): void {
    const data = (event.data ?? {}) as Record<string, unknown>;
    switch (event.kind) {
      case 'created':
        this.#ready(event.taskId, typeof data.runAt === 'number' ? data.runAt : event.at);
        return;
      case 'retrying':
        this.#ready(event.taskId, typeof data.runAt === 'number' ? data.runAt : event.at);
        if (data.manual !== true) this.#bucket(event.at).retried++;
        return;
      case 'started': {
        const bucket = this.#bucket(event.at);
        bucket.started++;
        const readyAt = this.#readyAt.get(event.taskId);
        if (readyAt !== undefined) {
          this.#readyAt.delete(event.taskId);
          this.#sampleWait(bucket, Math.max(0, event.at - readyAt));
        }
        return;
      }
      case 'completed':
      case 'failed':
      case 'cancelled':
        this.#readyAt.delete(event.taskId);
        this.#bucket(event.at)[event.kind]++;
        return;
    }
  }

  #ready(taskId: string, at: number): void {
    this.#readyAt.delete(taskId);
    this.#readyAt.set(taskId, at);
    if (this.#readyAt.size > MAX_READY) this.#readyAt.delete(this.#readyAt.keys().next().value as string);
  }

  #sampleWait(bucket: Bucket, ms: number): void {
    bucket.waitCount++;
    bucket.waitMax = Math.max(bucket.waitMax, ms);
    if (bucket.waits.length < SAMPLE) bucket.waits.push(ms);
    else {
      const slot = Math.floor(Math.random() * bucket.waitCount);
      if (slot < SAMPLE) bucket.waits[slot] = ms;
    }
  }

  #bucket(at: number): Bucket {
    const start = at - (at % MINUTE);
    let bucket = this.#buckets.get(start);
    if (!bucket) {
      bucket = { at: start, started: 0, completed: 0, failed: 0, retried: 0, cancelled: 0, waits: [], waitCount: 0, waitMax: 0 };
      this.#buckets.set(start, bucket);
      const oldest = start - this.#minutes * MINUTE;
      for (const key of this.#buckets.keys()) if (key <= oldest) this.#buckets.delete(key);
    }
    return bucket;
  }

  /** The last `minutes` minutes, oldest first, the current (partial) minute last; empty minutes included. */
  snapshot(): ActivitySnapshot {
    const now = this.#now();
    const current = now - (now % MINUTE);
    const minutes: ActivityMinute[] = [];
    for (let at = current - (this.#minutes - 1) * MINUTE; at <= current; at += MINUTE) {
      const b = this.#buckets.get(at);
      const sorted = b ? [...b.waits].sort((x, y) => x - y) : [];
      const pick = (q: number) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] : null);
      minutes.push({
        at,
        started: b?.started ?? 0,
        completed: b?.completed ?? 0,
        failed: b?.failed ?? 0,
        retried: b?.retried ?? 0,
        cancelled: b?.cancelled ?? 0,
        waitP50Ms: pick(0.5),
        waitP95Ms: pick(0.95),
        waitMaxMs: b && b.waitCount > 0 ? b.waitMax : null,
      });
    }
    return { since: this.since, minutes };
  }
}
