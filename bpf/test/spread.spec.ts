// Per-source spreads in the kernel (include/tma_spread.h) against the TypeScript reference (libs/sketch spread.ts):
// after the same packets, every bucket of the kernel's copy equals the reference's byte for byte (registers, levels,
// candidate sources), so the hash, element, column, rank and level rules agree; and the read names the spreaders.
import { buildObject, packets as P, pinToCpu, rootDescribe, TestKernel } from '@tma/kernel/testing';
import { SPREAD_BYTES, SpreadSketch } from '@tma/sketch';

const run = rootDescribe('bpf tests');

interface Pkt {
  src: string;
  dst: string;
  dport: number;
  proto: 6 | 17;
}

const frame = (p: Pkt) =>
  p.src.includes(':')
    ? P.eth(P.ETH_IPV6, P.ipv6(p.src, p.dst, p.proto, p.proto === 6 ? P.tcp(40000, p.dport) : P.udp(40000, p.dport)))
    : P.eth(P.ETH_IP, P.ipv4(p.src, p.dst, p.proto, p.proto === 6 ? P.tcp(40000, p.dport) : P.udp(40000, p.dport)));

const v4 = (i: number) => `10.${(i >>> 16) & 255}.${(i >>> 8) & 255}.${i & 255}`;

function traffic(): Pkt[] {
  const out: Pkt[] = [];
  for (let j = 0; j < 1_500; j++) out.push({ src: '198.51.100.7', dst: v4(0x100000 + j), dport: 22, proto: 6 });
  for (let p = 1; p <= 1_200; p++) out.push({ src: '203.0.113.9', dst: '10.9.9.9', dport: p, proto: 6 });
  for (let i = 0; i < 600; i++)
    out.push({ src: `172.16.0.${i % 200}`, dst: v4(i * 13), dport: [53, 443, 123][i % 3], proto: i % 3 ? 6 : 17 });
  for (let i = 0; i < 300; i++)
    out.push({ src: '2001:db8::5', dst: `2001:db8:1::${i.toString(16)}`, dport: 443, proto: 6 });
  // repeats: a candidate member's later packets skip the spreads, which changes nothing (its pairs are in)
  for (let r = 0; r < 40; r++) out.push({ src: '172.16.0.1', dst: v4(13), dport: 443, proto: 6 });
  return out;
}

run('per-source spreads', () => {
  beforeAll(() => {
    buildObject();
    pinToCpu(0);
  });

  it.each([
    ['every packet on the light path', { candThreshold: 2 ** 52 }],
    ['default candidate threshold (members skip the spreads)', {}],
  ])('the kernel buckets equal the reference byte for byte: %s', (_, cfg) => {
    const tma = TestKernel.load(cfg);
    try {
      const ref = new SpreadSketch();
      for (const p of traffic()) {
        tma.run('tma_xdp', frame(p));
        ref.add(p.src, p.dst, p.dport, p.proto);
      }
      const read = tma.reader().readCopy(0);
      expect(read.spread.buckets.length).toBe(SPREAD_BYTES);
      const diff: number[] = [];
      for (let i = 0; i < SPREAD_BYTES; i++) if (read.spread.buckets[i] !== ref.buckets[i]) diff.push(i);
      expect(diff.slice(0, 10)).toEqual([]);
      expect(ref.isEmpty()).toBe(false);
    } finally {
      tma.close();
    }
  });

  it('the read names the host scanner and the port scanner with estimates bounding the truth', () => {
    const tma = TestKernel.load();
    try {
      for (const p of traffic()) tma.run('tma_tc', frame(p));
      const r = tma.reader().read();
      const sources = r.spread.sources();
      const scanner = sources.find((s) => s.address === '198.51.100.7')!;
      const ports = sources.find((s) => s.address === '203.0.113.9')!;
      expect(
        sources
          .slice(0, 2)
          .map((s) => s.address)
          .sort(),
      ).toEqual(['198.51.100.7', '203.0.113.9']);
      expect(scanner.destinations.lower).toBeLessThanOrEqual(1_500);
      expect(scanner.destinations.upper).toBeGreaterThanOrEqual(1_500);
      expect(ports.ports.lower).toBeLessThanOrEqual(1_200);
      expect(ports.ports.upper).toBeGreaterThanOrEqual(1_200);
      expect(ports.destinations.value).toBeLessThan(10);
      // the read cleared the copy
      expect(tma.reader().readCopy(r.copy).spread.isEmpty()).toBe(true);
    } finally {
      tma.close();
    }
  });
});
