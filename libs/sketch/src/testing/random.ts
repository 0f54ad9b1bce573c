// Seeded randomness for simulations, benchmarks and tests: the same seed gives the same traffic on every run and
// machine. Never for anything security-related.

const floor = Math.floor;
const imul = Math.imul;
const pow = Math.pow;

/** sfc32 (Chris Doty-Humphrey's small fast chaotic PRNG): 128-bit state, 32-bit outputs. */
export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: number) {
    this.a = 0x9e3779b9;
    this.b = 0x243f6a88;
    this.c = 0xb7e15162;
    this.d = seed >>> 0;
    for (let i = 0; i < 15; i++) this.u32();
  }

  u32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    return this.u32() / 4294967296;
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return floor(this.next() * n);
  }

  /** Uniform integer in [lo, hi] (both included). */
  between(lo: number, hi: number): number {
    return lo + floor(this.next() * (hi - lo + 1));
  }

  /** A derived generator: an independent stream per host, per purpose. */
  fork(salt: number): Rng {
    return new Rng((this.u32() ^ imul(salt + 1, 0x85ebca6b)) >>> 0);
  }
}

/** Zipf(s) over ranks 0 … n−1, sampled by inverse CDF (binary search over a precomputed table). */
export class Zipf {
  private readonly cdf: Float64Array;

  constructor(
    readonly n: number,
    readonly s: number,
  ) {
    if (!Number.isInteger(n) || n < 1) throw new RangeError(`Zipf needs n ≥ 1, got ${n}`);
    const cdf = new Float64Array(n);
    let sum = 0;
    for (let k = 0; k < n; k++) {
      sum += 1 / pow(k + 1, s);
      cdf[k] = sum;
    }
    for (let k = 0; k < n; k++) cdf[k] /= sum;
    this.cdf = cdf;
  }

  /** Probability of rank k (the weights sum to 1). */
  weight(k: number): number {
    return k === 0 ? this.cdf[0] : this.cdf[k] - this.cdf[k - 1];
  }

  sample(rng: Rng): number {
    const cdf = this.cdf;
    const u = rng.next();
    let lo = 0;
    let hi = this.n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (cdf[mid] < u) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

/** Zipf(s) shares of `total` over n ranks, rounded to sum to exactly `total`, each ≥ 1 (largest remainders get the leftovers). */
export function zipfCounts(n: number, s: number, total: number): number[] {
  const w = Array.from({ length: n }, (_, i) => (i + 1) ** -s);
  const sum = w.reduce((a, b) => a + b, 0);
  const spare = total - n; // one each first, the rest by weight
  const exact = w.map((x) => (x / sum) * spare);
  const counts = exact.map((x) => 1 + Math.floor(x));
  let left = total - counts.reduce((a, b) => a + b, 0);
  const order = exact.map((x, i) => [x - Math.floor(x), i] as const).sort((a, b) => b[0] - a[0] || a[1] - b[1]);
  for (let k = 0; left > 0; k++, left--) counts[order[k % n][1]]++;
  return counts;
}
