// SynCounts: estimates never under the truth and within ε·N, merge = cell sums and candidate union, lossless
// binary and sparse wire forms, malformed input refused.
import { Rng } from './testing';
import { SYN_CLASSES, SynCounts } from './syn-counts';

describe('SynCounts', () => {
  it('estimates each class of 2,000 addresses between the truth and the truth + ε·N (at the 2-row confidence)', () => {
    const rng = new Rng(7);
    const s = new SynCounts();
    const truth = new Map<string, number[]>();
    for (let i = 0; i < 2000; i++) {
      const addr = `10.${i >> 8}.${i & 255}.1`;
      const t = SYN_CLASSES.map(() => rng.int(50));
      truth.set(addr, t);
      SYN_CLASSES.forEach((k, j) => s.add(addr, k, t[j]));
    }
    let over = 0;
    for (const [addr, t] of truth) {
      const e = s.estimate(addr);
      SYN_CLASSES.forEach((k, j) => {
        expect(e[k]).toBeGreaterThanOrEqual(t[j]);
        if (e[k] - t[j] > s.errorBound(k)) over++;
      });
    }
    // P(estimate − truth > ε·N) ≤ e^−2 per estimate
    expect(over / (4 * truth.size)).toBeLessThan(Math.exp(-2));
  });

  it('merges by cell sums and candidate union, leaving its argument alone', () => {
    const a = new SynCounts();
    const b = new SynCounts();
    a.add('198.51.100.9', 'syn', 100);
    a.addCandidate('198.51.100.9');
    b.add('198.51.100.9', 'syn', 50);
    b.add('198.51.100.9', 'ack', 3);
    b.addCandidate('2001:db8::1');
    const before = b.encode();
    a.merge(b);
    expect(a.estimate('198.51.100.9')).toMatchObject({ syn: 150, ack: 3 });
    expect(a.candidateAddresses().sort()).toEqual(['198.51.100.9', '2001:db8::1']);
    expect(b.encode()).toEqual(before);
    expect(() => a.merge(new SynCounts(3, 9))).toThrow(RangeError);
  });

  it('round-trips through the binary (storage) and the sparse (wire) forms', () => {
    const s = new SynCounts();
    s.add('203.0.113.5', 'synAck', 2 ** 40);
    s.add('203.0.113.6', 'rst', 7);
    s.addCandidate('203.0.113.5');
    const d = s.toData();
    expect(d.cells.length).toBeLessThanOrEqual(4);
    for (const back of [SynCounts.decode(s.encode()), SynCounts.fromData(d)]) {
      for (const k of SYN_CLASSES) expect([...back.cells[k]]).toEqual([...s.cells[k]]);
      expect(back.candidateAddresses()).toEqual(['203.0.113.5']);
    }
  });

  it('refuses malformed input', () => {
    const d = new SynCounts().toData();
    expect(() =>
      SynCounts.fromData({ ...d, cells: [5, 5], syn: [1, 1], synAck: [0, 0], rst: [0, 0], ack: [0, 0] }),
    ).toThrow(/ascending/);
    expect(() => SynCounts.fromData({ ...d, cells: [1024], syn: [1], synAck: [0], rst: [0], ack: [0] })).toThrow(
      RangeError,
    );
    expect(() => SynCounts.fromData({ ...d, cells: [1], syn: [-1], synAck: [0], rst: [0], ack: [0] })).toThrow(/count/);
    expect(() => SynCounts.fromData({ ...d, cells: [1], syn: [1], synAck: [], rst: [0], ack: [0] })).toThrow(
      RangeError,
    );
    expect(() => SynCounts.decode(Uint8Array.of(1, 2, 3))).toThrow(RangeError);
    expect(() => new SynCounts().addCandidate(new Uint8Array(4))).toThrow(RangeError);
  });
});
