// Parsing and validation of every request parameter, shared by REST and GraphQL so both refuse the same inputs
// with the same words. Each failure is an InvalidInputError naming the field.
import { isIP } from 'node:net';
import { parseAddress } from '@tma/sketch';
import type { QueryApiConfig } from '../config';
import { InvalidInputError } from './errors';
import { ADDRESS, HOST_ID, INSTANT, PREFIX, PROTOCOL } from './patterns';

const ADDRESS_RE = new RegExp(ADDRESS);
const PREFIX_RE = new RegExp(PREFIX);
const PROTOCOL_RE = new RegExp(PROTOCOL);
const INSTANT_RE = new RegExp(INSTANT);

export type Raw = Record<string, unknown>;

const UNITS = new Map([
  ['s', 1000],
  ['m', 60_000],
  ['h', 3_600_000],
  ['d', 86_400_000],
  ['w', 604_800_000],
]);
/** Stored windows are whole minutes (the aggregator's default window); steps are multiples of it. */
export const BASE_WINDOW_MS = 60_000;
const STEPS = [60_000, 300_000, 900_000, 3_600_000, 21_600_000, 86_400_000];
const DEFAULT_POINTS = 120;

export interface TimeRange {
  /** Inclusive, epoch ms: windows whose start is ≥ from … */
  from: number;
  /** … and < to. */
  to: number;
}

export interface Filters {
  hosts?: string[];
  protocol?: number;
  srcPort?: number;
  dstPort?: number;
  srcPrefix?: Prefix;
  dstPrefix?: Prefix;
}

export interface Prefix {
  text: string;
  /** 16-byte canonical (IPv4-mapped) network address. */
  addr: Uint8Array;
  /** Prefix length on the 128-bit canonical form (IPv4 /n is 96 + n). */
  bits: number;
}

function str(raw: Raw, field: string): string | undefined {
  const v = Object.prototype.hasOwnProperty.call(raw, field) ? raw[field] : undefined;
  if (v === undefined || v === null) return undefined;
  // An empty value (`range=`) is a mistake, not an absent parameter: answering the default would hide it.
  if (v === '') throw new InvalidInputError(field, 'is empty: give a value or leave the parameter out');
  if (Array.isArray(v)) throw new InvalidInputError(field, 'given more than once');
  if (typeof v === 'number') return String(v);
  if (typeof v !== 'string') throw new InvalidInputError(field, 'must be text');
  // Taken as given (no trimming): the OpenAPI document's patterns state exactly what is accepted.
  return v;
}

export function parseDuration(field: string, text: string): number {
  const m = /^([1-9]\d{0,5})(s|m|h|d|w)$/.exec(text);
  if (!m) throw new InvalidInputError(field, `"${text}" is not a duration like 15m, 1h, 24h or 7d`);
  return Number(m[1]) * UNITS.get(m[2])!;
}

/** ISO 8601 with a zone, or epoch milliseconds. */
function parseInstant(field: string, text: string): number {
  if (!INSTANT_RE.test(text))
    throw new InvalidInputError(
      field,
      `"${text}" is not a time: use ISO 8601 with a zone (2026-11-27T14:00:00Z) or epoch milliseconds`,
    );
  if (/^\d+$/.test(text)) return Number(text);
  const t = Date.parse(text);
  // Date.parse rolls 2026-02-30 over into March: the calendar day must exist as written.
  const [y, mo, d] = text.slice(0, 10).split('-').map(Number);
  const day = new Date(Date.UTC(y, mo - 1, d));
  if (!Number.isFinite(t) || day.getUTCDate() !== d || day.getUTCMonth() !== mo - 1)
    throw new InvalidInputError(field, `"${text}" is not a valid date`);
  return t;
}

/** `range` (relative, ending now) or `from` [+ `to`, default now]. Default: the last hour. */
export function parseTimeRange(raw: Raw, config: Pick<QueryApiConfig, 'maxRangeMs'>, now = Date.now()): TimeRange {
  const range = str(raw, 'range');
  const fromText = str(raw, 'from');
  const toText = str(raw, 'to');
  let from: number;
  let to: number;
  if (range !== undefined) {
    if (fromText !== undefined || toText !== undefined)
      throw new InvalidInputError('range', 'give either range or from/to, not both');
    const d = parseDuration('range', range);
    to = now;
    from = now - d;
  } else if (fromText !== undefined) {
    from = parseInstant('from', fromText);
    to = toText === undefined ? now : parseInstant('to', toText);
    if (to <= from) throw new InvalidInputError('to', 'must be later than from');
  } else {
    if (toText !== undefined) throw new InvalidInputError('to', 'needs from (or use range)');
    to = now;
    from = now - 3_600_000;
  }
  if (to - from > config.maxRangeMs) {
    throw new InvalidInputError(
      range !== undefined ? 'range' : 'from',
      `covers ${Math.round((to - from) / 60_000)} min; at most ${config.maxRangeMs / 60_000} min per request`,
    );
  }
  // Whole seconds: stored windows start on whole seconds.
  return { from: Math.ceil(from / 1000) * 1000, to: Math.ceil(to / 1000) * 1000 };
}

/** Series step: given (a multiple of the 1 min window) or chosen so the series has about 120 points. */
export function parseStep(
  raw: Raw,
  range: TimeRange,
  config: Pick<QueryApiConfig, 'maxPoints' | 'maxRangeMs'>,
): number {
  const text = str(raw, 'step');
  const span = range.to - range.from;
  if (text === undefined) return STEPS.find((s) => span / s <= DEFAULT_POINTS) ?? STEPS[STEPS.length - 1];
  if (!/^[1-9]\d{0,5}[mhdw]$/.test(text))
    throw new InvalidInputError(
      'step',
      `must be whole minutes, hours, days or weeks like 5m or 1h (stored windows are 1 min), got "${text}"`,
    );
  const step = parseDuration('step', text);
  if (step > config.maxRangeMs)
    throw new InvalidInputError('step', `${text} is longer than the longest range (${config.maxRangeMs / 60_000} min)`);
  const points = Math.ceil(span / step);
  if (points > config.maxPoints)
    throw new InvalidInputError(
      'step',
      `${text} gives ${points} points; at most ${config.maxPoints}: use a larger step`,
    );
  return step;
}

export function parseK(raw: Raw, config: Pick<QueryApiConfig, 'maxK'>, fallback = 10): number {
  const text = str(raw, 'k');
  if (text === undefined) return fallback;
  if (!/^\d+$/.test(text) || Number(text) < 1 || Number(text) > config.maxK)
    throw new InvalidInputError('k', `must be a whole number from 1 to ${config.maxK}, got "${text}"`);
  return Number(text);
}

export function parseEnum<T extends string>(raw: Raw, field: string, values: readonly T[], fallback?: T): T {
  const text = str(raw, field);
  if (text === undefined) {
    if (fallback === undefined) throw new InvalidInputError(field, `is required (${values.join(' or ')})`);
    return fallback;
  }
  if (!(values as readonly string[]).includes(text))
    throw new InvalidInputError(field, `must be ${values.join(' or ')}, got "${text}"`);
  return text as T;
}

export function parsePhi(raw: Raw, fallback = 0.05): number {
  const text = str(raw, 'phi');
  if (text === undefined) return fallback;
  const v = Number(text);
  if (!/^(0?\.\d+|\d+(\.\d+)?(e-?\d+)?)$/i.test(text) || !(v >= 0.0001 && v < 1))
    throw new InvalidInputError('phi', `must be a number in [0.0001, 1), got "${text}"`);
  return v;
}

// Maps, not object literals: a name like "constructor" must not find Object.prototype's members.
const PROTOCOL_NAMES = new Map([
  ['icmp', 1],
  ['tcp', 6],
  ['udp', 17],
  ['icmpv6', 58],
  ['gre', 47],
  ['esp', 50],
  ['sctp', 132],
]);
export const PROTOCOL_LABELS: ReadonlyMap<number, string> = new Map(
  [...PROTOCOL_NAMES].map(([k, v]) => [v, k.toUpperCase()]),
);

export function parseProtocol(field: string, text: string): number {
  if (!PROTOCOL_RE.test(text))
    throw new InvalidInputError(
      field,
      `must be tcp, udp, icmp, icmpv6, gre, esp, sctp or a protocol number 0-255, got "${text}"`,
    );
  return PROTOCOL_NAMES.get(text.toLowerCase()) ?? Number(text);
}

function parsePort(field: string, text: string): number {
  if (!/^\d{1,5}$/.test(text) || Number(text) > 65535)
    throw new InvalidInputError(field, `must be a port number 0-65535, got "${text}"`);
  return Number(text);
}

export function parsePrefix(field: string, text: string): Prefix {
  const m = PREFIX_RE.test(text) ? /^([^/]+)(?:\/(\d{1,3}))?$/.exec(text) : null;
  const family = m ? isIP(m[1]) : 0;
  if (!m || family === 0)
    throw new InvalidInputError(field, `"${text}" is not an IPv4 or IPv6 prefix like 10.1.0.0/16 or 2001:db8::/32`);
  const max = family === 4 ? 32 : 128;
  const len = m[2] === undefined ? max : Number(m[2]);
  if (len > max) throw new InvalidInputError(field, `prefix length ${len} is longer than ${max}`);
  const bits = family === 4 ? 96 + len : len;
  const addr = parseAddress(m[1]);
  for (let i = 0; i < 16; i++) {
    const keep = Math.max(0, Math.min(8, bits - 8 * i));
    if ((addr[i] & ~((0xff00 >> keep) & 0xff) & 0xff) !== 0)
      throw new InvalidInputError(field, `${text} has host bits set beyond /${len}`);
  }
  return { text: `${m[1]}/${len}`, addr, bits };
}

export function parseAddressField(field: string, text: string | undefined): string {
  if (text === undefined) throw new InvalidInputError(field, 'is required');
  if (!ADDRESS_RE.test(text) || isIP(text) === 0)
    throw new InvalidInputError(field, `"${text}" is not an IPv4 or IPv6 address`);
  return text;
}

/** True when the 16 address bytes at `offset` of `key` lie inside the prefix. */
export function inPrefix(p: Prefix, key: Uint8Array, offset: number): boolean {
  for (let i = 0; i < 16; i++) {
    const keep = Math.max(0, Math.min(8, p.bits - 8 * i));
    if (keep === 0) return true;
    const mask = (0xff00 >> keep) & 0xff;
    if ((key[offset + i] & mask) !== p.addr[i]) return false;
  }
  return true;
}

const HOST_RE = new RegExp(`^${HOST_ID}$`);

/** Host ids: comma-separated text (spaces around each id allowed) or a list; no empty entries. */
export function parseHosts(raw: Raw): string[] | undefined {
  const v = raw.hosts;
  if (v === undefined || v === null) return undefined;
  if (v === '') throw new InvalidInputError('hosts', 'is empty: give host ids or leave the parameter out');
  const list = (Array.isArray(v) ? v : String(v).split(',')).map((h) => String(h).replace(/^ +| +$/g, ''));
  if (list.length === 0) return undefined;
  if (list.length > 1000) throw new InvalidInputError('hosts', `at most 1000 hosts per request, got ${list.length}`);
  for (const h of list)
    if (!HOST_RE.test(h))
      throw new InvalidInputError(
        'hosts',
        `"${h.slice(0, 40)}" is not a host id (letters, digits, ".", "_", ":", "-")`,
      );
  return [...new Set(list)];
}

export function parseFilters(raw: Raw): Filters {
  const f: Filters = {};
  const hosts = parseHosts(raw);
  if (hosts) f.hosts = hosts;
  const protocol = str(raw, 'protocol');
  if (protocol !== undefined) f.protocol = parseProtocol('protocol', protocol);
  const sp = str(raw, 'srcPort');
  if (sp !== undefined) f.srcPort = parsePort('srcPort', sp);
  const dp = str(raw, 'dstPort');
  if (dp !== undefined) f.dstPort = parsePort('dstPort', dp);
  const s = str(raw, 'srcPrefix');
  if (s !== undefined) f.srcPrefix = parsePrefix('srcPrefix', s);
  const d = str(raw, 'dstPrefix');
  if (d !== undefined) f.dstPrefix = parsePrefix('dstPrefix', d);
  return f;
}

/** Only the host filter applies to whole-window answers (cardinality, totals); flow filters would be silently ignored, so they are refused. */
export function refuseFlowFilters(f: Filters, what: string): void {
  for (const field of ['srcPort', 'dstPort', 'srcPrefix', 'dstPrefix'] as const) {
    if (f[field] !== undefined)
      throw new InvalidInputError(
        field,
        `does not apply to ${what} (sketches of distinct counts are not kept per flow); filter by hosts only`,
      );
  }
}

export function parseFlowTuple(raw: Raw): { src: string; dst: string; sport: number; dport: number; proto: number } {
  const src = parseAddressField('src', str(raw, 'src'));
  const dst = parseAddressField('dst', str(raw, 'dst'));
  const sp = str(raw, 'srcPort');
  const dp = str(raw, 'dstPort');
  const pr = str(raw, 'protocol');
  if (sp === undefined) throw new InvalidInputError('srcPort', 'is required (ICMP: the type)');
  if (dp === undefined) throw new InvalidInputError('dstPort', 'is required (ICMP: the code)');
  if (pr === undefined) throw new InvalidInputError('protocol', 'is required');
  return {
    src,
    dst,
    sport: parsePort('srcPort', sp),
    dport: parsePort('dstPort', dp),
    proto: parseProtocol('protocol', pr),
  };
}

/** Refuses query parameters the endpoint does not know (a typo must not be ignored silently). */
export function refuseUnknown(raw: Raw, known: readonly string[]): void {
  for (const k of Object.keys(raw))
    if (!known.includes(k))
      throw new InvalidInputError(k, `unknown parameter; this endpoint takes ${known.join(', ')}`);
}

/** What top flows and heavy hitters rank by. */
export const RANK_BY = ['packets', 'bytes'] as const;
/** Which address of a flow a prefix applies to. */
export const SIDES = ['src', 'dst'] as const;
