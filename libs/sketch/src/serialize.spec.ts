// Serialization: round trips for every family and encoding, the encoder's size choice, typed decode errors with no
// partial state, and fuzzed decoders (random and mutated bytes give typed errors, never crashes or hangs).
import fc from 'fast-check';
import { CountMinSketch } from './cms';
import { BadVersionError, CorruptError, IncompatibleParametersError, SketchDecodeError, TooShortError } from './errors';
import { Candidate } from './heavy-hitters';
import { HyperLogLog } from './hll';
import { flowKey, toHex } from './keys';
import {
  SKETCH_HEADER_BYTES,
  checkEncodedCountMinSketch,
  checkEncodedHyperLogLog,
  decodeCandidateList,
  decodeCandidates,
  decodeCountMinSketch,
  decodeHyperLogLog,
  decodeSketch,
  encodeCandidates,
  mergeEncodedCountMinSketch,
  mergeEncodedHyperLogLog,
  encodeCountMinSketch,
  encodeHyperLogLog,
  readSketchHeader,
} from './index';
import { Rng } from './testing';

function busyCms(seed: number, flows = 50_000): CountMinSketch {
  const rng = new Rng(seed);
  const s = new CountMinSketch();
  for (let i = 0; i < flows; i++) s.add(rng.u32(), rng.u32(), 1 + rng.int(rng.next() < 0.01 ? 1e9 : 100));
  return s;
}

function quietCms(seed: number, flows = 20): CountMinSketch {
  const rng = new Rng(seed);
  const s = new CountMinSketch();
  for (let i = 0; i < flows; i++) s.add(rng.u32(), rng.u32(), 1 + rng.int(5000));
  return s;
}

function hllWith(seed: number, n: number): HyperLogLog {
  const rng = new Rng(seed);
  const h = new HyperLogLog();
  for (let i = 0; i < n; i++) h.add(rng.u32(), rng.u32());
  h.add(0, 0); // maximum rank
  return h;
}

function candidates(n: number): Candidate[] {
  const out: Candidate[] = [];
  for (let i = 0; i < n; i++) {
    const v6 = i % 3 === 0;
    const key = flowKey({
      src: v6 ? `2001:db8::${i.toString(16)}` : `10.0.0.${i % 256}`,
      dst: i % 5 === 0 ? '::ffff:192.0.2.1' : '2001:db8:1::1',
      sport: i,
      dport: 65535 - i,
      proto: [6, 17, 1, 58][i % 4],
    });
    out.push({ key, packets: 32 + i, bytes: (32 + i) * 1500 + (i === 1 ? 2 ** 52 : 0) });
  }
  return out;
}

/** What a call gave: its value, or its typed error's name and message. */
function outcome(fn: () => unknown): { ok: unknown } | { error: string } {
  try {
    return { ok: fn() };
  } catch (e) {
    if (!(e instanceof SketchDecodeError)) throw e;
    return { error: `${e.name}: ${e.message}` };
  }
}

describe('sketch serialization', () => {
  it('round-trips CMS in dense and sparse encodings and picks sparse when it halves the size', () => {
    for (const s of [busyCms(1), quietCms(2), new CountMinSketch()]) {
      for (const encoding of ['dense', 'sparse', 'auto'] as const) {
        const bytes = encodeCountMinSketch(s, { encoding });
        const d = decodeCountMinSketch(bytes);
        expect(d.cells).toEqual(s.cells);
        expect(d.total).toBe(s.total);
      }
      const dense = encodeCountMinSketch(s, { encoding: 'dense' }).length;
      const sparse = encodeCountMinSketch(s, { encoding: 'sparse' }).length;
      // Sparse is chosen only when it is at most half the dense size.
      expect(encodeCountMinSketch(s).length).toBe(sparse < 0.5 * dense ? sparse : dense);
    }
    expect(encodeCountMinSketch(quietCms(3)).length).toBeLessThan(400); // 20 flows: sparse, tiny
    expect(encodeCountMinSketch(new CountMinSketch()).length).toBe(SKETCH_HEADER_BYTES + 1);
  });

  it('round-trips arbitrary sparse and dense CMS contents (value references included)', () => {
    const cells = fc.array(
      fc.tuple(
        fc.nat({ max: 63 }),
        fc.oneof(fc.integer({ min: 1, max: 300 }), fc.constantFrom(1, 127, 128, 16384, 2 ** 32, 2 ** 53 - 1)),
      ),
      { maxLength: 40 },
    );
    fc.assert(
      fc.property(cells, (entries) => {
        // depth 2 × width 32; every entry is added to both rows at its column so the rows stay consistent.
        const s = new CountMinSketch({ depth: 2, widthBits: 5 });
        for (const [i, v] of entries) {
          if (s.total + v > Number.MAX_SAFE_INTEGER) continue; // the total bounds every cell
          s.add(((i % 32) << 27) >>> 0, ((i % 32) << 27) >>> 0, v); // row 0 column i%32, row 1 column 2·(i%32) mod 32
        }
        for (const encoding of ['dense', 'sparse'] as const) {
          const d = decodeCountMinSketch(encodeCountMinSketch(s, { encoding }), { depth: 2, widthBits: 5 });
          expect(Array.from(d.cells)).toEqual(Array.from(s.cells));
          expect(d.total).toBe(s.total);
        }
      }),
      { numRuns: 500 },
    );
  });

  it('keeps counters up to 2^53 − 1 exact and refuses to encode larger ones', () => {
    const big = new CountMinSketch();
    big.add(1, 2, Number.MAX_SAFE_INTEGER);
    big.add(1, 2, 2);
    expect(() => encodeCountMinSketch(big)).toThrow(RangeError);
    const s = new CountMinSketch();
    s.add(1, 2, Number.MAX_SAFE_INTEGER);
    for (const encoding of ['dense', 'sparse'] as const) {
      expect(decodeCountMinSketch(encodeCountMinSketch(s, { encoding })).estimate(1, 2)).toBe(Number.MAX_SAFE_INTEGER);
    }
  });

  it('reads a merged CMS whose rows sum past 2^53 (every cell exact), rows compared exactly', () => {
    // Cells set directly (rows alike up to a column shift, as hashed rows would be): four cells of 2^51 + 1, one of 3,
    // the rest 1. Every cell is exact; no double holds a row's sum.
    for (const widthBits of [3, 5]) {
      const opts = { depth: 3, widthBits };
      const s = new CountMinSketch(opts);
      const width = 2 ** widthBits;
      const cell = 2 ** 51 + 1;
      for (let r = 0; r < 3; r++)
        for (let c = 0; c < width; c++) s.cells[r * width + ((c + r) % width)] = c < 4 ? cell : c === 4 ? 3 : 1;
      const exact = 4n * BigInt(cell) + 3n + BigInt(width - 5);
      expect(exact).toBeGreaterThan(BigInt(Number.MAX_SAFE_INTEGER));
      for (const encoding of ['dense', 'sparse'] as const) {
        const bytes = encodeCountMinSketch(s, { encoding });
        const back = decodeCountMinSketch(bytes, opts);
        expect(Array.from(back.cells)).toEqual(Array.from(s.cells));
        expect(back.total).toBe(Number(exact));
        const window = new CountMinSketch(opts);
        mergeEncodedCountMinSketch(window, bytes);
        expect(Array.from(window.cells)).toEqual(Array.from(s.cells));
      }
      // One cell 1 higher in the last row: a double sum past 2^53 cannot see it, the exact comparison does.
      const dense = encodeCountMinSketch(s, { encoding: 'dense' });
      const cw = dense[SKETCH_HEADER_BYTES];
      const last = SKETCH_HEADER_BYTES + 1 + (s.cells.length - 1) * cw;
      expect(dense[last]).toBeLessThan(255);
      dense[last] += 1;
      expect(() => decodeCountMinSketch(dense, opts)).toThrow(/row 2 sums to/);
      expect(() => mergeEncodedCountMinSketch(new CountMinSketch(opts), dense)).toThrow(CorruptError);
    }
  });

  it('round-trips HLL in dense and sparse encodings and picks sparse when it halves the size', () => {
    for (const h of [hllWith(1, 0), hllWith(2, 50), hllWith(3, 200_000)]) {
      for (const encoding of ['dense', 'sparse', 'auto'] as const) {
        expect(decodeHyperLogLog(encodeHyperLogLog(h, { encoding })).registers).toEqual(h.registers);
      }
    }
    expect(encodeHyperLogLog(hllWith(4, 50)).length).toBeLessThan(200);
    expect(encodeHyperLogLog(hllWith(5, 200_000)).length).toBe(SKETCH_HEADER_BYTES + 16384);
    for (const n of [2000, 5000, 9000, 16000]) {
      const h = hllWith(6, n);
      const sparse = encodeHyperLogLog(h, { encoding: 'sparse' }).length - SKETCH_HEADER_BYTES;
      const auto = encodeHyperLogLog(h).length - SKETCH_HEADER_BYTES;
      expect(auto).toBe(sparse <= 8192 ? sparse : 16384);
    }
  });

  it('decodes dense CMS cells of every width 1 … 7 bytes, rows checked', () => {
    const rng = new Rng(21);
    for (let width = 1; width <= 7; width++) {
      const s = new CountMinSketch({ depth: 3, widthBits: 5 });
      const top = Math.min(2 ** (8 * width) - 1, Number.MAX_SAFE_INTEGER);
      for (let k = 0; k < 40; k++) s.add(rng.u32(), rng.u32(), Math.floor(rng.next() * (top / 64)) + 1);
      s.add(rng.u32(), rng.u32(), top - Math.floor(s.total)); // the largest cell needs `width` bytes
      const bytes = encodeCountMinSketch(s, { encoding: 'dense' });
      expect(bytes[SKETCH_HEADER_BYTES]).toBe(width);
      const back = decodeCountMinSketch(bytes, { depth: 3, widthBits: 5 });
      expect(Array.from(back.cells)).toEqual(Array.from(s.cells));
      expect(back.total).toBe(s.total);
      // Straight into a window: the same as merging the decoded sketch.
      const window = new CountMinSketch({ depth: 3, widthBits: 5 });
      window.add(1, 2, 3);
      const expected = window.clone().merge(back);
      mergeEncodedCountMinSketch(window, bytes);
      expect(Array.from(window.cells)).toEqual(Array.from(expected.cells));
      expect(window.total).toBe(expected.total);
      // One byte changed in the last row: its sum no longer matches row 0; the window stays as it was.
      bytes[bytes.length - 1] ^= 1;
      expect(() => decodeCountMinSketch(bytes, { depth: 3, widthBits: 5 })).toThrow(CorruptError);
      expect(() => mergeEncodedCountMinSketch(window, bytes)).toThrow(CorruptError);
      expect(Array.from(window.cells)).toEqual(Array.from(expected.cells));
    }
  });

  it('round-trips candidate lists with IPv4 keys compacted', () => {
    const list = candidates(40);
    const bytes = encodeCandidates(list);
    const back = decodeCandidates(bytes);
    expect(back.map((c) => [toHex(c.key), c.packets, c.bytes])).toEqual(
      list.map((c) => [toHex(c.key), c.packets, c.bytes]),
    );
    const v4only = encodeCandidates([
      { key: flowKey({ src: '1.2.3.4', dst: '5.6.7.8', sport: 1, dport: 2, proto: 6 }), packets: 40, bytes: 4000 },
    ]);
    // count, flags + 14 key bytes, packets and bytes varints, since-entry counts (0, 0)
    expect(v4only.length).toBe(SKETCH_HEADER_BYTES + 1 + 14 + 1 + 2 + 2);
    expect(() => encodeCandidates([list[0], list[0]])).toThrow(/duplicate/);
  });

  it('candidate lists carry since-entry counts, the floor and the sampled mark; lists without them still decode', () => {
    const key = flowKey({ src: '1.2.3.4', dst: '5.6.7.8', sport: 1, dport: 2, proto: 6 });
    const c = { key, packets: 40, bytes: 4000, sincePackets: 9, sinceBytes: 90 }; // one-byte varints
    const full = decodeCandidateList(
      encodeCandidates([c], undefined, { floor: { packets: 31, bytes: 3100 }, sampled: true }),
    );
    expect(full).toEqual({ candidates: [c], floor: { packets: 31, bytes: 3100 }, sampled: true });
    expect(decodeCandidateList(encodeCandidates([c]))).toEqual({ candidates: [c], floor: undefined, sampled: false });
    // written before bounds (list flags 0, no since-entry counts): the same list without them, floor unknown
    const old = encodeCandidates([c]);
    old[13] = 0;
    const body = old.slice(0, old.length - 2);
    body[16] -= 2; // payload length (little-endian, small)
    expect(decodeCandidateList(body)).toEqual({
      candidates: [{ key, packets: 40, bytes: 4000 }],
      floor: undefined,
      sampled: false,
    });
    // a since-entry count above its upper count is corrupt
    expect(() => encodeCandidates([{ ...c, sincePackets: -1 }])).toThrow(RangeError);
    const bad = encodeCandidates([{ ...c, sincePackets: 41 }]);
    expect(() => decodeCandidateList(bad)).toThrow(CorruptError);
  });

  it('merges serialized sketches straight into a window, exactly like decode + merge', () => {
    for (const encoding of ['dense', 'sparse'] as const) {
      const window = quietCms(40);
      const expected = window.clone().merge(busyCms(41, 2000)).merge(quietCms(42));
      mergeEncodedCountMinSketch(window, encodeCountMinSketch(busyCms(41, 2000), { encoding }));
      mergeEncodedCountMinSketch(window, encodeCountMinSketch(quietCms(42), { encoding }));
      expect(Buffer.from(window.cells.buffer).equals(Buffer.from(expected.cells.buffer))).toBe(true);
      expect(window.total).toBe(expected.total);

      const hll = hllWith(43, 300);
      const want = hll.clone().merge(hllWith(44, 5000)).merge(hllWith(45, 20));
      mergeEncodedHyperLogLog(hll, encodeHyperLogLog(hllWith(44, 5000), { encoding }));
      mergeEncodedHyperLogLog(hll, encodeHyperLogLog(hllWith(45, 20), { encoding }));
      expect(Buffer.from(hll.registers).equals(Buffer.from(want.registers))).toBe(true);
    }
  });

  it('leaves the window unchanged when a serialized sketch is invalid', () => {
    const window = quietCms(50);
    const before = window.cells.slice();
    const bad = encodeCountMinSketch(quietCms(51), { encoding: 'sparse' });
    bad[bad.length - 1] ^= 1; // last value changes: its row no longer sums to the total
    expect(() => mergeEncodedCountMinSketch(window, bad)).toThrow(CorruptError);
    expect(() =>
      mergeEncodedCountMinSketch(new CountMinSketch({ depth: 3 }), encodeCountMinSketch(quietCms(1))),
    ).toThrow(IncompatibleParametersError);
    expect(Buffer.from(window.cells.buffer).equals(Buffer.from(before.buffer))).toBe(true);
    expect(window.total).toBe(quietCms(50).total);
  });

  it('decodes any family through decodeSketch', () => {
    expect(decodeSketch(encodeCountMinSketch(quietCms(1))).family).toBe('cms');
    expect(decodeSketch(encodeHyperLogLog(hllWith(1, 10))).family).toBe('hll');
    expect(decodeSketch(encodeCandidates(candidates(2))).family).toBe('candidates');
  });

  describe('typed errors', () => {
    const cms = encodeCountMinSketch(quietCms(9));
    const patch = (b: Uint8Array, at: number, v: number) => {
      const c = b.slice();
      c[at] = v;
      return c;
    };

    it('TooShortError for truncated headers and payloads', () => {
      expect(() => decodeCountMinSketch(new Uint8Array(0))).toThrow(TooShortError);
      expect(() => decodeCountMinSketch(cms.subarray(0, 19))).toThrow(TooShortError);
      expect(() => decodeCountMinSketch(cms.subarray(0, cms.length - 1))).toThrow(TooShortError);
    });

    it('BadVersionError for unknown format or specification versions', () => {
      expect(() => decodeCountMinSketch(patch(cms, 4, 2))).toThrow(BadVersionError);
      expect(() => decodeCountMinSketch(patch(cms, 7, 9))).toThrow(BadVersionError);
    });

    it('IncompatibleParametersError for other families, parameters or seeds', () => {
      expect(() => decodeHyperLogLog(cms)).toThrow(IncompatibleParametersError);
      expect(() => decodeCountMinSketch(patch(cms, 12, 5))).toThrow(IncompatibleParametersError);
      expect(() => decodeCountMinSketch(patch(cms, 13, 11))).toThrow(IncompatibleParametersError);
      expect(() => decodeCountMinSketch(patch(cms, 8, cms[8] ^ 1))).toThrow(IncompatibleParametersError);
      expect(() => decodeHyperLogLog(patch(encodeHyperLogLog(hllWith(1, 5)), 12, 12))).toThrow(
        IncompatibleParametersError,
      );
      // A reader configured for other parameters refuses the fleet's sketch.
      expect(() => decodeCountMinSketch(cms, { depth: 5 })).toThrow(IncompatibleParametersError);
    });

    it('CorruptError for bad magic, reserved bytes, trailing bytes, impossible values and inconsistent rows', () => {
      expect(() => decodeCountMinSketch(patch(cms, 0, 0))).toThrow(CorruptError);
      expect(() => decodeCountMinSketch(patch(cms, 5, 9))).toThrow(CorruptError);
      expect(() => decodeCountMinSketch(patch(cms, 6, 7))).toThrow(CorruptError);
      expect(() => decodeCountMinSketch(patch(cms, 14, 1))).toThrow(CorruptError);
      const longer = new Uint8Array(cms.length + 1);
      longer.set(cms);
      expect(() => decodeCountMinSketch(longer)).toThrow(CorruptError);
      // One cell changed: its row no longer sums to the total.
      const dense = encodeCountMinSketch(quietCms(9), { encoding: 'dense' });
      expect(() => decodeCountMinSketch(patch(dense, SKETCH_HEADER_BYTES + 5, 1))).toThrow(/row/);
      // Dense HLL register above 65 − p.
      const hll = encodeHyperLogLog(hllWith(1, 100_000), { encoding: 'dense' });
      expect(() => decodeHyperLogLog(patch(hll, SKETCH_HEADER_BYTES + 3, 52))).toThrow(CorruptError);
      expect(readSketchHeader(cms).payloadLength).toBe(cms.length - SKETCH_HEADER_BYTES);
    });

    it('every decode error is a SketchDecodeError with its class name', () => {
      try {
        decodeCountMinSketch(new Uint8Array(3));
        throw new Error('unreachable');
      } catch (e) {
        expect(e).toBeInstanceOf(SketchDecodeError);
        expect((e as Error).name).toBe('TooShortError');
      }
    });
  });

  describe('fuzzed decoders', () => {
    const decoders = [decodeCountMinSketch, decodeHyperLogLog, decodeCandidates, decodeSketch];
    const samples = [
      encodeCountMinSketch(quietCms(1)),
      encodeCountMinSketch(quietCms(2, 400), { encoding: 'dense' }),
      encodeHyperLogLog(hllWith(1, 100)),
      encodeHyperLogLog(hllWith(2, 30_000), { encoding: 'dense' }),
      encodeCandidates(candidates(10)),
    ];

    const cmsWindow = quietCms(60);
    const hllWindow = hllWith(61, 500);
    const mustFailTyped = (bytes: Uint8Array) => {
      for (const decode of decoders) {
        try {
          decode(bytes);
        } catch (e) {
          if (!(e instanceof SketchDecodeError)) throw e;
        }
      }
      // Merging straight from bytes: a typed error leaves the window exactly as it was. Checking alone
      // (checkEncoded*) accepts and refuses exactly what merging does, with the same error.
      const cells = cmsWindow.cells.slice();
      const total = cmsWindow.total;
      const checked = outcome(() => checkEncodedCountMinSketch(bytes));
      try {
        mergeEncodedCountMinSketch(cmsWindow, bytes);
        expect(checked).toEqual({ ok: cmsWindow.total - total });
      } catch (e) {
        if (!(e instanceof SketchDecodeError)) throw e;
        expect(checked).toEqual({ error: `${e.name}: ${e.message}` });
        expect(cmsWindow.total).toBe(total);
        expect(Buffer.from(cmsWindow.cells.buffer).equals(Buffer.from(cells.buffer))).toBe(true);
      }
      const regs = hllWindow.registers.slice();
      const hllChecked = outcome(() => checkEncodedHyperLogLog(bytes));
      try {
        mergeEncodedHyperLogLog(hllWindow, bytes);
        expect(hllChecked).toEqual({ ok: undefined });
      } catch (e) {
        if (!(e instanceof SketchDecodeError)) throw e;
        expect(hllChecked).toEqual({ error: `${e.name}: ${e.message}` });
        expect(Buffer.from(hllWindow.registers).equals(Buffer.from(regs))).toBe(true);
      }
    };

    it('checking a blob alone agrees with merging it: valid blobs of every encoding and cell width, bad ones', () => {
      const valid = [
        ...samples,
        encodeCountMinSketch(busyCms(3, 2000), { encoding: 'dense' }),
        encodeCountMinSketch(busyCms(4), { encoding: 'dense' }),
        encodeCountMinSketch(busyCms(5, 300), { encoding: 'sparse' }),
        encodeHyperLogLog(hllWith(6, 50_000), { encoding: 'sparse' }),
      ];
      for (const b of valid) mustFailTyped(b);
      const rowSum = encodeCountMinSketch(quietCms(7), { encoding: 'sparse' });
      rowSum[rowSum.length - 1] ^= 1;
      expect(() => checkEncodedCountMinSketch(rowSum)).toThrow(CorruptError);
      const dense = encodeCountMinSketch(quietCms(8, 400), { encoding: 'dense' });
      dense[dense.length - 1] ^= 1;
      expect(() => checkEncodedCountMinSketch(dense)).toThrow(CorruptError);
      const rank = encodeHyperLogLog(hllWith(9, 30_000), { encoding: 'dense' });
      rank[rank.length - 1] = 60;
      expect(() => checkEncodedHyperLogLog(rank)).toThrow(/above the maximum rank/);
      expect(() => checkEncodedCountMinSketch(encodeCountMinSketch(quietCms(1)), { depth: 3 })).toThrow(
        IncompatibleParametersError,
      );
      expect(checkEncodedCountMinSketch(encodeCountMinSketch(busyCms(10, 500)))).toBe(busyCms(10, 500).total);
      for (const b of [rowSum, dense, rank]) mustFailTyped(b);
    });

    it('random bytes give typed errors only', () => {
      fc.assert(
        fc.property(fc.uint8Array({ maxLength: 512 }), (b) => mustFailTyped(b)),
        { numRuns: 3000 },
      );
    });

    it('random payloads behind a valid header give typed errors only', () => {
      fc.assert(
        fc.property(fc.integer({ min: 0, max: samples.length - 1 }), fc.uint8Array({ maxLength: 600 }), (i, tail) => {
          const b = new Uint8Array(SKETCH_HEADER_BYTES + tail.length);
          b.set(samples[i].subarray(0, SKETCH_HEADER_BYTES));
          b.set(tail, SKETCH_HEADER_BYTES);
          const len = tail.length;
          b[16] = len & 0xff;
          b[17] = (len >>> 8) & 0xff;
          mustFailTyped(b);
        }),
        { numRuns: 3000 },
      );
    });

    it('mutated valid sketches give either a valid result or a typed error', () => {
      fc.assert(
        fc.property(
          fc.integer({ min: 0, max: samples.length - 1 }),
          fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 6 }),
          fc.option(fc.nat(), { nil: undefined }),
          (i, edits, cut) => {
            let b = samples[i].slice();
            for (const [at, v] of edits) b[at % b.length] = v;
            if (cut !== undefined) b = b.subarray(0, cut % (b.length + 1));
            mustFailTyped(b);
          },
        ),
        { numRuns: 3000 },
      );
    });
  });
});
