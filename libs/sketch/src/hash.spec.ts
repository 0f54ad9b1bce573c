// The fast TypeScript hash, key builders and index derivations reproduce every shared test vector bit for bit, under
// the public seed and under another one; seeds are parsed strictly and expand to the vectors' key and identity.
import {
  PUBLIC_HASH_KEY,
  cmsColumn,
  currentHashSeed,
  expandHashSeed,
  formatHashSeed,
  hashKey,
  hashWords,
  hllIndex,
  hllRank,
  parseHashSeed,
  useHashSeed,
} from './hash';
import { portsKey, dstKey, flowKey, formatAddress, fromHex, parseAddress, parseFlowKey, srcKey, toHex } from './keys';
import { CMS_DEPTH } from './spec.generated';
import vectors from '../spec/test-vectors.json';

const u32 = (h: string) => Number(h);

function derived(hi: number, lo: number) {
  return {
    cms: Array.from({ length: CMS_DEPTH }, (_, r) => cmsColumn(hi, lo, r)),
    hllIndex: hllIndex(hi),
    hllRank: hllRank(hi, lo),
  };
}

describe.each(vectors.seeds.map((s) => [s.seed, s] as const))(
  'hash and keys of seed %s against test-vectors.json',
  (_seed, vs) => {
    beforeAll(() => useHashSeed(parseHashSeed(vs.seed)));
    afterAll(() => useHashSeed(PUBLIC_HASH_KEY));

    it('expands the seed to the key and the one-way identity of the vectors', () => {
      const e = currentHashSeed();
      expect(e.k.map((k) => formatHashSeed(BigInt(k)).slice(-8))).toEqual(vs.key.k.map((k) => k.slice(2)));
      expect(formatHashSeed((BigInt(e.fHi) << 32n) | BigInt(e.fLo))).toBe(vs.key.f);
      expect(e.seedHash).toBe(Number(vs.seedHash));
      expect(e.isPublic).toBe(vs === vectors.seeds[0]);
    });

    it.each(vs.flows.map((v) => [v.note, v] as const))('flow %s', (_note, v) => {
      const key = flowKey(v.tuple);
      expect(toHex(key)).toBe(v.flow.key);
      const h = hashKey(key);
      expect([h.hi, h.lo]).toEqual([u32(v.flow.hi), u32(v.flow.lo)]);
      expect(derived(h.hi, h.lo)).toEqual({ cms: v.flow.cms, hllIndex: v.flow.hllIndex, hllRank: v.flow.hllRank });

      for (const [built, want] of [
        [srcKey(v.tuple.src), v.src],
        [dstKey(v.tuple.dst), v.dst],
        [portsKey(v.tuple.dport, v.tuple.proto), v.dport],
      ] as const) {
        expect(toHex(built)).toBe(want.key);
        const k = hashKey(built);
        expect([k.hi, k.lo]).toEqual([u32(want.hi), u32(want.lo)]);
        expect(hllIndex(k.hi)).toBe(want.hllIndex);
        expect(hllRank(k.hi, k.lo)).toBe(want.hllRank);
      }
    });

    it('hashes raw word vectors, including keys that cancel the key words and rank ≥ 19 cases', () => {
      for (const v of vs.words) {
        const h = hashWords(v.words.map(u32));
        expect([h.hi, h.lo]).toEqual([u32(v.hi), u32(v.lo)]);
        expect(derived(h.hi, h.lo)).toEqual({ cms: v.cms, hllIndex: v.hllIndex, hllRank: v.hllRank });
      }
      expect(vs.words.some((v) => v.hllRank > 32 - 14)).toBe(true);
    });
  },
);

describe('hash seeds', () => {
  it('parses exactly 16 hex digits, with or without 0x, and refuses anything else', () => {
    expect(parseHashSeed('0x00000000000000FF')).toBe(0xffn);
    expect(parseHashSeed(' 5ec7e75eed5eed01\n')).toBe(0x5ec7e75eed5eed01n);
    for (const bad of ['', '0x', 'ff', '0x123456789abcdef', '0x123456789abcdef01', '0x123456789abcdefg', '-1'])
      expect(() => parseHashSeed(bad)).toThrow(/16 hex digits/);
  });

  it('gives seeds distinct 32-bit identities', () => {
    const ids = new Set<number>();
    for (let i = 0n; i < 256n; i++) ids.add(expandHashSeed(0x1000n + i).seedHash);
    expect(ids.size).toBeGreaterThan(250); // 32-bit identities of 256 seeds: a repeat has probability ~2^-17
    expect(expandHashSeed(0x1000n).seedHash).not.toBe(PUBLIC_HASH_KEY.seedHash);
  });
});

describe('seed-independent parts of test-vectors.json', () => {
  it('derives CMS columns and HLL index/rank at the edges (hi<<p == 0, lo == 0)', () => {
    for (const v of vectors.derive) {
      expect(derived(u32(v.hi), u32(v.lo))).toEqual({ cms: v.cms, hllIndex: v.hllIndex, hllRank: v.hllRank });
    }
  });

  it('round-trips flow keys to readable tuples', () => {
    for (const v of vectors.seeds[0].flows) {
      const t = parseFlowKey(fromHex(v.flow.key));
      expect(flowKey(t)).toEqual(fromHex(v.flow.key));
      expect(t.sport).toBe(v.tuple.sport);
      expect(t.proto).toBe(v.tuple.proto);
    }
    expect(formatAddress(parseAddress('::ffff:10.0.0.1'))).toBe('10.0.0.1');
    expect(formatAddress(parseAddress('2001:DB8:0:0:1:0:0:1'))).toBe('2001:db8::1:0:0:1');
    expect(parseAddress(new Uint8Array([10, 0, 0, 1]))).toEqual(parseAddress('10.0.0.1'));
  });

  it('rejects malformed addresses, ports and protocols', () => {
    for (const bad of [
      '1.2.3',
      '1.2.3.256',
      '01.2.3.4',
      '1::2::3',
      '12345::',
      'fe80::1%eth0',
      ':::',
      'g::1',
      '1:2:3:4:5:6:7:8:9',
      '',
    ]) {
      expect(() => parseAddress(bad)).toThrow(RangeError);
    }
    expect(() => flowKey({ src: '1.1.1.1', dst: '2.2.2.2', sport: 65536, dport: 1, proto: 6 })).toThrow(RangeError);
    expect(() => flowKey({ src: '1.1.1.1', dst: '2.2.2.2', sport: 1, dport: 1, proto: 256 })).toThrow(RangeError);
    expect(() => hashWords([1, 2, 3])).toThrow(RangeError);
  });
});
