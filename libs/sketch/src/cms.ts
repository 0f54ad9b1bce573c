// Count-Min Sketch over the fleet hash: depth rows of 2^widthBits counters, row-major, merged by cell sum.
// Counters are doubles holding exact integers (the kernel's u64 cells; exact up to 2^53, see SPEC.md).
import { FleetHashed, HashedWith, cmsColumn, hashIncompatibility, hashKeyInto } from './hash';
import { refuseMergeIf, selfMerge } from './errors';
import { CMS_DEPTH, CMS_WIDTH_BITS } from './spec.generated';

// Bound once: global lookups are slow inside vm contexts (test runners).
const imul = Math.imul;
const floor = Math.floor;
const MAX_SAFE = Number.MAX_SAFE_INTEGER;

export interface CountMinSketchOptions {
  /** Rows (d); δ = e^−d. Default from the spec. */
  depth?: number;
  /** log2 of the row width (w = 2^widthBits); ε = e / w. Default from the spec. */
  widthBits?: number;
}

/** A point estimate with its one-sided error bound: true ≤ estimate always; estimate − true ≤ bound with probability `confidence`. */
export interface CmsEstimate {
  estimate: number;
  /** ε·N: the most the estimate exceeds the truth, with probability `confidence`. */
  bound: number;
  /** max(0, estimate − bound): the truth is at least this, with probability `confidence`. */
  lower: number;
  /** 1 − δ. */
  confidence: number;
}

const hashScratch = new Uint32Array(2);

/** What decides whether two Count-Min Sketches can merge. */
export interface CmsShape extends HashedWith {
  readonly depth: number;
  readonly widthBits: number;
}

/** Depth and width bits from options and the spec's defaults; RangeError when out of range. */
export function cmsParameters(options: CountMinSketchOptions = {}): { depth: number; widthBits: number } {
  const depth = options.depth ?? CMS_DEPTH;
  const widthBits = options.widthBits ?? CMS_WIDTH_BITS;
  if (!Number.isInteger(depth) || depth < 1 || depth > 16)
    throw new RangeError(`CMS depth must be in 1..16, got ${depth}`);
  if (!Number.isInteger(widthBits) || widthBits < 1 || widthBits > 24)
    throw new RangeError(`CMS widthBits must be in 1..24, got ${widthBits}`);
  return { depth, widthBits };
}

/** Why `b` cannot be merged into `a` (other than being the same sketch), or null when it can. */
export function cmsIncompatibility(a: CmsShape, b: CmsShape): string | null {
  const sameShape = b.depth === a.depth && b.widthBits === a.widthBits;
  return (
    hashIncompatibility(a, b) ??
    (sameShape
      ? null
      : `parameters depth ${b.depth} widthBits ${b.widthBits} differ from depth ${a.depth} widthBits ${a.widthBits}`)
  );
}

export class CountMinSketch extends FleetHashed {
  readonly depth: number;
  readonly widthBits: number;
  readonly width: number;
  /** depth × width counters, row-major (cell = row · width + column), the kernel's layout. */
  readonly cells: Float64Array;
  private n = 0;

  constructor(options: CountMinSketchOptions = {}) {
    super();
    const { depth, widthBits } = cmsParameters(options);
    this.depth = depth;
    this.widthBits = widthBits;
    this.width = 2 ** widthBits;
    this.cells = new Float64Array(depth * this.width);
  }

  /**
   * A sketch over counters read from the kernel (u64 cells, already summed over CPUs). Every row of a consistent
   * sketch sums to the same total; a torn read (rows differ) is refused with a RangeError.
   */
  static fromCells(cells: ArrayLike<number | bigint>, options: CountMinSketchOptions = {}): CountMinSketch {
    const s = new CountMinSketch(options);
    if (cells.length !== s.cells.length) throw new RangeError(`expected ${s.cells.length} cells, got ${cells.length}`);
    for (let i = 0; i < cells.length; i++) {
      const v = Number(cells[i]);
      if (!(v >= 0) || !Number.isSafeInteger(v))
        throw new RangeError(`cell ${i} is not a counter below 2^53: ${cells[i]}`);
      s.cells[i] = v;
    }
    const total = s.rowSum(0);
    for (let r = 1; r < s.depth; r++) {
      if (s.rowSum(r) !== total)
        throw new RangeError(`row ${r} sums to ${s.rowSum(r)}, row 0 to ${total}: inconsistent (torn) snapshot`);
    }
    s.n = total;
    return s;
  }

  /** N: the sum of all weights added (every row sums to it). */
  get total(): number {
    return this.n;
  }

  /** ε = e / w: relative error of an estimate, as a fraction of N. */
  get epsilon(): number {
    return Math.E / this.width;
  }

  /** δ = e^−d: probability that an estimate exceeds its bound. */
  get delta(): number {
    return Math.exp(-this.depth);
  }

  /** ε·N at confidence 1 − δ. */
  errorBound(): number {
    return this.epsilon * this.n;
  }

  rowSum(row: number): number {
    let s = 0;
    const base = row * this.width;
    for (let c = 0; c < this.width; c++) s += this.cells[base + c];
    return s;
  }

  /** Adds weight (a non-negative integer) for a hashed key. */
  add(hi: number, lo: number, weight = 1): void {
    if (!(weight >= 0 && weight <= MAX_SAFE && floor(weight) === weight))
      throw new RangeError(`weight must be a non-negative integer, got ${weight}`);
    const shift = 32 - this.widthBits;
    for (let r = 0; r < this.depth; r++) {
      this.cells[r * this.width + (((lo + imul(r, hi)) >>> 0) >>> shift)] += weight;
    }
    this.n += weight;
  }

  /** Adds weight for a canonical key (see keys.ts). */
  addKey(key: Uint8Array, weight = 1): void {
    hashKeyInto(key, hashScratch);
    this.add(hashScratch[0], hashScratch[1], weight);
  }

  /** Minimum over rows: never below the truth. */
  estimate(hi: number, lo: number): number {
    const shift = 32 - this.widthBits;
    let min = this.cells[(lo >>> 0) >>> shift];
    for (let r = 1; r < this.depth; r++) {
      const v = this.cells[r * this.width + (((lo + imul(r, hi)) >>> 0) >>> shift)];
      if (v < min) min = v;
    }
    return min;
  }

  /** The cell (row · width + column) of each row that a hashed key adds to and is estimated from. */
  cellsOf(hi: number, lo: number): number[] {
    const shift = 32 - this.widthBits;
    const out = new Array<number>(this.depth);
    for (let r = 0; r < this.depth; r++) out[r] = r * this.width + (((lo + imul(r, hi)) >>> 0) >>> shift);
    return out;
  }

  /** The key's counter in each row (row r at out[r]): what change detection over sketch differences reads. */
  rowCells(hi: number, lo: number, out: Float64Array = new Float64Array(this.depth)): Float64Array {
    const shift = 32 - this.widthBits;
    for (let r = 0; r < this.depth; r++) out[r] = this.cells[r * this.width + (((lo + imul(r, hi)) >>> 0) >>> shift)];
    return out;
  }

  estimateKey(key: Uint8Array): number {
    hashKeyInto(key, hashScratch);
    return this.estimate(hashScratch[0], hashScratch[1]);
  }

  /** Estimate with its bound ε·N at confidence 1 − δ. */
  query(key: Uint8Array): CmsEstimate {
    const estimate = this.estimateKey(key);
    const bound = this.errorBound();
    return { estimate, bound, lower: Math.max(0, estimate - bound), confidence: 1 - this.delta };
  }

  /** Why `other` cannot be merged into this sketch, or null when it can. */
  incompatibility(other: CountMinSketch): string | null {
    return selfMerge(this, other) ?? cmsIncompatibility(this, other);
  }

  /** Adds every cell of `other` (which is not modified). Throws IncompatibleSketchError and changes nothing on mismatch. */
  merge(other: CountMinSketch): this {
    refuseMergeIf('CMS', this.incompatibility(other));
    const a = this.cells;
    const b = other.cells;
    for (let i = 0; i < a.length; i++) a[i] += b[i];
    this.n += other.n;
    return this;
  }

  clear(): void {
    this.cells.fill(0);
    this.n = 0;
  }

  clone(): CountMinSketch {
    const c = new CountMinSketch({ depth: this.depth, widthBits: this.widthBits });
    c.cells.set(this.cells);
    c.n = this.n;
    return c;
  }

  isEmpty(): boolean {
    return this.n === 0;
  }

  /** Number of non-zero cells (drives the choice of the sparse encoding). */
  nonZeroCells(): number {
    let k = 0;
    for (let i = 0; i < this.cells.length; i++) if (this.cells[i] !== 0) k++;
    return k;
  }

  /** @internal Used by the decoder after it filled `cells` and checked that every row sums to `total`. */
  static withTotal(sketch: CountMinSketch, total: number): CountMinSketch {
    sketch.n = total;
    return sketch;
  }
}

export { cmsColumn };
