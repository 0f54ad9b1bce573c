// Heavy hitters: candidate union across hosts, re-estimation on the merged CMS, top-K by packets or bytes,
// collision-corrected bounds that never undercount, hierarchical heavy hitters over prefixes, the candidate table.
import fc from 'fast-check';
import { CountMinSketch } from './cms';
import { hashKey } from './hash';
import {
  Candidate,
  CandidateSet,
  candidateUpperBounds,
  heavyHitters,
  hierarchicalHeavyHitters,
  mergeCandidates,
} from './heavy-hitters';
import { FlowTuple, flowKey, toHex } from './keys';
import { CandidateTable } from './testing';

interface Flow {
  tuple: FlowTuple;
  packets: number;
  bytes: number;
}

/** Hosts that each see a share of every flow; kernel counts are exact (the whole flow was in the table). */
function fleet(flows: Flow[], hosts: number) {
  const packets = new CountMinSketch();
  const bytes = new CountMinSketch();
  const lists: Candidate[][] = Array.from({ length: hosts }, () => []);
  flows.forEach((f, i) => {
    const key = flowKey(f.tuple);
    packets.addKey(key, f.packets);
    bytes.addKey(key, f.bytes);
    for (let h = 0; h < hosts; h++) {
      if ((i + h) % 2 === 0)
        lists[h].push({ key, packets: Math.floor(f.packets / hosts), bytes: Math.floor(f.bytes / hosts) });
    }
  });
  return { packets, bytes, lists };
}

const tcp = (src: string, dst: string, sport = 1234, dport = 443): FlowTuple => ({ src, dst, sport, dport, proto: 6 });

describe('heavy hitters', () => {
  const flows: Flow[] = [
    { tuple: tcp('10.0.0.1', '192.0.2.1'), packets: 5000, bytes: 300_000 },
    { tuple: tcp('10.0.0.2', '192.0.2.1'), packets: 3000, bytes: 4_000_000 },
    { tuple: tcp('10.0.1.7', '192.0.2.9'), packets: 1000, bytes: 1_500_000 },
    { tuple: tcp('2001:db8::1', '2001:db8:ffff::1'), packets: 2000, bytes: 2_000_000 },
    { tuple: { src: '10.0.0.3', dst: '10.0.0.4', sport: 8, dport: 0, proto: 1 }, packets: 10, bytes: 840 },
  ];

  it('merges candidate lists by key union and sums kernel counts', () => {
    const { lists } = fleet(flows, 3);
    const merged = mergeCandidates(lists);
    expect(merged.length).toBe(flows.length);
    const first = merged.find((c) => toHex(c.key) === toHex(flowKey(flows[0].tuple)))!;
    expect(first.packets).toBe(2 * Math.floor(5000 / 3)); // present on two of three hosts
    const set = new CandidateSet(lists[0]);
    expect(set.has(flowKey(flows[0].tuple))).toBe(true);
    expect(() => set.add({ key: new Uint8Array(8), packets: 1, bytes: 1 })).toThrow(RangeError);
  });

  it('ranks top-K by packets or by bytes with estimates that never undercount', () => {
    const { packets, bytes, lists } = fleet(flows, 3);
    const merged = mergeCandidates(lists);
    const byPackets = heavyHitters(merged, packets, bytes, { by: 'packets', k: 3 });
    expect(byPackets.map((h) => h.tuple.src)).toEqual(['10.0.0.1', '10.0.0.2', '2001:db8::1']);
    const byBytes = heavyHitters(merged, packets, bytes, { by: 'bytes', k: 2 });
    expect(byBytes.map((h) => h.tuple.src)).toEqual(['10.0.0.2', '2001:db8::1']);
    for (const h of heavyHitters(merged, packets, bytes)) {
      const f = flows.find((x) => toHex(flowKey(x.tuple)) === toHex(h.key))!;
      expect(h.packets).toBeGreaterThanOrEqual(f.packets);
      expect(h.bytes).toBeGreaterThanOrEqual(f.bytes);
      expect(h.packetsBound).toBeCloseTo(packets.errorBound(), 9);
      expect(h.confidence).toBeCloseTo(1 - Math.exp(-4), 12);
    }
    const icmp = heavyHitters(merged, packets, bytes).find((h) => h.tuple.proto === 1)!;
    expect([icmp.tuple.sport, icmp.tuple.dport]).toEqual([8, 0]); // type, code
  });

  it('applies the φ threshold to the total of the ranking sketch', () => {
    const { packets, bytes, lists } = fleet(flows, 2);
    const total = packets.total; // 11 010
    const hh = heavyHitters(mergeCandidates(lists), packets, bytes, { phi: 0.15 });
    expect(hh.map((h) => h.tuple.src)).toEqual(['10.0.0.1', '10.0.0.2', '2001:db8::1']);
    for (const h of hh) expect(h.packets).toBeGreaterThanOrEqual(0.15 * total);
    expect(() => heavyHitters([], packets, bytes, { phi: 1.5 })).toThrow(RangeError);
  });

  it('collision correction removes colliding candidates and never goes below the truth', () => {
    // A narrow sketch forces collisions; kernel counts are any lower bounds of the true counts.
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 1, max: 10_000 }), fc.double({ min: 0, max: 1, noNaN: true })), {
          minLength: 1,
          maxLength: 60,
        }),
        (spec) => {
          const cms = new CountMinSketch({ depth: 3, widthBits: 3 });
          const cands: Candidate[] = spec.map(([count, frac], i) => {
            const key = flowKey(tcp(`10.1.${i >> 8}.${i & 255}`, '10.2.0.1', 1000 + i));
            cms.addKey(key, count);
            return { key, packets: Math.floor(count * frac), bytes: 0 };
          });
          const corrected = candidateUpperBounds(cands, cms, 'packets', true);
          const plain = candidateUpperBounds(cands, cms, 'packets', false);
          spec.forEach(([count], i) => {
            expect(corrected[i]).toBeGreaterThanOrEqual(count);
            expect(corrected[i]).toBeLessThanOrEqual(plain[i]);
            expect(plain[i]).toBe(cms.estimateKey(cands[i].key));
          });
        },
      ),
      { numRuns: 200 },
    );
    // With exact kernel counts, two colliding candidates are separated exactly.
    const cms = new CountMinSketch({ depth: 1, widthBits: 1 });
    const keys = [0, 1, 2, 3, 4, 5].map((i) => flowKey(tcp('10.0.0.1', '10.0.0.2', i)));
    const sameColumn = keys.filter((k) => hashKey(k).lo >>> 31 === hashKey(keys[0]).lo >>> 31).slice(0, 2);
    cms.addKey(sameColumn[0], 700);
    cms.addKey(sameColumn[1], 300);
    const est = candidateUpperBounds(
      sameColumn.map((key, i) => ({ key, packets: i === 0 ? 700 : 300, bytes: 0 })),
      cms,
      'packets',
      true,
    );
    expect(Array.from(est)).toEqual([700, 300]);
  });
});

describe('hierarchical heavy hitters', () => {
  const hh = (src: string, packets: number) => ({
    key: flowKey(tcp(src, '192.0.2.1')),
    tuple: { src, dst: '192.0.2.1', sport: 1234, dport: 443, proto: 6 },
    packets,
    packetsBound: 0,
    bytes: packets * 100,
    bytesBound: 0,
    kernelPackets: packets,
    kernelBytes: packets * 100,
    sincePackets: 0,
    sinceBytes: 0,
    confidence: 1,
  });

  it('reports a prefix when the traffic not explained by reported sub-prefixes reaches φ·N', () => {
    const flows = [
      hh('10.1.1.1', 300), // a /32 heavy hitter on its own
      hh('10.1.2.1', 40), // these four only matter together: 10.1.0.0/16 (with 10.1.3.x)
      hh('10.1.2.2', 40),
      hh('10.1.3.1', 40),
      hh('10.1.3.2', 40),
      hh('172.16.0.1', 50), // small, alone
      hh('2001:db8:1::1', 60), // IPv6 /64 together
      hh('2001:db8:1::2', 60),
      hh('2001:db8:1:5::3', 20),
    ];
    const total = 1000;
    const out = hierarchicalHeavyHitters(flows, { side: 'src', phi: 0.1, total });
    expect(out.map((h) => [h.prefix, h.weight, h.discounted])).toEqual([
      ['2001:db8:1::/64', 120, 120], // ::1 and ::2 share a /64
      ['10.1.1.1/32', 300, 300],
      ['10.1.0.0/16', 460, 160],
    ]);
    expect(out[1].share).toBeCloseTo(0.3, 12);
    // Lower threshold: the /24s appear and discount their /16.
    const fine = hierarchicalHeavyHitters(flows, { side: 'src', phi: 0.05, total });
    expect(fine.map((h) => h.prefix)).toEqual([
      '2001:db8:1::1/128',
      '2001:db8:1::2/128',
      '10.1.1.1/32',
      '172.16.0.1/32',
      '10.1.2.0/24',
      '10.1.3.0/24',
    ]);
    // By destination every flow shares 192.0.2.1.
    // The flows carry 65 000 bytes in all.
    expect(hierarchicalHeavyHitters(flows, { side: 'dst', phi: 0.7, total: 100_000, by: 'bytes' })).toEqual([]);
    const dst = hierarchicalHeavyHitters(flows, { side: 'dst', phi: 0.6, total: 100_000, by: 'bytes' });
    expect(dst.map((h) => [h.prefix, h.weight])).toEqual([['192.0.2.1/32', 65_000]]);
    const dstPackets = hierarchicalHeavyHitters(flows, { side: 'dst', phi: 0.5, total });
    expect(dstPackets.map((h) => [h.prefix, h.weight])).toEqual([['192.0.2.1/32', 650]]);
  });
});

describe('CandidateTable (model of the kernel table)', () => {
  it('enters at the threshold from the CMS estimate, then counts; evicts the way with fewest packets for a heavier flow', () => {
    const t = new CandidateTable({ slots: 4, ways: 2, thresholdPackets: 3 });
    const keys = Array.from({ length: 12 }, (_, i) => flowKey(tcp('10.0.0.1', '10.0.0.2', i)));
    // Three keys whose hash puts them in set 0, so the two-way set overflows.
    const inSet0 = keys.filter((k) => (hashKey(k).lo & 1) === 0).slice(0, 3);
    expect(inSet0.length).toBe(3);
    const obs = (k: Uint8Array, est: number) => t.observe(k, hashKey(k).lo, 100, est, est * 100);
    obs(inSet0[0], 2);
    expect(t.candidates().length).toBe(0); // below threshold
    obs(inSet0[0], 3); // enters with its estimate
    obs(inSet0[0], 4); // then counts exactly
    obs(inSet0[1], 3);
    expect(t.candidates().map((c) => [c.packets, c.bytes, c.sincePackets])).toEqual([
      [4, 400, 1],
      [3, 300, 0],
    ]);
    obs(inSet0[2], 3); // set full, estimate not above the lightest way (3): refused
    expect([t.inserts, t.evictions, t.droppedMaxPackets]).toEqual([2, 0, 3]);
    obs(inSet0[1], 4); // the lighter way counts on: 4 (1 since entry)
    obs(inSet0[0], 5); // and the other: 5
    obs(inSet0[2], 5); // heavier than the lightest way (4): replaces it
    expect([t.inserts, t.evictions, t.evictedPackets, t.droppedMaxPackets]).toEqual([3, 1, 1, 4]);
    const left = t.candidates().map((c) => toHex(c.key));
    expect(left).toEqual([toHex(inSet0[0]), toHex(inSet0[2])]);
    expect(t.floor().packets).toBe(4); // threshold 3 − 1 = 2, dropped 4
    t.clear();
    expect(t.candidates().length).toBe(0);
  });

  it('raises the entry threshold to the noise floor; a member keeps counting under it, as the kernel does', () => {
    const key = flowKey(tcp('10.0.0.1', '10.0.0.2', 7));
    const other = flowKey(tcp('10.0.0.9', '10.0.0.2', 8));
    const lo = hashKey(key).lo;
    // widthBits 2: the floor is (packets seen >> 2) << 1, so after 100 packets it is 50.
    const t = new CandidateTable({ slots: 4, ways: 2, thresholdPackets: 3, widthBits: 2 });
    expect(t.threshold(1)).toBe(3);
    expect(t.threshold(100)).toBe(50);
    t.observe(key, lo, 10, 3, 30); // first packet: floor 3, enters
    for (let i = 0; i < 98; i++) t.observe(other, hashKey(other).lo, 10, 2, 20); // others below any threshold
    t.observe(key, lo, 10, 4, 40); // 100th packet: floor 50 > estimate 4, still counted
    expect(t.candidates()[0].packets).toBe(4);
    t.observe(other, hashKey(other).lo, 10, 30, 300); // 30 < floor 50: never enters
    expect(t.candidates().length).toBe(1);
    expect(new CandidateTable({ noiseShift: -1, thresholdPackets: 5 }).threshold(1e9)).toBe(5);
  });
});

describe('complete candidates (counted by every table)', () => {
  const k1 = flowKey(tcp('10.0.0.1', '10.0.0.2'));
  const k2 = flowKey(tcp('10.0.0.3', '10.0.0.4'));

  it('a merged key is complete only when complete in every list', () => {
    const merged = mergeCandidates([
      [
        { key: k1, packets: 10, bytes: 100, complete: true },
        { key: k2, packets: 5, bytes: 50, complete: true },
      ],
      [{ key: k1, packets: 20, bytes: 200, complete: true }],
    ]);
    expect(merged.map((c) => [c.packets, c.complete === true])).toEqual([
      [30, true],
      [5, false], // missing from the second list: its traffic there is unknown
    ]);
    const unmarked = mergeCandidates([
      [{ key: k1, packets: 1, bytes: 1, complete: true }],
      [{ key: k1, packets: 1, bytes: 1 }],
    ]);
    expect(unmarked[0].complete).toBeUndefined();
    const loose = new CandidateSet();
    loose.add({ key: k1, packets: 1, bytes: 1, complete: true });
    loose.add({ key: k2, packets: 1, bytes: 1, complete: true }); // a list of its own: k1 is not in it
    expect(loose.toArray().map((c) => c.complete === true)).toEqual([false, false]);
  });

  it('caps the CMS estimate of a complete flow at its kernel counts', () => {
    const packets = new CountMinSketch({ depth: 2, widthBits: 1 }); // two cells per row: everything collides
    const bytes = new CountMinSketch({ depth: 2, widthBits: 1 });
    packets.addKey(k1, 100);
    packets.addKey(k2, 900);
    bytes.addKey(k1, 1000);
    bytes.addKey(k2, 9000);
    const list = [
      { key: k1, packets: 120, bytes: 1100, complete: true },
      { key: k2, packets: 950, bytes: 9500 },
    ];
    const [a, b] = heavyHitters(list, packets, bytes, { by: 'bytes' }).sort((x, y) => x.packets - y.packets);
    expect([a.packets, a.bytes]).toEqual([
      Math.min(120, packets.estimateKey(k1)),
      Math.min(1100, bytes.estimateKey(k1)),
    ]);
    expect(a.packets).toBeGreaterThanOrEqual(100);
    expect(b.packets).toBe(packets.estimateKey(k2)); // not complete: the CMS alone
    const off = heavyHitters(list, packets, bytes, { completeCounts: false });
    expect(off.find((h) => toHex(h.key) === toHex(k1))!.packets).toBe(packets.estimateKey(k1));
  });
});
