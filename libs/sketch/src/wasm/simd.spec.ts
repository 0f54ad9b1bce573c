// The SIMD kernels agree with the JS loops they replace, byte for byte, and leave inputs untouched on refusal.
import { CorruptError } from '../errors';
import { HyperLogLog } from '../hll';
import { encodeHyperLogLog, mergeEncodedHyperLogLog, decodeHyperLogLog } from '../hll.serialize';
import { Rng } from '../testing';
import { sleb, uleb } from './encoder';
import { anyByteAbove, loadSimdKernels, maxBytesInto, SIMD_MODULE_BYTES, simdActive, useSimd } from './simd';

function randomHll(p: number, rng: Rng, fill: number): HyperLogLog {
  const h = new HyperLogLog({ precision: p });
  for (let i = 0; i < h.m; i++) if (rng.next() < fill) h.registers[i] = 1 + rng.int(64 - p);
  return h;
}

describe('WebAssembly encoder', () => {
  it('writes LEB128 as the format requires', () => {
    expect(uleb(0)).toEqual([0]);
    expect(uleb(127)).toEqual([0x7f]);
    expect(uleb(128)).toEqual([0x80, 0x01]);
    expect(uleb(0xffffffff)).toEqual([0xff, 0xff, 0xff, 0xff, 0x0f]);
    expect(sleb(16)).toEqual([0x10]);
    expect(sleb(64)).toEqual([0xc0, 0x00]);
    expect(sleb(-1)).toEqual([0x7f]);
    expect(sleb(-129)).toEqual([0xff, 0x7e]);
  });

  it('produces a valid module, and Node 22 runs it', () => {
    const wasm = (globalThis as unknown as { WebAssembly: { validate(b: Uint8Array): boolean } }).WebAssembly;
    expect(wasm.validate(SIMD_MODULE_BYTES)).toBe(true);
    expect(simdActive()).toBe(true);
  });

  it('runs in a memory sized once at load (never grown: growing would detach a buffer)', () => {
    const k = loadSimdKernels(8)!;
    expect(k.memory.buffer.byteLength).toBe(2 * 2 ** 18); // two HLLs at the largest precision
    const view = new Uint8Array(k.memory.buffer);
    view.fill(3, 0, 16);
    view.fill(5, 16, 32);
    k.max_u8(0, 16, 16);
    expect(Array.from(view.subarray(0, 16))).toEqual(new Array(16).fill(5));
  });
});

describe('SIMD kernels against the JS loops', () => {
  afterEach(() => useSimd(true));

  it.each([4, 10, 14, 16, 18])('HLL merge at p = %i equals the scalar merge (memory grows as needed)', (p) => {
    const rng = new Rng(p);
    for (const fill of [0, 0.01, 0.5, 1]) {
      const a = randomHll(p, rng, fill);
      const b = randomHll(p, rng, 0.7);
      const bBefore = b.registers.slice();
      useSimd(true);
      const simd = a.clone().merge(b);
      useSimd(false);
      const scalar = a.clone().merge(b);
      let expected = true;
      for (let i = 0; i < a.m; i++)
        if (simd.registers[i] !== Math.max(a.registers[i], b.registers[i])) expected = false;
      expect(expected).toBe(true);
      expect(Buffer.from(simd.registers).equals(Buffer.from(scalar.registers))).toBe(true);
      expect(Buffer.from(b.registers).equals(Buffer.from(bBefore))).toBe(true);
    }
  });

  it('range check finds one register above the limit wherever it is', () => {
    const regs = new Uint8Array(1 << 14);
    regs.fill(51);
    expect(anyByteAbove(regs, 51)).toBe(false);
    for (const at of [0, 15, 16, 8191, (1 << 14) - 1]) {
      regs[at] = 52;
      expect(anyByteAbove(regs, 51)).toBe(true);
      regs[at] = 51;
    }
    expect(anyByteAbove(new Uint8Array(17), 0)).toBeNull(); // not a multiple of 16: the caller's JS path
    expect(maxBytesInto(new Uint8Array(17), new Uint8Array(17))).toBe(false);
  });

  it.each([true, false])('a dense HLL with a register above 65 − p is refused, target unchanged (SIMD %s)', (on) => {
    useSimd(on);
    const rng = new Rng(3);
    const target = randomHll(14, rng, 0.5);
    const before = target.registers.slice();
    const src = randomHll(14, rng, 1);
    const bytes = encodeHyperLogLog(src, { encoding: 'dense' });
    bytes[20 + 9000] = 52; // rank max at p = 14 is 51
    expect(() => mergeEncodedHyperLogLog(target, bytes)).toThrow(CorruptError);
    expect(() => decodeHyperLogLog(bytes)).toThrow(/holds 52/);
    expect(Buffer.from(target.registers).equals(Buffer.from(before))).toBe(true);
    bytes[20 + 9000] = 51;
    mergeEncodedHyperLogLog(target, bytes);
    const want = before.map((x, i) => Math.max(x, i === 9000 ? 51 : src.registers[i]));
    expect(Buffer.from(target.registers).equals(Buffer.from(want))).toBe(true);
  });
});
