// Loads a handlers module: its default export maps task types to handler functions.
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Handler } from '../worker/context.ts';
import { UsageError } from './config.ts';

export type HandlerMap = Record<string, Handler<never, unknown>>;

export async function loadHandlers(file: string): Promise<HandlerMap> {
  const path = resolve(file);
  if (!existsSync(path)) throw new UsageError(`--handlers: no file at ${path}`);
  let module: { default?: unknown };
  try {
    module = (await import(pathToFileURL(path).href)) as { default?: unknown };
  } catch (error) {
    throw new UsageError(`--handlers: cannot load ${path}: ${(error as Error).message}`);
  }
  const handlers = module.default;
  if (typeof handlers !== 'object' || handlers === null) {
    throw new UsageError(`--handlers: ${path} must default-export an object mapping task types to functions`);
  }
  const entries = Object.entries(handlers);
  if (entries.length === 0) throw new UsageError(`--handlers: ${path} exports no handlers`);
  for (const [type, fn] of entries) {
    if (typeof fn !== 'function') throw new UsageError(`--handlers: "${type}" in ${path} is not a function`);
  }
  return handlers as HandlerMap;
}
