// OpenTelemetry: a submit over HTTP and the runs of its task's handler appear in one trace, the run a child of the
// submit; a traceparent given at submit (header or body field) is their parent. Uses the SDK's in-memory exporter;
// without an SDK nothing is recorded and tasks keep only what the caller gave.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { AsyncLocalStorage } from 'node:async_hooks';
import { type Context, type ContextManager, context, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { BasicTracerProvider, InMemorySpanExporter, type ReadableSpan, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import type { Task } from '../src/index.ts';
import { waitUntil } from './helpers/hub.ts';
import { startServer, type TestServer } from './helpers/server.ts';

const PARENT_TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const PARENT_SPAN = '00f067aa0ba902b7';
const PARENT = `00-${PARENT_TRACE}-${PARENT_SPAN}-01`;

const parentOf = (span: ReadableSpan): string | undefined => span.parentSpanContext?.spanId;

/** What @opentelemetry/context-async-hooks provides, in a few lines: the active context follows async calls. */
class AsyncLocalContextManager implements ContextManager {
  readonly #storage = new AsyncLocalStorage<Context>();
  active(): Context {
    return this.#storage.getStore() ?? ROOT_CONTEXT;
  }
  with<A extends unknown[], F extends (...args: A) => ReturnType<F>>(ctx: Context, fn: F, thisArg?: ThisParameterType<F>, ...args: A): ReturnType<F> {
    return this.#storage.run(ctx, () => fn.apply(thisArg, args));
  }
  bind<T>(ctx: Context, target: T): T {
    if (typeof target !== 'function') return target;
    return ((...args: unknown[]) => this.with(ctx, () => (target as (...a: unknown[]) => unknown)(...args))) as T;
  }
  enable(): this {
    return this;
  }
  disable(): this {
    this.#storage.disable();
    return this;
  }
}

const activeInHandler: (string | undefined)[] = [];

describe('tracing', () => {
  let s: TestServer;

  const submit = async (body: object, headers: Record<string, string> = {}): Promise<Task> => {
    const res = await s.request('POST', '/api/v1/tasks', body, headers);
    assert.equal(res.status, 202, await res.clone().text());
    return (await res.json()) as Task;
  };
  const finished = async (id: string): Promise<Task> => {
    await waitUntil(async () => ['completed', 'failed'].includes((await s.hub.get(id)).status), 5000, `task ${id} to finish`);
    return s.hub.get(id);
  };

  before(async () => {
    s = await startServer({ worker: { pollIntervalMs: 20 } });
    s.hub.handle('traced', async (payload: { fail?: boolean } | null) => {
      // Inside the handler the run's span is the active one (with a context manager registered).
      activeInHandler.push(trace.getActiveSpan()?.spanContext().spanId);
      if (payload?.fail) throw new Error('traced failure');
      return 'ok';
    });
  });

  after(() => s.close());

  it('records nothing and stores no trace without an SDK', async () => {
    const plain = await submit({ type: 'traced' });
    assert.equal(plain.traceparent, null);
    const given = await submit({ type: 'traced' }, { traceparent: PARENT });
    assert.equal(given.traceparent, PARENT, 'the caller\'s trace context is kept for when an SDK is registered later');
    assert.equal((await finished(plain.id)).status, 'completed');
    assert.equal((await finished(given.id)).status, 'completed');
  });

  describe('with the SDK registered', () => {
    const exporter = new InMemorySpanExporter();
    const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });

    before(() => {
      assert.ok(trace.setGlobalTracerProvider(provider), 'no other provider is registered');
      assert.ok(context.setGlobalContextManager(new AsyncLocalContextManager()));
    });
    after(async () => {
      await provider.shutdown();
      trace.disable();
      context.disable();
    });

    const spansOfTrace = (traceId: string) => exporter.getFinishedSpans().filter((span) => span.spanContext().traceId === traceId);

    it('puts the HTTP submit and the handler run in one trace, under the caller\'s traceparent', async () => {
      exporter.reset();
      const task = await submit({ type: 'traced', queue: 'tq' }, { traceparent: PARENT });
      await finished(task.id);
      await waitUntil(() => spansOfTrace(PARENT_TRACE).length === 2, 2000, 'both spans to end');
      const [submitSpan, runSpan] = ['taskhub.submit traced', 'taskhub.run traced'].map((name) => {
        const span = spansOfTrace(PARENT_TRACE).find((s) => s.name === name);
        assert.ok(span, `a span named ${name} in the caller's trace`);
        return span;
      });
      assert.equal(parentOf(submitSpan), PARENT_SPAN, 'the submit span is a child of the caller');
      assert.equal(submitSpan.kind, SpanKind.PRODUCER);
      assert.equal(submitSpan.attributes['taskhub.task.id'], task.id);
      assert.equal(submitSpan.attributes['taskhub.task.queue'], 'tq');
      // The task carries the submit span's context, so the run is the submit's child.
      assert.equal(task.traceparent, `00-${PARENT_TRACE}-${submitSpan.spanContext().spanId}-01`);
      assert.equal(parentOf(runSpan), submitSpan.spanContext().spanId, 'the run span is a child of the submit span');
      assert.equal(runSpan.kind, SpanKind.CONSUMER);
      assert.deepEqual(
        { id: runSpan.attributes['taskhub.task.id'], queue: runSpan.attributes['taskhub.task.queue'], type: runSpan.attributes['taskhub.task.type'], attempt: runSpan.attributes['taskhub.task.attempt'] },
        { id: task.id, queue: 'tq', type: 'traced', attempt: 1 },
      );
      assert.equal(runSpan.status.code, SpanStatusCode.OK);
      assert.ok(activeInHandler.includes(runSpan.spanContext().spanId), 'the run span is active inside the handler');
    });

    it('starts a trace at the submit when the caller has none, and takes a traceparent body field too', async () => {
      exporter.reset();
      const task = await submit({ type: 'traced' });
      await finished(task.id);
      assert.match(task.traceparent ?? '', /^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
      const traceId = (task.traceparent ?? '').split('-')[1];
      await waitUntil(() => spansOfTrace(traceId).length === 2, 2000, 'both spans to end');
      const submitSpan = spansOfTrace(traceId).find((span) => span.name.startsWith('taskhub.submit'));
      const runSpan = spansOfTrace(traceId).find((span) => span.name.startsWith('taskhub.run'));
      assert.equal(parentOf(submitSpan!), undefined, 'the submit span is the root');
      assert.equal(parentOf(runSpan!), submitSpan!.spanContext().spanId);

      const bodyTrace = 'aaaabbbbccccddddeeeeffff00001111';
      const viaBody = await submit({ type: 'traced', traceparent: `00-${bodyTrace}-1111222233334444-01` }, { traceparent: PARENT });
      await finished(viaBody.id);
      await waitUntil(() => spansOfTrace(bodyTrace).length === 2, 2000, 'both spans to end');
      assert.equal(parentOf(spansOfTrace(bodyTrace).find((span) => span.name.startsWith('taskhub.submit'))!), '1111222233334444', 'the body field wins over the header');
    });

    it('marks a failed run as an error, with the exception, and retries as new runs of the same trace', async () => {
      exporter.reset();
      const res = await s.request('POST', '/api/v1/tasks', { type: 'traced', payload: { fail: true }, maxAttempts: 2, backoff: { delayMs: 10, jitter: 0 } }, { traceparent: PARENT });
      const task = (await res.json()) as Task;
      assert.equal((await finished(task.id)).status, 'failed');
      await waitUntil(() => spansOfTrace(PARENT_TRACE).filter((span) => span.name === 'taskhub.run traced').length === 2, 2000, 'both runs to end');
      const runs = spansOfTrace(PARENT_TRACE).filter((span) => span.name === 'taskhub.run traced');
      assert.deepEqual(runs.map((span) => span.attributes['taskhub.task.attempt']).sort(), [1, 2]);
      for (const run of runs) {
        assert.equal(run.status.code, SpanStatusCode.ERROR);
        assert.equal(run.status.message, 'traced failure');
        assert.ok(run.events.some((event) => event.name === 'exception'), 'the exception is recorded');
      }
    });

    it('links a task enqueued inside an application span to that span', async () => {
      exporter.reset();
      const tracer = trace.getTracer('test');
      const appSpan = tracer.startSpan('application work');
      const task = await context.with(trace.setSpan(context.active(), appSpan), () => s.hub.enqueue('traced'));
      appSpan.end();
      assert.equal(task.traceparent, `00-${appSpan.spanContext().traceId}-${appSpan.spanContext().spanId}-01`);
      await finished(task.id);
    });
  });
});
