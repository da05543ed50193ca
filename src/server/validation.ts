// Request validation: one Ajv for bodies and one for the URL and headers, because they need opposite settings.
// Fastify's default Ajv coerces types and silently strips unknown properties; a body must instead be taken exactly as
// sent (`"5"` is not a priority, and a misspelt field is an error, not something to drop). Query strings and headers
// are text on the wire, so there numbers are coerced from their digits.
import { Ajv, type ValidateFunction } from 'ajv';
import type { FastifySchemaCompiler } from 'fastify';
import type { BodyOf } from './schemas/provider.ts';

const common = { allErrors: false, allowUnionTypes: true, removeAdditional: false, strict: true } as const;
const bodyAjv = new Ajv({ ...common, coerceTypes: false, useDefaults: false });
const textAjv = new Ajv({ ...common, coerceTypes: true, useDefaults: true });

/** For app.setValidatorCompiler: bodies strictly, everything else with coercion from text. */
export const validatorCompiler: FastifySchemaCompiler<unknown> = ({ schema, httpPart }) =>
  (httpPart === 'body' ? bodyAjv : textAjv).compile(schema as object);

/** For messages that do not come through a route (WebSocket frames): validated exactly like a body, typed likewise. */
export function compileBodyValidator<const S extends object>(schema: S): ValidateFunction<BodyOf<S>>;
export function compileBodyValidator(schema: object): ValidateFunction<unknown> {
  return bodyAjv.compile(schema);
}

/** `tasks[2].backoff.delayMs` from the JSON pointer `/tasks/2/backoff/delayMs` (the form the core uses too). */
function fieldOf(pointer: string): string {
  let field = '';
  for (const raw of pointer.split('/').slice(1)) {
    const part = raw.replaceAll('~1', '/').replaceAll('~0', '~');
    field += /^\d+$/.test(part) ? `[${part}]` : field ? `.${part}` : part;
  }
  return field;
}

export interface SchemaError {
  keyword: string;
  instancePath: string;
  params: Record<string, unknown>;
  message?: string;
}

/** One Ajv error as the field it concerns and a sentence that names it, worded like the core's ValidationError. */
export function describeSchemaError(error: SchemaError, part: string): { field: string | undefined; detail: string } {
  let field = fieldOf(error.instancePath);
  let message = error.message ?? 'is invalid';
  const join = (name: string) => (field ? `${field}.${name}` : name);
  if (error.keyword === 'additionalProperties') {
    field = join(String(error.params.additionalProperty));
    message = 'is not a known field';
  } else if (error.keyword === 'required') {
    field = join(String(error.params.missingProperty));
    message = 'is required';
  } else if (error.keyword === 'type' && error.params.type === 'object') {
    message = 'must be a JSON object';
  } else if (error.keyword === 'enum') {
    message = `must be one of ${(error.params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`;
  }
  if (!field) return { field: undefined, detail: `the ${part === 'body' ? 'request body' : part} ${message}` };
  const where = part === 'body' ? '' : part === 'querystring' ? 'query parameter ' : `${part} `;
  return { field, detail: `${where}${field}: ${message}` };
}
