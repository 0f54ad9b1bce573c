// k-ary change detection on Count-Min sketches (Krishnamurthy, Sen, Zhang, Chen, "Sketch-based change detection",
// IMC 2003): the cell-wise difference D = C_now − C_before of two windows' sketches (same hash functions) is a
// sketch of the per-key change. Per row r a key's change is estimated without the bias of the other keys sharing
// its cell, (D_r[h_r(k)] − S/w) / (1 − 1/w) with S the total change, and the median over rows is taken; the L2
// norm of all changes comes from the same rows, F2 ≈ median_r (w/(w−1)) Σ D_r² − S²/(w−1). A key is a heavy
// changer when its change is at least φ·√F2.
import type { CountMinSketch } from '@tma/sketch';

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const h = s.length >> 1;
  return s.length % 2 ? s[h] : (s[h - 1] + s[h]) / 2;
}

export class SketchDifference {
  /** S: total change (N_now − N_before). */
  readonly total: number;
  /** Estimated L2 norm of the change vector over all keys. */
  readonly norm: number;
  private readonly rowsNow: Float64Array;
  private readonly rowsBefore: Float64Array;

  constructor(
    private readonly now: CountMinSketch,
    private readonly before: CountMinSketch,
  ) {
    if (now.depth !== before.depth || now.width !== before.width)
      throw new RangeError('change detection needs two sketches of the same shape');
    const w = now.width;
    this.total = now.total - before.total;
    const f2: number[] = [];
    for (let r = 0; r < now.depth; r++) {
      let sq = 0;
      const base = r * w;
      for (let c = 0; c < w; c++) {
        const d = now.cells[base + c] - before.cells[base + c];
        sq += d * d;
      }
      f2.push((w / (w - 1)) * sq - (this.total * this.total) / (w - 1));
    }
    this.norm = Math.sqrt(Math.max(0, median(f2)));
    this.rowsNow = new Float64Array(now.depth);
    this.rowsBefore = new Float64Array(now.depth);
  }

  /** Estimated change of one hashed key between the two windows (positive: it grew). */
  change(hi: number, lo: number): number {
    const w = this.now.width;
    this.now.rowCells(hi, lo, this.rowsNow);
    this.before.rowCells(hi, lo, this.rowsBefore);
    const est: number[] = [];
    for (let r = 0; r < this.now.depth; r++)
      est.push((this.rowsNow[r] - this.rowsBefore[r] - this.total / w) / (1 - 1 / w));
    return median(est);
  }
}
