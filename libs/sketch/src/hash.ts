// tma-nh64-v1 (SPEC.md) without BigInt: 64-bit values are kept as two u32 halves, full 32×32 products are built from
// 16-bit limbs in doubles (exact below 2^53) and the low halves of 64-bit products come from Math.imul.
import { HASH_F_HI, HASH_F_LO, HASH_K, HLL_P, CMS_WIDTH_BITS } from './spec.generated';

const K = Uint32Array.from(HASH_K);
const TWO32 = 4294967296;

/** A 64-bit hash as its two u32 halves. */
export interface Hash64 {
  hi: number;
  lo: number;
}

// Results of the inner helpers; module-level so that hashing allocates nothing.
let mHi = 0;
let mLo = 0;

/** Full 64-bit product of two u32 values into (mHi, mLo). */
function mul32x32(a: number, b: number): void {
  const a0 = a & 0xffff;
  const a1 = a >>> 16;
  const b0 = b & 0xffff;
  const b1 = b >>> 16;
  const mid = a0 * b1 + a1 * b0; // < 2^33
  let lo = a0 * b0 + (mid % 65536) * 65536; // < 2^33
  let carry = 0;
  if (lo >= TWO32) {
    lo -= TWO32;
    carry = 1;
  }
  mLo = lo;
  mHi = (a1 * b1 + Math.floor(mid / 65536) + carry) % TWO32;
}

/** (hi, lo) × (ch, cl) mod 2^64 into (mHi, mLo). */
function mul64(hi: number, lo: number, ch: number, cl: number): void {
  mul32x32(lo, cl);
  mHi = (mHi + Math.imul(hi, cl) + Math.imul(lo, ch)) >>> 0;
}

const C1_HI = 0xff51afd7;
const C1_LO = 0xed558ccd;
const C2_HI = 0xc4ceb9fe;
const C2_LO = 0x1a85ec53;

/** fmix64(acc ^ F ^ n) into (mHi, mLo). */
function finish(accHi: number, accLo: number, n: number): void {
  let hi = (accHi ^ HASH_F_HI) >>> 0;
  let lo = (accLo ^ HASH_F_LO ^ n) >>> 0;
  lo = (lo ^ (hi >>> 1)) >>> 0;
  mul64(hi, lo, C1_HI, C1_LO);
  hi = mHi;
  lo = (mLo ^ (hi >>> 1)) >>> 0;
  mul64(hi, lo, C2_HI, C2_LO);
  hi = mHi;
  lo = (mLo ^ (hi >>> 1)) >>> 0;
  mHi = hi;
  mLo = lo;
}

let accHi = 0;
let accLo = 0;
function nhStep(j: number, w0: number, w1: number): void {
  mul32x32((w0 + K[j]) >>> 0, (w1 + K[j + 1]) >>> 0);
  accLo += mLo;
  accHi += mHi;
  if (accLo >= TWO32) {
    accLo -= TWO32;
    accHi += 1;
  }
}

function checkCount(n: number): void {
  if (n < 2 || n > K.length || (n & 1) !== 0) throw new RangeError(`hash takes an even number of words in 2..${K.length}, got ${n}`);
}

/** Hash of n u32 words starting at words[offset], written to out[outIndex] (hi) and out[outIndex + 1] (lo). */
export function hashWordsInto(words: ArrayLike<number>, offset: number, n: number, out: Uint32Array, outIndex = 0): void {
  checkCount(n);
  accHi = 0;
  accLo = 0;
  for (let j = 0; j < n; j += 2) nhStep(j, words[offset + j] >>> 0, words[offset + j + 1] >>> 0);
  finish(accHi % TWO32, accLo, n);
  out[outIndex] = mHi;
  out[outIndex + 1] = mLo;
}

/** Hash of a canonical key (bytes read as little-endian u32 words; length 8, 24 or 40), into out[outIndex..+1]. */
export function hashKeyInto(key: Uint8Array, out: Uint32Array, outIndex = 0, offset = 0, length = key.length - offset): void {
  if ((length & 3) !== 0) throw new RangeError(`key length must be a multiple of 4, got ${length}`);
  const n = length >>> 2;
  checkCount(n);
  accHi = 0;
  accLo = 0;
  for (let j = 0, i = offset; j < n; j += 2, i += 8) {
    const w0 = (key[i] | (key[i + 1] << 8) | (key[i + 2] << 16) | (key[i + 3] << 24)) >>> 0;
    const w1 = (key[i + 4] | (key[i + 5] << 8) | (key[i + 6] << 16) | (key[i + 7] << 24)) >>> 0;
    nhStep(j, w0, w1);
  }
  finish(accHi % TWO32, accLo, n);
  out[outIndex] = mHi;
  out[outIndex + 1] = mLo;
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
  return ((lo + Math.imul(row, hi)) >>> 0) >>> (32 - widthBits);
}

/** HLL register index: the top p bits of hi. */
export function hllIndex(hi: number, p = HLL_P): number {
  return hi >>> (32 - p);
}

/** HLL rank: leading zeros of the 64 − p bits below the index, plus one (1 … 65 − p). */
export function hllRank(hi: number, lo: number, p = HLL_P): number {
  const a = (hi << p) >>> 0;
  if (a !== 0) return Math.clz32(a) + 1;
  if (lo !== 0) return 32 - p + Math.clz32(lo) + 1;
  return 64 - p + 1;
}
