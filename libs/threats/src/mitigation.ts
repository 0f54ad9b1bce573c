// Block rules (docs/threats.md, "Mitigation"): the rule an operator or a detector proposes, checked the same way by
// the query API (before it is proposed or approved) and by the edge agent (before it reaches the kernel): a source
// prefix, optionally a destination, port and protocol, a TTL and a reason. Pure: addresses as 16-byte canonical
// forms (IPv4-mapped), prefixes as lengths over those 128 bits.
import { formatAddress, isIPv4Mapped, parseAddress } from '@tma/sketch';

/** Protocols a rule may name (0 = any). */
export const RULE_PROTOCOLS = { any: 0, icmp: 1, tcp: 6, udp: 17, icmpv6: 58 } as const;
export type RuleProtocol = keyof typeof RULE_PROTOCOLS;
export const MIN_RULE_TTL_S = 10;
export const MAX_RULE_TTL_S = 7 * 24 * 3600;
/** IPv4 prefixes shorter than /8 and IPv6 shorter than /16 would block a large part of the Internet: refused. */
export const MIN_PREFIX_V4 = 8;
export const MIN_PREFIX_V6 = 16;

export interface Prefix {
  /** canonical text: 203.0.113.0/24, 2001:db8::/32 */
  text: string;
  /** 16 bytes, masked to the prefix */
  addr: Uint8Array;
  /** bits of the 128-bit form (an IPv4 /n is 96 + n) */
  bits: number;
  v4: boolean;
}

/** ::ffff:0.0.0.0, the start of the IPv4-mapped range the flow keys hold IPv4 addresses in. */
const MAPPED = parseAddress('0.0.0.0');

export class RuleError extends Error {
  override name = 'RuleError';
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
  }
}

function mask(addr: Uint8Array, bits: number): Uint8Array {
  const out = Uint8Array.from(addr);
  for (let i = 0; i < 16; i++) {
    const keep = Math.max(0, Math.min(8, bits - 8 * i));
    out[i] &= (0xff << (8 - keep)) & 0xff;
  }
  return out;
}

/** Parses "a.b.c.d/n" or "v6::/n" (a bare address is a /32 or /128). Host bits must be zero. */
export function parsePrefix(text: string, field = 'srcPrefix'): Prefix {
  const m = /^([0-9A-Fa-f:.]{2,45})(?:\/(\d{1,3}))?$/.exec(text.trim());
  if (!m) throw new RuleError(field, `"${text}" is not an address prefix (203.0.113.0/24, 2001:db8::/48)`);
  let addr: Uint8Array;
  try {
    addr = parseAddress(m[1]);
  } catch {
    throw new RuleError(field, `"${m[1]}" is not an IPv4 or IPv6 address`);
  }
  const v4 = !m[1].includes(':');
  const len = m[2] === undefined ? (v4 ? 32 : 128) : Number(m[2]);
  const max = v4 ? 32 : 128;
  const min = v4 ? MIN_PREFIX_V4 : MIN_PREFIX_V6;
  if (len > max) throw new RuleError(field, `/${len} is longer than an ${v4 ? 'IPv4' : 'IPv6'} address`);
  if (len < min) throw new RuleError(field, `/${len} is too wide: at least /${min} for ${v4 ? 'IPv4' : 'IPv6'}`);
  const bits = v4 ? 96 + len : len;
  const masked = mask(addr, bits);
  // An IPv6 prefix over the IPv4-mapped range (::ffff:0:0/96) blocks IPv4 sources: it is held to the IPv4 width.
  const upTo = Math.min(bits, 96);
  if (!v4 && mask(masked, upTo).every((b, i) => b === mask(MAPPED, upTo)[i]) && bits < 96 + MIN_PREFIX_V4)
    throw new RuleError(field, `/${len} covers IPv4-mapped addresses wider than /${MIN_PREFIX_V4} of IPv4`);
  if (masked.some((b, i) => b !== addr[i]))
    throw new RuleError(field, `"${text}" has host bits set; the prefix is ${formatAddress(masked)}/${len}`);
  // an IPv4-mapped IPv6 prefix is an IPv4 prefix: one canonical text (the agents parse it again)
  const mapped = !v4 && bits >= 96 && isIPv4Mapped(masked);
  return { text: `${formatAddress(masked)}/${mapped ? bits - 96 : len}`, addr: masked, bits, v4: v4 || mapped };
}

/** True when the prefix holds the address (16-byte canonical). */
export function prefixContains(p: Pick<Prefix, 'addr' | 'bits'>, addr: Uint8Array): boolean {
  const m = mask(addr, p.bits);
  return m.every((b, i) => b === p.addr[i]);
}

/** What a proposal says, before it is checked. */
export interface RuleInput {
  srcPrefix: string;
  dst?: string | null;
  port?: number | null;
  protocol?: RuleProtocol | null;
  ttlSeconds: number;
  reason: string;
  dryRun?: boolean;
  /** hosts the rule goes to; empty or absent: every host */
  hosts?: string[] | null;
}

/** A checked rule (the fields every message and row carry). */
export interface RuleSpec {
  srcPrefix: string;
  dst: string | null;
  port: number;
  protocol: RuleProtocol;
  ttlSeconds: number;
  reason: string;
  dryRun: boolean;
  hosts: string[];
}

const HOST_ID = /^[A-Za-z0-9._:-]{1,253}$/;

/**
 * Checks a proposal. `protect` lists addresses a rule must never match (the brokers the agents publish to, the API's
 * own address): a prefix that holds one of them is refused, whatever its port or destination.
 */
export function checkRule(input: RuleInput, protect: readonly string[] = []): RuleSpec {
  const prefix = parsePrefix(String(input.srcPrefix ?? ''));
  let dst: string | null = null;
  if (input.dst != null && input.dst !== '') {
    try {
      const d = parseAddress(input.dst);
      if (!input.dst.includes(':') !== prefix.v4)
        throw new RuleError('dst', 'the destination and the prefix differ in family');
      dst = formatAddress(d);
    } catch (e) {
      if (e instanceof RuleError) throw e;
      throw new RuleError('dst', `"${input.dst}" is not an IPv4 or IPv6 address`);
    }
  }
  const port = input.port ?? 0;
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new RuleError('port', 'an integer from 0 (any) to 65535');
  const protocol = input.protocol ?? 'any';
  if (!(protocol in RULE_PROTOCOLS))
    throw new RuleError('protocol', `one of ${Object.keys(RULE_PROTOCOLS).join(', ')}`);
  if (port !== 0 && protocol !== 'tcp' && protocol !== 'udp')
    throw new RuleError('port', 'a port needs the protocol tcp or udp');
  const ttl = input.ttlSeconds;
  if (!Number.isInteger(ttl) || ttl < MIN_RULE_TTL_S || ttl > MAX_RULE_TTL_S)
    throw new RuleError('ttlSeconds', `an integer from ${MIN_RULE_TTL_S} to ${MAX_RULE_TTL_S} (7 days)`);
  const reason = String(input.reason ?? '').trim();
  if (reason.length < 3 || reason.length > 500) throw new RuleError('reason', 'say why, in 3 to 500 characters');
  const hosts = input.hosts ?? [];
  if (!Array.isArray(hosts) || hosts.length > 100 || hosts.some((h) => typeof h !== 'string' || !HOST_ID.test(h)))
    throw new RuleError('hosts', 'up to 100 host ids (empty: every host)');
  for (const p of protect) {
    let a: Uint8Array;
    try {
      a = parseAddress(p);
    } catch {
      continue; // a name, not an address: the operator's resolver decides; nothing to compare here
    }
    if (prefixContains(prefix, a))
      throw new RuleError('srcPrefix', `${prefix.text} holds ${p}, which the agents and the API need: refused`);
  }
  return {
    srcPrefix: prefix.text,
    dst,
    port,
    protocol,
    ttlSeconds: ttl,
    reason,
    dryRun: input.dryRun === true,
    hosts: [...new Set(hosts)].sort(),
  };
}

/** host:port list entries → their hosts (IPv6 in brackets): the addresses a rule must never hold. */
export function protectedHosts(endpoints: readonly string[]): string[] {
  return endpoints
    .map((e) => e.trim())
    .filter(Boolean)
    .map((e) => {
      const b = /^\[([^\]]+)\](?::\d+)?$/.exec(e);
      if (b) return b[1];
      const parts = e.split(':');
      return parts.length === 2 ? parts[0] : e;
    });
}

/** The alert fields a proposal is derived from. */
export interface AlertForProposal {
  id: string;
  kind: string;
  subject: string;
  hosts: string[];
  /** "src:sport → dst:dport/proto" texts, heaviest first */
  related: string[];
}

/**
 * A detector's proposal for a flood alert: its heaviest source (as a /32 or /128), or the /24 (/64 for IPv6) that
 * holds most of its top sources when more than one share it; the flooded destination; the hosts that saw it.
 * Null for other kinds or when the alert names no source.
 */
export function proposalFromAlert(a: AlertForProposal, ttlSeconds = 600): RuleInput | null {
  if (a.kind !== 'flood') return null;
  const sources: string[] = [];
  for (const r of a.related) {
    const m = /^(.*):\d+ → /.exec(r);
    if (m) sources.push(m[1]);
  }
  if (sources.length === 0) return null;
  const byNet = new Map<string, number>();
  for (const s of sources) {
    const v4 = !s.includes(':');
    let net: string;
    try {
      net = `${formatAddress(mask(parseAddress(s), v4 ? 120 : 64))}/${v4 ? 24 : 64}`;
    } catch {
      continue;
    }
    byNet.set(net, (byNet.get(net) ?? 0) + 1);
  }
  const [bestNet, n] = [...byNet.entries()].sort((x, y) => y[1] - x[1])[0] ?? ['', 0];
  const top = sources[0];
  const srcPrefix = n > 1 ? bestNet : `${top}/${top.includes(':') ? 128 : 32}`;
  let dst: string | null = null;
  try {
    dst = formatAddress(parseAddress(a.subject));
  } catch {
    dst = null;
  }
  return {
    srcPrefix,
    dst,
    ttlSeconds,
    reason: `flood alert ${a.id} on ${a.subject}: ${n > 1 ? `${n} of its top sources` : 'its top source'}`,
    hosts: a.hosts,
  };
}
