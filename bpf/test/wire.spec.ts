// Golden tests (BPF_PROG_TEST_RUN) of what a frame counts for on the wire: a TC GSO skb counts its segments and
// their headers, devices without Ethernet are keyed from the IP header, tunnels by the outer or the inner packet, and
// every frame lands in the per-interface totals of its direction.
import { buildObject, gsoContext, packets as P, rootDescribe, TestKernel, TraceKind } from '@tma/kernel/testing';
import { flowKey, hex, type Tuple } from './reference';

const run = rootDescribe('bpf tests');
const v4 = { src: '10.0.0.1', dst: '10.0.0.2' };
const v6 = { src: '2001:db8::1', dst: '2001:db8::2' };
const inner4 = { src: '192.168.7.1', dst: '192.168.7.2' };
const t = (a: { src: string; dst: string }, proto: number, sport = 0, dport = 0): Tuple => ({
  ...a,
  proto,
  sport,
  dport,
});
const innerTcp = P.ipv4(inner4.src, inner4.dst, 6, P.tcp(40000, 22, P.bytes(50)));
const innerTuple = t(inner4, 6, 40000, 22);
const outerUdp = (dport: number, payload: Uint8Array) =>
  P.eth(P.ETH_IP, P.ipv4(v4.src, v4.dst, 17, P.udp(50123, dport, payload)));
const cat = (...parts: Uint8Array[]) => Uint8Array.from(parts.flatMap((p) => Array.from(p)));
const vxlan = (inner: Uint8Array) => cat(Uint8Array.of(0x08, 0, 0, 0, 0, 0, 42, 0), inner);
/** Geneve with `optWords` 4-byte option words, carrying `proto` (0x6558 Ethernet, 0x0800 IPv4). */
const geneve = (proto: number, inner: Uint8Array, optWords = 0) =>
  cat(Uint8Array.of(optWords, 0, proto >> 8, proto & 0xff, 0, 0, 7, 0), P.bytes(optWords * 4, 0), inner);
/** GRE with the given flag byte (0x80 checksum, 0x20 key, 0x10 sequence) and version. */
const gre = (flags: number, proto: number, inner: Uint8Array, version = 0) => {
  const extra = [0x80, 0x20, 0x10].filter((f) => flags & f).length * 4;
  return cat(Uint8Array.of(flags, version, proto >> 8, proto & 0xff), P.bytes(extra, 1), inner);
};

interface TunnelCase {
  name: string;
  frame: Uint8Array;
  outer: Tuple;
  /** the key with tunnels = inner (the outer one when the tunnel is not decoded) */
  inner: Tuple;
}
const outerVx = t(v4, 17, 50123, 4789);
const outerGen = t(v4, 17, 50123, 6081);
const outerGre = t(v4, 47);
const TUNNELS: TunnelCase[] = [
  {
    name: 'VXLAN carrying Ethernet/IPv4/TCP',
    frame: outerUdp(4789, vxlan(P.eth(P.ETH_IP, innerTcp))),
    outer: outerVx,
    inner: innerTuple,
  },
  {
    name: 'VXLAN carrying a VLAN-tagged IPv6 UDP frame',
    frame: outerUdp(
      4789,
      vxlan(P.eth(P.ETH_IPV6, P.ipv6(v6.src, v6.dst, 17, P.udp(53, 5353)), [{ tpid: 0x8100, vid: 7 }])),
    ),
    outer: outerVx,
    inner: t(v6, 17, 53, 5353),
  },
  {
    name: 'Geneve with options carrying Ethernet',
    frame: outerUdp(6081, geneve(0x6558, P.eth(P.ETH_IP, innerTcp), 2)),
    outer: outerGen,
    inner: innerTuple,
  },
  {
    name: 'Geneve carrying IPv4 directly',
    frame: outerUdp(6081, geneve(0x0800, innerTcp)),
    outer: outerGen,
    inner: innerTuple,
  },
  {
    name: 'GRE with key and sequence carrying IPv4',
    frame: P.eth(P.ETH_IP, P.ipv4(v4.src, v4.dst, 47, gre(0x30, 0x0800, innerTcp))),
    outer: outerGre,
    inner: innerTuple,
  },
  {
    name: 'GRE with checksum carrying Ethernet (gretap)',
    frame: P.eth(P.ETH_IP, P.ipv4(v4.src, v4.dst, 47, gre(0x80, 0x6558, P.eth(P.ETH_IP, innerTcp)))),
    outer: outerGre,
    inner: innerTuple,
  },
  {
    name: 'GRE over IPv6 carrying IPv6',
    frame: P.eth(
      P.ETH_IPV6,
      P.ipv6(v6.src, v6.dst, 47, gre(0, 0x86dd, P.ipv6('2001:db8:1::1', '2001:db8:1::2', 58, P.icmp(128, 0)))),
    ),
    outer: t(v6, 47),
    inner: t({ src: '2001:db8:1::1', dst: '2001:db8:1::2' }, 58, 128, 0),
  },
  {
    name: 'GRE version 1 (PPTP) is not decoded',
    frame: P.eth(P.ETH_IP, P.ipv4(v4.src, v4.dst, 47, gre(0x20, 0x880b, P.bytes(20), 1))),
    outer: outerGre,
    inner: outerGre,
  },
  {
    name: 'VXLAN whose inner IPv4 header is cut off keeps the outer key',
    frame: outerUdp(4789, vxlan(P.eth(P.ETH_IP, innerTcp.subarray(0, 12)))),
    outer: outerVx,
    inner: outerVx,
  },
  {
    name: 'VXLAN header cut off keeps the outer key',
    frame: outerUdp(4789, Uint8Array.of(8, 0, 0)),
    outer: outerVx,
    inner: outerVx,
  },
];

run('what a frame counts for on the wire (BPF_PROG_TEST_RUN)', () => {
  let outer: TestKernel;
  let inner: TestKernel;

  beforeAll(() => {
    buildObject();
    outer = TestKernel.load({ trace: true, candThreshold: 1 });
    inner = TestKernel.load({ trace: true, candThreshold: 1, tunnels: 'inner' });
  });
  afterAll(() => {
    outer?.close();
    inner?.close();
  });
  beforeEach(() => {
    for (const k of [outer, inner]) {
      k.clearAll();
      k.setEpoch(0);
    }
  });

  const keyed = (k: TestKernel) => {
    const tr = k.trace();
    expect(tr.kind).toBe(TraceKind.Flow);
    return hex(tr.key);
  };

  describe.each(['tma_xdp', 'tma_tc', 'tma_tc_eg'] as const)('tunnels on %s', (prog) => {
    it.each(TUNNELS.map((c) => [c.name, c] as const))('%s', (_name, c) => {
      outer.run(prog, c.frame);
      expect(keyed(outer)).toBe(hex(flowKey(c.outer)));
      inner.run(prog, c.frame);
      expect(keyed(inner)).toBe(hex(flowKey(c.inner)));
      // bytes are the frame as it is on the wire, whichever header keys it
      expect(inner.totals(0).bytes).toBe(BigInt(c.frame.length));
      expect(inner.totals(0).protoPackets[c.inner.proto]).toBe(1n);
    });
  });

  describe('devices without Ethernet (frames start at the IP header)', () => {
    const L3: { name: string; packet: Uint8Array; key?: Tuple }[] = [
      { name: 'IPv4 TCP', packet: P.ipv4(v4.src, v4.dst, 6, P.tcp(1234, 80, P.bytes(10))), key: t(v4, 6, 1234, 80) },
      { name: 'IPv6 UDP', packet: P.ipv6(v6.src, v6.dst, 17, P.udp(53, 5353, P.bytes(10))), key: t(v6, 17, 53, 5353) },
      { name: 'version 0: not IP', packet: P.bytes(40, 0x05) },
    ];
    describe.each(['tma_xdp_l3', 'tma_tc_l3', 'tma_tc_l3_eg'] as const)('%s', (prog) => {
      it.each(L3.map((c) => [c.name, c] as const))('%s', (_name, c) => {
        outer.run(prog, c.packet);
        const tot = outer.totals(0);
        expect([tot.packets, tot.bytes]).toEqual([1n, BigInt(c.packet.length)]);
        if (c.key) {
          expect(keyed(outer)).toBe(hex(flowKey(c.key)));
          expect(tot.protoPackets[c.key.proto]).toBe(1n);
        } else {
          expect(outer.trace().kind).toBe(TraceKind.NonIp);
          expect(tot.nonIpPackets).toBe(1n);
        }
      });
    });
  });

  describe('a TC GSO skb counts its segments and each segment its headers', () => {
    it.each([
      [
        'IPv4 TCP with 12 bytes of options',
        P.eth(P.ETH_IP, P.ipv4(v4.src, v4.dst, 6, P.tcp(1, 2, P.bytes(2000), 8))),
        14 + 20 + 32,
      ],
      ['IPv6 TCP', P.eth(P.ETH_IPV6, P.ipv6(v6.src, v6.dst, 6, P.tcp(1, 2, P.bytes(2000)))), 14 + 40 + 20],
      ['IPv4 UDP (UDP GSO)', P.eth(P.ETH_IP, P.ipv4(v4.src, v4.dst, 17, P.udp(1, 2, P.bytes(2000)))), 14 + 20 + 8],
    ] as const)('%s', (_name, frame, hlen) => {
      const segs = 5;
      for (const prog of ['tma_tc', 'tma_tc_eg'] as const) {
        outer.clearAll();
        outer.run(prog, frame, 1, gsoContext(segs, 1000));
        const wire = BigInt(frame.length + (segs - 1) * hlen);
        const tot = outer.totals(0);
        expect([tot.packets, tot.bytes]).toEqual([BigInt(segs), wire]);
        const proto = frame[12] === 0x86 ? frame[14 + 6] : frame[14 + 9];
        expect([tot.protoPackets[proto], tot.protoBytes[proto]]).toEqual([BigInt(segs), wire]);
        const [cand] = outer.candidates(0);
        expect([cand.packets, cand.bytes]).toEqual([BigInt(segs), wire]);
        // the CMS row of the flow holds the segments too
        const cms = outer.cms(0);
        expect(cms.packets.reduce((a, b) => a + b, 0n)).toBe(BigInt(4 * segs));
      }
    });

    it('a skb that is not GSO (gso_segs 0 or 1) counts once', () => {
      const frame = P.eth(P.ETH_IP, P.ipv4(v4.src, v4.dst, 17, P.udp(1, 2, P.bytes(100))));
      outer.run('tma_tc', frame, 1, gsoContext(0, 0));
      outer.run('tma_tc', frame, 1, gsoContext(1, 0));
      expect(outer.totals(0).packets).toBe(2n);
      expect(outer.totals(0).bytes).toBe(BigInt(2 * frame.length));
    });
  });

  it('counts every frame in the totals of its interface slot and direction (no slot assigned: slot 0)', () => {
    const frame = P.eth(P.ETH_IP, P.ipv4(v4.src, v4.dst, 17, P.udp(1, 2, P.bytes(100))));
    outer.run('tma_xdp', frame, 3);
    outer.run('tma_tc', frame, 2);
    outer.run('tma_tc_eg', frame, 1, gsoContext(4, 100));
    const len = BigInt(frame.length);
    expect(outer.interfaceTotals(0, 0, 0)).toEqual({ packets: 5n, bytes: 5n * len });
    expect(outer.interfaceTotals(0, 0, 1)).toEqual({ packets: 4n, bytes: len + 3n * 42n });
  });
});
