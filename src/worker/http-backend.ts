// The worker runtime's backend over HTTP: the same Worker (handlers, concurrency, heartbeats, time limits, shutdown)
// runs against a Taskhub server through the worker protocol (/api/v1/worker/...), with a token that has the `worker`
// scope. Differences from the local engine, and how they are bridged:
// - Wake-ups: there are no store notices over HTTP. waitForWork long-polls a claim (waitMs) for the types the worker
//   just found nothing for; the server answers the moment a task arrives. A task that long-poll brings is kept here
//   and handed out by the very next claim() call, which the worker loop makes at once.
// - Cancel requests arrive in heartbeat answers (`cancelRequested`), which the Worker already acts on: give remote
//   workers a short heartbeat interval (the CLI's default is 2 s) so a cancel lands quickly.
// - A cancel is acknowledged with /fail: the server ends a task that was asked to cancel as `cancelled`.
// - Progress and output go in batches (event-batches.ts, POST /worker/events), one request per round trip for all the
//   worker's tasks, each attempt's events in the order written.
// - Durable calls (checkpoint, steps, suspend) are the worker-durable routes; their refusals come back as the same
//   typed errors as locally (CheckpointTooLargeError, StepExistsError), so the runtime cannot tell the two apart.
import {
  CheckpointTooLargeError,
  ForbiddenError,
  InvalidStateError,
  StaleAttemptError,
  StepExistsError,
  StoreUnavailableError,
  TaskNotFoundError,
  TaskhubError,
  UnauthorizedError,
  ValidationError,
} from '../core/errors.ts';
import { TaskErrorCode } from '../core/error-codes.ts';
import { checkOutputChunk, checkProgress } from '../core/validate.ts';
import type { Json, Progress, TaskError, TaskEvent } from '../core/task.ts';
import type { FinishExtras, SuspendAnswer, WorkerWait } from '../engine/attempt-service.ts';
import type { AttemptRef, CheckpointInfo, Claim, FinishedTask, LeaseState, StepRecord, WorkerInfo } from '../store/store.ts';
import type { WorkerBackend } from './backend.ts';
import { MAX_CLAIM_AHEAD } from './claim-ahead.ts';
import { type EntryResult, type EventEntry, EventBatches } from './event-batches.ts';

export interface HttpBackendOptions {
  /** Base URL of the server, e.g. `http://127.0.0.1:8080`. */
  url: string;
  /** Bearer token with the `worker` scope. */
  token?: string;
  /** The server's lease length, if known; only used for the Worker's default heartbeat interval (leaseMs / 3). Default 30000. */
  leaseMs?: number;
  /** Time limit of each call other than the long-poll, ms. Default 30000. */
  requestTimeoutMs?: number;
  /** A fetch to use instead of the global one. */
  fetch?: typeof fetch;
}

/** An answer the protocol does not explain (a proxy's 502, a 500): carries the status. */
export class WorkerHttpError extends TaskhubError {
  readonly status: number;
  /** `code`: the problem's own (PAYLOAD_TOO_LARGE, ...); without one, HTTP_ and the status. */
  constructor(status: number, message: string, code?: string) {
    super(code ?? `HTTP_${status}`, message);
    this.status = status;
  }
}

interface ProblemBody {
  detail?: string;
  code?: string;
  field?: string;
  taskStatus?: string;
}

/** A claim as the server sends it: the checkpoint to resume from is `checkpoint` (null when none). */
type WireClaim = Omit<Claim, 'resumeCheckpoint'> & { checkpoint?: Claim['resumeCheckpoint'] | null };

function fromWire(claim: WireClaim): Claim {
  const { checkpoint, ...rest } = claim;
  return checkpoint ? { ...rest, resumeCheckpoint: checkpoint } : rest;
}

/** Most tasks one claim may take (the server's limit); a worker with more free slots claims again at once. */
const MAX_CLAIM = 100;
/** Longest waitMs the server accepts. */
const MAX_WAIT_MS = 30_000;
/** How long a call may take beyond its long-poll before it is given up. */
const POLL_MARGIN_MS = 10_000;
/** How long a stopping worker waits for the server to end its long-polls (forgetWorker) before it cuts them. */
const POLLS_END_MS = 2000;
/** Finishing calls are retried this many times after a network error or a 502/503/504. */
const FINISH_RETRIES = 3;

const API = '/api/v1';

export class HttpWorkerBackend implements WorkerBackend {
  readonly leaseMs: number;
  readonly #base: string;
  readonly #token: string | undefined;
  readonly #timeoutMs: number;
  readonly #fetch: typeof fetch;
  #version = 0;
  /** Claims a long-poll brought, waiting for the next claim() of their type. */
  #stash: Claim[] = [];
  /** Types the worker asked for and got fewer than it had room for, since the last wait: what the next wait polls for. */
  readonly #hungry = new Set<string>();
  /** Long-polls in flight, and the types they wait for (waitForWork). */
  readonly #polls = new Set<Promise<void>>();
  readonly #polling = new Set<string>();
  /** Cuts the long-polls in flight when the worker stops (the server gives back what it claimed for them). */
  readonly #stopPolls = new AbortController();
  /** Progress and output on their way, in batches. */
  readonly #events = new EventBatches((entries) => this.#sendEvents(entries));
  /** Whether the server has /worker/events (one from before it answers 404). */
  #eventsRoute = true;
  #workerId = '';

  constructor(options: HttpBackendOptions) {
    const base = new URL(options.url);
    this.#base = base.origin + base.pathname.replace(/\/+$/, '');
    this.#token = options.token;
    this.leaseMs = options.leaseMs ?? 30_000;
    this.#timeoutMs = options.requestTimeoutMs ?? 30_000;
    const custom = options.fetch;
    this.#fetch = custom ? (input, init) => custom(input, init) : (input, init) => globalThis.fetch(input, init);
  }

  get readyVersion(): number {
    return this.#version;
  }

  /** The server's store is not known here: the runtime's default bound. */
  get maxClaimAhead(): number {
    return MAX_CLAIM_AHEAD;
  }

  /**
   * None: a chunk's wait here includes the round trips to the server, which a delay chosen for the server's store
   * would mistake for a slow store.
   */
  get outputDelayMs(): null {
    return null;
  }

  async claim(options: { workerId: string; types: readonly string[]; queues?: readonly string[] | null; max: number }): Promise<Claim[]> {
    this.#workerId = options.workerId;
    const claims: Claim[] = [];
    this.#stash = this.#stash.filter((claim) => {
      if (claims.length >= options.max || !options.types.includes(claim.task.type)) return true;
      claims.push(claim);
      return false;
    });
    if (claims.length < options.max) {
      const answer = await this.#post<{ claims: WireClaim[] }>('/worker/claim', {
        workerId: options.workerId,
        types: options.types,
        queues: options.queues ?? null,
        max: Math.min(options.max - claims.length, MAX_CLAIM),
        waitMs: 0,
      });
      for (const claim of answer.claims) claims.push(fromWire(claim));
      if (claims.length < options.max) for (const type of options.types) this.#hungry.add(type);
    }
    return claims;
  }

  /**
   * Long-polls a claim for the types that just came back short, until a task arrives, `maxWaitMs` passes or `signal`
   * aborts (the worker freed a slot or is stopping). The signal ends the wait, never the request: an answer already on
   * its way would be lost with it, and its tasks left running until their leases expired. A poll goes on in the
   * background, each type in at most one, and what it brings waits in the stash for the next claim, which takes it in
   * order with the rest. Never throws: the worker loop retries its claim after any failure here.
   */
  async waitForWork(seenVersion: number, queues: readonly string[] | null, maxWaitMs: number, signal?: AbortSignal): Promise<Claim[]> {
    if (seenVersion !== this.#version || this.#stash.length > 0 || signal?.aborted) return [];
    const waitMs = Math.max(0, Math.min(maxWaitMs, MAX_WAIT_MS));
    const types = [...this.#hungry].filter((type) => !this.#polling.has(type));
    this.#hungry.clear();
    if (types.length > 0 && this.#workerId !== '') this.#poll(types, queues, waitMs);
    if (this.#polls.size === 0) await sleep(waitMs, signal);
    else await firstOf([...this.#polls], signal);
    return [];
  }

  #poll(types: string[], queues: readonly string[] | null, waitMs: number): void {
    for (const type of types) this.#polling.add(type);
    const poll = this.#longPoll(types, queues, waitMs).finally(() => {
      for (const type of types) this.#polling.delete(type);
      this.#polls.delete(poll);
    });
    this.#polls.add(poll);
  }

  async #longPoll(types: string[], queues: readonly string[] | null, waitMs: number): Promise<void> {
    try {
      const answer = await this.#post<{ claims: WireClaim[] }>(
        '/worker/claim',
        { workerId: this.#workerId, types, queues, max: 1, waitMs },
        { signal: this.#stopPolls.signal, timeoutMs: waitMs + POLL_MARGIN_MS },
      );
      if (answer.claims.length > 0) {
        for (const claim of answer.claims) this.#stash.push(fromWire(claim));
        this.#version++;
      }
    } catch {
      // The server is unreachable, or the worker is stopping: pause a little so a dead server is not hammered.
      await sleep(Math.min(1000, waitMs), this.#stopPolls.signal);
    }
  }

  /** Cancel requests come in heartbeat answers, which the Worker handles; there is no push channel to listen to. */
  onCancelRequested(_listener: (taskId: string) => void): () => void {
    return () => {};
  }

  heartbeat(ref: AttemptRef): Promise<LeaseState> {
    return this.#attempt<LeaseState>(ref, 'heartbeat', {});
  }

  // Checked here, as the server would: a malformed entry would refuse its whole batch, other tasks' events with it.
  progress(ref: AttemptRef, progress: Progress): Promise<TaskEvent> {
    try {
      return this.#events.add({ taskId: ref.taskId, attemptToken: ref.attemptToken, progress: checkProgress(progress) });
    } catch (error) {
      return Promise.reject(error);
    }
  }

  output(ref: AttemptRef, chunk: string): Promise<TaskEvent> {
    try {
      return this.#events.add({ taskId: ref.taskId, attemptToken: ref.attemptToken, chunk: checkOutputChunk(chunk) });
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** A batch of progress and output (event-batches.ts); to a server without /worker/events, one request each. */
  async #sendEvents(entries: EventEntry[]): Promise<EntryResult[]> {
    if (!this.#eventsRoute) return this.#sendEach(entries);
    let answer: { results: Array<{ event?: TaskEvent; error?: ProblemBody & { status: number } }> };
    try {
      answer = await this.#post('/worker/events', { events: entries });
    } catch (error) {
      if (!(error instanceof WorkerHttpError)) throw error;
      if (error.status === 404) {
        this.#eventsRoute = false;
        return this.#sendEach(entries);
      }
      // Over a body limit set lower than the batches: each entry alone, in order, so that only one too large fails.
      if (error.status === 413 && entries.length > 1) return this.#sendEach(entries);
      throw error;
    }
    return answer.results.map((result, i): EntryResult => {
      if (result.event) return { ok: true, event: result.event };
      const problem = result.error ?? { status: 500 };
      return { ok: false, error: errorOf(problem.status, problem, `POST /worker/events: ${problem.status} ${problem.detail ?? ''}`, { taskId: entries[i].taskId }) };
    });
  }

  async #sendEach(entries: EventEntry[]): Promise<EntryResult[]> {
    const results: EntryResult[] = [];
    for (const { taskId, attemptToken, chunk, progress } of entries) {
      const ref = { taskId, attemptToken };
      try {
        const event = chunk !== undefined
          ? await this.#attempt<TaskEvent>(ref, 'output', { chunk })
          : await this.#attempt<TaskEvent>(ref, 'progress', { ...progress });
        results.push({ ok: true, event });
      } catch (error) {
        results.push({ ok: false, error: error as Error });
      }
    }
    return results;
  }

  complete(ref: AttemptRef, result: Json, extras?: FinishExtras): Promise<FinishedTask> {
    return this.#finishing(ref, 'complete', { result, ...extras });
  }

  fail(ref: AttemptRef, error: TaskError, extras?: FinishExtras): Promise<FinishedTask> {
    const wire: TaskError = {
      message: clip(error.message || 'error', 10_000),
      retryable: error.retryable,
      ...(error.code ? { code: clip(error.code, 200) } : {}),
      ...(error.stack ? { stack: clip(error.stack, 100_000) } : {}),
    };
    return this.#finishing(ref, 'fail', { error: wire, ...extras });
  }

  /** The server ends a task that was asked to cancel as `cancelled` when its worker fails the attempt. */
  cancelled(ref: AttemptRef, reason = 'cancelled by request', extras?: FinishExtras): Promise<FinishedTask> {
    return this.#finishing(ref, 'fail', { error: { message: reason, code: TaskErrorCode.CANCELLED, retryable: false }, ...extras });
  }

  release(ref: AttemptRef, reason?: string): Promise<FinishedTask> {
    return this.#finishing(ref, 'release', reason ? { reason } : {});
  }

  async reportWorker(info: WorkerInfo): Promise<void> {
    if (info.types.length === 0) return;
    await this.#post('/worker/register', {
      workerId: info.id,
      types: info.types,
      queues: info.queues,
      concurrency: info.concurrency,
      running: info.running,
      startedAt: info.startedAt,
      ...(info.host ? { host: info.host } : {}),
      ...(info.pid !== null ? { pid: info.pid } : {}),
    });
  }

  /**
   * The worker is stopping. Unregistering ends its long-polls on the server with their answers; only a poll still
   * open after POLLS_END_MS is cut (a cut request can lose an answer already written, leaving its task running until
   * its lease expires). Tasks the polls brought that the worker never took go back.
   */
  async forgetWorker(id: string): Promise<void> {
    const unregistered = this.#post('/worker/unregister', { workerId: id }).then(
      () => null,
      (error: unknown) => error,
    );
    await firstOf([Promise.all(this.#polls).then(() => {})], AbortSignal.timeout(POLLS_END_MS));
    this.#stopPolls.abort();
    await Promise.all(this.#polls);
    const unclaimed = this.#stash;
    this.#stash = [];
    await Promise.all(
      unclaimed.map((c) => this.release({ taskId: c.task.id, attemptToken: c.attemptToken }, 'worker shut down').catch(() => {})),
    );
    const failure = await unregistered;
    if (failure) throw failure;
  }

  checkpoint(ref: AttemptRef, state: Json, label?: string | null): Promise<CheckpointInfo> {
    return this.#attempt<CheckpointInfo>(ref, 'checkpoints', { state, ...(label ? { label } : {}) }, { checkpoint: true });
  }

  async steps(taskId: string): Promise<StepRecord[]> {
    const answer = await this.#call<{ steps: StepRecord[] }>('GET', `/worker/tasks/${encodeURIComponent(taskId)}/steps`, undefined, { taskId });
    return answer.steps;
  }

  saveStep(ref: AttemptRef, name: string, result: Json): Promise<StepRecord> {
    const path = `/worker/tasks/${encodeURIComponent(ref.taskId)}/steps/${encodeURIComponent(name)}`;
    return this.#call<StepRecord>('PUT', path, { attemptToken: ref.attemptToken, result }, { taskId: ref.taskId, step: name });
  }

  suspend(ref: AttemptRef, wait: WorkerWait): Promise<SuspendAnswer> {
    return this.#attempt<SuspendAnswer>(ref, 'suspend', { wait });
  }

  #attempt<T>(ref: AttemptRef, action: string, body: Record<string, unknown>, options: Omit<CallOptions, 'taskId'> = {}): Promise<T> {
    return this.#post<T>(`/worker/tasks/${encodeURIComponent(ref.taskId)}/${action}`, { attemptToken: ref.attemptToken, ...body }, { ...options, taskId: ref.taskId });
  }

  /** An attempt's last word matters: retried after a network error or a gateway's 5xx (a 409 afterwards means the first one landed or the lease moved on). */
  async #finishing(ref: AttemptRef, action: string, body: Record<string, unknown>): Promise<FinishedTask> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.#attempt<FinishedTask>(ref, action, body);
      } catch (error) {
        const transient = error instanceof StoreUnavailableError || (error instanceof WorkerHttpError && error.status >= 502);
        if (!transient || attempt >= FINISH_RETRIES) throw error;
        await sleep(250 * 4 ** (attempt - 1));
      }
    }
  }

  #post<T>(path: string, body: unknown, options: CallOptions = {}): Promise<T> {
    return this.#call<T>('POST', path, body, options);
  }

  async #call<T>(method: string, path: string, body: unknown, options: CallOptions = {}): Promise<T> {
    const url = `${this.#base}${API}${path}`;
    // The caller's signal may cut the request only until the answer starts: a claim the server has already sent is
    // read to the end, not dropped (which would leave its task to lease expiry).
    const controller = new AbortController();
    const cut = () => controller.abort(options.signal?.reason);
    if (options.signal?.aborted) cut();
    options.signal?.addEventListener('abort', cut, { once: true });
    const timer = setTimeout(() => controller.abort(new Error('timed out')), options.timeoutMs ?? this.#timeoutMs);
    let response: Response;
    let text: string;
    try {
      try {
        const auth: Record<string, string> = this.#token ? { authorization: `Bearer ${this.#token}` } : {};
        response = await this.#fetch(url, {
          method,
          headers: body === undefined ? auth : { 'content-type': 'application/json', ...auth },
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
          signal: controller.signal,
        });
      } finally {
        options.signal?.removeEventListener('abort', cut);
      }
      text = await response.text();
    } catch (error) {
      throw new StoreUnavailableError(`${method} ${url}: ${(error as Error).message}`, { cause: error });
    } finally {
      clearTimeout(timer);
    }
    if (response.ok) return (text ? JSON.parse(text) : undefined) as T;
    let problem: ProblemBody = {};
    try {
      problem = JSON.parse(text) as ProblemBody;
    } catch {
      // Not problem+json (a proxy's error page): the status says enough.
    }
    throw errorOf(response.status, problem, `${method} ${url}: ${response.status} ${problem.detail ?? text.slice(0, 200)}`, options);
  }
}

interface CallOptions {
  signal?: AbortSignal | undefined;
  timeoutMs?: number;
  /** The task the call is about: its refusals become the core's typed errors about that task. */
  taskId?: string;
  /** The step a PUT stores: a 409 STEP_EXISTS becomes StepExistsError. */
  step?: string;
  /** A checkpoint's save: a 413 becomes CheckpointTooLargeError. */
  checkpoint?: boolean;
}

/** The core's typed error for a protocol answer, so the Worker treats a remote refusal exactly like a local one. */
function errorOf(status: number, problem: ProblemBody, message: string, options: CallOptions): Error {
  const { taskId } = options;
  const detail = problem.detail ?? message;
  if (problem.code === 'STALE_ATTEMPT' && taskId) return new StaleAttemptError(taskId);
  if (problem.code === 'STEP_EXISTS' && taskId && options.step !== undefined) return new StepExistsError(taskId, options.step);
  // A state over the server's limit (413 CHECKPOINT_TOO_LARGE), or one so large its body passed the request limit.
  if (status === 413 && taskId && options.checkpoint) return new CheckpointTooLargeError(taskId, ...sizesOf(problem.detail));
  if (status === 400) return new ValidationError(detail, problem.field);
  if (status === 401) return new UnauthorizedError(detail);
  if (status === 403) return new ForbiddenError('worker', detail);
  if (status === 404 && problem.code === 'NOT_FOUND' && taskId) return new TaskNotFoundError(taskId);
  if (status === 409 && problem.code === 'INVALID_STATE' && taskId) return new InvalidStateError(taskId, problem.taskStatus ?? 'unknown', 'update');
  if (status === 503) return new StoreUnavailableError(detail);
  return new WorkerHttpError(status, message, problem.code);
}

/** Size and limit from the server's CHECKPOINT_TOO_LARGE detail (-1 when the body limit refused it before). */
function sizesOf(detail: string | undefined): [number, number] {
  const match = /is (\d+) bytes of JSON, over the limit of (\d+) bytes/.exec(detail ?? '');
  if (match) return [Number(match[1]), Number(match[2])];
  const body = /limit of (\d+) bytes/.exec(detail ?? '');
  return [-1, body ? Number(body[1]) : -1];
}

function clip(text: string, max: number): string {
  return text.length <= max ? text : text.slice(0, max);
}

/** Resolves when the first of `work` settles or `signal` aborts. */
function firstOf(work: readonly Promise<void>[], signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      signal?.removeEventListener('abort', done);
      resolve();
    };
    signal?.addEventListener('abort', done, { once: true });
    for (const w of work) void w.then(done);
  });
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted || ms <= 0) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}
