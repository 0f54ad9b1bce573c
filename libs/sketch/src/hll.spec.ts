// HyperLogLog behaviour: register updates, merge by max and its refusals, standard error, kernel import.
import fc from 'fast-check';
import { IncompatibleSketchError } from './errors';
import { hashKey, hllIndex, hllRank } from './hash';
import { HyperLogLog } from './hll';
import { srcKey } from './keys';
import { HLL_M } from './spec.generated';

describe('HyperLogLog', () => {
  it('has m = 2^p one-byte registers and standard error 1.04/√m', () => {
    const h = new HyperLogLog();
    expect(h.registers.length).toBe(HLL_M);
    expect(h.standardError).toBeCloseTo(1.04 / 128, 12);
    expect(h.estimate()).toBe(0);
    expect(h.isEmpty()).toBe(true);
  });

  it('sets register index(hash) to max(rank)', () => {
    const h = new HyperLogLog();
    const k = hashKey(srcKey('10.0.0.1'));
    expect(h.add(k.hi, k.lo)).toBe(true);
    expect(h.add(k.hi, k.lo)).toBe(false);
    expect(h.registers[hllIndex(k.hi)]).toBe(hllRank(k.hi, k.lo));
    expect(h.nonZeroRegisters()).toBe(1);
    h.add(0, 0); // rank 51 at register 0
    expect(h.registers[0]).toBe(h.rankMax);
  });

  it('merges by register max without touching the argument; refuses self and mismatched precision', () => {
    const a = new HyperLogLog();
    const b = new HyperLogLog();
    a.add(0x00000000, 0x80000000); // register 0, rank 19
    b.add(0x00000001, 0); // register 0, rank 18
    b.add(0xfffc0000, 1); // register 16383, rank 50
    const bBefore = b.registers.slice();
    a.merge(b);
    expect(a.registers[0]).toBe(19);
    expect(a.registers[16383]).toBe(50);
    expect(b.registers).toEqual(bBefore);
    const aBefore = a.registers.slice();
    expect(() => a.merge(a)).toThrow(IncompatibleSketchError);
    expect(() => a.merge(new HyperLogLog({ precision: 12 }))).toThrow(/precision/);
    const otherSeed = new HyperLogLog();
    Object.defineProperty(otherSeed, 'seedHash', { value: 1 });
    expect(() => a.merge(otherSeed)).toThrow(/seed hash/);
    expect(a.registers).toEqual(aBefore);
  });

  it('imports kernel registers and refuses impossible values', () => {
    const regs = new Uint8Array(HLL_M);
    regs[5] = 3;
    expect(HyperLogLog.fromRegisters(regs).registers[5]).toBe(3);
    regs[6] = 52;
    expect(() => HyperLogLog.fromRegisters(regs)).toThrow(RangeError);
    expect(() => HyperLogLog.fromRegisters(new Uint8Array(10))).toThrow(RangeError);
  });

  it('clears and clones', () => {
    const a = new HyperLogLog();
    a.add(123456, 789);
    const c = a.clone();
    a.clear();
    expect(a.isEmpty()).toBe(true);
    expect(c.isEmpty()).toBe(false);
  });

  it('merges four registers at a time exactly like a register-by-register max', () => {
    const reg = fc
      .uint8Array({ minLength: 16, maxLength: 16 })
      .map((a) => a.map((v) => (v % 4 === 0 ? v % 52 : v % 6)));
    fc.assert(
      fc.property(reg, reg, (x, y) => {
        const a = new HyperLogLog({ precision: 4 });
        const b = new HyperLogLog({ precision: 4 });
        a.registers.set(x.map((v) => Math.min(v, a.rankMax)));
        b.registers.set(y.map((v) => Math.min(v, b.rankMax)));
        const want = a.registers.map((v, i) => Math.max(v, b.registers[i]));
        a.merge(b);
        expect(Array.from(a.registers)).toEqual(Array.from(want));
        expect(a.maxRegister()).toBe(Math.max(0, ...want));
        for (const limit of [0, 1, 17, 50, 51]) expect(a.hasRegisterAbove(limit)).toBe(a.maxRegister() > limit);
      }),
      { numRuns: 2000 },
    );
  });
});
