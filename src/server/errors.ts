// Every error the API answers is RFC 9457 problem details, and this is the one place that decides how a thrown error
// becomes one: the core's typed errors, Fastify's own (bad JSON, too large, schema validation), and the rest (500,
// without internals in the answer).
import { STATUS_CODES } from 'node:http';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import {
  CheckpointTooLargeError,
  ForbiddenError,
  InvalidStateError,
  StaleAttemptError,
  SingletonConflictError,
  StepExistsError,
  StoreUnavailableError,
  TaskNotFoundError,
  TaskhubError,
  UnauthorizedError,
  ValidationError,
} from '../core/errors.ts';
import { HttpProblem } from './http-problem.ts';
import { parseJsonBody } from './json-body.ts';
import { describeSchemaError } from './validation.ts';

export const PROBLEM_CONTENT_TYPE = 'application/problem+json; charset=utf-8';

export interface ProblemDetails {
  type: string;
  title: string;
  status: number;
  detail: string;
  instance?: string;
  code?: string;
  field?: string;
  taskId?: string;
  taskStatus?: string;
  /** A singleton conflict's key. */
  key?: string;
}

export function problem(status: number, code: string, detail: string, extra: Partial<ProblemDetails> = {}): ProblemDetails {
  return {
    type: `urn:taskhub:problem:${code.toLowerCase().replaceAll('_', '-')}`,
    title: TITLES[code] ?? STATUS_CODES[status] ?? 'Error',
    status,
    detail,
    code,
    ...extra,
  };
}

const TITLES: Record<string, string> = {
  VALIDATION: 'Invalid request',
  MALFORMED_JSON: 'Malformed JSON body',
  NOT_FOUND: 'Not found',
  INVALID_STATE: 'Operation not allowed in the current state',
  STALE_ATTEMPT: 'Stale attempt token',
  STEP_EXISTS: 'Step stored already',
  CHECKPOINT_TOO_LARGE: 'Checkpoint too large',
  STORE_UNAVAILABLE: 'Store unavailable',
  PAYLOAD_TOO_LARGE: 'Request body too large',
  UNAUTHORIZED: 'Authentication required',
  FORBIDDEN: 'Not allowed',
  RATE_LIMITED: 'Too many requests',
  INTERNAL: 'Internal server error',
};

interface SchemaValidationError extends FastifyError {
  validation: NonNullable<FastifyError['validation']>;
}

function isSchemaValidationError(error: FastifyError): error is SchemaValidationError {
  return Array.isArray(error.validation) && error.validation.length > 0;
}

/** The problem an error stands for. */
export function toProblem(error: unknown, bodyLimitBytes: number): ProblemDetails {
  if (error instanceof ValidationError) {
    return problem(400, 'VALIDATION', error.message, error.field ? { field: error.field } : {});
  }
  if (error instanceof TaskNotFoundError) return problem(404, 'NOT_FOUND', error.message, { taskId: error.taskId });
  if (error instanceof InvalidStateError) {
    return problem(409, 'INVALID_STATE', error.message, { taskId: error.taskId, taskStatus: error.status });
  }
  if (error instanceof StaleAttemptError) return problem(409, 'STALE_ATTEMPT', error.message, { taskId: error.taskId });
  if (error instanceof SingletonConflictError) {
    return problem(409, 'SINGLETON_CONFLICT', error.message, { taskId: error.taskId, key: error.key });
  }
  if (error instanceof StepExistsError) return problem(409, 'STEP_EXISTS', error.message, { taskId: error.taskId });
  if (error instanceof CheckpointTooLargeError) return problem(413, 'CHECKPOINT_TOO_LARGE', error.message, { taskId: error.taskId });
  if (error instanceof StoreUnavailableError) return problem(503, 'STORE_UNAVAILABLE', error.message);
  if (error instanceof UnauthorizedError) return problem(401, 'UNAUTHORIZED', error.message);
  if (error instanceof ForbiddenError) return problem(403, 'FORBIDDEN', error.message);
  if (error instanceof HttpProblem) return problem(error.status, error.code, error.message, error.field ? { field: error.field } : {});
  if (error instanceof TaskhubError) return problem(400, error.code, error.message);
  const fastifyError = error as FastifyError;
  if (isSchemaValidationError(fastifyError)) {
    const { field, detail } = describeSchemaError(fastifyError.validation[0], fastifyError.validationContext ?? 'body');
    return problem(400, 'VALIDATION', detail, field ? { field } : {});
  }
  switch (fastifyError.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return problem(413, 'PAYLOAD_TOO_LARGE', `the request body is larger than the limit of ${bodyLimitBytes} bytes`);
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return problem(415, 'UNSUPPORTED_MEDIA_TYPE', 'send the request body as application/json');
  }
  const status = fastifyError.statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    return problem(status, fastifyError.code ?? 'BAD_REQUEST', fastifyError.message);
  }
  return problem(500, 'INTERNAL', 'the server failed to handle this request; the error is in its log');
}

/** Query parameters whose values never appear in answers or logs. */
const SECRET_QUERY_PARAMS = ['access_token'];

/** A request URL fit to show: secret query parameters (follow tokens) replaced by `REDACTED`. */
export function redactUrl(url: string): string {
  const q = url.indexOf('?');
  if (q < 0) return url;
  const params = new URLSearchParams(url.slice(q + 1));
  let redacted = false;
  for (const name of SECRET_QUERY_PARAMS) {
    if (params.has(name)) {
      params.set(name, 'REDACTED');
      redacted = true;
    }
  }
  return redacted ? `${url.slice(0, q)}?${params.toString()}` : url;
}

/** The `instance` member of a problem about this request. */
export const instanceOf = (request: FastifyRequest): string => redactUrl(request.url);

export function sendProblem(reply: FastifyReply, body: ProblemDetails): FastifyReply {
  return reply.code(body.status).type(PROBLEM_CONTENT_TYPE).send(body);
}

export interface ErrorHandlingOptions {
  bodyLimitBytes: number;
  /** Asks the store whether it answers: an unexpected error while it does not is reported as the outage it is. */
  pingStore: () => Promise<void>;
}

/**
 * Installs the error and not-found handlers, and a JSON body parser that applies the input rules (json-body.ts) and
 * whose failures say what is wrong (Fastify's default says only that the body is not JSON). It treats an empty body
 * as no body, so a bodiless POST with a
 * JSON content type (what many clients send for cancel and retry) is not an error in itself. JSON is the only body
 * the API takes: anything else is 415, not a string that the schema would then call a non-object.
 */
export function installErrorHandling(app: FastifyInstance, options: ErrorHandlingOptions): void {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (_request, body, done) => {
    const buffer = body as Buffer;
    if (buffer.length === 0) return done(null, undefined);
    try {
      done(null, parseJsonBody(buffer));
    } catch (error) {
      done(error as Error, undefined);
    }
  });
  // U+0000 can reach a path parameter or the query as %00; no id or name may hold it (PostgreSQL text cannot).
  // A callback hook, not an async one: it runs on every request, and an async hook costs a promise each time.
  app.addHook('onRequest', (request, _reply, done) => {
    if (request.url.includes('%00')) {
      return done(new HttpProblem(400, 'VALIDATION', 'the URL contains %00 (U+0000), which no id, name or parameter may hold'));
    }
    done();
  });

  app.setErrorHandler(async (error: unknown, request: FastifyRequest, reply: FastifyReply) => {
    let body = toProblem(error, options.bodyLimitBytes);
    if (body.status === 500) {
      // Backends throw their driver's own errors when the database goes away; tell those apart from bugs here.
      await options.pingStore().catch((pingError: unknown) => {
        body = problem(503, 'STORE_UNAVAILABLE', `the store is not answering: ${(pingError as Error).message}`);
      });
    }
    body.instance = instanceOf(request);
    if (body.status === 401) {
      // RFC 6750: say how to authenticate, and whether the token given was the problem.
      const presented = request.headers.authorization !== undefined || (request.query as Record<string, unknown> | undefined)?.access_token !== undefined;
      reply.header('www-authenticate', presented ? 'Bearer realm="taskhub", error="invalid_token"' : 'Bearer realm="taskhub"');
    }
    if (body.status >= 500) request.log.error({ err: error }, 'request failed');
    else request.log.info({ problem: body.code, detail: body.detail }, 'request refused');
    return sendProblem(reply, body);
  });

  app.setNotFoundHandler((request: FastifyRequest, reply: FastifyReply) =>
    sendProblem(reply, { ...problem(404, 'NOT_FOUND', `no route ${request.method} ${request.url.split('?')[0]}`), instance: instanceOf(request) }),
  );
}
