// HyperLogLog with one-byte registers (rank 1 … 65 − p from the fleet hash), merged by register max, estimated with
// Ertl's improved estimator ("New cardinality estimation algorithms for HyperLogLog sketches", 2017), which needs no
// empirical bias tables or range switches and stays unbiased from 0 to far beyond 10^9 with a 64-bit hash.
import { FleetHashed, HashedWith, hashIncompatibility, hashKeyInto } from './hash';
import { refuseMergeIf, selfMerge } from './errors';
import { HLL_P } from './spec.generated';
import { anyByteAbove, maxBytesInto } from './wasm/simd';

// Bound once: global lookups are slow inside vm contexts (test runners).
const clz32 = Math.clz32;
const imul = Math.imul;
const mathMax = Math.max;

export interface HyperLogLogOptions {
  /** Precision p: m = 2^p registers; standard error 1.04/√m. Default from the spec. */
  precision?: number;
}

export interface HllEstimate {
  estimate: number;
  /** Relative standard error 1.04/√m. */
  standardError: number;
}

const hashScratch = new Uint32Array(2);

/** What decides whether two HyperLogLogs can merge. */
export interface HllShape extends HashedWith {
  readonly p: number;
}

/** Precision from options and the spec's default; RangeError when out of range. */
export function hllPrecision(options: HyperLogLogOptions = {}): number {
  const p = options.precision ?? HLL_P;
  if (!Number.isInteger(p) || p < 4 || p > 18) throw new RangeError(`HLL precision must be in 4..18, got ${p}`);
  return p;
}

/** Why `b` cannot be merged into `a` (other than being the same sketch), or null when it can. */
export function hllIncompatibility(a: HllShape, b: HllShape): string | null {
  return hashIncompatibility(a, b) ?? (b.p !== a.p ? `precision ${b.p} differs from ${a.p}` : null);
}
// Histogram of register values, shared by all instances (estimation is synchronous): no allocation per estimate.
const histogram = new Float64Array(66);
const h0 = new Int32Array(256);
const h1 = new Int32Array(256);
const h2 = new Int32Array(256);
const h3 = new Int32Array(256);

/** σ(x) = x + Σ_k x^(2^k) 2^(k−1) (Ertl, eq. 18). */
function sigma(x: number): number {
  if (x === 1) return Infinity;
  let y = 1;
  let z = x;
  let prev: number;
  do {
    x *= x;
    prev = z;
    z += x * y;
    y += y;
  } while (z !== prev);
  return z;
}

/** τ(x) = (1 − x − Σ_k (1 − x^(2^−k))² 2^−k) / 3 (Ertl, eq. 19). */
function tau(x: number): number {
  if (x === 0 || x === 1) return 0;
  let y = 1;
  let z = 1 - x;
  let prev: number;
  do {
    x = Math.sqrt(x);
    prev = z;
    y *= 0.5;
    z -= (1 - x) * (1 - x) * y;
  } while (z !== prev);
  return z / 3;
}

export class HyperLogLog extends FleetHashed {
  readonly p: number;
  readonly m: number;
  /** Largest register value: 64 − p + 1. */
  readonly rankMax: number;
  readonly registers: Uint8Array;
  /** The registers four at a time, for branch-free merges and a faster histogram. */
  private readonly words: Uint32Array;

  constructor(options: HyperLogLogOptions = {}) {
    super();
    const p = hllPrecision(options);
    this.p = p;
    this.m = 2 ** p;
    this.rankMax = 64 - p + 1;
    this.registers = new Uint8Array(this.m);
    this.words = new Uint32Array(this.registers.buffer, 0, this.m >>> 2);
  }

  /** A sketch over registers read from the kernel; values above 65 − p are refused with a RangeError. */
  static fromRegisters(registers: ArrayLike<number>, options: HyperLogLogOptions = {}): HyperLogLog {
    const h = new HyperLogLog(options);
    if (registers.length !== h.m) throw new RangeError(`expected ${h.m} registers, got ${registers.length}`);
    for (let i = 0; i < h.m; i++) {
      const v = registers[i];
      if (!Number.isInteger(v) || v < 0 || v > h.rankMax)
        throw new RangeError(`register ${i} holds ${v}, outside 0..${h.rankMax}`);
      h.registers[i] = v;
    }
    return h;
  }

  get standardError(): number {
    return 1.04 / Math.sqrt(this.m);
  }

  /** Adds a hashed item; returns true when a register changed. */
  add(hi: number, lo: number): boolean {
    const p = this.p;
    const idx = hi >>> (32 - p);
    const a = (hi << p) >>> 0;
    const rank = a !== 0 ? clz32(a) + 1 : lo !== 0 ? 32 - p + clz32(lo) + 1 : 64 - p + 1;
    if (rank > this.registers[idx]) {
      this.registers[idx] = rank;
      return true;
    }
    return false;
  }

  addKey(key: Uint8Array): boolean {
    hashKeyInto(key, hashScratch);
    return this.add(hashScratch[0], hashScratch[1]);
  }

  /** Cardinality estimate (Ertl's improved estimator). */
  estimate(): number {
    const q = 64 - this.p;
    const m = this.m;
    // Four interleaved histograms (one per byte lane) avoid stalls on repeated increments of the same bin.
    h0.fill(0);
    h1.fill(0);
    h2.fill(0);
    h3.fill(0);
    const words = this.words;
    let zeroWords = 0;
    for (let i = 0; i < words.length; i++) {
      const w = words[i];
      if (w === 0) {
        zeroWords++;
        continue;
      }
      h0[w & 0xff]++;
      h1[(w >>> 8) & 0xff]++;
      h2[(w >>> 16) & 0xff]++;
      h3[w >>> 24]++;
    }
    for (let k = 0; k <= q + 1; k++) histogram[k] = h0[k] + h1[k] + h2[k] + h3[k];
    histogram[0] += 4 * zeroWords;
    if (histogram[0] === m) return 0;
    let z = m * tau(1 - histogram[q + 1] / m);
    for (let k = q; k >= 1; k--) z = 0.5 * (z + histogram[k]);
    z += m * sigma(histogram[0] / m);
    return (m * m) / (2 * Math.LN2 * z);
  }

  /** True when some register exceeds `limit` (< 127): SIMD, or a branch-free scan four registers at a time. */
  hasRegisterAbove(limit: number): boolean {
    const simd = anyByteAbove(this.registers, limit);
    if (simd !== null) return simd;
    const words = this.words;
    const bias = imul(limit + 1, 0x01010101);
    let bad = 0;
    for (let i = 0; i < words.length; i++) {
      const w = words[i];
      // High bit per byte: set where the byte is ≥ 128, or where (byte | 0x80) − (limit + 1) keeps it (byte > limit).
      bad |= w | ((w | 0x80808080) - bias);
    }
    return (bad & 0x80808080) !== 0;
  }

  /** Largest register value. */
  maxRegister(): number {
    let max = 0;
    const words = this.words;
    for (let i = 0; i < words.length; i++) {
      const w = words[i];
      if (w === 0) continue;
      max = mathMax(max, w & 0xff, (w >>> 8) & 0xff, (w >>> 16) & 0xff, w >>> 24);
    }
    return max;
  }

  query(): HllEstimate {
    return { estimate: this.estimate(), standardError: this.standardError };
  }

  incompatibility(other: HyperLogLog): string | null {
    return selfMerge(this, other) ?? hllIncompatibility(this, other);
  }

  /** Register-wise max with `other` (which is not modified). Throws IncompatibleSketchError and changes nothing on mismatch. */
  merge(other: HyperLogLog): this {
    refuseMergeIf('HLL', this.incompatibility(other));
    // 16 registers per instruction in WebAssembly SIMD where available (see wasm/simd.ts).
    if (maxBytesInto(this.registers, other.registers)) return this;
    // Byte-wise max four registers at a time (SWAR; registers are < 128): per byte, the high bit of
    // (y | 0x80) − x is set exactly where y ≥ x.
    const a = this.words;
    const b = other.words;
    for (let i = 0; i < a.length; i++) {
      const y = b[i];
      if (y === 0) continue;
      const x = a[i];
      const ge = (((y | 0x80808080) - (x & 0x7f7f7f7f)) & 0x80808080) >>> 7;
      const mask = imul(ge, 0xff);
      a[i] = (y & mask) | (x & ~mask);
    }
    return this;
  }

  clear(): void {
    this.registers.fill(0);
  }

  clone(): HyperLogLog {
    const c = new HyperLogLog({ precision: this.p });
    c.registers.set(this.registers);
    return c;
  }

  isEmpty(): boolean {
    for (let i = 0; i < this.m; i++) if (this.registers[i] !== 0) return false;
    return true;
  }

  nonZeroRegisters(): number {
    let k = 0;
    for (let i = 0; i < this.m; i++) if (this.registers[i] !== 0) k++;
    return k;
  }
}
