// Shared value parsers. Each takes what a variable, a flag or a JSON file gave (string, number, boolean or array)
// and returns the typed value, or throws a ConfigError whose message says what is accepted; the loader prefixes the
// setting's name.
import { ConfigError } from './errors';

const fail = (message: string): never => {
  throw new ConfigError(message);
};
const quote = (v: unknown): string => `"${String(v)}"`;

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

export interface DurationOptions {
  /** Smallest and largest accepted value, ms. */
  min?: number;
  max?: number;
  /** A number without unit (or a JSON number) is milliseconds; otherwise a unit is required. */
  bareMs?: boolean;
}

/** `500ms`, `10s`, `1.5s`, `2m`, `12h`, `7d` → milliseconds. */
export function parseDuration(value: unknown, options: DurationOptions = {}): number {
  let ms: number;
  if (typeof value === 'number' && Number.isFinite(value) && options.bareMs) ms = value;
  else {
    const m = typeof value === 'string' ? /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/.exec(value) : null;
    if (!m || (m[2] === undefined && !options.bareMs))
      return fail(`${quote(value)} is not a duration like 10s, 500ms, 2m, 12h or 7d`);
    ms = Math.round(Number(m[1]) * DURATION_UNITS[m[2] ?? 'ms']);
  }
  const { min, max } = options;
  if ((min !== undefined && ms < min) || (max !== undefined && ms > max))
    fail(
      max === undefined
        ? `${ms} ms is below the minimum of ${formatDuration(min!)}`
        : `${ms} ms is outside ${formatDuration(min ?? 0)}..${formatDuration(max)}`,
    );
  return ms;
}

/** Milliseconds in the smallest unit that gives a whole number below 1000 (300000 → "300s", 3600000 → "60m"). */
export function formatDuration(ms: number): string {
  const units = Object.entries(DURATION_UNITS);
  for (const [unit, size] of units) if (ms % size === 0 && ms / size < 1000) return `${ms / size}${unit}`;
  for (const [unit, size] of units.reverse()) if (ms % size === 0) return `${ms / size}${unit}`;
  return `${ms}ms`;
}

const SIZE_UNITS: Record<string, number> = { '': 1, k: 1e3, ki: 1024, m: 1e6, mi: 1024 ** 2, g: 1e9, gi: 1024 ** 3 };

/** Bytes: `268435456`, `256Mi`, `1G` (k/Ki/M/Mi/G/Gi, optional trailing B). */
export function parseSize(value: unknown, options: { min?: number } = {}): number {
  let n: number;
  if (typeof value === 'number' && Number.isInteger(value) && value > 0) n = value;
  else {
    const m = typeof value === 'string' ? /^\s*(\d+)\s*([kKmMgG]i?)?[bB]?\s*$/.exec(value) : null;
    if (!m) return fail(`${quote(value)} is not a size like 268435456, 256Mi or 1G`);
    n = Number(m[1]) * SIZE_UNITS[(m[2] ?? '').toLowerCase()];
  }
  if (options.min !== undefined && n < options.min) fail(`${n} bytes is below the ${formatSize(options.min)} minimum`);
  return n;
}

function formatSize(n: number): string {
  for (const [unit, size] of [
    ['GiB', 1024 ** 3],
    ['MiB', 1024 ** 2],
    ['KiB', 1024],
  ] as const)
    if (n % size === 0) return `${n / size} ${unit}`;
  return `${n} bytes`;
}

export interface IntegerOptions {
  min: number;
  max: number;
  /** Named in the message: "a whole number of <unit>". */
  unit?: string;
}

/** A whole number (decimal digits, or a JSON integer) within [min, max]. */
export function parseInteger(value: unknown, { min, max, unit }: IntegerOptions): number {
  const n =
    typeof value === 'number' ? value : typeof value === 'string' && /^\s*\d+\s*$/.test(value) ? Number(value) : NaN;
  if (!Number.isInteger(n) || n < min || n > max)
    fail(`${quote(value)} must be ${unit ? `a whole number of ${unit}` : 'an integer'} from ${min} to ${max}`);
  return n;
}

export interface BooleanWords {
  yes: readonly string[];
  no: readonly string[];
}

/** true/1 and false/0 unless other words are given (e.g. on/off); JSON booleans and valueless flags too. */
export function parseBoolean(
  value: unknown,
  words: BooleanWords = { yes: ['true', '1'], no: ['false', '0'] },
): boolean {
  if (typeof value === 'boolean') return value;
  const v = typeof value === 'string' ? value.trim() : undefined;
  if (v !== undefined && words.yes.includes(v)) return true;
  if (v !== undefined && words.no.includes(v)) return false;
  return fail(`${quote(value)} must be ${words.yes[0]} or ${words.no[0]}`);
}

/** One of a fixed set of words, exactly (case matters). */
export function parseEnum<T extends string>(value: unknown, allowed: readonly T[]): T {
  if (typeof value === 'string' && (allowed as readonly string[]).includes(value)) return value as T;
  return fail(`${quote(value)} must be one of ${allowed.join(', ')}`);
}

/** A comma-separated string or a JSON array of strings; blanks dropped, duplicates kept once. */
export function parseList(value: unknown): string[] {
  const list = Array.isArray(value) ? value : typeof value === 'string' ? value.split(',') : null;
  if (!list) return fail('give a comma-separated list or a JSON array');
  return [...new Set(list.map((x) => String(x).trim()).filter(Boolean))];
}

/** `host:port,host:port` ([v6]:port allowed), at least one. */
export function parseHostPorts(value: unknown): string[] {
  const list = parseList(value);
  if (list.length === 0) fail('empty: give at least one host:port');
  for (const hp of list) {
    const m = /^(\[[0-9a-fA-F:]+\]|[^:\s]+):(\d{1,5})$/.exec(hp);
    if (!m || Number(m[2]) < 1 || Number(m[2]) > 65535) fail(`${quote(hp)} is not host:port (e.g. 127.0.0.1:9092)`);
  }
  return list;
}

/** A name that is safe in topics, group ids and file names: letters, digits, ".", "_" and "-". */
export function parseName(value: unknown, maxLength = 200): string {
  const v = typeof value === 'string' ? value.trim() : value;
  if (typeof v !== 'string' || !new RegExp(`^[A-Za-z0-9._-]{1,${maxLength}}$`).test(v))
    return fail(`${quote(value)} may hold only letters, digits, ".", "_" and "-"`);
  return v;
}

/** Any non-blank string, trimmed. */
export function parseText(value: unknown, what = 'a value'): string {
  if (typeof value !== 'string' || value.trim() === '') return fail(`give ${what}`);
  return value.trim();
}
