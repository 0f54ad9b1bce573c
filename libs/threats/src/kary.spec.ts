import { CountMinSketch, flowKey, hashKey } from '@tma/sketch';
import { Rng, Zipf } from '@tma/sketch/testing';
import { SketchDifference } from './kary';

const key = (i: number) =>
  flowKey({ src: `10.0.${i >> 8}.${i & 255}`, dst: '198.18.0.1', sport: 1000, dport: 80, proto: 6 });

describe('SketchDifference (k-ary change estimates)', () => {
  it('estimates per-key changes between two Zipf windows within a few ε·N of the truth, and the L2 norm within 10 %', () => {
    const rng = new Rng(7);
    const zipf = new Zipf(5000, 1.1);
    const a = new CountMinSketch();
    const b = new CountMinSketch();
    const ca = new Map<number, number>();
    const cb = new Map<number, number>();
    for (let n = 0; n < 200_000; n++) {
      const i = zipf.sample(rng);
      ca.set(i, (ca.get(i) ?? 0) + 1);
      const j = zipf.sample(rng);
      cb.set(j, (cb.get(j) ?? 0) + 1);
    }
    cb.set(42, (cb.get(42) ?? 0) + 30_000); // one key changes a lot
    for (const [i, n] of ca) a.addKey(key(i), n);
    for (const [i, n] of cb) b.addKey(key(i), n);
    const d = new SketchDifference(b, a);
    let f2 = 0;
    for (let i = 0; i < 5000; i++) f2 += ((cb.get(i) ?? 0) - (ca.get(i) ?? 0)) ** 2;
    expect(Math.abs(d.norm - Math.sqrt(f2)) / Math.sqrt(f2)).toBeLessThan(0.1);
    const bound = a.errorBound() + b.errorBound();
    for (const i of [0, 1, 2, 42, 100, 4000]) {
      const h = hashKey(key(i));
      const truth = (cb.get(i) ?? 0) - (ca.get(i) ?? 0);
      expect(Math.abs(d.change(h.hi, h.lo) - truth)).toBeLessThanOrEqual(bound);
    }
    const h42 = hashKey(key(42));
    expect(d.change(h42.hi, h42.lo)).toBeGreaterThan(0.9 * d.norm);
  });

  it('refuses sketches of different shapes', () => {
    expect(() => new SketchDifference(new CountMinSketch(), new CountMinSketch({ widthBits: 10 }))).toThrow(RangeError);
  });
});
