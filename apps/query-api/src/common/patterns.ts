// The text forms every parameter accepts, as regular expressions shared by the validators (params.ts) and the
// OpenAPI document, so the document states exactly what the API takes (plain ECMA syntax that JSON Schema tools,
// Python's re included, read the same way).
const OCTET = '(?:25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)';
export const IPV4 = `${OCTET}(?:\\.${OCTET}){3}`;
const H = '[0-9A-Fa-f]{1,4}';
export const IPV6 = [
  `(?:${H}:){7}${H}`,
  `(?:${H}:){1,7}:`,
  `(?:${H}:){1,6}:${H}`,
  `(?:${H}:){1,5}(?::${H}){1,2}`,
  `(?:${H}:){1,4}(?::${H}){1,3}`,
  `(?:${H}:){1,3}(?::${H}){1,4}`,
  `(?:${H}:){1,2}(?::${H}){1,5}`,
  `${H}:(?::${H}){1,6}`,
  `:(?:(?::${H}){1,7}|:)`,
]
  .map((a) => `(?:${a})`)
  .join('|');
export const ADDRESS = `^(?:${IPV4}|${IPV6})$`;
/** A prefix: an address with an optional length (/0-32, /0-128); host bits beyond the length must be zero. */
export const PREFIX = `^(?:(?:${IPV4})(?:/(?:3[0-2]|[12]?\\d))?|(?:${IPV6})(?:/(?:12[0-8]|1[01]\\d|[1-9]?\\d))?)$`;
export const HOST_ID = '[A-Za-z0-9._:-]{1,200}';
/** Comma-separated host ids (spaces around each allowed), at most 1000. */
export const HOSTS = `^ *${HOST_ID} *(?:, *${HOST_ID} *){0,999}$`;
const PROTOCOL_NAME = ['icmp', 'tcp', 'udp', 'icmpv6', 'gre', 'esp', 'sctp']
  .map((n) => [...n].map((c) => (/[a-z]/.test(c) ? `[${c.toUpperCase()}${c}]` : c)).join(''))
  .join('|');
/** A protocol name (any case) or number 0-255. */
export const PROTOCOL = `^(?:${PROTOCOL_NAME}|[01]?\\d?\\d|2[0-4]\\d|25[0-5])$`;
export const INSTANT_ISO =
  '\\d{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\\d|3[01])T(?:[01]\\d|2[0-3]):[0-5]\\d(?::[0-5]\\d(?:\\.\\d{1,3})?)?(?:Z|[+-](?:[01]\\d|2[0-3]):[0-5]\\d)';
/** ISO 8601 with a zone, or epoch milliseconds (10 to 13 digits). */
export const INSTANT = `^(?:\\d{10,13}|${INSTANT_ISO})$`;
export const METRIC_LIST = (metrics: readonly string[]) =>
  `^(?:${metrics.join('|')})(?:,(?:${metrics.join('|')})){0,${metrics.length * 4}}$`;

/** Whole numbers 1…n without leading zeros, as a regular expression (alternation, no anchors). */
export function upTo(n: number): string {
  const s = String(Math.floor(n));
  if (n < 1) return '(?!)';
  const alts: string[] = [];
  if (s.length > 1) alts.push(s.length === 2 ? '[1-9]' : `[1-9]\\d{0,${s.length - 2}}`);
  for (let i = 0; i < s.length; i++) {
    const d = Number(s[i]);
    const low = i === 0 ? 1 : 0;
    if (d - 1 >= low) {
      const rest = s.length - i - 1;
      alts.push(`${s.slice(0, i)}[${low}-${d - 1}]${rest ? `\\d{${rest}}` : ''}`);
    }
  }
  alts.push(s);
  return `(?:${alts.join('|')})`;
}

const UNIT_MS: [string, number][] = [
  ['s', 1000],
  ['m', 60_000],
  ['h', 3_600_000],
  ['d', 86_400_000],
  ['w', 604_800_000],
];
/** A duration of at most `maxMs` (each number at most 6 digits), e.g. 15m, 24h, 7d. */
export function durationPattern(maxMs: number, units = 'smhdw'): string {
  const alts = UNIT_MS.filter(([u]) => units.includes(u))
    .map(([u, ms]) => [u, Math.min(999_999, Math.floor(maxMs / ms))] as const)
    .filter(([, n]) => n >= 1)
    .map(([u, n]) => `${upTo(n)}${u}`);
  return `^(?:${alts.join('|')})$`;
}
