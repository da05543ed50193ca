// Durations as operators write them (`30s`, `5m`, `1h`, `7d`, `250ms`, or a bare number of milliseconds): one parser
// for schedule intervals (`every`) and the CLI's retention settings, so both read the same text the same way.
import { ValidationError } from './errors.ts';

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Longest duration accepted: about 100 years, far inside what an int8 column and Date arithmetic hold. */
export const MAX_DURATION_MS = 100 * 365 * 86_400_000;

/** Milliseconds of `30s`, `5m`, `1h`, `2d`, `250ms` or a whole number of ms; a ValidationError naming `field` otherwise. */
export function parseDuration(value: string | number, field: string): number {
  let ms: number;
  if (typeof value === 'number') ms = value;
  else {
    const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/.exec(value);
    if (!match) throw new ValidationError(`${field}: "${value}" is not a duration (e.g. 30s, 5m, 1h, 7d, or milliseconds)`, field);
    ms = Number(match[1]) * UNIT_MS[match[2] ?? 'ms'];
  }
  if (!Number.isFinite(ms) || !Number.isInteger(Math.round(ms)) || ms < 1 || ms > MAX_DURATION_MS) {
    throw new ValidationError(`${field}: must be between 1 ms and 100 years`, field);
  }
  return Math.round(ms);
}
