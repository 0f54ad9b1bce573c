// tma-nh64-v1 (SPEC.md) without BigInt: 64-bit values are kept as two u32 halves, full 32×32 products are built from
// 16-bit limbs in doubles (exact below 2^53) and the low halves of 64-bit products come from Math.imul.
// The key is expanded from the deployment's seed, set once per process at start-up (useHashSeed).
import { createHash } from 'node:crypto';
import { HASH_KEY_WORDS, HASH_NAME, HLL_P, CMS_WIDTH_BITS, PUBLIC_HASH_SEED } from './spec.generated';

const TWO32 = 4294967296;
const M64 = (1n << 64n) - 1n;
const PUBLIC_SEED = BigInt(PUBLIC_HASH_SEED);

/** A seed expanded: the hash key (K words, finaliser F) and the seed's identity. The seed itself is not kept. */
export interface HashSeed {
  /** K[0..HASH_KEY_WORDS) */
  readonly k: readonly number[];
  /** finaliser F as u32 halves */
  readonly fHi: number;
  readonly fLo: number;
  /** one-way 32-bit identity of the seed, carried in every serialized sketch and snapshot */
  readonly seedHash: number;
  /** whether this is the public seed (collisions against it can be built by anyone) */
  readonly isPublic: boolean;
}

const SEED_TEXT = /^(0x)?([0-9a-f]{16})$/i;

/** Parses a seed: exactly 16 hex digits (64 bits), optional 0x. Throws a RangeError naming what was wrong. */
export function parseHashSeed(text: string): bigint {
  const m = SEED_TEXT.exec(text.trim());
  if (!m) throw new RangeError('a hash seed is exactly 16 hex digits (64 bits), optionally prefixed with 0x');
  return BigInt(`0x${m[2]}`);
}

/** 16 hex digits with 0x, as seed files and the seed identity spell a seed. */
export const formatHashSeed = (seed: bigint): string => `0x${seed.toString(16).padStart(16, '0')}`;

/** Expands a seed with splitmix64 into K and F (SPEC.md); the identity is a one-way SHA-256 derivation. */
export function expandHashSeed(seed: bigint): HashSeed {
  let state = seed & M64;
  const next = (): bigint => {
    state = (state + 0x9e3779b97f4a7c15n) & M64;
    let z = state;
    z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & M64;
    z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & M64;
    return z ^ (z >> 31n);
  };
  const k: number[] = [];
  for (let j = 0; j < HASH_KEY_WORDS / 2; j++) {
    const z = next();
    k.push(Number(z & 0xffffffffn), Number(z >> 32n));
  }
  const f = next();
  const id = createHash('sha256')
    .update(`tma-seed-id/${HASH_NAME}/${formatHashSeed(seed)}`)
    .digest();
  return Object.freeze({
    k: Object.freeze(k),
    fHi: Number(f >> 32n),
    fLo: Number(f & 0xffffffffn),
    seedHash: id.readUInt32BE(0),
    isPublic: seed === PUBLIC_SEED,
  });
}

/** The public seed expanded: the default until a process sets its deployment's seed. */
export const PUBLIC_HASH_KEY = expandHashSeed(PUBLIC_SEED);

// The key of the hot path, in typed arrays (u32 values above 2^31 in closure variables would be boxed).
const K = new Uint32Array(HASH_KEY_WORDS);
const FF = new Uint32Array(2);
let current: HashSeed = PUBLIC_HASH_KEY;

/** Sets the seed this process hashes with: once at start-up, before any sketch is built (tests switch it). */
export function useHashSeed(seed: bigint | HashSeed): HashSeed {
  current = typeof seed === 'bigint' ? expandHashSeed(seed) : seed;
  K.set(current.k);
  FF[0] = current.fHi;
  FF[1] = current.fLo;
  return current;
}
useHashSeed(PUBLIC_HASH_KEY);

/** The seed this process hashes with. */
export const currentHashSeed = (): HashSeed => current;

/** A 64-bit hash as its two u32 halves. */
export interface Hash64 {
  hi: number;
  lo: number;
}

// Math functions bound once: global lookups are slow inside vm contexts (test runners), and this is the hot path.
const imul = Math.imul;
const clz32 = Math.clz32;
const floor = Math.floor;

// Key words being hashed and 64-bit intermediates live in typed arrays: u32 values above 2^31 kept in closure
// variables would be boxed on every store.
const W = new Uint32Array(10);
const R = new Uint32Array(2);

/** R = (hi, lo) × (ch, cl) mod 2^64; the low 32×32 product's high half comes from 16-bit limbs. */
function mul64(hi: number, lo: number, ch: number, cl: number): void {
  const a0 = lo & 0xffff;
  const a1 = lo >>> 16;
  const b0 = cl & 0xffff;
  const b1 = cl >>> 16;
  const p01 = a0 * b1;
  const p10 = a1 * b0;
  const carry = ((a0 * b0) >>> 16) + (p01 & 0xffff) + (p10 & 0xffff);
  const top = a1 * b1 + (p01 >>> 16) + (p10 >>> 16) + (carry >>> 16);
  R[0] = top + imul(hi, cl) + imul(lo, ch);
  R[1] = imul(lo, cl);
}

const C1_HI = 0xff51afd7;
const C1_LO = 0xed558ccd;
const C2_HI = 0xc4ceb9fe;
const C2_LO = 0x1a85ec53;

/** Hash of W[0..n) into out[outIndex] (hi), out[outIndex + 1] (lo); `tag` (u32) is what fmix mixes in (n itself). */
function hashW(n: number, out: Uint32Array, outIndex: number, tag = n): void {
  // NH: Σ (u32)(w[2j] + K[2j]) · (u32)(w[2j+1] + K[2j+1]) mod 2^64, as (accHi, accLo) with a manual carry.
  let accHi = 0;
  let accLo = 0;
  for (let j = 0; j < n; j += 2) {
    const a = (W[j] + K[j]) >>> 0;
    const b = (W[j + 1] + K[j + 1]) >>> 0;
    const a0 = a & 0xffff;
    const a1 = a >>> 16;
    const b0 = b & 0xffff;
    const b1 = b >>> 16;
    const p01 = a0 * b1; // each partial product < 2^32
    const p10 = a1 * b0;
    const carry = ((a0 * b0) >>> 16) + (p01 & 0xffff) + (p10 & 0xffff);
    accHi += a1 * b1 + (p01 >>> 16) + (p10 >>> 16) + (carry >>> 16);
    accLo += imul(a, b) >>> 0;
  }
  // accLo < 5·2^32 and accHi < 5·2^32: fold the low carries into the high half.
  const loCarry = floor(accLo / TWO32);
  let lo = (accLo - loCarry * TWO32) >>> 0;
  let hi = (accHi + loCarry) % TWO32;
  // fmix64(acc ^ F ^ n)
  hi = (hi ^ FF[0]) >>> 0;
  lo = (lo ^ FF[1] ^ tag) >>> 0;
  lo = (lo ^ (hi >>> 1)) >>> 0;
  mul64(hi, lo, C1_HI, C1_LO);
  hi = R[0];
  lo = (R[1] ^ (hi >>> 1)) >>> 0;
  mul64(hi, lo, C2_HI, C2_LO);
  hi = R[0];
  out[outIndex] = hi;
  out[outIndex + 1] = R[1] ^ (hi >>> 1);
}

function checkCount(n: number): void {
  if (n < 2 || n > K.length || (n & 1) !== 0)
    throw new RangeError(`hash takes an even number of words in 2..${K.length}, got ${n}`);
}

/** Hash of n u32 words starting at words[offset], written to out[outIndex] (hi) and out[outIndex + 1] (lo). */
export function hashWordsInto(
  words: ArrayLike<number>,
  offset: number,
  n: number,
  out: Uint32Array,
  outIndex = 0,
): void {
  checkCount(n);
  for (let j = 0; j < n; j++) W[j] = words[offset + j];
  hashW(n, out, outIndex);
}

/** Hash of a canonical key (bytes read as little-endian u32 words; length 8, 24 or 40), into out[outIndex..+1]. */
export function hashKeyInto(
  key: Uint8Array,
  out: Uint32Array,
  outIndex = 0,
  offset = 0,
  length = key.length - offset,
): void {
  if ((length & 3) !== 0) throw new RangeError(`key length must be a multiple of 4, got ${length}`);
  const n = length >>> 2;
  checkCount(n);
  for (let j = 0, i = offset; j < n; j++, i += 4)
    W[j] = key[i] | (key[i + 1] << 8) | (key[i + 2] << 16) | (key[i + 3] << 24);
  hashW(n, out, outIndex);
}

/**
 * The heavy-prefix hash (bpf/include/tma_hash.h tma_hash_prefix): the NH product of the prefix's two words, finalised
 * with `meta` in place of the word count; into out[outIndex] (hi) and out[outIndex + 1] (lo).
 */
export function hashPrefixInto(lo: number, hi: number, meta: number, out: Uint32Array, outIndex = 0): void {
  W[0] = lo;
  W[1] = hi;
  hashW(2, out, outIndex, meta >>> 0);
}

const scratch = new Uint32Array(2);

/** Hash of n u32 words (convenience form; allocates the result object). */
export function hashWords(words: ArrayLike<number>, n = words.length, offset = 0): Hash64 {
  hashWordsInto(words, offset, n, scratch);
  return { hi: scratch[0], lo: scratch[1] };
}

/** Hash of a canonical key (convenience form; allocates the result object). */
export function hashKey(key: Uint8Array): Hash64 {
  hashKeyInto(key, scratch);
  return { hi: scratch[0], lo: scratch[1] };
}

/** Column of CMS row `row` for a hash (SPEC.md: (u32)(lo + row·hi) >> (32 − widthBits)). */
export function cmsColumn(hi: number, lo: number, row: number, widthBits = CMS_WIDTH_BITS): number {
  return ((lo + imul(row, hi)) >>> 0) >>> (32 - widthBits);
}

/** HLL register index: the top p bits of hi. */
export function hllIndex(hi: number, p = HLL_P): number {
  return hi >>> (32 - p);
}

/** HLL rank: leading zeros of the 64 − p bits below the index, plus one (1 … 65 − p). */
export function hllRank(hi: number, lo: number, p = HLL_P): number {
  const a = (hi << p) >>> 0;
  if (a !== 0) return clz32(a) + 1;
  if (lo !== 0) return 32 - p + clz32(lo) + 1;
  return 64 - p + 1;
}

/** The hash a sketch was built with: two sketches merge only when they agree on it. */
export interface HashedWith {
  readonly hashName: string;
  readonly seedHash: number;
}

/** Why a sketch hashed as `b` cannot merge into one hashed as `a`, or null when the hashes agree. */
export function hashIncompatibility(a: HashedWith, b: HashedWith): string | null {
  if (b.hashName !== a.hashName) return `hash ${b.hashName} differs from ${a.hashName}`;
  if (b.seedHash !== a.seedHash) return `seed hash ${b.seedHash} differs from ${a.seedHash}`;
  return null;
}

/** Base of the sketches built here: hashed with this fleet's hash and the seed this process uses (one per process,
 * so a sketch's seed identity is the process's, as its hashing is). */
export abstract class FleetHashed implements HashedWith {
  readonly hashName = HASH_NAME;
  get seedHash(): number {
    return current.seedHash;
  }
}
