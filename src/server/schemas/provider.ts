// The TypeScript types of validated requests, derived from the JSON schemas themselves (json-schema-to-ts), so a
// route's `request.body`, `request.query`, `request.params` and `request.headers` are exactly what its schema lets
// through and cannot drift from it. Route plugins are typed with `RoutePlugin` (context.ts), whose type provider does
// this for every route: no route writes a request shape by hand.
//
// Two details follow the Ajv settings of validation.ts. A body is validated without `useDefaults`, so a `default` in
// a body schema only documents what the server assumes and the field stays optional; the text Ajv (query, path,
// headers) fills defaults in, so schemas marked with `textPart` (or `headersPart`) have those fields present. Headers a
// schema does not name keep Node's types. And a schema marked with `json` (any JSON value) is typed `Json`, the core's
// type, rather than `unknown`.
import type { IncomingHttpHeaders } from 'node:http';
import type { FastifyTypeProvider } from 'fastify';
import type { FromSchema, JSONSchema } from 'json-schema-to-ts';
import type { Json } from '../../core/task.ts';

declare const filledDefaults: unique symbol;
declare const headers: unique symbol;
declare const jsonValue: unique symbol;

/** Type-only mark of a schema whose `default`s Ajv fills in (query string, path, headers). */
export interface FilledDefaults {
  readonly [filledDefaults]: true;
}

/** Type-only mark of a headers schema: the headers it does not name are still there. */
export interface HeadersMark {
  readonly [headers]: true;
}

/** Type-only mark of a schema whose value is typed as the core's `Json`. */
export interface JsonMark {
  readonly [jsonValue]: true;
}

/** Marks the schema of a query string, path or headers part: validated by the text Ajv, which fills in `default`s. */
export const textPart = <const S extends object>(schema: S): S & FilledDefaults => schema as S & FilledDefaults;

/** Marks the schema of the headers part: like `textPart`, and other headers keep Node's types. */
export const headersPart = <const S extends object>(schema: S): S & FilledDefaults & HeadersMark =>
  schema as S & FilledDefaults & HeadersMark;

/** Marks a schema whose value is any JSON the request carried: typed `Json`. */
export const json = <const S extends object>(schema: S): S & JsonMark => schema as S & JsonMark;

type Options<Filled extends boolean> = {
  keepDefaultedPropertiesOptional: Filled extends true ? false : true;
  deserialize: [{ pattern: JsonMark; output: Json }];
};

/** A validated body of schema S (no defaults filled in). Also for messages validated like a body (WebSocket). */
export type BodyOf<S> = S extends JSONSchema ? FromSchema<S, Options<false>> : never;

/** A validated query string, path or headers part of schema S (marked with `textPart`: defaults filled in). */
export type TextOf<S> = S extends JSONSchema ? FromSchema<Omit<S, typeof filledDefaults | typeof headers>, Options<true>> : never;

/** Validated headers of schema S (marked with `headersPart`). */
export type HeadersOf<S> = TextOf<S> & IncomingHttpHeaders;

/**
 * Fastify type provider: requests typed from their schemas. Replies are not typed from the response schemas: those
 * document the answers and the server serializes with plain JSON.stringify (server.ts), so they promise nothing.
 */
export interface SchemaTypes extends FastifyTypeProvider {
  validator: this['schema'] extends HeadersMark
    ? HeadersOf<this['schema']>
    : this['schema'] extends FilledDefaults
      ? TextOf<this['schema']>
      : BodyOf<this['schema']>;
  serializer: unknown;
}
