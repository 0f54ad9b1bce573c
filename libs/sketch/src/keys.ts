// Canonical key builders (SPEC.md "Canonical keys"): every address is 16 bytes (IPv4 as ::ffff:a.b.c.d), ports in
// network byte order, ICMP/ICMPv6 type in the source-port field and code in the destination-port field.
import {
  ADDR_KEY_BYTES,
  DOMAIN_PORTS,
  DOMAIN_DST,
  DOMAIN_FLOW,
  DOMAIN_SRC,
  PORTS_KEY_BYTES,
  FLOW_KEY_BYTES,
} from './spec.generated';

/** An address as text (IPv4 dotted quad or IPv6) or as 4 or 16 bytes. */
export type Address = string | Uint8Array;

export interface FlowTuple {
  src: Address;
  dst: Address;
  /** Source port, or ICMP/ICMPv6 type. */
  sport: number;
  /** Destination port, or ICMP/ICMPv6 code. */
  dport: number;
  proto: number;
}

/** A flow key decoded for display: addresses as text (IPv4-mapped shown as IPv4). */
export interface FlowTupleText {
  src: string;
  dst: string;
  sport: number;
  dport: number;
  proto: number;
}

export const PROTO_ICMP = 1;
export const PROTO_TCP = 6;
export const PROTO_UDP = 17;
export const PROTO_ICMPV6 = 58;

function parseIPv4Into(text: string, out: Uint8Array, offset: number): boolean {
  const parts = text.split('.');
  if (parts.length !== 4) return false;
  for (let i = 0; i < 4; i++) {
    const p = parts[i];
    if (!/^(0|[1-9]\d{0,2})$/.test(p)) return false;
    const v = Number(p);
    if (v > 255) return false;
    out[offset + i] = v;
  }
  return true;
}

function parseIPv6Into(text: string, out: Uint8Array, offset: number): boolean {
  let body = text;
  const groups: number[] = [];
  let v4: Uint8Array | null = null;
  const lastColon = body.lastIndexOf(':');
  if (lastColon < 0) return false;
  if (body.indexOf('.', lastColon) >= 0) {
    v4 = new Uint8Array(4);
    if (!parseIPv4Into(body.slice(lastColon + 1), v4, 0)) return false;
    body = body.slice(0, lastColon + 1) + '0:0'; // placeholder groups, overwritten below
  }
  const halves = body.split('::');
  if (halves.length > 2) return false;
  const parseGroups = (s: string, into: number[]): boolean => {
    if (s === '') return true;
    for (const g of s.split(':')) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return false;
      into.push(parseInt(g, 16));
    }
    return true;
  };
  if (halves.length === 2) {
    const head: number[] = [];
    const tail: number[] = [];
    if (!parseGroups(halves[0], head) || !parseGroups(halves[1], tail)) return false;
    if (head.length + tail.length > 7) return false;
    groups.push(...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail);
  } else if (!parseGroups(body, groups) || groups.length !== 8) {
    return false;
  }
  for (let i = 0; i < 8; i++) {
    out[offset + 2 * i] = groups[i] >>> 8;
    out[offset + 2 * i + 1] = groups[i] & 0xff;
  }
  if (v4) out.set(v4, offset + 12);
  return true;
}

/** Writes the 16-byte canonical form of an address at out[offset]. Throws RangeError on invalid input. */
export function writeAddress(addr: Address, out: Uint8Array, offset = 0): void {
  if (typeof addr === 'string') {
    if (addr.includes(':')) {
      if (!parseIPv6Into(addr, out, offset)) throw new RangeError(`invalid IPv6 address: ${addr}`);
      return;
    }
    out.fill(0, offset, offset + 10);
    out[offset + 10] = 0xff;
    out[offset + 11] = 0xff;
    if (!parseIPv4Into(addr, out, offset + 12)) throw new RangeError(`invalid IPv4 address: ${addr}`);
    return;
  }
  if (addr.length === 16) {
    out.set(addr, offset);
  } else if (addr.length === 4) {
    out.fill(0, offset, offset + 10);
    out[offset + 10] = 0xff;
    out[offset + 11] = 0xff;
    out.set(addr, offset + 12);
  } else {
    throw new RangeError(`an address has 4 or 16 bytes, got ${addr.length}`);
  }
}

/** The 16-byte canonical form of an address. */
export function parseAddress(addr: Address): Uint8Array {
  const out = new Uint8Array(16);
  writeAddress(addr, out, 0);
  return out;
}

/** True when the 16 bytes at offset are an IPv4-mapped address (::ffff:a.b.c.d). */
export function isIPv4Mapped(bytes: Uint8Array, offset = 0): boolean {
  for (let i = 0; i < 10; i++) if (bytes[offset + i] !== 0) return false;
  return bytes[offset + 10] === 0xff && bytes[offset + 11] === 0xff;
}

/** Text of 16 address bytes: IPv4-mapped as a dotted quad, otherwise RFC 5952 IPv6. */
export function formatAddress(bytes: Uint8Array, offset = 0): string {
  if (isIPv4Mapped(bytes, offset)) {
    return `${bytes[offset + 12]}.${bytes[offset + 13]}.${bytes[offset + 14]}.${bytes[offset + 15]}`;
  }
  const g: number[] = [];
  for (let i = 0; i < 16; i += 2) g.push((bytes[offset + i] << 8) | bytes[offset + i + 1]);
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8;) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (a: number[]) => a.map((x) => x.toString(16)).join(':');
  return best < 0 ? hex(g) : `${hex(g.slice(0, best))}::${hex(g.slice(best + bestLen))}`;
}

function checkU16(name: string, v: number): void {
  if (!Number.isInteger(v) || v < 0 || v > 0xffff)
    throw new RangeError(`${name} must be an integer in 0..65535, got ${v}`);
}
function checkU8(name: string, v: number): void {
  if (!Number.isInteger(v) || v < 0 || v > 0xff) throw new RangeError(`${name} must be an integer in 0..255, got ${v}`);
}

/** The 40-byte canonical flow key of a 5-tuple. */
export function flowKey(t: FlowTuple, out: Uint8Array = new Uint8Array(FLOW_KEY_BYTES), offset = 0): Uint8Array {
  checkU16('sport', t.sport);
  checkU16('dport', t.dport);
  checkU8('proto', t.proto);
  writeAddress(t.src, out, offset);
  writeAddress(t.dst, out, offset + 16);
  out[offset + 32] = t.sport >>> 8;
  out[offset + 33] = t.sport & 0xff;
  out[offset + 34] = t.dport >>> 8;
  out[offset + 35] = t.dport & 0xff;
  out[offset + 36] = t.proto;
  out[offset + 37] = DOMAIN_FLOW;
  out[offset + 38] = 0;
  out[offset + 39] = 0;
  return out;
}

function addressKey(addr: Address, domain: number, out: Uint8Array, offset: number): Uint8Array {
  writeAddress(addr, out, offset);
  out[offset + 16] = domain;
  out.fill(0, offset + 17, offset + ADDR_KEY_BYTES);
  return out;
}

/** The 24-byte key of a source address (for the distinct-sources HLL and source prefixes). */
export function srcKey(addr: Address, out: Uint8Array = new Uint8Array(ADDR_KEY_BYTES), offset = 0): Uint8Array {
  return addressKey(addr, DOMAIN_SRC, out, offset);
}

/** The 24-byte key of a destination address. */
export function dstKey(addr: Address, out: Uint8Array = new Uint8Array(ADDR_KEY_BYTES), offset = 0): Uint8Array {
  return addressKey(addr, DOMAIN_DST, out, offset);
}

/** The 8-byte key of a destination port with its protocol. */
export function portsKey(
  dport: number,
  proto: number,
  out: Uint8Array = new Uint8Array(PORTS_KEY_BYTES),
  offset = 0,
): Uint8Array {
  checkU16('dport', dport);
  checkU8('proto', proto);
  out[offset] = dport >>> 8;
  out[offset + 1] = dport & 0xff;
  out[offset + 2] = proto;
  out[offset + 3] = DOMAIN_PORTS;
  out.fill(0, offset + 4, offset + PORTS_KEY_BYTES);
  return out;
}

/** True when the 40 bytes at offset are a well-formed flow key (flow domain, zero padding). */
export function isFlowKey(key: Uint8Array, offset = 0): boolean {
  return (
    key.length - offset >= FLOW_KEY_BYTES &&
    key[offset + 37] === DOMAIN_FLOW &&
    key[offset + 38] === 0 &&
    key[offset + 39] === 0
  );
}

/** The readable 5-tuple of a flow key. */
export function parseFlowKey(key: Uint8Array, offset = 0): FlowTupleText {
  if (!isFlowKey(key, offset)) throw new RangeError('not a canonical flow key');
  return {
    src: formatAddress(key, offset),
    dst: formatAddress(key, offset + 16),
    sport: (key[offset + 32] << 8) | key[offset + 33],
    dport: (key[offset + 34] << 8) | key[offset + 35],
    proto: key[offset + 36],
  };
}

const imul = Math.imul;

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/** Lower-case hex of bytes (keys in maps, logs and JSON). */
export function toHex(bytes: Uint8Array, offset = 0, length = bytes.length - offset): string {
  let s = '';
  for (let i = 0; i < length; i++) s += HEX[bytes[offset + i]];
  return s;
}

/** Bytes of a hex string (even length, 0-9a-f). */
export function fromHex(hex: string): Uint8Array {
  if (hex.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(hex)) throw new RangeError('invalid hex string');
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/**
 * A set of 40-byte flow keys without building strings: keys are bucketed by a 32-bit mix of their words and compared
 * byte for byte within a bucket.
 */
export class FlowKeySet {
  private readonly buckets = new Map<number, Uint8Array | Uint8Array[]>();
  private count = 0;

  get size(): number {
    return this.count;
  }

  private id(key: Uint8Array): number {
    return flowKeyBucket(key);
  }

  has(key: Uint8Array): boolean {
    const b = this.buckets.get(this.id(key));
    if (b === undefined) return false;
    if (b instanceof Uint8Array) return sameKey(b, key);
    return b.some((k) => sameKey(k, key));
  }

  /** Adds the key (by reference); false when it was already present. */
  add(key: Uint8Array): boolean {
    const id = this.id(key);
    const b = this.buckets.get(id);
    if (b === undefined) {
      this.buckets.set(id, key);
    } else if (b instanceof Uint8Array) {
      if (sameKey(b, key)) return false;
      this.buckets.set(id, [b, key]);
    } else {
      if (b.some((k) => sameKey(k, key))) return false;
      b.push(key);
    }
    this.count++;
    return true;
  }
}

/** A 32-bit mix of a flow key's words: buckets flow keys in maps and sets (equality is checked byte for byte). */
export function flowKeyBucket(key: Uint8Array): number {
  let h = 0x9e3779b9;
  for (let i = 0; i < FLOW_KEY_BYTES; i += 4) {
    const w = key[i] | (key[i + 1] << 8) | (key[i + 2] << 16) | (key[i + 3] << 24);
    h = imul(h ^ w, 0x85ebca6b);
    h ^= h >>> 13;
  }
  return h;
}

/** A map from 40-byte flow keys to values, without building strings. */
export class FlowKeyMap<V> {
  private readonly buckets = new Map<number, { key: Uint8Array; value: V }[]>();
  private count = 0;

  get size(): number {
    return this.count;
  }

  get(key: Uint8Array): V | undefined {
    const b = this.buckets.get(flowKeyBucket(key));
    if (b === undefined) return undefined;
    for (const e of b) if (sameKey(e.key, key)) return e.value;
    return undefined;
  }

  /** Sets the value for the key (the key is kept by reference). */
  set(key: Uint8Array, value: V): void {
    const id = flowKeyBucket(key);
    const b = this.buckets.get(id);
    if (b === undefined) {
      this.buckets.set(id, [{ key, value }]);
    } else {
      for (const e of b) {
        if (sameKey(e.key, key)) {
          e.value = value;
          return;
        }
      }
      b.push({ key, value });
    }
    this.count++;
  }

  *values(): IterableIterator<V> {
    for (const b of this.buckets.values()) for (const e of b) yield e.value;
  }
}

function sameKey(a: Uint8Array, b: Uint8Array): boolean {
  for (let i = 0; i < FLOW_KEY_BYTES; i++) if (a[i] !== b[i]) return false;
  return true;
}

export { DOMAIN_DST, DOMAIN_FLOW, DOMAIN_SRC, DOMAIN_PORTS };
