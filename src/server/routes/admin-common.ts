// Small pieces shared by the admin route groups (topics, schedules, queue controls, task types).
import { Problem } from '../schemas/common.ts';

const TRACEPARENT_RE = /^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/;

/** A tracing header that does not parse is ignored rather than failing the request: tracing must never cost a task. */
export function traceparentOf(value: string | string[] | undefined): string | undefined {
  const header = Array.isArray(value) ? value[0] : value;
  return header && TRACEPARENT_RE.test(header) ? header : undefined;
}

/** The documented 404 of a route about a named thing (subscription, schedule, type settings). */
export function notFoundAnswer(what: string): object {
  return { description: `No ${what} of that name.`, content: { 'application/problem+json': { schema: Problem } } };
}
