// Windows in WebAssembly memory merge exactly like CountMinSketch / HyperLogLog windows, refuse the same things,
// reuse freed memory without leaking old counts, and keep working while the memory grows.
import { CountMinSketch } from '../cms';
import { IncompatibleSketchError } from '../errors';
import { HyperLogLog } from '../hll';
import { Rng } from '../testing';
import { encodeCountMinSketch } from '../cms.serialize';
import { encodeHyperLogLog } from '../hll.serialize';
import { CorruptError } from '../errors';
import { CmsWindow, HllWindow } from './sketch-windows';

const same = (a: ArrayLike<number>, b: ArrayLike<number>) =>
  a.length === b.length && Array.from(a).every((v, i) => v === b[i]);

function cms(rng: Rng, n: number, options = {}): CountMinSketch {
  const s = new CountMinSketch(options);
  for (let i = 0; i < n; i++) s.add(rng.u32(), rng.u32(), 1 + rng.int(1000));
  return s;
}

function hll(rng: Rng, n: number, precision = 14): HyperLogLog {
  const h = new HyperLogLog({ precision });
  for (let i = 0; i < n; i++) h.add(rng.u32(), rng.u32());
  return h;
}

describe('CmsWindow and HllWindow', () => {
  it('merge exactly like the JS sketches, in WebAssembly memory', () => {
    const rng = new Rng(1);
    const w = new CmsWindow();
    const h = new HllWindow();
    expect([w.simd, h.simd]).toEqual([true, true]);
    const refC = new CountMinSketch();
    const refH = new HyperLogLog();
    for (let k = 0; k < 5; k++) {
      const c = cms(rng, 3000);
      const before = c.cells.slice();
      w.merge(c);
      refC.merge(c);
      expect(same(c.cells, before)).toBe(true); // the argument is not modified
      const x = hll(rng, 5000);
      h.merge(x);
      refH.merge(x);
    }
    const outC = w.toSketch();
    expect(same(outC.cells, refC.cells)).toBe(true);
    expect(outC.total).toBe(refC.total);
    expect(w.total).toBe(refC.total);
    expect(same(h.toSketch().registers, refH.registers)).toBe(true);
    w.dispose();
    h.dispose();
  });

  it('refuse other parameters, leaving the window unchanged; unusable after dispose', () => {
    const w = new CmsWindow();
    w.merge(cms(new Rng(2), 10));
    const before = w.toSketch().cells;
    expect(() => w.merge(new CountMinSketch({ widthBits: 10 }))).toThrow(IncompatibleSketchError);
    expect(same(w.toSketch().cells, before)).toBe(true);
    const h = new HllWindow();
    expect(() => h.merge(new HyperLogLog({ precision: 12 }))).toThrow(IncompatibleSketchError);
    w.dispose();
    h.dispose();
    expect(() => w.merge(new CountMinSketch())).toThrow(/after dispose/);
    expect(() => h.toSketch()).toThrow(/after dispose/);
  });

  it('a disposed block is reused zeroed; many windows share the memory without disturbing each other', () => {
    const rng = new Rng(3);
    const first = new CmsWindow({ depth: 2, widthBits: 6 });
    first.merge(cms(rng, 50, { depth: 2, widthBits: 6 }));
    first.dispose();
    const reused = new CmsWindow({ depth: 2, widthBits: 6 });
    expect(reused.toSketch().cells.every((v) => v === 0)).toBe(true);
    // 40 full-size windows: 5 MiB of the arena.
    const ws = Array.from({ length: 40 }, () => new CmsWindow());
    const refs = ws.map(() => new CountMinSketch());
    for (let round = 0; round < 2; round++) {
      ws.forEach((w, i) => {
        const c = cms(rng, 20);
        w.merge(c);
        refs[i].merge(c);
      });
    }
    ws.forEach((w, i) => expect(same(w.toSketch().cells, refs[i].cells)).toBe(true));
    ws.forEach((w) => w.dispose());
    reused.dispose();
  });

  it('merge serialized sketches (dense and sparse) straight in; a corrupt one changes nothing', () => {
    const rng = new Rng(4);
    const w = new CmsWindow();
    const h = new HllWindow();
    const refC = new CountMinSketch();
    const refH = new HyperLogLog();
    for (const [n, encoding] of [
      [5000, 'dense'],
      [30, 'sparse'],
      [8000, 'auto'],
    ] as const) {
      const c = cms(rng, n);
      w.mergeEncoded(encodeCountMinSketch(c, { encoding }));
      refC.merge(c);
      const x = hll(rng, n * 3);
      h.mergeEncoded(encodeHyperLogLog(x, { encoding }));
      refH.merge(x);
    }
    expect(same(w.toSketch().cells, refC.cells)).toBe(true);
    expect(w.total).toBe(refC.total);
    expect(same(h.toSketch().registers, refH.registers)).toBe(true);
    const badC = encodeCountMinSketch(cms(rng, 4000), { encoding: 'dense' });
    badC[badC.length - 1] ^= 1; // the last row no longer sums like row 0
    expect(() => w.mergeEncoded(badC)).toThrow(CorruptError);
    const badH = encodeHyperLogLog(hll(rng, 100_000), { encoding: 'dense' });
    badH[20 + 777] = 60; // above the largest rank at p = 14 (51)
    expect(() => h.mergeEncoded(badH)).toThrow(CorruptError);
    expect(same(w.toSketch().cells, refC.cells)).toBe(true);
    expect(w.total).toBe(refC.total);
    expect(same(h.toSketch().registers, refH.registers)).toBe(true);
    w.dispose();
    h.dispose();
  });

  it('fall back to the JS sketches when the memory is full, with the same results', () => {
    const rng = new Rng(5);
    const held: CmsWindow[] = [];
    let w = new CmsWindow();
    while (w.simd && held.length < 10_000) {
      held.push(w);
      w = new CmsWindow();
    }
    expect(w.simd).toBe(false); // 1 GiB holds ~8 190 of them
    expect(held.length).toBeGreaterThan(8000);
    const ref = new CountMinSketch();
    for (let k = 0; k < 3; k++) {
      const c = cms(rng, 200);
      w.merge(c);
      ref.merge(c);
    }
    w.mergeEncoded(encodeCountMinSketch(ref));
    ref.merge(ref.clone());
    expect(same(w.toSketch().cells, ref.cells)).toBe(true);
    expect(w.total).toBe(ref.total);
    w.dispose();
    held.forEach((x) => x.dispose());
    expect(new CmsWindow().simd).toBe(true); // blocks are free again
  });
});
