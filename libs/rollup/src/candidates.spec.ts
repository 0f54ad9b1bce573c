import { CountMinSketch, flowKey, toHex, type Candidate } from '@tma/sketch';
import { CandidateBlock, CandidateUnion, kthLargest, shortlistBlock, topByEstimate, unionBlocks } from './candidates';

const key = (i: number) =>
  flowKey({ src: `10.0.${i >> 8}.${i & 255}`, dst: '192.0.2.1', sport: 1000 + (i % 50000), dport: 443, proto: 6 });

describe('candidate blocks', () => {
  it('unions by key with kernel counts summed, matching a plain map, in order of first appearance', () => {
    const lists: Candidate[][] = [];
    for (let l = 0; l < 7; l++) {
      const list: Candidate[] = [];
      for (let i = l * 300; i < l * 300 + 1000; i++) list.push({ key: key(i), packets: i + 1, bytes: 10 * (i + 1) });
      lists.push(list);
    }
    const want = new Map<string, { packets: number; bytes: number }>();
    for (const list of lists)
      for (const c of list) {
        const w = want.get(toHex(c.key)) ?? { packets: 0, bytes: 0 };
        w.packets += c.packets;
        w.bytes += c.bytes;
        want.set(toHex(c.key), w);
      }
    const u = unionBlocks(lists.map((l) => CandidateBlock.from(l)));
    expect(u.size).toBe(want.size);
    expect(u.toArray().map((c) => toHex(c.key))).toEqual([...want.keys()]);
    for (const c of u.toArray()) expect({ packets: c.packets, bytes: c.bytes }).toEqual(want.get(toHex(c.key)));
    // Extending an earlier union gives the same entries and counts.
    const blocks = lists.map((l) => CandidateBlock.from(l));
    const extended = unionBlocks(blocks.slice(4), unionBlocks(blocks.slice(0, 4)));
    expect(extended.toArray()).toEqual(u.toArray());
    const indexed = unionBlocks(blocks.slice(0, 3), undefined, { keepIndex: true });
    expect(indexed.unionIndex).toBeInstanceOf(Int32Array);
    expect(unionBlocks(blocks.slice(3), indexed).toArray()).toEqual(u.toArray());
    expect(unionBlocks([], u)).toBe(u);
    // inputs untouched
    expect(lists[0][0].packets).toBe(1);
    expect(unionBlocks([]).size).toBe(0);
  });

  it('CandidateUnion fed in parts gives what one unionBlocks gives (entries, order, floors, sampled)', () => {
    const block = (from: number, n: number, floor?: number, sampled = false) =>
      CandidateBlock.from({
        candidates: Array.from({ length: n }, (_, i) => ({
          key: key(from + i),
          packets: from + i + 1,
          bytes: 3 * (from + i),
        })),
        floor: floor === undefined ? undefined : { packets: floor, bytes: floor * 100 },
        sampled,
      } as never);
    const blocks = [block(0, 500, 3), block(0, 0, 1), block(250, 800, 2), block(900, 1, 5, true), block(100, 2000, 7)];
    const base = unionBlocks([block(5000, 300, 11), block(5200, 300, 13)], undefined, { keepIndex: true });
    for (const b of [undefined, base]) {
      const want = unionBlocks(blocks, b);
      for (const cut of [[1], [2, 4], [1, 2, 3, 4], [5]]) {
        const u = new CandidateUnion(b);
        let at = 0;
        for (const c of [...cut, blocks.length]) {
          u.add(blocks.slice(at, c));
          at = c;
        }
        const got = u.finish();
        expect(got.toArray()).toEqual(want.toArray());
        expect(got.floor).toEqual(want.floor);
        expect(got.sampled).toBe(want.sampled);
      }
    }
    // a single non-empty block comes back as it is (arrays shared), with the summed floor
    const one = new CandidateUnion().add([blocks[0], blocks[1]]).finish();
    expect(one.hi).toBe(blocks[0].hi);
    expect(one.floor).toEqual({ packets: 4, bytes: 400 });
    expect(new CandidateUnion().add([]).finish()).toBe(unionBlocks([]));
  });

  it('CandidateUnion.addList takes plain lists as add takes their blocks; soFar reads it while adding goes on', () => {
    const list = (from: number, n: number, since = true): Candidate[] =>
      Array.from({ length: n }, (_, i) => ({
        key: key(from + i),
        packets: 2 * (from + i) + 1,
        bytes: 7 * (from + i) + 3,
        ...(since ? { sincePackets: from + i, sinceBytes: 5 * (from + i) } : {}),
      }));
    const parts: { list: Candidate[]; floor?: { packets: number; bytes: number }; sampled: boolean }[] = [
      { list: list(0, 40), floor: { packets: 3, bytes: 30 }, sampled: false },
      { list: [], floor: { packets: 1, bytes: 10 }, sampled: false },
      { list: list(20, 3000, false), floor: { packets: 2, bytes: 20 }, sampled: true },
      { list: list(10, 50), floor: undefined, sampled: false },
      { list: list(2900, 200), floor: { packets: 4, bytes: 40 }, sampled: false },
    ];
    const asBlock = (p: (typeof parts)[number]) => CandidateBlock.from(p.list).withBounds(p.floor, p.sampled);
    const base = unionBlocks([CandidateBlock.from(list(5000, 300))], undefined, { keepIndex: true });
    for (const b of [undefined, base]) {
      const want = [1, 2, 3, 4, 5].map((k) => unionBlocks(parts.slice(0, k).map(asBlock), b));
      const u = new CandidateUnion(b);
      const seen: CandidateBlock[] = [];
      parts.forEach((p, i) => {
        // lists and blocks mixed: every other part as a block
        if (i % 2 === 0) u.addList(p.list, p.floor, p.sampled);
        else u.add([asBlock(p)]);
        seen.push(u.soFar());
        expect(u.bounds).toEqual({ floor: want[i].floor, sampled: want[i].sampled });
      });
      // each soFar is the union of the parts up to it, unchanged by what came later
      seen.forEach((got, i) => {
        expect(got.toArray()).toEqual(want[i].toArray());
        expect([got.floor, got.sampled]).toEqual([want[i].floor, want[i].sampled]);
        expect(Array.from(got.hi)).toEqual(Array.from(want[i].hi));
      });
      expect(u.finish().toArray()).toEqual(want[4].toArray());
      expect(() => u.addList(parts[0].list, undefined)).toThrow('add after finish');
      expect(() => u.soFar()).toThrow('soFar after finish');
    }
    // the lists are copied: changing one afterwards changes nothing in the union
    const l = list(0, 3);
    const u = new CandidateUnion().addList(l, { packets: 0, bytes: 0 });
    l[0].key.fill(0);
    l[0].packets = 999;
    expect(u.soFar().toArray()).toEqual(CandidateBlock.from(list(0, 3)).toArray());
    // nothing added: no entries, floor 0 (every list so far said so); a list without a floor makes it unknown
    expect(new CandidateUnion().addList([], { packets: 0, bytes: 0 }).soFar().floor).toEqual({ packets: 0, bytes: 0 });
    expect(new CandidateUnion().addList([], undefined).soFar().floor).toBeUndefined();
  });

  it('kthLargest selects like a sort, with ties and extremes', () => {
    let seed = 7;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) % 1000) / 10;
    for (const n of [1, 2, 3, 10, 1000, 4097]) {
      const values = Float64Array.from({ length: n }, rnd);
      const sorted = Float64Array.from(values).sort().reverse();
      for (const k of [1, 2, Math.ceil(n / 2), n].filter((k) => k <= n))
        expect(kthLargest(Float64Array.from(values), k)).toBe(sorted[k - 1]);
    }
    expect(kthLargest(new Float64Array(500).fill(3), 17)).toBe(3);
  });

  it('topByEstimate keeps the n largest plain estimates, largest first; shortlistBlock keeps both rankings', () => {
    const cmsP = new CountMinSketch();
    const cmsB = new CountMinSketch();
    const list: Candidate[] = [];
    for (let i = 0; i < 5000; i++) {
      const k = key(i);
      cmsP.addKey(k, 1 + (i % 997));
      cmsB.addKey(k, 1 + ((i * 7919) % 1009) * 100);
      list.push({ key: k, packets: 0, bytes: 0 });
    }
    const block = CandidateBlock.from(list);
    const est = list.map((c) => cmsP.estimateKey(c.key));
    const top = [...topByEstimate(block, cmsP, 100)];
    expect(top).toHaveLength(100);
    for (let j = 1; j < top.length; j++) expect(est[top[j - 1]]).toBeGreaterThanOrEqual(est[top[j]]);
    const cut = est[top[99]];
    expect(est.filter((e) => e > cut).length).toBeLessThan(100); // nothing larger left out
    const short = shortlistBlock(block, cmsP, cmsB, 100);
    expect(short.size).toBeGreaterThanOrEqual(100);
    expect(short.size).toBeLessThanOrEqual(200);
    const kept = new Set(short.toArray().map((c) => toHex(c.key)));
    for (const i of top) expect(kept.has(toHex(list[i].key))).toBe(true);
    for (const i of topByEstimate(block, cmsB, 100)) expect(kept.has(toHex(list[i].key))).toBe(true);
  });
});
