// The per-source spread sketch: estimates within the stated error on known spreads, the spreaders named, merge =
// union (any order), and its serialized form.
import {
  SPREAD_BUCKET,
  SPREAD_BUCKETS,
  SPREAD_BUCKET_BYTES,
  SPREAD_STANDARD_ERROR,
  SpreadSketch,
  checkEncodedSpread,
  decodeSpread,
  encodeSpread,
} from './spread';
import { IncompatibleParametersError } from './errors';

const v4 = (i: number) => `10.${(i >>> 16) & 255}.${(i >>> 8) & 255}.${i & 255}`;

/** Background: `n` sources each sending to `k` destinations on port 443. */
function background(s: SpreadSketch, n: number, k: number, offset = 0): void {
  for (let i = 0; i < n; i++)
    for (let j = 0; j < k; j++) s.add(`172.16.${(i >> 8) & 255}.${i & 255}`, v4(offset + i * 7 + j * 131), 443, 6);
}

/** Registers and levels of every bucket (the candidate address may differ on level ties). */
const registersAndLevels = (s: SpreadSketch): number[] => {
  const out: number[] = [];
  for (let b = 0; b < SPREAD_BUCKETS; b++) {
    const at = b * SPREAD_BUCKET_BYTES;
    out.push(...s.buckets.subarray(at + SPREAD_BUCKET.dst, at + SPREAD_BUCKET.level + 1));
  }
  return out;
};

describe('SpreadSketch', () => {
  // 3 standard errors of a 32-register HLL, plus the noise the sketch subtracts for its lower bound
  const z = 3 * SPREAD_STANDARD_ERROR;

  it.each([200, 1_000, 5_000, 20_000])(
    'a host scan to %i destinations: estimate within 3 standard errors, named first, bounds hold',
    (spread) => {
      const s = new SpreadSketch();
      background(s, 1_000, 3);
      for (let j = 0; j < spread; j++) s.add('198.51.100.7', v4(0x100000 + j), 22, 6);
      const [top] = s.sources();
      expect(top.address).toBe('198.51.100.7');
      expect(Math.abs(top.destinations.value - spread) / spread).toBeLessThan(z);
      expect(top.destinations.lower).toBeLessThanOrEqual(spread);
      expect(top.destinations.upper).toBeGreaterThanOrEqual(spread);
      // one port: the port spread stays small
      expect(top.ports.value).toBeLessThan(10);
    },
  );

  it('a port scan of 3,000 ports on one host: ports estimated, destinations ≈ 1', () => {
    const s = new SpreadSketch();
    background(s, 1_000, 3);
    for (let p = 1; p <= 3_000; p++) s.add('203.0.113.9', '10.9.9.9', p, 6);
    const top = s.sources().find((x) => x.address === '203.0.113.9')!;
    expect(s.sources()[0].address).toBe('203.0.113.9');
    expect(Math.abs(top.ports.value - 3_000) / 3_000).toBeLessThan(z);
    expect(top.ports.lower).toBeLessThanOrEqual(3_000);
    expect(top.ports.upper).toBeGreaterThanOrEqual(3_000);
    expect(top.destinations.value).toBeLessThan(10);
  });

  it('relative error over 40 spreaders of 2,000: RMS within 1.5 × 1.04/√32, bias within one standard error', () => {
    const errors: number[] = [];
    for (let t = 0; t < 40; t++) {
      const s = new SpreadSketch();
      for (let j = 0; j < 2_000; j++) s.add(`192.0.2.${t}`, v4(t * 10_000 + j), 80, 6);
      errors.push(s.estimate(`192.0.2.${t}`).destinations.value / 2_000 - 1);
    }
    const rms = Math.sqrt(errors.reduce((a, e) => a + e * e, 0) / errors.length);
    expect(rms).toBeLessThan(1.5 * SPREAD_STANDARD_ERROR);
    expect(Math.abs(errors.reduce((a, e) => a + e, 0) / errors.length)).toBeLessThan(SPREAD_STANDARD_ERROR);
  });

  it('merge is the union: hosts seeing parts of a scan merge to the sketch of the whole, in any order', () => {
    const parts = [new SpreadSketch(), new SpreadSketch(), new SpreadSketch()];
    const whole = new SpreadSketch();
    for (let j = 0; j < 3_000; j++) {
      const dst = v4(0x200000 + j);
      parts[j % 3].add('198.51.100.7', dst, 22, 6);
      if (j % 5 === 0) parts[(j + 1) % 3].add('198.51.100.7', dst, 22, 6); // seen twice: counted once
      whole.add('198.51.100.7', dst, 22, 6);
    }
    background(parts[0], 300, 2);
    background(whole, 300, 2);
    const a = new SpreadSketch().merge(parts[0]).merge(parts[1]).merge(parts[2]);
    const b = new SpreadSketch().merge(parts[2]).merge(new SpreadSketch().merge(parts[1]).merge(parts[0]));
    expect(Buffer.from(a.buckets).equals(Buffer.from(b.buckets))).toBe(true);
    expect(registersAndLevels(a)).toEqual(registersAndLevels(whole));
    expect(a.estimate('198.51.100.7').destinations.value).toBe(whole.estimate('198.51.100.7').destinations.value);
    // the scanner is spread over three hosts, each seeing a third: only the union passes 2,000
    expect(parts[0].estimate('198.51.100.7').destinations.value).toBeLessThan(1_600);
    expect(a.sources()[0].address).toBe('198.51.100.7');
    // merging never changes its argument
    const copy = Buffer.from(parts[1].buckets);
    a.merge(parts[1]);
    expect(Buffer.from(parts[1].buckets).equals(copy)).toBe(true);
  });

  it('serializes: round trip, empty as zero bytes, corrupt input refused', () => {
    const s = new SpreadSketch();
    background(s, 200, 4);
    const bytes = encodeSpread(s);
    expect(Buffer.from(decodeSpread(bytes)!.buckets).equals(Buffer.from(s.buckets))).toBe(true);
    expect(encodeSpread(new SpreadSketch()).length).toBe(0);
    expect(decodeSpread(new Uint8Array(0))).toBeUndefined();
    expect(() => decodeSpread(bytes.subarray(0, bytes.length - 3))).toThrow();
    const bad = Uint8Array.from(bytes);
    bad[1] = 3;
    expect(() => decodeSpread(bad)).toThrow(IncompatibleParametersError);
    // every bucket filled (a flood of spoofed sources): 8 + 1,024 × 49 bytes at most
    const full = new SpreadSketch();
    for (let i = 0; i < 20_000; i++) full.add(v4(0x300000 + i), '10.1.1.1', 80, 17);
    expect(encodeSpread(full).length).toBe(8 + SPREAD_BUCKETS * 49);
  });

  it('merges a serialized form as merge(decodeSpread(form)) does, and checks it with the same errors', () => {
    const a = new SpreadSketch();
    const b = new SpreadSketch();
    background(a, 150, 3);
    background(b, 150, 3, 50_000);
    for (let j = 0; j < 500; j++) b.add('198.51.100.9', v4(0x400000 + j), 22, 6);
    const bytes = encodeSpread(b);
    const viaDecode = a.clone().merge(decodeSpread(bytes)!);
    const viaForm = a.clone().mergeEncoded(bytes);
    expect(Buffer.from(viaForm.buckets).equals(Buffer.from(viaDecode.buckets))).toBe(true);
    expect(viaForm.estimate('198.51.100.9').destinations.value).toBe(
      viaDecode.estimate('198.51.100.9').destinations.value,
    );
    expect(() => checkEncodedSpread(bytes)).not.toThrow();
    expect(() => checkEncodedSpread(new Uint8Array(0))).not.toThrow();
    // a bad form: refused by both, and mergeEncoded leaves the sketch as it was
    for (const bad of [bytes.subarray(0, bytes.length - 3), Uint8Array.from([...bytes, 0]), Uint8Array.from(bytes)]) {
      if (bad.length === bytes.length) bad[1] = 3;
      let decodeError = '';
      try {
        decodeSpread(bad);
      } catch (e) {
        decodeError = (e as Error).message;
      }
      expect(decodeError).not.toBe('');
      expect(() => checkEncodedSpread(bad)).toThrow(decodeError);
      const before = Buffer.from(a.buckets);
      expect(() => a.mergeEncoded(bad)).toThrow(decodeError);
      expect(Buffer.from(a.buckets).equals(before)).toBe(true);
    }
  });
});
