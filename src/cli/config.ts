// Every setting has a flag, an environment variable TASKHUB_<NAME>, and a default that works on a laptop.
import { parseArgs } from 'node:util';

export class UsageError extends Error {
  override name = 'UsageError';
}

export interface OptionSpec {
  type: 'string' | 'boolean';
  /** Environment variable consulted when the flag is absent. */
  env?: string;
  default?: string;
  multiple?: boolean;
  short?: string;
  help: string;
}

export type OptionSpecs = Record<string, OptionSpec>;

export interface ParsedCommand {
  values: Record<string, string | boolean | string[] | undefined>;
  positionals: string[];
}

export const COMMON_OPTIONS: OptionSpecs = {
  store: { type: 'string', env: 'TASKHUB_STORE', default: 'sqlite:./taskhub.db', help: 'store URL: sqlite:PATH or postgres://…' },
  url: { type: 'string', env: 'TASKHUB_URL', help: 'talk to a running server at this URL instead of opening the store' },
  token: { type: 'string', env: 'TASKHUB_TOKEN', help: 'bearer token for --url' },
  json: { type: 'boolean', help: 'print JSON instead of text' },
  help: { type: 'boolean', short: 'h', help: 'show this help' },
};

export function parseCommand(argv: string[], specs: OptionSpecs): ParsedCommand {
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: Object.fromEntries(
        Object.entries(specs).map(([name, s]) => [
          name,
          { type: s.type, ...(s.multiple ? { multiple: true } : {}), ...(s.short ? { short: s.short } : {}) },
        ]),
      ),
    });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const values = { ...parsed.values } as ParsedCommand['values'];
  for (const [name, spec] of Object.entries(specs)) {
    if (values[name] !== undefined) continue;
    const fromEnv = spec.env ? process.env[spec.env] : undefined;
    if (fromEnv !== undefined && fromEnv !== '') values[name] = spec.type === 'boolean' ? ['true', '1', 'on', 'yes'].includes(fromEnv.toLowerCase()) : fromEnv;
    else if (spec.default !== undefined) values[name] = spec.default;
  }
  return { values, positionals: parsed.positionals };
}

export function helpText(usage: string, summary: string, specs: OptionSpecs): string {
  const lines = Object.entries(specs).map(([name, s]) => {
    const flag = `${s.short ? `-${s.short}, ` : '    '}--${name}${s.type === 'string' ? ' VALUE' : ''}`;
    const extra = [s.env ? `env ${s.env}` : '', s.default !== undefined ? `default ${s.default}` : ''].filter(Boolean).join('; ');
    return `  ${flag.padEnd(30)} ${s.help}${extra ? ` (${extra})` : ''}`;
  });
  return `usage: ${usage}\n\n${summary}\n\noptions:\n${lines.join('\n')}\n`;
}

export function str(values: ParsedCommand['values'], name: string): string | undefined {
  const v = values[name];
  return typeof v === 'string' ? v : undefined;
}

export function int(values: ParsedCommand['values'], name: string): number | undefined {
  const v = str(values, name);
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n)) throw new UsageError(`--${name}: "${v}" is not an integer`);
  return n;
}
