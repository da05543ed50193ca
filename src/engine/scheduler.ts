// Schedules stored in the database: cron expressions, or fixed intervals (`every: '30s'`, as Celery beat's
// `schedule=timedelta(...)`). Every process ticks; each due slot fires exactly once: the task carries the idempotency
// key `schedule:NAME:SLOT`, and the schedule moves to its next slot by compare-and-set. An interval's slots follow from
// the stored nextRunAt (each is the previous + everyMs), so every process computes the same slots without an anchor.
import { Cron } from 'croner';
import { parseDuration } from '../core/duration.ts';
import { ValidationError } from '../core/errors.ts';
import { checkText } from '../core/input-rules.ts';
import { checkJson, checkName } from '../core/validate.ts';
import type { Json } from '../core/task.ts';
import type { TaskSpec } from '../core/task.ts';
import type { CreatedTask, Schedule, ScheduleDefinition, Store } from '../store/store.ts';
import { Periodic } from './periodic.ts';

/** Shortest interval: the scheduler ticks once a second, so a shorter one could not be kept. */
const MIN_EVERY_MS = 1000;

export interface ScheduleInput {
  /** Cron expression (5 or 6 fields). Exactly one of `cron` and `every`. */
  cron?: string;
  /** Fixed interval: `30s`, `5m`, `1h`, `1d`, or milliseconds (at least 1000). Exactly one of `cron` and `every`. */
  every?: string | number;
  timezone?: string;
  task: { type: string; payload?: Json; queue?: string; priority?: number; maxAttempts?: number; timeoutMs?: number };
  /** Default `skip`. */
  missedPolicy?: 'skip' | 'run-once';
  paused?: boolean;
}

export interface SchedulerOptions {
  /** How often to look for due schedules, ms. Default 1000. */
  intervalMs?: number;
  /** A slot older than this when its tick comes was missed (everything was down), ms. Default 60000. */
  missedAfterMs?: number;
}

function cronOf(expression: string, timezone: string): Cron {
  let cron: Cron;
  try {
    cron = new Cron(expression, { timezone, paused: true });
  } catch (error) {
    throw new ValidationError(`cron: ${(error as Error).message}`, 'cron');
  }
  try {
    cron.nextRun();
  } catch {
    throw new ValidationError(`timezone: "${timezone}" is not an IANA time zone`, 'timezone');
  }
  return cron;
}

/** The first slot strictly after `after`, or null. */
export function nextSlot(expression: string, timezone: string, after: number): number | null {
  return cronOf(expression, timezone).nextRun(new Date(after))?.getTime() ?? null;
}

/** The slots of a schedule, cron or interval. */
interface Slots {
  /** The first slot strictly after `after`, or null. */
  after(after: number): number | null;
}

function slotsOf(schedule: Pick<ScheduleDefinition, 'cron' | 'everyMs' | 'timezone'>, anchor: number): Slots {
  const every = schedule.everyMs;
  if (every !== null) {
    // Slots are anchor + k * every: the one after `after` is computed, not walked (a long downtime is one step).
    return { after: (after) => anchor + (Math.floor((after - anchor) / every) + 1) * every };
  }
  const cron = schedule.cron ?? '';
  return { after: (after) => nextSlot(cron, schedule.timezone, after) };
}

/** The interval of `every`, or a ValidationError. */
function everyMsOf(every: string | number): number {
  if (typeof every === 'number' && !Number.isInteger(every)) throw new ValidationError('every: must be whole milliseconds', 'every');
  const ms = parseDuration(every, 'every');
  if (ms < MIN_EVERY_MS) throw new ValidationError(`every: must be at least ${MIN_EVERY_MS} ms (1s)`, 'every');
  return ms;
}

/** What the scheduler uses: its store tables, a clock, and the engine's enqueue (validation, defaults, group commit). */
export interface SchedulerDeps {
  store: Pick<Store, 'putSchedule' | 'getSchedule' | 'listSchedules' | 'deleteSchedule' | 'dueSchedules' | 'advanceSchedule'>;
  now: () => number;
  enqueue: (spec: TaskSpec) => Promise<CreatedTask>;
}

export class Scheduler {
  readonly #deps: SchedulerDeps;
  readonly #missedAfterMs: number;
  readonly #periodic: Periodic<string[]>;

  constructor(deps: SchedulerDeps, options: SchedulerOptions = {}) {
    this.#deps = deps;
    this.#missedAfterMs = options.missedAfterMs ?? 60_000;
    this.#periodic = new Periodic(options.intervalMs ?? 1000, () => this.#tick(), []);
  }

  start(): void {
    this.#periodic.start();
  }

  stop(): void {
    this.#periodic.stop();
  }

  async put(name: string, input: ScheduleInput): Promise<{ schedule: Schedule; created: boolean }> {
    checkName('name', name);
    if (typeof input !== 'object' || input === null) throw new ValidationError('schedule must be an object');
    if ((input.cron === undefined) === (input.every === undefined)) {
      throw new ValidationError('give exactly one of cron (a cron expression) and every (an interval such as 30s)', input.cron === undefined ? 'cron' : 'every');
    }
    if (input.cron !== undefined && typeof input.cron !== 'string') throw new ValidationError('cron: must be a cron expression string', 'cron');
    if (input.every !== undefined && typeof input.every !== 'string' && typeof input.every !== 'number') {
      throw new ValidationError('every: must be a duration such as 30s, 5m, 1h, or milliseconds', 'every');
    }
    const everyMs = input.every === undefined ? null : everyMsOf(input.every);
    const timezone = input.timezone ?? 'UTC';
    if (typeof input.task !== 'object' || input.task === null) throw new ValidationError('task: must be an object', 'task');
    checkName('task.type', input.task.type);
    if (input.task.queue !== undefined) checkName('task.queue', input.task.queue);
    checkJson('task.payload', input.task.payload);
    if (input.cron !== undefined) checkText('cron', input.cron);
    checkText('timezone', timezone);
    const missedPolicy = input.missedPolicy ?? 'skip';
    if (missedPolicy !== 'skip' && missedPolicy !== 'run-once') {
      throw new ValidationError('missedPolicy: must be "skip" or "run-once"', 'missedPolicy');
    }
    const definition: ScheduleDefinition = {
      name,
      cron: input.cron ?? null,
      everyMs,
      timezone,
      task: { ...input.task, payload: input.task.payload ?? null },
      missedPolicy,
      paused: input.paused ?? false,
    };
    const now = this.#deps.now();
    const next = definition.paused ? null : definition.everyMs !== null ? now + definition.everyMs : nextSlot(definition.cron ?? '', timezone, now);
    return this.#deps.store.putSchedule(definition, next, now);
  }

  get(name: string): Promise<Schedule | null> {
    return this.#deps.store.getSchedule(name);
  }

  list(): Promise<Schedule[]> {
    return this.#deps.store.listSchedules();
  }

  delete(name: string): Promise<boolean> {
    return this.#deps.store.deleteSchedule(name);
  }

  /** Fires every due slot once; returns the ids of the tasks this call created or found. */
  tick(): Promise<string[]> {
    return this.#periodic.run();
  }

  async #tick(): Promise<string[]> {
    const fired: string[] = [];
    const now = this.#deps.now();
    for (const schedule of await this.#deps.store.dueSchedules(now, 100)) {
      const id = await this.#fire(schedule, now);
      if (id) fired.push(id);
    }
    return fired;
  }

  async #fire(schedule: Schedule, now: number): Promise<string | null> {
    const slot = schedule.nextRunAt as number;
    const slots = slotsOf(schedule, slot);
    // The latest due slot: more than one due means slots were missed while nothing ran.
    let latest = slot;
    if (schedule.everyMs !== null) latest = slot + Math.floor((now - slot) / schedule.everyMs) * schedule.everyMs;
    else {
      for (let next = slots.after(slot); next !== null && next <= now; ) {
        latest = next;
        next = slots.after(next);
      }
    }
    const missed = now - latest > this.#missedAfterMs;
    const runs = !missed || schedule.missedPolicy === 'run-once';
    let taskId: string | null = null;
    if (runs) {
      const { task } = await this.#deps.enqueue({
        ...schedule.task,
        idempotencyKey: `schedule:${schedule.name}:${latest}`,
        tags: { schedule: schedule.name, slot: new Date(latest).toISOString() },
      });
      taskId = task.id;
    }
    const following = slots.after(Math.max(latest, now));
    const moved = await this.#deps.store.advanceSchedule(schedule.name, slot, following, taskId ? { at: latest, taskId } : null, now);
    return moved || runs ? taskId : null;
  }
}
