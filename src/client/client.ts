// TaskhubClient: the SDK over the HTTP contract (v1) for Node and browsers. Browser-safe on purpose: only fetch,
// AbortController, TextDecoder and ReadableStream, no node: imports, and it imports nothing but types from core, so
// browser-bundle.ts can ship these files to a page as they are.
import type { Checkpoint, CheckpointInfo, DeriveSpec, EnqueueOptions, Json, Task, TaskEvent, TaskStatus } from '../core/task.ts';
import { TaskhubClientError, TaskhubHttpError, TaskhubNetworkError, TaskhubSingletonConflictError, TaskhubTimeoutError, type ProblemDetails } from './errors.ts';
import { readSse, SseParser } from './sse.ts';

export interface TaskhubClientOptions {
  /** Base URL of the server, e.g. `http://127.0.0.1:8080` (a path prefix is kept). Relative URLs resolve against the page in a browser. */
  url: string;
  /** Sent as `Authorization: Bearer`; an API key, a JWT or a follow token. */
  token?: string;
  /** A fetch to use instead of the global one (tests, proxies, custom agents). */
  fetch?: typeof fetch;
  /** Wait before reconnecting a dropped event stream, ms. Default 1000 (or the server's `retry:` when not set). */
  reconnectDelayMs?: number;
  /** Interval between polls when streaming is unavailable and nothing new came, ms. Default 1000. */
  pollIntervalMs?: number;
  /**
   * Also put the token in the stream URL as `?access_token=` (the form EventSource would have to use). Default false:
   * this client reads SSE with fetch and sends `Authorization: Bearer`, and URLs end up in access logs.
   */
  tokenInStreamUrl?: boolean;
}

/**
 * Everything `submit` may say about a new task besides its type and payload (the core's EnqueueOptions, less what
 * the server decides: the owner comes from the token). `traceparent` is sent as the `traceparent` header.
 */
export type SubmitOptions = Omit<EnqueueOptions, 'owner' | 'concurrencyKey'> & { signal?: AbortSignal };

export interface SubmitSpec extends Omit<SubmitOptions, 'signal' | 'traceparent'> {
  type: string;
  payload?: Json;
}

export interface ListFilter {
  queue?: string;
  status?: TaskStatus;
  type?: string;
  /** Only this task's children and derived tasks. */
  parentId?: string;
  /** 1..1000; the server's default when absent. */
  limit?: number;
  /** The `nextCursor` of the previous page. */
  cursor?: string;
}

export interface TaskList {
  tasks: Task[];
  /** Pass as `cursor` for the next page; null on the last page. */
  nextCursor: string | null;
}

export type { Checkpoint, CheckpointInfo, DeriveSpec } from '../core/task.ts';

export interface FollowOptions {
  /** Start after this event sequence number (0, the default, replays the whole history). */
  afterSeq?: number;
  /** Stops following: the iteration ends quietly. */
  signal?: AbortSignal;
}

export interface ResultOptions {
  /** Give up after this long with a TaskhubTimeoutError. Default 60000. */
  timeoutMs?: number;
  signal?: AbortSignal;
}

interface RequestInit2 {
  query?: Record<string, string | number | undefined>;
  body?: unknown;
  headers?: Record<string, string>;
  signal?: AbortSignal | undefined;
}

const API = '/api/v1';
/** The longest single `?wait=` asked of the server; result() asks again until its own deadline. */
const MAX_WAIT_SECONDS = 30;
/** Kept here rather than imported from core so that core stays a types-only dependency (see browser-bundle.ts). */
const TERMINAL_KINDS: ReadonlySet<string> = new Set(['completed', 'failed', 'cancelled']);
const FINISHED_STATUSES: ReadonlySet<string> = new Set(['completed', 'failed', 'cancelled']);

export class TaskhubClient {
  readonly #base: string;
  readonly #token: string | undefined;
  readonly #fetch: typeof fetch;
  readonly #reconnectDelayMs: number | undefined;
  readonly #pollIntervalMs: number;
  readonly #tokenInStreamUrl: boolean;

  constructor(options: TaskhubClientOptions) {
    if (!options || typeof options.url !== 'string' || options.url.length === 0) {
      throw new TypeError('TaskhubClient: `url` is required');
    }
    // In a browser a relative url ('/', '') means the page's own server.
    const base = new URL(options.url, globalThis.location?.href);
    this.#base = base.origin + base.pathname.replace(/\/+$/, '');
    this.#token = options.token;
    const custom = options.fetch;
    // Called as a plain function: a browser's fetch throws "Illegal invocation" when its `this` is not the window.
    this.#fetch = custom ? (input, init) => custom(input, init) : (input, init) => globalThis.fetch(input, init);
    this.#reconnectDelayMs = options.reconnectDelayMs;
    this.#pollIntervalMs = options.pollIntervalMs ?? 1000;
    this.#tokenInStreamUrl = options.tokenInStreamUrl ?? false;
  }

  /** Submits a task and resolves to it (202-durable). With an idempotency key already used, resolves to that task. */
  async submit(type: string, payload: Json = null, options: SubmitOptions = {}): Promise<Task> {
    const { signal, traceparent, ...rest } = options;
    return (await this.create({ ...rest, type, payload }, { signal, traceparent })).task;
  }

  /**
   * Like `submit`, and also says whether a new task was created (false: an existing one for the idempotency key, or
   * one the submit was merged into: `merged` says how, by its debounce key or a singleton `queue-one`).
   */
  async create(
    spec: SubmitSpec,
    options: { signal?: AbortSignal | undefined; traceparent?: string | undefined } = {},
  ): Promise<{ task: Task; created: boolean; merged?: 'debounce' | 'queue-one' }> {
    const { idempotencyKey, ...body } = spec;
    const headers: Record<string, string> = {};
    if (idempotencyKey !== undefined) headers['idempotency-key'] = idempotencyKey;
    if (options.traceparent !== undefined) headers.traceparent = options.traceparent;
    const res = await this.#request('POST', `${API}/tasks`, { body: normalizeSpec(body), headers, signal: options.signal });
    const answer = await readJson(res);
    const merged = isObject(answer) && (answer.merged === 'debounce' || answer.merged === 'queue-one') ? answer.merged : undefined;
    if (isObject(answer)) {
      // Said of this submit, not part of the task.
      delete answer.merged;
      delete answer.debounced;
    }
    if (merged) return { task: asTask(answer), created: false, merged };
    return { task: asTask(answer), created: res.status === 202 };
  }

  /** Submits many tasks in one transaction: all are created, or none. */
  async submitMany(tasks: readonly SubmitSpec[], options: { signal?: AbortSignal } = {}): Promise<Task[]> {
    const res = await this.#request('POST', `${API}/tasks/batch`, { body: { tasks: tasks.map(normalizeSpec) }, signal: options.signal });
    const body = await readJson(res);
    if (!isObject(body) || !Array.isArray(body.tasks)) throw new TaskhubClientError('batch submit: the server answered without a `tasks` list');
    return body.tasks.map(asTask);
  }

  async get(id: string, options: { signal?: AbortSignal } = {}): Promise<Task> {
    return asTask(await readJson(await this.#request('GET', taskPath(id), { signal: options.signal })));
  }

  /** One page of tasks, newest first. */
  async list(filter: ListFilter = {}, options: { signal?: AbortSignal } = {}): Promise<TaskList> {
    const { queue, status, type, parentId, limit, cursor } = filter;
    const res = await this.#request('GET', `${API}/tasks`, { query: { queue, status, type, parentId, limit, cursor }, signal: options.signal });
    const body = await readJson(res);
    if (!isObject(body) || !Array.isArray(body.tasks)) throw new TaskhubClientError('list: the server answered without a `tasks` list');
    return { tasks: body.tasks.map(asTask), nextCursor: typeof body.nextCursor === 'string' ? body.nextCursor : null };
  }

  /** The task's history after `after` (oldest first), as much as the server returns in one page. */
  async events(id: string, after = 0, options: { signal?: AbortSignal } = {}): Promise<TaskEvent[]> {
    const res = await this.#request('GET', `${taskPath(id)}/events`, { query: { after }, signal: options.signal });
    const body = await readJson(res);
    if (!isObject(body) || !Array.isArray(body.events)) throw new TaskhubClientError('events: the server answered without an `events` list');
    return body.events.map(asEvent);
  }

  /**
   * Cancels a task: at once when queued or scheduled; a running one is asked to stop (its handler's AbortSignal
   * fires) and comes back with `cancelRequested` true. `reason` is recorded in the task's error.
   */
  async cancel(id: string, options: { reason?: string; signal?: AbortSignal } = {}): Promise<Task> {
    const body = options.reason === undefined ? undefined : { reason: options.reason };
    return asTask(await readJson(await this.#request('POST', `${taskPath(id)}/cancel`, { body, signal: options.signal })));
  }

  /** Puts a failed or cancelled task back in its queue. */
  async retry(id: string, options: { signal?: AbortSignal } = {}): Promise<Task> {
    return asTask(await readJson(await this.#request('POST', `${taskPath(id)}/retry`, { signal: options.signal })));
  }

  /**
   * A follow token for one task, for a browser or app that must not hold this client's key: it reads that task (get,
   * events, result, follow, WebSocket) and nothing else, until `expiresAt` (epoch ms). Hand it to
   * `new TaskhubClient({ url, token })` there. Needs the `tasks:read` scope; default lifetime 900 s.
   */
  async followToken(id: string, options: { ttlSeconds?: number; signals?: string[]; signal?: AbortSignal } = {}): Promise<{ token: string; expiresAt: number }> {
    const body = {
      ...(options.ttlSeconds === undefined ? {} : { ttlSeconds: options.ttlSeconds }),
      // The right to send these signals to the task (e.g. a browser approving); issuing it needs tasks:write.
      ...(options.signals === undefined ? {} : { signals: options.signals }),
    };
    const answer = await readJson(await this.#request('POST', `${taskPath(id)}/token`, { body, signal: options.signal }));
    if (!isObject(answer) || typeof answer.token !== 'string' || typeof answer.expiresAt !== 'number') {
      throw new TaskhubClientError('followToken: the server answered without a token');
    }
    return { token: answer.token, expiresAt: answer.expiresAt };
  }

  // ---- durable execution (docs/durable.md) ----

  /** Puts a failed or cancelled task back in its queue, resuming from its latest checkpoint or from `fromVersion`. */
  async recover(id: string, options: { fromVersion?: number; signal?: AbortSignal } = {}): Promise<Task> {
    const body = options.fromVersion === undefined ? {} : { fromVersion: options.fromVersion };
    return asTask(await readJson(await this.#request('POST', `${taskPath(id)}/recover`, { body, signal: options.signal })));
  }

  /** A new task made from this one (parentId = id); with `fromCheckpoint`, starting from that checkpoint. */
  async derive(id: string, spec: DeriveSpec = {}, options: { signal?: AbortSignal } = {}): Promise<Task> {
    return asTask(await readJson(await this.#request('POST', `${taskPath(id)}/derive`, { body: spec, signal: options.signal })));
  }

  /** The task's checkpoint versions (without states), oldest first. */
  async checkpoints(id: string, options: { signal?: AbortSignal } = {}): Promise<CheckpointInfo[]> {
    const body = await readJson(await this.#request('GET', `${taskPath(id)}/checkpoints`, { signal: options.signal }));
    if (!isObject(body) || !Array.isArray(body.checkpoints)) throw new TaskhubClientError('checkpoints: the server answered without a `checkpoints` list');
    return body.checkpoints as CheckpointInfo[];
  }

  /** One checkpoint with its state (or the latest); null when the task has none such. */
  async checkpoint(id: string, version: number | 'latest' = 'latest', options: { signal?: AbortSignal } = {}): Promise<Checkpoint | null> {
    try {
      const body = await readJson(await this.#request('GET', `${taskPath(id)}/checkpoints/${version}`, { signal: options.signal }));
      if (!isObject(body) || typeof body.version !== 'number') throw new TaskhubClientError('checkpoint: the server answered without a checkpoint');
      return body as unknown as Checkpoint;
    } catch (error) {
      // 404 for an unknown task too: tell them apart by asking for the task, so a typo still throws.
      if (error instanceof TaskhubHttpError && error.status === 404) {
        await this.get(id, options);
        return null;
      }
      throw error;
    }
  }

  /**
   * Sends signal `name` (with `data`) to a task: `resumed` says whether it woke the task (it waited for it); otherwise
   * the signal is kept for the task's later wait. Needs tasks:write, or a follow token issued with this signal.
   */
  async signal(id: string, name: string, data: Json = null, options: { signal?: AbortSignal } = {}): Promise<{ resumed: boolean; task: Task }> {
    const path = `${taskPath(id)}/signals/${encodeURIComponent(name)}`;
    const body = await readJson(await this.#request('POST', path, { body: { data }, signal: options.signal }));
    if (!isObject(body) || typeof body.resumed !== 'boolean') throw new TaskhubClientError('signal: the server answered without `resumed`');
    return { resumed: body.resumed, task: asTask(body.task) };
  }

  /**
   * Waits for the task to finish (completed, failed or cancelled) and resolves with it; inspect `status`, `result`
   * and `error`. Long-polls GET /result?wait= until then; throws TaskhubTimeoutError after `timeoutMs`.
   */
  async result(id: string, options: ResultOptions = {}): Promise<Task> {
    const timeoutMs = options.timeoutMs ?? 60_000;
    const deadline = Date.now() + timeoutMs;
    let lastStatus: TaskStatus | null = null;
    for (;;) {
      throwIfAborted(options.signal);
      const remaining = deadline - Date.now();
      if (remaining <= 0) throw new TaskhubTimeoutError(id, timeoutMs, lastStatus);
      // The server accepts fractional seconds and caps the wait itself; asking for at most 30 s keeps each request
      // well inside common proxy idle timeouts.
      const wait = Math.min(MAX_WAIT_SECONDS, Math.ceil(remaining) / 1000);
      // Should the server hold the request past our deadline, cut it there.
      const timer = new AbortController();
      const stopTimer = setTimeout(() => timer.abort(), remaining + 50);
      const unlink = linkAbort(options.signal, timer);
      const started = Date.now();
      try {
        const res = await this.#request('GET', `${taskPath(id)}/result`, { query: { wait }, signal: timer.signal });
        const body = await readJson(res);
        if (isObject(body) && typeof body.status === 'string') lastStatus = body.status as TaskStatus;
        // The result document holds only status, result and error; callers get the whole finished task.
        if (res.status === 200) return await this.get(id, { signal: options.signal });
        // 202: not finished. A server that did not wait (a proxy, an older server) must not make this spin.
        if (Date.now() - started < (wait * 1000) / 2) await sleep(Math.min(this.#pollIntervalMs, deadline - Date.now()), options.signal);
      } catch (error) {
        if (options.signal?.aborted) throw options.signal.reason ?? error;
        if (timer.signal.aborted) throw new TaskhubTimeoutError(id, timeoutMs, lastStatus);
        if (!isTransient(error)) throw error;
        await sleep(Math.min(this.#retryDelay(error), Math.max(0, deadline - Date.now())), options.signal);
      } finally {
        clearTimeout(stopTimer);
        unlink();
      }
    }
  }

  /**
   * The task's events, each exactly once and in order, ending after the terminal one (completed, failed,
   * cancelled). Reads the SSE stream through fetch (so it can send Authorization), reconnects with Last-Event-ID
   * when the connection drops, and falls back to polling GET /events when the server cannot stream.
   * Aborting `signal` (or leaving the loop) ends it quietly. HTTP errors other than transient ones are thrown.
   */
  async *follow(id: string, options: FollowOptions = {}): AsyncGenerator<TaskEvent, void, undefined> {
    const { signal } = options;
    let last = options.afterSeq ?? 0;
    if (last > 0) {
      // A follower resuming after the terminal event would otherwise wait for an event that never comes.
      const task = await this.get(id, { signal });
      if (FINISHED_STATUSES.has(task.status) && task.lastEventSeq <= last) return;
    }
    let streaming = true;
    let serverRetryMs: number | null = null;
    const reconnectDelay = () => this.#reconnectDelayMs ?? serverRetryMs ?? 1000;

    while (!signal?.aborted) {
      if (!streaming) {
        // Polling: ask for what came after `last`; sleep only when nothing did.
        let page: TaskEvent[];
        try {
          page = await this.events(id, last, { signal });
        } catch (error) {
          if (signal?.aborted) return;
          if (!isTransient(error)) throw error;
          await sleep(this.#retryDelay(error), signal);
          continue;
        }
        let advanced = false;
        for (const event of page) {
          if (event.seq <= last) continue;
          if (signal?.aborted) return;
          yield event;
          last = event.seq;
          advanced = true;
          if (TERMINAL_KINDS.has(event.kind)) return;
        }
        if (!advanced) await sleep(this.#pollIntervalMs, signal);
        continue;
      }

      const connection = new AbortController();
      const unlink = linkAbort(signal, connection);
      const parser = new SseParser();
      try {
        let res: Response;
        try {
          res = await this.#fetch(this.#url(`${taskPath(id)}/stream`, this.#token && this.#tokenInStreamUrl ? { access_token: this.#token } : {}), {
            method: 'GET',
            headers: {
              ...this.#authHeaders(),
              accept: 'text/event-stream',
              'cache-control': 'no-cache',
              ...(last > 0 ? { 'last-event-id': String(last) } : {}),
            },
            signal: connection.signal,
          });
        } catch {
          // Connection refused or reset before an answer: the server may be restarting; try again.
          if (signal?.aborted) return;
          await sleep(reconnectDelay(), signal);
          continue;
        }
        if (res.status === 204) {
          // The server's way (also EventSource's) of saying nothing more will come: finished and all seen.
          return;
        }
        const contentType = res.headers.get('content-type') ?? '';
        if (res.status !== 200 || !contentType.toLowerCase().startsWith('text/event-stream') || !res.body) {
          // No stream here (an old server, a proxy that buffers or blocks SSE, a fetch without streaming bodies):
          // poll instead for the rest of this follow. A real error (404, 401) resurfaces from the first poll.
          await res.body?.cancel().catch(() => {});
          streaming = false;
          continue;
        }
        try {
          for await (const message of readSse(res.body, parser)) {
            const event = eventOf(message.data);
            if (!event || event.seq <= last) continue;
            if (event.seq > last + 1) {
              // A gap should never happen (seq has none and the server replays from Last-Event-ID), but if one does,
              // fill it from the history rather than skip events.
              for (const missing of await this.events(id, last, { signal })) {
                if (missing.seq <= last || missing.seq >= event.seq) continue;
                if (signal?.aborted) return;
                yield missing;
                last = missing.seq;
                if (TERMINAL_KINDS.has(missing.kind)) return;
              }
            }
            // Events parsed from one chunk come out together; an abort between them must still stop at once.
            if (signal?.aborted) return;
            yield event;
            last = event.seq;
            if (TERMINAL_KINDS.has(event.kind)) return;
          }
        } catch (error) {
          if (signal?.aborted) return;
          // A failed gap fill is a real error; a read error is a dropped connection, handled below.
          if (error instanceof TaskhubClientError && !isTransient(error)) throw error;
        }
      } finally {
        connection.abort();
        unlink();
      }
      // The stream ended or dropped before the terminal event: reconnect and resume after `last`.
      if (parser.retry !== null) serverRetryMs = parser.retry;
      await sleep(reconnectDelay(), signal);
    }
  }

  #retryDelay(error: unknown): number {
    if (error instanceof TaskhubHttpError && error.retryAfterSeconds !== null) return error.retryAfterSeconds * 1000;
    return this.#reconnectDelayMs ?? 1000;
  }

  #authHeaders(): Record<string, string> {
    return this.#token ? { authorization: `Bearer ${this.#token}` } : {};
  }

  #url(path: string, query: Record<string, string | number | undefined> = {}): string {
    const params = new URLSearchParams();
    for (const [key, value] of Object.entries(query)) if (value !== undefined) params.set(key, String(value));
    const qs = params.toString();
    return `${this.#base}${path}${qs ? `?${qs}` : ''}`;
  }

  /** One request; resolves to a 2xx response, otherwise throws TaskhubHttpError or TaskhubNetworkError. */
  async #request(method: string, path: string, init: RequestInit2 = {}): Promise<Response> {
    const url = this.#url(path, init.query);
    const headers: Record<string, string> = { accept: 'application/json', ...this.#authHeaders(), ...init.headers };
    if (init.body !== undefined) headers['content-type'] = 'application/json';
    let res: Response;
    try {
      res = await this.#fetch(url, {
        method,
        headers,
        ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
        ...(init.signal ? { signal: init.signal } : {}),
      });
    } catch (error) {
      if (init.signal?.aborted) throw error;
      throw new TaskhubNetworkError(method, url, error);
    }
    if (res.ok) return res;
    const text = await res.text().catch(() => '');
    let problem: ProblemDetails | null = null;
    try {
      const parsed: unknown = JSON.parse(text);
      if (isObject(parsed)) problem = parsed as ProblemDetails;
    } catch {
      // Not JSON (a proxy's HTML error page): keep the first bit of the text as the detail.
    }
    const retryAfter = Number(res.headers.get('retry-after'));
    const init2 = {
      status: res.status,
      method,
      url,
      problem,
      fallbackDetail: text.slice(0, 200),
      retryAfterSeconds: res.headers.has('retry-after') && Number.isFinite(retryAfter) ? retryAfter : null,
    };
    if (problem?.code === 'SINGLETON_CONFLICT' && typeof problem.taskId === 'string') {
      throw new TaskhubSingletonConflictError({ ...init2, taskId: problem.taskId, key: typeof problem.key === 'string' ? problem.key : '' });
    }
    throw new TaskhubHttpError(init2);
  }
}

function taskPath(id: string): string {
  if (typeof id !== 'string' || id.length === 0) throw new TypeError('task id must be a non-empty string');
  return `${API}/tasks/${encodeURIComponent(id)}`;
}

/** The body of a create: Dates become epoch ms, undefined members are dropped by JSON. */
function normalizeSpec(spec: Omit<SubmitSpec, 'idempotencyKey'> | SubmitSpec): Record<string, unknown> {
  const body: Record<string, unknown> = { ...spec };
  if (spec.runAt instanceof Date) body.runAt = spec.runAt.getTime();
  return body;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function looksLikeTask(value: unknown): value is Task {
  return isObject(value) && typeof value.id === 'string' && typeof value.status === 'string' && typeof value.type === 'string';
}

function asTask(value: unknown): Task {
  if (looksLikeTask(value)) return value;
  throw new TaskhubClientError('the server answered with something that is not a task');
}

function asEvent(value: unknown): TaskEvent {
  if (isObject(value) && Number.isInteger(value.seq) && typeof value.kind === 'string') return value as unknown as TaskEvent;
  throw new TaskhubClientError('the server answered with something that is not a task event');
}

/** A task event from an SSE `data:` field; null for anything else (a message that is not a task event). */
function eventOf(data: string): TaskEvent | null {
  let parsed: unknown;
  try {
    parsed = JSON.parse(data);
  } catch {
    return null;
  }
  return isObject(parsed) && Number.isInteger(parsed.seq) && typeof parsed.kind === 'string' ? (parsed as unknown as TaskEvent) : null;
}

async function readJson(res: Response): Promise<unknown> {
  const text = await res.text();
  if (text.length === 0) return null;
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new TaskhubClientError(`${res.url || 'response'}: the body is not JSON`, { cause: error });
  }
}

/** Worth trying again: no answer at all, rate limited, or a gateway or server that is (re)starting. */
function isTransient(error: unknown): boolean {
  if (error instanceof TaskhubNetworkError) return true;
  return error instanceof TaskhubHttpError && (error.status === 429 || error.status === 502 || error.status === 503 || error.status === 504);
}

function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw signal.reason ?? new Error('aborted');
}

/** Aborts `target` when `source` aborts; returns the function that unlinks them. */
function linkAbort(source: AbortSignal | undefined, target: AbortController): () => void {
  if (!source) return () => {};
  if (source.aborted) {
    target.abort(source.reason);
    return () => {};
  }
  const onAbort = () => target.abort(source.reason);
  source.addEventListener('abort', onAbort, { once: true });
  return () => source.removeEventListener('abort', onAbort);
}

/** Resolves after `ms`, or at once when `signal` aborts (callers check the signal themselves). */
function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (ms <= 0 || signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}
