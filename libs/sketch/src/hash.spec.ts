// The fast TypeScript hash, key builders and index derivations reproduce every shared test vector bit for bit.
import { cmsColumn, hashKey, hashWords, hllIndex, hllRank } from './hash';
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

describe('hash and keys against test-vectors.json', () => {
  it.each(vectors.flows.map((v) => [v.note, v] as const))('flow %s', (_note, v) => {
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
    for (const v of vectors.words) {
      const h = hashWords(v.words.map(u32));
      expect([h.hi, h.lo]).toEqual([u32(v.hi), u32(v.lo)]);
      expect(derived(h.hi, h.lo)).toEqual({ cms: v.cms, hllIndex: v.hllIndex, hllRank: v.hllRank });
    }
    expect(vectors.words.some((v) => v.hllRank > 32 - 14)).toBe(true);
  });

  it('derives CMS columns and HLL index/rank at the edges (hi<<p == 0, lo == 0)', () => {
    for (const v of vectors.derive) {
      expect(derived(u32(v.hi), u32(v.lo))).toEqual({ cms: v.cms, hllIndex: v.hllIndex, hllRank: v.hllRank });
    }
  });

  it('round-trips flow keys to readable tuples', () => {
    for (const v of vectors.flows) {
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
