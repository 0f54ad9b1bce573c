// Heavy prefixes counted in the kernel (bpf/tma.bpf.c, "Heavy prefixes"): the prefix key, its hash and set, and the
// masking of an address to its levels, identical to the kernel's. A prefix is its address's leading 64 bits masked
// to its length, as two little-endian u32 words (lo = address bytes 0..3, hi = bytes 4..7; IPv4: the 4 address bytes
// in lo, hi = 0).
import { hashPrefixInto } from './hash';

/** Levels per family, in the kernel's table order: IPv4 /8 /16 /24, IPv6 /32 /48 /64. */
export const PREFIX_LENGTHS = { 4: [8, 16, 24], 6: [32, 48, 64] } as const;
export type PrefixFamily = 4 | 6;
/** 0 source, 1 destination. */
export type PrefixSide = 0 | 1;
export const PREFIX_SIDE_NAMES = ['src', 'dst'] as const;
export const PREFIX_LEVELS = 3;
export const PREFIX_TABLES = 12;
export const PREFIX_DOMAIN = 4;
export const PREFIX_SET_BITS = 6;

/** Table of (side, family, level): side * 6 + (IPv6 ? 3 : 0) + level. */
export const prefixTable = (side: PrefixSide, family: PrefixFamily, level: number): number =>
  side * 2 * PREFIX_LEVELS + (family === 6 ? PREFIX_LEVELS : 0) + level;

/** (side, family, length) of a table. */
export function tableOf(table: number): { side: PrefixSide; family: PrefixFamily; length: number; level: number } {
  const side = (table >= 2 * PREFIX_LEVELS ? 1 : 0) as PrefixSide;
  const rest = table % (2 * PREFIX_LEVELS);
  const family = (rest >= PREFIX_LEVELS ? 6 : 4) as PrefixFamily;
  const level = rest % PREFIX_LEVELS;
  return { side, family, length: PREFIX_LENGTHS[family][level], level };
}

/** Third word of the prefix key: length | family << 8 | side << 16 | domain << 24. */
export const prefixMeta = (length: number, family: PrefixFamily, side: PrefixSide): number =>
  (length | (family << 8) | (side << 16) | (PREFIX_DOMAIN << 24)) >>> 0;

const out2 = new Uint32Array(2);

/**
 * The prefix hash under the current seed (bpf/include/tma_hash.h tma_hash_prefix): one NH product of the two prefix
 * words, finalised with meta in place of the word count.
 */
export function prefixHash(lo: number, hi: number, meta: number): { hi: number; lo: number } {
  hashPrefixInto(lo >>> 0, hi >>> 0, meta, out2);
  return { hi: out2[0], lo: out2[1] };
}

/** The set of the prefix in its table: the top PREFIX_SET_BITS of the hash's high word (tma_pfx_add). */
export function prefixSetIndex(lo: number, hi: number, meta: number, setBits = PREFIX_SET_BITS): number {
  return prefixHash(lo, hi, meta).hi >>> (32 - setBits);
}

const le32 = (b: Uint8Array, at: number): number =>
  (b[at] | (b[at + 1] << 8) | (b[at + 2] << 16) | (b[at + 3] << 24)) >>> 0;

/** A prefix of one address (16 bytes, IPv4 mapped) at one level. */
export interface AddressPrefix {
  table: number;
  family: PrefixFamily;
  length: number;
  lo: number;
  hi: number;
}

/** The three prefixes of a canonical 16-byte address (IPv4 mapped), masked as the kernel masks them. */
export function addressPrefixes(addr: Uint8Array, side: PrefixSide, offset = 0): AddressPrefix[] {
  const w = [0, 1, 2, 3].map((i) => le32(addr, offset + 4 * i));
  const v4 = w[0] === 0 && w[1] === 0 && w[2] === 0xffff0000;
  if (v4)
    return [0xff, 0xffff, 0xffffff].map((m, level) => ({
      table: prefixTable(side, 4, level),
      family: 4 as const,
      length: PREFIX_LENGTHS[4][level],
      lo: (w[3] & m) >>> 0,
      hi: 0,
    }));
  return [0, 0xffff, 0xffffffff].map((m, level) => ({
    table: prefixTable(side, 6, level),
    family: 6 as const,
    length: PREFIX_LENGTHS[6][level],
    lo: w[0],
    hi: (w[1] & m) >>> 0,
  }));
}

/** The six prefixes of a 40-byte flow key: source then destination. */
export const flowKeyPrefixes = (key: Uint8Array): AddressPrefix[] => [
  ...addressPrefixes(key, 0, 0),
  ...addressPrefixes(key, 1, 16),
];

/** Address bytes of a prefix (4 for IPv4, 16 for IPv6, zero past the 64 bits). */
export function prefixBytes(family: PrefixFamily, lo: number, hi: number): Uint8Array {
  const out = new Uint8Array(family === 4 ? 4 : 16);
  for (let i = 0; i < 4; i++) out[i] = (lo >>> (8 * i)) & 0xff;
  if (family === 6) for (let i = 0; i < 4; i++) out[4 + i] = (hi >>> (8 * i)) & 0xff;
  return out;
}

/** The words of a prefix from its address bytes (4 or 16 bytes; the inverse of prefixBytes). */
export function prefixWords(addr: Uint8Array): { lo: number; hi: number } {
  return { lo: le32(addr, 0), hi: addr.length >= 8 ? le32(addr, 4) : 0 };
}

/** "10.1.2.0/24", "2001:db8::/32". */
export function prefixText(family: PrefixFamily, lo: number, hi: number, length: number): string {
  const b = prefixBytes(family, lo, hi);
  if (family === 4) return `${b[0]}.${b[1]}.${b[2]}.${b[3]}/${length}`;
  const groups: string[] = [];
  for (let i = 0; i < 8; i++) groups.push(((b[2 * i] << 8) | b[2 * i + 1]).toString(16));
  // compress the longest run of zero groups (at least two)
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8;) {
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j === i ? i + 1 : j;
  }
  const text =
    best < 0 ? groups.join(':') : `${groups.slice(0, best).join(':')}::${groups.slice(best + bestLen).join(':')}`;
  return `${text}/${length}`;
}
