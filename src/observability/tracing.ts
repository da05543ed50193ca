// OpenTelemetry through @opentelemetry/api only: without an SDK registered by the user every span here is a no-op
// (and nothing is exported); with one, a submit and the runs of its task share one trace. The task carries the trace
// context as a W3C `traceparent` string, stored with it, so the link survives the queue, restarts and other processes.
import {
  type Attributes,
  type Context,
  context,
  INVALID_SPAN_CONTEXT,
  isSpanContextValid,
  ProxyTracerProvider,
  ROOT_CONTEXT,
  type Span,
  type SpanContext,
  SpanKind,
  SpanStatusCode,
  trace,
} from '@opentelemetry/api';
import type { Task } from '../core/task.ts';

/** Every span of Taskhub comes from this tracer (a proxy: an SDK registered later is used from then on). */
export const tracer = trace.getTracer('taskhub');

const TRACEPARENT_RE = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/** The context a `traceparent` names (a remote parent), or `base` when there is none or it does not parse. */
export function contextFromTraceparent(traceparent: string | null | undefined, base: Context = ROOT_CONTEXT): Context {
  const m = traceparent ? TRACEPARENT_RE.exec(traceparent) : null;
  if (!m || m[1] === 'ff') return base;
  const spanContext: SpanContext = { traceId: m[2], spanId: m[3], traceFlags: Number.parseInt(m[4], 16) & 1, isRemote: true };
  return isSpanContextValid(spanContext) ? trace.setSpanContext(base, spanContext) : base;
}

/** The `traceparent` of a span (version 00), or undefined when its context is not valid (no SDK and no parent). */
export function traceparentOf(span: Span): string | undefined {
  const sc = span.spanContext();
  if (!isSpanContextValid(sc)) return undefined;
  return `00-${sc.traceId}-${sc.spanId}-${(sc.traceFlags & 0xff).toString(16).padStart(2, '0')}`;
}

/** The trace id of a `traceparent`, for log lines. */
export function traceIdOf(traceparent: string | null | undefined): string | undefined {
  return traceparent ? TRACEPARENT_RE.exec(traceparent)?.[2] : undefined;
}

/**
 * Runs `submit` inside a producer span named `taskhub.submit <type>`, child of `parent` (the caller's traceparent);
 * `submit` gets the traceparent to store with the task: the span's own, so the handler's run becomes its child, or
 * `parent` unchanged when no SDK records spans.
 */
export async function withSubmitSpan<T>(
  what: { type: string; queue?: string; count?: number },
  parent: string | null | undefined,
  submit: (traceparent: string | undefined, span: Span) => Promise<T>,
): Promise<T> {
  const name = what.count === undefined ? `taskhub.submit ${what.type}` : 'taskhub.submit batch';
  const attributes: Attributes = { 'messaging.system': 'taskhub', 'messaging.operation.type': 'send' };
  if (what.count === undefined) {
    attributes['taskhub.task.type'] = what.type;
    attributes['taskhub.task.queue'] = what.queue ?? 'default';
    attributes['messaging.destination.name'] = what.queue ?? 'default';
  } else attributes['messaging.batch.message_count'] = what.count;
  const span = tracer.startSpan(name, { kind: SpanKind.PRODUCER, attributes }, contextFromTraceparent(parent, context.active()));
  try {
    const result = await context.with(trace.setSpan(context.active(), span), () => submit(traceparentOf(span) ?? parent ?? undefined, span));
    return result;
  } catch (error) {
    span.recordException(error as Error);
    span.setStatus({ code: SpanStatusCode.ERROR, message: (error as Error).message });
    throw error;
  } finally {
    span.end();
  }
}

/** The global provider before an SDK registers one: a run span then records nothing and has no parent to carry. */
const NO_SDK = new ProxyTracerProvider().getDelegate();
const NO_RUN_SPAN: { span: Span; context: Context } = { span: trace.wrapSpanContext(INVALID_SPAN_CONTEXT), context: ROOT_CONTEXT };

function sdkRegistered(): boolean {
  const provider = trace.getTracerProvider();
  return !(provider instanceof ProxyTracerProvider) || provider.getDelegate() !== NO_SDK;
}

/**
 * Starts the consumer span of one attempt, child of the task's stored traceparent (a new trace without one). With no
 * SDK and no traceparent the span could only be a no-op: one shared span stands in (this runs once per attempt).
 */
export function startRunSpan(task: Task): { span: Span; context: Context } {
  if (!task.traceparent && !sdkRegistered()) return NO_RUN_SPAN;
  const parent = contextFromTraceparent(task.traceparent);
  const attributes: Attributes = {
    'taskhub.task.id': task.id,
    'taskhub.task.queue': task.queue,
    'taskhub.task.type': task.type,
  };
  if (task.attempts) attributes['taskhub.task.attempt'] = task.attempts;
  attributes['messaging.system'] = 'taskhub';
  attributes['messaging.destination.name'] = task.queue;
  attributes['messaging.message.id'] = task.id;
  attributes['messaging.operation.type'] = 'process';
  const span = tracer.startSpan(`taskhub.run ${task.type}`, { kind: SpanKind.CONSUMER, attributes }, parent);
  // A span without a valid context (no SDK, no parent) is not made active: withContext would ignore it anyway.
  return { span, context: isSpanContextValid(span.spanContext()) ? trace.setSpan(parent, span) : parent };
}

/** Ends a run span with how the attempt ended. */
export function endRunSpan(span: Span, outcome: { error?: unknown; aborted?: string }): void {
  if (outcome.error !== undefined) {
    const error = outcome.error instanceof Error ? outcome.error : new Error(String(outcome.error));
    span.recordException(error);
    span.setStatus({ code: SpanStatusCode.ERROR, message: error.message });
  } else if (outcome.aborted) {
    span.setAttribute('taskhub.task.stopped', outcome.aborted);
    span.setStatus({ code: SpanStatusCode.ERROR, message: `task ${outcome.aborted}` });
  } else span.setStatus({ code: SpanStatusCode.OK });
  span.end();
}

/**
 * Runs `fn` with `ctx` as the active context (seen by `trace.getActiveSpan()` when a context manager is registered).
 * Without any trace (no SDK, no traceparent) it just calls `fn`: handler stacks then show no tracing frames.
 */
export function withContext<T>(ctx: Context, fn: () => T): T {
  const span = trace.getSpan(ctx);
  return span && isSpanContextValid(span.spanContext()) ? context.with(ctx, fn) : fn();
}

/** The traceparent of the active span, if any is valid (inside a span of the application's, with an SDK). */
export function activeTraceparent(): string | undefined {
  const span = trace.getActiveSpan();
  return span ? traceparentOf(span) : undefined;
}
