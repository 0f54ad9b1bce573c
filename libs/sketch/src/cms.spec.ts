// Count-Min Sketch behaviour: bounds, merge rules (refusals change nothing, the argument is never mutated), clear.
import { CountMinSketch } from './cms';
import { IncompatibleSketchError } from './errors';
import { hashKey } from './hash';
import { flowKey } from './keys';
import { CMS_DEPTH, CMS_WIDTH } from './spec.generated';

const key = (i: number) =>
  flowKey({ src: `10.0.${i >> 8}.${i & 255}`, dst: '10.9.9.9', sport: 1000 + i, dport: 443, proto: 6 });

describe('CountMinSketch', () => {
  it('uses the spec parameters and reports ε, δ and the bound ε·N', () => {
    const s = new CountMinSketch();
    expect([s.depth, s.width, s.cells.length]).toEqual([CMS_DEPTH, CMS_WIDTH, CMS_DEPTH * CMS_WIDTH]);
    expect(s.epsilon).toBeCloseTo(Math.E / 4096, 12);
    expect(s.delta).toBeCloseTo(Math.exp(-4), 12);
    s.addKey(key(1), 1000);
    s.addKey(key(2), 24);
    expect(s.total).toBe(1024);
    expect(s.errorBound()).toBeCloseTo((1024 * Math.E) / 4096, 9);
    const q = s.query(key(1));
    expect(q.estimate).toBeGreaterThanOrEqual(1000);
    expect(q.confidence).toBeCloseTo(1 - Math.exp(-4), 12);
    expect(q.lower).toBe(Math.max(0, q.estimate - q.bound));
    for (let r = 0; r < s.depth; r++) expect(s.rowSum(r)).toBe(1024);
  });

  it('updates exactly one cell per row, at the kernel cell index', () => {
    const s = new CountMinSketch();
    const h = hashKey(key(7));
    s.add(h.hi, h.lo, 5);
    expect(s.nonZeroCells()).toBe(CMS_DEPTH);
    expect(s.estimate(h.hi, h.lo)).toBe(5);
    // cellsOf names those cells, one per row (what SQL point queries read).
    const cells = s.cellsOf(h.hi, h.lo);
    expect(cells.map((c) => Math.floor(c / s.width))).toEqual([...Array(CMS_DEPTH).keys()]);
    expect(cells.map((c) => s.cells[c])).toEqual(Array(CMS_DEPTH).fill(5));
  });

  it('rejects negative or fractional weights', () => {
    const s = new CountMinSketch();
    expect(() => s.add(1, 2, -1)).toThrow(RangeError);
    expect(() => s.add(1, 2, 0.5)).toThrow(RangeError);
    expect(s.total).toBe(0);
  });

  it('merges by cell sum without touching the argument', () => {
    const a = new CountMinSketch();
    const b = new CountMinSketch();
    a.addKey(key(1), 3);
    b.addKey(key(1), 4);
    b.addKey(key(2), 10);
    const bBefore = b.cells.slice();
    a.merge(b);
    expect(a.estimateKey(key(1))).toBeGreaterThanOrEqual(7);
    expect(a.total).toBe(17);
    expect(b.cells).toEqual(bBefore);
    expect(b.total).toBe(14);
  });

  it('refuses self-merge and mismatched parameters, changing nothing', () => {
    const a = new CountMinSketch();
    a.addKey(key(1), 3);
    const before = a.cells.slice();
    expect(() => a.merge(a)).toThrow(IncompatibleSketchError);
    expect(() => a.merge(new CountMinSketch({ depth: 5 }))).toThrow(/depth/);
    expect(() => a.merge(new CountMinSketch({ widthBits: 11 }))).toThrow(/widthBits/);
    const otherSeed = new CountMinSketch();
    Object.defineProperty(otherSeed, 'seedHash', { value: 0x12345678 });
    expect(() => a.merge(otherSeed)).toThrow(/seed hash/);
    const otherHash = new CountMinSketch();
    Object.defineProperty(otherHash, 'hashName', { value: 'murmur3' });
    expect(() => a.merge(otherHash)).toThrow(/hash/);
    expect(a.cells).toEqual(before);
    expect(a.total).toBe(3);
  });

  it('clears and clones', () => {
    const a = new CountMinSketch();
    a.addKey(key(1), 3);
    const c = a.clone();
    a.clear();
    expect(a.isEmpty()).toBe(true);
    expect(a.nonZeroCells()).toBe(0);
    expect(c.estimateKey(key(1))).toBe(3);
  });

  it('builds from kernel cells (numbers or u64 bigints) and refuses torn snapshots', () => {
    const a = new CountMinSketch();
    a.addKey(key(1), 9);
    a.addKey(key(2), 1);
    const big = BigUint64Array.from(a.cells, (v) => BigInt(v));
    const b = CountMinSketch.fromCells(big);
    expect(b.cells).toEqual(a.cells);
    expect(b.total).toBe(10);
    const torn = a.cells.slice();
    torn[0] += 1;
    expect(() => CountMinSketch.fromCells(torn)).toThrow(/torn/);
    expect(() => CountMinSketch.fromCells(new Float64Array(3))).toThrow(RangeError);
  });

  it('rowCells gives the counter of a key in each row: their minimum is the estimate, each row holds the key', () => {
    const s = new CountMinSketch();
    const k = hashKey(flowKey({ src: '10.0.0.1', dst: '10.0.0.2', sport: 1, dport: 2, proto: 6 }));
    s.add(k.hi, k.lo, 7);
    for (let i = 0; i < 5000; i++) s.add(i * 2654435761, i, 1);
    const cells = s.rowCells(k.hi, k.lo);
    expect(cells).toHaveLength(CMS_DEPTH);
    expect(Math.min(...cells)).toBe(s.estimate(k.hi, k.lo));
    for (const c of cells) expect(c).toBeGreaterThanOrEqual(7);
  });
});
