// Per-type settings (defaults, payload JSON Schema), stored so every process applies the same ones. Read through a
// cache refreshed at most once a second, so the submit path does not query the store each time.
import { Ajv, type ValidateFunction } from 'ajv';
import { ValidationError } from '../core/errors.ts';
import type { Json } from '../core/task.ts';
import {
  checkCostLimit,
  checkDebounce,
  checkJson,
  checkName,
  checkRateLimit,
  checkSingleton,
  checkSoftBelowHard,
  checkThrottle,
  type TaskDefaults,
} from '../core/validate.ts';
import type { RateLimit, Store, TypeSettings } from '../store/store.ts';

/** What `put` takes: the whole of a type's settings (an absent field is none, not "as before"). */
export interface TypeSettingsInput {
  defaults?: TypeSettings['defaults'];
  payloadSchema?: Json | null;
  /** At most `count` starts of the type in any `intervalMs`, across every queue and process; null or absent: none. */
  rateLimit?: RateLimit | null;
  /** A cost limit over the type's starts across every queue (docs/queues.md, "Cost limits"); null or absent: none. */
  costLimit?: { budget: number; periodMs: number; perKey?: boolean } | null;
}

/** Settings as callers see them: `rateLimit` always present (null for none), whatever the store left out. */
const complete = (settings: TypeSettings): TypeSettings => ({ ...settings, rateLimit: settings.rateLimit ?? null, costLimit: settings.costLimit ?? null });

const REFRESH_MS = 1000;
const DEFAULT_FIELDS = ['maxAttempts', 'backoff', 'timeoutMs', 'softTimeoutMs', 'queue', 'throttle', 'debounce', 'singleton'];

interface Entry {
  settings: TypeSettings;
  validate: ValidateFunction | null;
}

export class TypeRegistry {
  readonly #store: Store;
  readonly #now: () => number;
  readonly #ajv = new Ajv({ allErrors: false, strict: false });
  #entries = new Map<string, Entry>();
  #loadedAt = Number.NEGATIVE_INFINITY;
  #loading: Promise<void> | undefined;

  constructor(store: Store, now: () => number) {
    this.#store = store;
    this.#now = now;
  }

  #compile(settings: TypeSettings): Entry {
    if (settings.payloadSchema === null) return { settings, validate: null };
    try {
      return { settings, validate: this.#ajv.compile(settings.payloadSchema as object) };
    } catch (error) {
      throw new ValidationError(`payloadSchema: not a valid JSON Schema: ${(error as Error).message}`, 'payloadSchema');
    }
  }

  async #fresh(): Promise<Map<string, Entry>> {
    if (performance.now() - this.#loadedAt < REFRESH_MS) return this.#entries;
    this.#loading ??= this.#store.listTypeSettings().then((all) => {
      const entries = new Map<string, Entry>();
      for (const settings of all) {
        try {
          entries.set(settings.type, this.#compile(settings));
        } catch {
          entries.set(settings.type, { settings, validate: null });
        }
      }
      this.#entries = entries;
      this.#loadedAt = performance.now();
    });
    try {
      await this.#loading;
    } finally {
      this.#loading = undefined;
    }
    return this.#entries;
  }

  /**
   * What prepares a task's defaults under the settings as they are now: the engine defaults overlaid with its type's;
   * throws a ValidationError naming the field if the payload fails its schema. Synchronous, so that a batch reads the
   * cache once rather than awaiting it once per task.
   */
  async preparer(): Promise<Preparer> {
    const entries = await this.#fresh();
    return (type, payload, base) => {
      const entry = entries.get(type);
      return entry ? overlay(entry, payload, base) : base;
    };
  }

  async put(type: string, input: TypeSettingsInput): Promise<TypeSettings> {
    checkName('type', type);
    const defaults = input.defaults ?? {};
    if (typeof defaults !== 'object' || defaults === null) throw new ValidationError('defaults: must be an object', 'defaults');
    for (const key of Object.keys(defaults)) {
      if (!DEFAULT_FIELDS.includes(key)) throw new ValidationError(`defaults.${key}: is not a known field`, `defaults.${key}`);
    }
    checkSoftBelowHard('defaults.softTimeoutMs', defaults.softTimeoutMs, defaults.timeoutMs);
    if (defaults.throttle !== undefined) checkThrottle('defaults.throttle', defaults.throttle, true);
    // Without a key, a type's debounce or singleton uses each task's concurrencyKey, else the type (core/validate.ts).
    if (defaults.debounce !== undefined && defaults.debounce !== null) checkDebounce('defaults.debounce', defaults.debounce, false);
    if (defaults.singleton !== undefined && defaults.singleton !== null) checkSingleton('defaults.singleton', defaults.singleton, false);
    checkJson('payloadSchema', input.payloadSchema ?? null);
    checkJson('defaults', defaults);
    const rateLimit = input.rateLimit === undefined ? null : checkRateLimit('rateLimit', input.rateLimit);
    const costLimit = input.costLimit === undefined ? null : checkCostLimit('costLimit', input.costLimit);
    const settings: TypeSettings = { type, defaults, payloadSchema: input.payloadSchema ?? null, rateLimit, costLimit, updatedAt: this.#now() };
    const entry = this.#compile(settings);
    await this.#store.putTypeSettings(settings);
    this.#entries.set(type, entry);
    return settings;
  }

  async delete(type: string): Promise<boolean> {
    this.#entries.delete(type);
    return this.#store.deleteTypeSettings(type);
  }

  async list(): Promise<TypeSettings[]> {
    return (await this.#store.listTypeSettings()).map(complete);
  }
}

/** See TypeRegistry.preparer. */
export type Preparer = (type: string, payload: Json | undefined, base: TaskDefaults) => TaskDefaults;

function overlay(entry: Entry, payload: Json | undefined, base: TaskDefaults): TaskDefaults {
  if (entry.validate && !entry.validate(payload ?? null)) {
    const [first] = entry.validate.errors ?? [];
    const path = first?.instancePath ? `payload${first.instancePath.replaceAll('/', '.')}` : 'payload';
    const missing = first?.keyword === 'required' ? `.${String((first.params as { missingProperty?: string }).missingProperty)}` : '';
    throw new ValidationError(`${path}${missing}: ${first?.message ?? 'does not match the payload schema'}`, `${path}${missing}`);
  }
  const d = entry.settings.defaults;
  return {
    queue: d.queue ?? base.queue,
    maxAttempts: d.maxAttempts ?? base.maxAttempts,
    backoff: { ...base.backoff, ...d.backoff },
    timeoutMs: d.timeoutMs === undefined ? base.timeoutMs : d.timeoutMs,
    softTimeoutMs: d.softTimeoutMs === undefined ? base.softTimeoutMs : d.softTimeoutMs,
    throttle: d.throttle ?? base.throttle ?? null,
    debounce: d.debounce ?? base.debounce ?? null,
    singleton: d.singleton ?? base.singleton ?? null,
  };
}
