// Heavy-prefix keys and counts: the masking and hash of every level against the shared vectors (which the C header
// reproduces in c-hash.spec.ts and the kernel in bpf/test/prefixes.spec.ts), and the merge rules of the bounds.
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  addressPrefixes,
  expandHashSeed,
  prefixHash,
  prefixCountsFromWire,
  prefixCountsToWire,
  PrefixCounts,
  prefixMeta,
  prefixSetIndex,
  prefixText,
  tableOf,
  useHashSeed,
  currentHashSeed,
  PUBLIC_HASH_KEY,
  parseAddress,
} from './index';

const VECTORS = path.join(__dirname, '..', 'spec', 'prefix-vectors.json');
const hex = (n: number) => `0x${(n >>> 0).toString(16).padStart(8, '0')}`;
const ADDRESSES = [
  '198.51.100.7',
  '10.1.2.3',
  '0.0.0.0',
  '255.255.255.255',
  '2001:db8:1234:5678:9abc:def0:1:2',
  '::1',
  'fe80::1',
  '2001:db8:ffff:ffff::',
];
const SEEDS = [PUBLIC_HASH_KEY, expandHashSeed(0x0123456789abcdefn)];

function compute() {
  const before = currentHashSeed();
  try {
    return {
      $comment:
        'Heavy-prefix keys (libs/sketch/src/prefixes.ts, bpf/include/tma_hash.h tma_hash_prefix): for each address and side the three masked prefixes (lo/hi words, meta word), their hash (tma_hash_prefix) and their set of 64. Written once by prefixes.spec.ts (TMA_WRITE_VECTORS=1); C and TypeScript must reproduce it.',
      seeds: SEEDS.map((seed) => {
        useHashSeed(seed);
        return {
          key: { k: seed.k.map(hex), f: `0x${((BigInt(seed.fHi) << 32n) | BigInt(seed.fLo)).toString(16)}` },
          addresses: ADDRESSES.flatMap((address) =>
            ([0, 1] as const).map((side) => ({
              address,
              side,
              prefixes: addressPrefixes(parseAddress(address), side).map((p) => {
                const meta = prefixMeta(p.length, p.family, side);
                const h = prefixHash(p.lo, p.hi, meta);
                return {
                  text: prefixText(p.family, p.lo, p.hi, p.length),
                  table: p.table,
                  lo: hex(p.lo),
                  hi: hex(p.hi),
                  meta: hex(meta),
                  hashHi: hex(h.hi),
                  hashLo: hex(h.lo),
                  set: prefixSetIndex(p.lo, p.hi, meta),
                };
              }),
            })),
          ),
        };
      }),
    };
  } finally {
    useHashSeed(before);
  }
}

describe('prefix keys', () => {
  it('reproduce the shared vectors (masking, meta word, hash, set) under two seeds', () => {
    const got = compute();
    if (!fs.existsSync(VECTORS) && process.env.TMA_WRITE_VECTORS === '1')
      fs.writeFileSync(VECTORS, `${JSON.stringify(got, null, 2)}\n`);
    const want = JSON.parse(fs.readFileSync(VECTORS, 'utf8'));
    expect(got).toEqual(want);
    const v4 = want.seeds[0].addresses[0].prefixes.map((p: { text: string }) => p.text);
    expect(v4).toEqual(['198.0.0.0/8', '198.51.0.0/16', '198.51.100.0/24']);
    const v6 = want.seeds[0].addresses[8].prefixes.map((p: { text: string }) => p.text);
    expect(v6).toEqual(['2001:db8::/32', '2001:db8:1234::/48', '2001:db8:1234:5678::/64']);
    // the seed changes every hash
    expect(want.seeds[0].addresses[0].prefixes[0].hashHi).not.toBe(want.seeds[1].addresses[0].prefixes[0].hashHi);
  });

  it('tables: side × family × level', () => {
    expect([0, 2, 3, 5, 6, 11].map((t) => tableOf(t))).toEqual([
      { side: 0, family: 4, length: 8, level: 0 },
      { side: 0, family: 4, length: 24, level: 2 },
      { side: 0, family: 6, length: 32, level: 0 },
      { side: 0, family: 6, length: 64, level: 2 },
      { side: 1, family: 4, length: 8, level: 0 },
      { side: 1, family: 6, length: 64, level: 2 },
    ]);
  });
});

describe('PrefixCounts', () => {
  const entry = (table: number, lo: number, packets: number, since: number) => ({
    table,
    lo,
    hi: 0,
    packets,
    bytes: packets * 100,
    sincePackets: since,
    sinceBytes: since * 100,
  });

  it('adds disjoint traffic: a prefix missing on one side gets the floor of the other in its upper bound only', () => {
    const a = new PrefixCounts();
    a.put(entry(2, 1, 50, 40));
    a.setFloor(2, 5, 500);
    expect(a.get(2, 1, 0)?.packets).toBe(50); // a floor set later keeps the listed bounds
    const b = new PrefixCounts();
    b.setFloor(2, 7, 700);
    b.put(entry(2, 2, 30, 30));
    a.add(b);
    expect(a.get(2, 1, 0)).toMatchObject({ packets: 57, sincePackets: 40, bytes: 5700, sinceBytes: 4000 });
    expect(a.get(2, 2, 0)).toMatchObject({ packets: 35, sincePackets: 30 });
    expect([a.floorPackets[2], a.floorBytes[2]]).toEqual([12, 1200]);
    // associative: the same result whatever the grouping
    const c = new PrefixCounts().add(b.clone());
    expect(c.get(2, 2, 0)?.packets).toBe(30);
  });

  it('unknown traffic raises every floor and every upper bound', () => {
    const a = new PrefixCounts();
    a.put(entry(0, 1, 10, 10));
    a.addUnknown(100, 9000);
    expect(a.get(0, 1, 0)).toMatchObject({ packets: 110, sincePackets: 10 });
    expect(Array.from(a.floorPackets)).toEqual(new Array(12).fill(100));
  });

  it('a cap keeps the heaviest upper bounds and raises the floor to what it lets go', () => {
    const a = new PrefixCounts();
    for (let i = 0; i < 10; i++) a.put(entry(4, i, 10 + i, i));
    a.cap(3);
    expect(
      a
        .list()
        .map((e) => e.lo)
        .sort(),
    ).toEqual([7, 8, 9]);
    // the prefixes kept keep their bounds
    expect(a.get(4, 9, 0)).toMatchObject({ packets: 19, sincePackets: 9 });
    expect(a.floorPackets[4]).toBe(16);
    expect(a.floorBytes[4]).toBe(1600);
  });

  it('heavy(): upper ≥ threshold listed, certain when lower ≥ threshold', () => {
    const a = new PrefixCounts();
    a.put(entry(8, 0x006433c6, 120, 101)); // dst IPv4 /24 198.51.100.0
    a.put(entry(8, 0x000033c6, 100, 20));
    a.put(entry(8, 0x000000c6, 99, 99));
    expect(a.heavy(1, 'packets', 100)).toEqual([
      { prefix: '198.51.100.0/24', side: 'dst', family: 4, length: 24, lower: 101, upper: 120, certain: true },
      { prefix: '198.51.0.0/24', side: 'dst', family: 4, length: 24, lower: 20, upper: 100, certain: false },
    ]);
    expect(a.heavy(0, 'packets', 1)).toEqual([]);
  });

  it('wire form: round trip through the snapshot fields, masked, unknown without prefix data', () => {
    const a = new PrefixCounts();
    for (let t = 0; t < 12; t++) a.setFloor(t, 3, 300);
    a.put(entry(2, 0x006433c6, 120, 101));
    const wire = prefixCountsToWire(a);
    const back = prefixCountsFromWire({ prefixCounts: true, ...wire, totals: { packets: 1000, bytes: 1e5 } });
    expect(back.encode()).toBe(a.encode());
    // stray bits below the length are masked off
    wire.heavyPrefixes[0].prefix = Uint8Array.from([198, 51, 100, 77]);
    const masked = prefixCountsFromWire({ prefixCounts: true, ...wire, totals: { packets: 1, bytes: 1 } });
    expect(masked.get(2, 0x006433c6, 0)?.packets).toBe(120);
    const none = prefixCountsFromWire({ prefixCounts: false, totals: { packets: 1000, bytes: 1e5 } });
    expect([none.size, none.floorPackets[7], none.floorBytes[7]]).toEqual([0, 1000, 1e5]);
    expect(() =>
      prefixCountsFromWire({
        prefixCounts: true,
        heavyPrefixes: [{ ...wire.heavyPrefixes[0], length: 20 }],
        totals: { packets: 1, bytes: 1 },
      }),
    ).toThrow(RangeError);
  });

  it('keys: prefixes differing in any word or table stay apart, equal ones add up (every level, high words set)', () => {
    // near-collisions: each word at its extremes, hi above and below 2^16 (the /64 level), the same words in two tables
    const words = [0, 1, 0xff, 0xffff, 0x10000, 0xffffff, 0x7fffffff, 0x80000000, 0xffffffff];
    const reference = new Map<string, { packets: number; since: number }>();
    const a = new PrefixCounts();
    let n = 0;
    for (const table of [0, 2, 3, 5, 11])
      for (const lo of words)
        for (const hi of words) {
          const packets = ++n;
          for (let twice = 0; twice < 2; twice++) {
            a.put({ table, lo, hi, packets, bytes: 2 * packets, sincePackets: 1, sinceBytes: 1 });
            const r = reference.get(`${table}:${lo}:${hi}`) ?? { packets: 0, since: 0 };
            reference.set(`${table}:${lo}:${hi}`, { packets: r.packets + packets, since: r.since + 1 });
          }
        }
    expect(a.size).toBe(reference.size);
    for (const [key, r] of reference) {
      const [table, lo, hi] = key.split(':').map(Number);
      expect(a.get(table, lo, hi)).toMatchObject({ packets: r.packets, bytes: 2 * r.packets, sincePackets: r.since });
    }
    // listed in first-put order (the order rows encode them in)
    expect(a.list().map((e) => `${e.table}:${e.lo}:${e.hi}`)).toEqual([...reference.keys()]);
    // merged into counts holding some of them: the same sums as adding entry by entry
    const b = new PrefixCounts().add(a).add(a);
    for (const [key, r] of reference) {
      const [table, lo, hi] = key.split(':').map(Number);
      expect(b.get(table, lo, hi)?.packets).toBe(2 * r.packets);
    }
    b.cap(4);
    expect(b.size).toBe(5 * 4);
  });

  it('wire form: prefix words read as the zero-padded bytes, masked to the level', () => {
    const floors = Array.from({ length: 12 }, (_, t) => ({ ...tableOf(t), packets: 0, bytes: 0 }));
    const prefixes = [
      { side: 0, family: 4, length: 8, prefix: Uint8Array.from([10, 1, 2, 3]) },
      { side: 1, family: 4, length: 24, prefix: Uint8Array.from([10, 1]) }, // short: the rest reads as 0
      { side: 0, family: 6, length: 64, prefix: Uint8Array.from([0x20, 1, 0xd, 0xb8, 0xff, 0xfe, 0xfd, 0xfc, 9]) },
      { side: 1, family: 6, length: 48, prefix: Uint8Array.from([0x20, 1, 0xd, 0xb8, 0x12, 0x34, 0x56, 0x78]) },
      { side: 1, family: 6, length: 32, prefix: Uint8Array.from([0x20, 1, 0xd, 0xb8, 0x12, 0x34]) },
    ].map((p) => ({ ...p, packets: 5, bytes: 50, sincePackets: 1, sinceBytes: 10 }));
    const got = prefixCountsFromWire({
      prefixCounts: true,
      heavyPrefixes: prefixes,
      prefixFloors: floors,
      totals: { packets: 9, bytes: 90 },
    });
    const le = (b: number[]) => (b[0] | (b[1] << 8) | (b[2] << 16) | (b[3] << 24)) >>> 0;
    expect(got.list().map((e) => [e.table, e.lo, e.hi])).toEqual([
      [0, le([10, 0, 0, 0]), 0],
      [8, le([10, 1, 0, 0]), 0],
      [5, le([0x20, 1, 0xd, 0xb8]), le([0xff, 0xfe, 0xfd, 0xfc])],
      [10, le([0x20, 1, 0xd, 0xb8]), le([0x12, 0x34, 0, 0])],
      [9, le([0x20, 1, 0xd, 0xb8]), 0],
    ]);
  });
});
