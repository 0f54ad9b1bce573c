import { bytesToHex, hexToBytes } from './binary';

describe('hex transport of binary columns', () => {
  it('round-trips every byte value, upper or lower case', () => {
    const all = Uint8Array.from({ length: 256 }, (_, i) => i);
    expect([...hexToBytes(bytesToHex(all))]).toEqual([...all]);
    expect([...hexToBytes(bytesToHex(all).toUpperCase())]).toEqual([...all]);
    expect(hexToBytes('').length).toBe(0);
  });

  it.each(['a', 'abc', 'zz', '0g', 'ab cd', '00ff0x', 'ÿÿ'])('refuses %j', (text) => {
    expect(() => hexToBytes(text)).toThrow(/not hex text/);
  });
});
