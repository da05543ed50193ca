// The OpenAPI document, built from the routes as registered: their `schema` objects are the ones Fastify validates
// requests with, so what /openapi.json says is what the server enforces. Schemas from schemas/ that have a title
// become components and are referenced by $ref wherever a route embeds them.
import { STATUS_CODES } from 'node:http';
import type { FastifyInstance, FastifyPluginAsync, RouteOptions } from 'fastify';
import { DOCS_HTML } from './docs-page.ts';
import { type Access, routeAccess } from './principal.ts';
import { problemResponses } from './schemas/common.ts';
import { NAMED_SCHEMAS } from './schemas/index.ts';

declare module 'fastify' {
  interface FastifySchema {
    summary?: string;
    description?: string;
    tags?: string[];
    /** Leave the route out of the document. */
    hide?: boolean;
  }
}

type SchemaObject = Record<string, unknown>;

interface RouteSchema {
  summary?: string;
  description?: string;
  tags?: string[];
  hide?: boolean;
  params?: SchemaObject;
  querystring?: SchemaObject;
  headers?: SchemaObject;
  body?: SchemaObject;
  response?: Record<string, SchemaObject>;
}

interface RouteDoc {
  method: string;
  url: string;
  schema: RouteSchema;
  /** What a caller needs when auth is configured (principal.ts). */
  access: Access;
}

export interface RouteCatalog {
  readonly routes: RouteDoc[];
}

/** Starts recording routes; call before registering them (onRoute sees only routes added after it). */
export function recordRoutes(app: FastifyInstance): RouteCatalog {
  const catalog: RouteCatalog = { routes: [] };
  app.addHook('onRoute', (route: RouteOptions) => {
    const schema = route.schema as RouteSchema | undefined;
    if (!schema || schema.hide) return;
    for (const method of [route.method].flat()) {
      // Fastify adds a HEAD twin to every GET; documenting it would only repeat the GET.
      if (method !== 'HEAD') {
        catalog.routes.push({ method: method.toLowerCase(), url: route.url, schema, access: routeAccess(method, route.url, route.config?.access) });
      }
    }
  });
  return catalog;
}

const names = new Map<object, string>(NAMED_SCHEMAS.map((schema) => [schema, schema.title]));

/** A copy of `schema` with every named schema inside it (not the root itself) replaced by a $ref. */
function withRefs(schema: unknown, isRoot = true): unknown {
  if (Array.isArray(schema)) return schema.map((item) => withRefs(item, false));
  if (typeof schema !== 'object' || schema === null) return schema;
  const name = names.get(schema);
  if (name && !isRoot) return { $ref: `#/components/schemas/${name}` };
  return Object.fromEntries(Object.entries(schema).map(([key, value]) => [key, withRefs(value, false)]));
}

function parameters(schema: SchemaObject | undefined, location: 'path' | 'query' | 'header'): object[] {
  if (!schema) return [];
  const properties = (schema.properties ?? {}) as Record<string, SchemaObject>;
  const required = new Set((schema.required ?? []) as string[]);
  return Object.entries(properties).map(([name, property]) => {
    const { description, ...rest } = property;
    return {
      name: location === 'header' ? name.replace(/(^|-)([a-z])/g, (_m, dash: string, c: string) => dash + c.toUpperCase()) : name,
      in: location,
      required: location === 'path' || required.has(name),
      ...(description ? { description } : {}),
      schema: names.has(property) ? withRefs(property, false) : withRefs(rest),
    };
  });
}

function responses(response: Record<string, SchemaObject> = {}): object {
  return Object.fromEntries(
    Object.entries(response).map(([status, answer]) => {
      const description = (answer.description as string | undefined) ?? STATUS_CODES[Number(status)] ?? status;
      if (answer.content) return [status, { description, content: withRefs(answer.content, false) }];
      if (answer.type === 'null') return [status, { description }];
      return [status, { description, content: { 'application/json': { schema: withRefs(answer, false) } } }];
    }),
  );
}

/** Who may call an operation when auth is configured: OpenAPI `security`, and words for its description. */
function securityOf(access: Access): { security: object[]; note: string } {
  if (access === 'public') return { security: [], note: 'No token needed.' };
  if (access === 'follow') {
    return {
      security: [{ bearer: [] }, { accessToken: [] }],
      note: 'Needs `tasks:read`, or a follow token for this task (also as `?access_token=`).',
    };
  }
  return { security: [{ bearer: [] }], note: `Needs the \`${access}\` scope.` };
}

export function buildOpenApi(catalog: RouteCatalog): object {
  const paths: Record<string, Record<string, object>> = {};
  for (const { method, url, schema, access } of catalog.routes) {
    const { security, note } = securityOf(access);
    const path = url.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
    const operation: Record<string, unknown> = {
      operationId: `${method}${path.replace(/[{}]/g, '').replace(/[^A-Za-z0-9]+(.)?/g, (_m, c?: string) => (c ?? '').toUpperCase())}`,
      summary: schema.summary,
      description: schema.description ? `${schema.description}\n\n${note}` : note,
      ...(schema.tags ? { tags: schema.tags } : {}),
      security,
      'x-taskhub-access': access,
      parameters: [
        ...parameters(schema.params, 'path'),
        ...parameters(schema.querystring, 'query'),
        ...parameters(schema.headers, 'header'),
      ],
      responses: responses({ ...(access === 'public' ? {} : (problemResponses(401, 403, 429) as Record<string, SchemaObject>)), ...schema.response }),
    };
    if (schema.body) {
      const bodyRequired = Array.isArray(schema.body.required) && schema.body.required.length > 0;
      operation.requestBody = { required: bodyRequired, content: { 'application/json': { schema: withRefs(schema.body, false) } } };
    }
    paths[path] ??= {};
    paths[path][method] = operation;
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Taskhub',
      version: '1',
      description:
        'Durable task queues with live progress. Errors are RFC 9457 problem details (application/problem+json).',
    },
    paths,
    components: {
      schemas: Object.fromEntries(NAMED_SCHEMAS.map((schema) => [schema.title, withRefs(schema)])),
      // Only enforced when the server runs with auth; without it every request is the anonymous administrator.
      securitySchemes: {
        bearer: {
          type: 'http',
          scheme: 'bearer',
          description: 'An API key (`thk_<id>_<secret>`), a JWT of the configured identity provider, or a follow token.',
        },
        accessToken: { type: 'apiKey', in: 'query', name: 'access_token', description: 'A follow token, where headers cannot be set (EventSource).' },
      },
    },
  };
}

export const openApiRoutes: FastifyPluginAsync<{ catalog: RouteCatalog }> = async (app, { catalog }) => {
  let document: object | undefined;
  app.get('/openapi.json', { schema: { hide: true } }, async () => (document ??= buildOpenApi(catalog)));
  app.get('/docs', { schema: { hide: true } }, async (_request, reply) =>
    reply
      .type('text/html; charset=utf-8')
      .header('content-security-policy', "default-src 'self'; img-src data:; script-src 'unsafe-inline'; style-src 'unsafe-inline'")
      .send(DOCS_HTML),
  );
};
