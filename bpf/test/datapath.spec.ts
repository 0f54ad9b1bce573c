// Golden tests of the data path: crafted frames through BPF_PROG_TEST_RUN on the XDP and both TC programs,
// asserting the verdict and the exact change of every map (totals, protocol and error counters, CMS cells,
// HLL registers, candidates) against an independent rendering of SPEC.md and the shared test vectors.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CMS_DEPTH, CMS_WIDTH, ERR_COUNT, HllKind, type ProgramName } from '@tma/kernel';
import { buildObject, packets as P, REPO_ROOT, rootDescribe, TestKernel, TmaErr, TraceKind } from '@tma/kernel/testing';
import {
  CountMinSketch,
  HyperLogLog,
  PUBLIC_HASH_KEY,
  expandHashSeed,
  dstKey,
  flowKey as sketchFlowKey,
  portsKey,
  srcKey,
  useHashSeed,
} from '@tma/sketch';
import { expectedIndices, flowKey, hashKey, hex, PUBLIC_SEED, useReferenceSeed, type Tuple } from './reference';

interface KeyVector {
  key: string;
  hi: string;
  lo: string;
  hllIndex: number;
  hllRank: number;
}
/** The sketch specification's shared test vectors (the fields used here), read as data from libs/sketch/spec. */
interface SeedVectors {
  seed: string;
  flows: {
    note: string;
    tuple: Tuple;
    flow: KeyVector & { cms: number[] };
    src: KeyVector;
    dst: KeyVector;
    dport: KeyVector;
  }[];
  words: { words: string[]; hi: string; lo: string }[];
}
interface TestVectors {
  seeds: SeedVectors[];
}
const vectors: TestVectors = JSON.parse(
  fs.readFileSync(path.join(REPO_ROOT, 'libs', 'sketch', 'spec', 'test-vectors.json'), 'utf8'),
);

const XDP_PASS = 2;
const TC_ACT_UNSPEC = 0xffffffff;
const PROGRAMS: ProgramName[] = ['tma_xdp', 'tma_tc'];
const run = rootDescribe('bpf tests');

/** flow: keyed (malformed: and counted by that reason too); nonIp; err: not keyed, counted by reason */
type Expect = { flow: Tuple; malformed?: TmaErr } | { nonIp: true } | { err: TmaErr };
interface Case {
  name: string;
  frame: Uint8Array;
  expect: Expect;
  /** The skb test runner refuses IPv4/IPv6 frames whose IP header is cut off (EINVAL before the program runs). */
  skbRefuses?: true;
}

const v4 = { src: '10.0.0.1', dst: '10.0.0.2' };
const v6 = { src: '2001:db8::1', dst: '2001:db8::2' };
const t4 = (proto: number, sport = 0, dport = 0): Tuple => ({ ...v4, proto, sport, dport });
const t6 = (proto: number, sport = 0, dport = 0): Tuple => ({ ...v6, proto, sport, dport });
const tcp4 = P.eth(P.ETH_IP, P.ipv4(v4.src, v4.dst, 6, P.tcp(43210, 443, P.bytes(100))));

const CASES: Case[] = [
  { name: 'IPv4 TCP', frame: tcp4, expect: { flow: t4(6, 43210, 443) } },
  {
    name: 'IPv4 UDP',
    frame: P.eth(P.ETH_IP, P.ipv4(v4.src, v4.dst, 17, P.udp(53000, 53, P.bytes(30)))),
    expect: { flow: t4(17, 53000, 53) },
  },
  {
    name: 'IPv4 SCTP',
    frame: P.eth(P.ETH_IP, P.ipv4(v4.src, v4.dst, 132, P.sctp(2905, 2906))),
    expect: { flow: t4(132, 2905, 2906) },
  },
  {
    name: 'IPv4 UDP-Lite',
    frame: P.eth(P.ETH_IP, P.ipv4(v4.src, v4.dst, 136, P.udp(7, 9))),
    expect: { flow: t4(136, 7, 9) },
  },
  {
    name: 'IPv4 ICMP echo request: type/code in the ports',
    frame: P.eth(P.ETH_IP, P.ipv4(v4.src, v4.dst, 1, P.icmp(8, 0))),
    expect: { flow: t4(1, 8, 0) },
  },
  {
    name: 'IPv4 ICMP port unreachable',
    frame: P.eth(P.ETH_IP, P.ipv4(v4.src, v4.dst, 1, P.icmp(3, 3, P.bytes(28)))),
    expect: { flow: t4(1, 3, 3) },
  },
  {
    name: 'IPv4 GRE: counted by number, no ports',
    frame: P.eth(P.ETH_IP, P.ipv4(v4.src, v4.dst, 47, P.bytes(24))),
    expect: { flow: t4(47) },
  },
  {
    name: 'IPv4 protocol 255',
    frame: P.eth(P.ETH_IP, P.ipv4(v4.src, v4.dst, 255, P.bytes(3))),
    expect: { flow: t4(255) },
  },
  {
    name: 'IPv4 options (IHL 8)',
    frame: P.eth(
      P.ETH_IP,
      P.ipv4(v4.src, v4.dst, 6, P.tcp(1000, 80), { options: Uint8Array.of(7, 11, 4, ...new Array(8).fill(0), 1) }),
    ),
    expect: { flow: t4(6, 1000, 80) },
  },
  {
    name: 'IPv4 maximum options (IHL 15)',
    frame: P.eth(P.ETH_IP, P.ipv4(v4.src, v4.dst, 17, P.udp(1, 2), { options: P.bytes(40, 1) })),
    expect: { flow: t4(17, 1, 2) },
  },
  {
    name: 'IPv4 first fragment has ports',
    frame: P.eth(P.ETH_IP, P.ipv4(v4.src, v4.dst, 17, P.udp(5000, 5001, P.bytes(64)), { moreFragments: true })),
    expect: { flow: t4(17, 5000, 5001) },
  },
  {
    name: 'IPv4 later fragment: ports 0',
    frame: P.eth(P.ETH_IP, P.ipv4(v4.src, v4.dst, 17, P.bytes(64), { fragOffset: 72 })),
    expect: { flow: t4(17) },
  },
  {
    name: 'IPv4 last fragment: ports 0',
    frame: P.eth(P.ETH_IP, P.ipv4(v4.src, v4.dst, 6, P.bytes(8), { fragOffset: 1480, moreFragments: false })),
    expect: { flow: t4(6) },
  },
  {
    name: '802.1Q VLAN',
    frame: P.eth(P.ETH_IP, P.ipv4(v4.src, v4.dst, 6, P.tcp(1, 2)), [{ tpid: 0x8100, vid: 10 }]),
    expect: { flow: t4(6, 1, 2) },
  },
  {
    name: '802.1ad + 802.1Q (QinQ)',
    frame: P.eth(P.ETH_IPV6, P.ipv6(v6.src, v6.dst, 17, P.udp(3, 4)), [
      { tpid: 0x88a8, vid: 100 },
      { tpid: 0x8100, vid: 10 },
    ]),
    expect: { flow: t6(17, 3, 4) },
  },
  {
    name: '0x9100 outer tag',
    frame: P.eth(P.ETH_IP, P.ipv4(v4.src, v4.dst, 6, P.tcp(1, 2)), [
      { tpid: 0x9100, vid: 1 },
      { tpid: 0x8100, vid: 2 },
    ]),
    expect: { flow: t4(6, 1, 2) },
  },
  {
    name: 'three VLAN tags',
    frame: P.eth(P.ETH_IP, P.ipv4(v4.src, v4.dst, 6, P.tcp(1, 2)), [
      { tpid: 0x88a8, vid: 1 },
      { tpid: 0x8100, vid: 2 },
      { tpid: 0x8100, vid: 3 },
    ]),
    expect: { err: TmaErr.VlanDepth },
  },
  { name: 'VLAN tag cut off', frame: P.eth(0x8100, Uint8Array.of(0)), expect: { err: TmaErr.VlanTrunc } },
  {
    name: 'IPv6 TCP',
    frame: P.eth(P.ETH_IPV6, P.ipv6(v6.src, v6.dst, 6, P.tcp(51000, 443, P.bytes(10)))),
    expect: { flow: t6(6, 51000, 443) },
  },
  {
    name: 'IPv6 UDP',
    frame: P.eth(P.ETH_IPV6, P.ipv6(v6.src, v6.dst, 17, P.udp(60000, 443))),
    expect: { flow: t6(17, 60000, 443) },
  },
  {
    name: 'ICMPv6 echo request',
    frame: P.eth(P.ETH_IPV6, P.ipv6(v6.src, v6.dst, 58, P.icmp(128, 0))),
    expect: { flow: t6(58, 128, 0) },
  },
  {
    name: 'ICMPv6 destination unreachable code 4',
    frame: P.eth(P.ETH_IPV6, P.ipv6(v6.src, v6.dst, 58, P.icmp(1, 4, P.bytes(48)))),
    expect: { flow: t6(58, 1, 4) },
  },
  {
    name: 'IPv6 hop-by-hop + routing + destination options + TCP',
    frame: P.eth(
      P.ETH_IPV6,
      P.ipv6(v6.src, v6.dst, 6, P.tcp(7, 8), [P.extHeader(0), P.extHeader(43, 3), P.extHeader(60, 2)]),
    ),
    expect: { flow: t6(6, 7, 8) },
  },
  {
    name: 'IPv6 AH + UDP',
    frame: P.eth(P.ETH_IPV6, P.ipv6(v6.src, v6.dst, 17, P.udp(500, 4500), [P.ahHeader(6)])),
    expect: { flow: t6(17, 500, 4500) },
  },
  {
    name: 'IPv6 first fragment has ports',
    frame: P.eth(P.ETH_IPV6, P.ipv6(v6.src, v6.dst, 17, P.udp(9, 10, P.bytes(32)), [P.fragmentHeader(0, true)])),
    expect: { flow: t6(17, 9, 10) },
  },
  {
    name: 'IPv6 later fragment: ports 0',
    frame: P.eth(P.ETH_IPV6, P.ipv6(v6.src, v6.dst, 17, P.bytes(32), [P.extHeader(0), P.fragmentHeader(1232, false)])),
    expect: { flow: t6(17) },
  },
  {
    name: 'IPv6 ESP: counted by number',
    frame: P.eth(P.ETH_IPV6, P.ipv6(v6.src, v6.dst, 50, P.bytes(40))),
    expect: { flow: t6(50) },
  },
  {
    name: 'IPv6 no next header (59)',
    frame: P.eth(P.ETH_IPV6, P.ipv6(v6.src, v6.dst, 59, new Uint8Array(0), [P.extHeader(60)])),
    expect: { flow: t6(59) },
  },
  {
    name: 'IPv6 carrying IPv4-mapped addresses hashes like IPv4',
    frame: P.eth(P.ETH_IPV6, P.ipv6('::ffff:10.0.0.1', '::ffff:10.0.0.2', 6, P.tcp(43210, 443))),
    expect: { flow: t4(6, 43210, 443) },
  },
  {
    name: 'IPv6 with nine extension headers',
    frame: P.eth(
      P.ETH_IPV6,
      P.ipv6(
        v6.src,
        v6.dst,
        6,
        P.tcp(1, 2),
        Array.from({ length: 9 }, () => P.extHeader(60)),
      ),
    ),
    expect: { err: TmaErr.Ipv6ExtDepth },
  },
  {
    name: 'IPv6 extension header cut off',
    frame: P.eth(P.ETH_IPV6, P.ipv6(v6.src, v6.dst, 6, new Uint8Array(0), [P.extHeader(0, 2)]).subarray(0, 50)),
    expect: { err: TmaErr.Ipv6ExtTrunc },
  },
  {
    name: 'IPv6 header cut off',
    frame: P.eth(P.ETH_IPV6, P.ipv6(v6.src, v6.dst, 6, P.tcp(1, 2)).subarray(0, 39)),
    expect: { err: TmaErr.Ipv6Trunc },
    skbRefuses: true,
  },
  {
    name: 'IPv6 ethertype with version 4',
    frame: P.eth(P.ETH_IPV6, P.ipv6(v6.src, v6.dst, 6, P.tcp(1, 2), [], 4)),
    expect: { err: TmaErr.Ipv6Hdr },
  },
  {
    name: 'IPv4 header cut off',
    frame: P.eth(P.ETH_IP, P.ipv4(v4.src, v4.dst, 6, P.tcp(1, 2)).subarray(0, 19)),
    expect: { err: TmaErr.Ipv4Trunc },
    skbRefuses: true,
  },
  {
    name: 'IPv4 options cut off',
    frame: P.eth(P.ETH_IP, P.ipv4(v4.src, v4.dst, 6, new Uint8Array(0), { options: P.bytes(20, 1) }).subarray(0, 30)),
    expect: { err: TmaErr.Ipv4Trunc },
  },
  {
    name: 'IPv4 IHL 4',
    frame: P.eth(P.ETH_IP, P.ipv4(v4.src, v4.dst, 6, P.tcp(1, 2), { ihl: 4 })),
    expect: { err: TmaErr.Ipv4Hdr },
  },
  {
    name: 'IPv4 ethertype with version 6',
    frame: P.eth(P.ETH_IP, P.ipv4(v4.src, v4.dst, 6, P.tcp(1, 2), { version: 6 })),
    expect: { err: TmaErr.Ipv4Hdr },
  },
  {
    name: 'TCP header cut off after the ports: keyed by them, counted as malformed',
    frame: P.eth(P.ETH_IP, P.ipv4(v4.src, v4.dst, 6, P.tcp(1, 2).subarray(0, 19))),
    expect: { flow: t4(6, 1, 2), malformed: TmaErr.TcpTrunc },
  },
  {
    name: 'TCP header of exactly the ports (IPv6): keyed by them, counted as malformed',
    frame: P.eth(P.ETH_IPV6, P.ipv6(v6.src, v6.dst, 6, P.tcp(5, 6).subarray(0, 4))),
    expect: { flow: t6(6, 5, 6), malformed: TmaErr.TcpTrunc },
  },
  {
    name: 'TCP header cut off inside the ports: not keyed',
    frame: P.eth(P.ETH_IP, P.ipv4(v4.src, v4.dst, 6, P.tcp(1, 2).subarray(0, 3))),
    expect: { err: TmaErr.L4Trunc },
  },
  {
    name: 'TCP data offset 4: keyed by the ports, counted as malformed',
    frame: P.eth(P.ETH_IP, P.ipv4(v4.src, v4.dst, 6, P.tcp(1, 2, new Uint8Array(0), 4))),
    expect: { flow: t4(6, 1, 2), malformed: TmaErr.TcpHdr },
  },
  {
    name: 'TCP data offset 0 (IPv6): keyed by the ports, counted as malformed',
    frame: P.eth(P.ETH_IPV6, P.ipv6(v6.src, v6.dst, 6, P.tcp(7, 8, P.bytes(12), 0))),
    expect: { flow: t6(6, 7, 8), malformed: TmaErr.TcpHdr },
  },
  {
    name: 'UDP header cut off',
    frame: P.eth(P.ETH_IPV6, P.ipv6(v6.src, v6.dst, 17, P.udp(1, 2).subarray(0, 7))),
    expect: { err: TmaErr.L4Trunc },
  },
  {
    name: 'ICMP header cut off',
    frame: P.eth(P.ETH_IP, P.ipv4(v4.src, v4.dst, 1, Uint8Array.of(8, 0, 0))),
    expect: { err: TmaErr.L4Trunc },
  },
  {
    name: 'SCTP header cut off',
    frame: P.eth(P.ETH_IP, P.ipv4(v4.src, v4.dst, 132, P.sctp(1, 2).subarray(0, 11))),
    expect: { err: TmaErr.L4Trunc },
  },
  {
    name: 'IPv4 ethertype with nothing after the Ethernet header',
    frame: P.eth(P.ETH_IP, new Uint8Array(0)),
    expect: { err: TmaErr.Ipv4Trunc },
    skbRefuses: true,
  },
  { name: 'ARP is counted as non-IP', frame: P.eth(P.ETH_ARP, P.bytes(28, 0)), expect: { nonIp: true } },
  { name: 'LLDP is counted as non-IP', frame: P.eth(0x88cc, P.bytes(40, 2)), expect: { nonIp: true } },
  {
    name: 'garbage: 60 random-looking bytes',
    frame: Uint8Array.from({ length: 60 }, (_, i) => (i * 73 + 41) & 0xff),
    expect: { nonIp: true },
  },
  {
    name: 'garbage: bare Ethernet header, IPv6 ethertype',
    frame: P.eth(P.ETH_IPV6, new Uint8Array(0)),
    expect: { err: TmaErr.Ipv6Trunc },
    skbRefuses: true,
  },
  {
    name: 'jumbo-sized UDP frame',
    frame: P.eth(P.ETH_IP, P.ipv4(v4.src, v4.dst, 17, P.udp(1, 2, P.bytes(3000)))),
    expect: { flow: t4(17, 1, 2) },
  },
];

run('data path golden tests (BPF_PROG_TEST_RUN)', () => {
  let tma: TestKernel;

  beforeAll(() => {
    buildObject();
    // threshold 1: every flow becomes a candidate, so the candidate table is checked on every case
    tma = TestKernel.load({ trace: true, candThreshold: 1 });
  });
  afterAll(() => tma?.close());
  beforeEach(() => {
    tma.clearAll();
    tma.setEpoch(0);
  });

  const verdict = (prog: ProgramName) => (prog === 'tma_xdp' ? XDP_PASS : TC_ACT_UNSPEC);

  /** Asserts that copy `copy` holds exactly one frame as described, and the other copy nothing. */
  function assertOneFrame(c: Case, copy: number) {
    const len = BigInt(c.frame.length);
    const t = tma.totals(copy);
    expect([t.packets, t.bytes]).toEqual([1n, len]);
    const other = tma.totals(1 - copy);
    expect(other.packets).toBe(0n);

    const errors = tma.errors(copy);
    const cms = tma.cms(copy);
    const hll = tma.hll(copy);
    const cands = tma.candidates(copy);
    const trace = tma.trace();
    expect(trace.bytes).toBe(c.frame.length);

    const nonZero = (a: ArrayLike<bigint | number>) => Array.from(a).filter((x) => x !== 0n && x !== 0).length;
    if ('flow' in c.expect) {
      const key = flowKey(c.expect.flow);
      const want = expectedIndices(key);
      expect(trace.kind).toBe(TraceKind.Flow);
      expect(hex(trace.key)).toBe(hex(key));
      expect(trace.hash).toBe(want.hash.h);
      expect(t.protoPackets[c.expect.flow.proto]).toBe(1n);
      expect(t.protoBytes[c.expect.flow.proto]).toBe(len);
      expect([t.errorPackets, t.nonIpPackets]).toEqual([0n, 0n]);
      if (c.expect.malformed === undefined) expect(nonZero(errors)).toBe(0);
      else {
        expect(nonZero(errors)).toBe(1);
        expect(errors[c.expect.malformed]).toBe(1n);
      }
      // exactly one cell per row, holding this frame
      expect(nonZero(cms.packets)).toBe(CMS_DEPTH);
      for (const cell of want.cells) expect([cms.packets[cell], cms.bytes[cell]]).toEqual([1n, len]);
      // exactly one register per HLL, holding the rank of its key
      for (const kind of [HllKind.Flows, HllKind.Sources, HllKind.Destinations, HllKind.Ports]) {
        expect(nonZero(hll[kind])).toBe(1);
        expect(hll[kind][want.hll[kind].index]).toBe(want.hll[kind].rank);
      }
      expect(cands).toHaveLength(1);
      expect(hex(cands[0].key)).toBe(hex(key));
      expect([cands[0].packets, cands[0].bytes, cands[0].hash]).toEqual([1n, len, want.hash.h]);
      expect([t.candInserts, t.candEvictions]).toEqual([1n, 0n]);
    } else {
      expect(nonZero(cms.packets) + nonZero(hll.flatMap((h) => Array.from(h))) + cands.length).toBe(0);
      expect(nonZero(t.protoPackets)).toBe(0);
      if ('err' in c.expect) {
        expect(trace.kind).toBe(TraceKind.Error);
        expect(TmaErr[trace.err]).toBe(TmaErr[c.expect.err]);
        expect(errors[c.expect.err]).toBe(1n);
        expect(nonZero(errors)).toBe(1);
        expect([t.errorPackets, t.errorBytes, t.nonIpPackets]).toEqual([1n, len, 0n]);
      } else {
        expect(trace.kind).toBe(TraceKind.NonIp);
        expect(nonZero(errors)).toBe(0);
        expect([t.nonIpPackets, t.nonIpBytes, t.errorPackets]).toEqual([1n, len, 0n]);
      }
    }
  }

  describe.each(PROGRAMS)('%s', (prog) => {
    it.each(CASES.map((c) => [c.name, c] as const))('%s', (_name, c) => {
      if (c.skbRefuses && prog !== 'tma_xdp') {
        expect(() => tma.run(prog, c.frame)).toThrow(/Invalid argument/);
        return;
      }
      const r = tma.run(prog, c.frame);
      expect(r.retval).toBe(verdict(prog));
      assertOneFrame(c, 0);
    });
  });

  it('writes the copy the epoch selects and leaves the other untouched', () => {
    tma.setEpoch(1);
    tma.run('tma_tc', tcp4);
    assertOneFrame(CASES[0], 1);
    tma.setEpoch(0);
    tma.run('tma_tc', tcp4);
    expect(tma.totals(0).packets).toBe(1n);
    expect(tma.totals(1).packets).toBe(1n);
  });

  it('accumulates: 1000 repetitions of one frame give exact counts and one register per HLL', () => {
    const r = tma.run('tma_xdp', tcp4, 1000);
    expect(r.retval).toBe(XDP_PASS);
    const want = expectedIndices(flowKey(t4(6, 43210, 443)));
    const cms = tma.cms(0);
    for (const cell of want.cells)
      expect([cms.packets[cell], cms.bytes[cell]]).toEqual([1000n, 1000n * BigInt(tcp4.length)]);
    const t = tma.totals(0);
    expect([t.packets, t.protoPackets[6], t.candInserts]).toEqual([1000n, 1000n, 1n]);
    const c = tma.candidates(0);
    expect(c.map((x) => x.packets)).toEqual([1000n]);
    // the candidate skips the HLL work after its first packet; the HLLs are what one add of its keys gives
    const hll = tma.hll(0);
    for (const kind of [HllKind.Flows, HllKind.Sources, HllKind.Destinations, HllKind.Ports]) {
      expect(hll[kind].filter((r) => r !== 0)).toHaveLength(1);
      expect(hll[kind][want.hll[kind].index]).toBe(want.hll[kind].rank);
    }
  });

  it('frames shorter than an Ethernet header are refused by the test runner itself (EINVAL), so cannot be counted', () => {
    for (const prog of PROGRAMS) expect(() => tma.run(prog, new Uint8Array(13))).toThrow(/Invalid argument/);
  });

  it.each(vectors.seeds.map((vs) => [vs.seed, vs] as const))(
    'loaded with seed %s, matches every flow of its test vectors: hash, CMS cells and HLL index/rank of all four keys',
    (seed, vs) => {
      // a kernel of its own: the key is fixed at load
      const seeded = TestKernel.load({ trace: true, candThreshold: 1, hashSeed: expandHashSeed(BigInt(seed)) });
      try {
        expect(vs.flows.length).toBeGreaterThan(0);
        useReferenceSeed(BigInt(seed));
        for (const v of vs.flows) {
          seeded.clearAll();
          const t = v.tuple;
          // the reference this test relies on agrees with the vectors first
          expect(hex(flowKey(t))).toBe(v.flow.key);
          const ip = (proto: number, payload: Uint8Array, fragOffset = 0) =>
            t.src.includes(':') || t.dst.includes(':')
              ? P.eth(
                  P.ETH_IPV6,
                  P.ipv6(t.src, t.dst, proto, payload, fragOffset ? [P.fragmentHeader(fragOffset, false)] : []),
                )
              : P.eth(P.ETH_IP, P.ipv4(t.src, t.dst, proto, payload, { fragOffset }));
          let frame: Uint8Array;
          if (/later fragment/.test(v.note)) frame = ip(t.proto, P.bytes(16), 512);
          else if (t.proto === 6) frame = ip(6, P.tcp(t.sport, t.dport));
          else if (t.proto === 17) frame = ip(17, P.udp(t.sport, t.dport));
          else if (t.proto === 132) frame = ip(132, P.sctp(t.sport, t.dport));
          else if (t.proto === 1 || t.proto === 58) frame = ip(t.proto, P.icmp(t.sport, t.dport));
          else frame = ip(t.proto, P.bytes(8));
          expect(seeded.run('tma_tc', frame).retval).toBe(TC_ACT_UNSPEC);

          const trace = seeded.trace();
          expect({ note: v.note, key: hex(trace.key) }).toEqual({ note: v.note, key: v.flow.key });
          const h = trace.hash;
          expect([Number(h >> 32n), Number(h & 0xffffffffn)]).toEqual([Number(v.flow.hi), Number(v.flow.lo)]);
          const cms = seeded.cms(0);
          v.flow.cms.forEach((col, row) => expect(cms.packets[row * CMS_WIDTH + col]).toBe(1n));
          const hll = seeded.hll(0);
          expect(hll[HllKind.Flows][v.flow.hllIndex]).toBe(v.flow.hllRank);
          expect(hll[HllKind.Sources][v.src.hllIndex]).toBe(v.src.hllRank);
          expect(hll[HllKind.Destinations][v.dst.hllIndex]).toBe(v.dst.hllRank);
          expect(hll[HllKind.Ports][v.dport.hllIndex]).toBe(v.dport.hllRank);
        }
      } finally {
        seeded.close();
        useReferenceSeed(PUBLIC_SEED);
      }
    },
  );

  it('loaded with a secret seed, builds the CMS and HLLs the TypeScript sketches build with that seed, not the public one', () => {
    const secret = expandHashSeed(0x0123456789abcdefn);
    const seeded = TestKernel.load({ candThreshold: 2 ** 52, hashSeed: secret }); // every packet takes the HLL path
    try {
      const tuples: Tuple[] = Array.from({ length: 200 }, (_, i) => ({
        src: i % 2 ? `2001:db8::${((i * 7919) & 0xffff).toString(16)}:1` : `10.${i >> 8}.${i & 255}.1`,
        dst: i % 2 ? '2001:db8::ffff' : '192.0.2.1',
        sport: 1024 + i,
        dport: [53, 80, 443][i % 3],
        proto: i % 3 === 0 ? 17 : 6,
      }));
      const model = (seed: typeof secret) => {
        useHashSeed(seed);
        const cms = new CountMinSketch();
        const hll = [0, 1, 2, 3].map(() => new HyperLogLog());
        for (const t of tuples) {
          const [f, sk, dk, pk] = [sketchFlowKey(t), srcKey(t.src), dstKey(t.dst), portsKey(t.dport, t.proto)];
          cms.addKey(f);
          [f, sk, dk, pk].forEach((k, kind) => hll[kind].addKey(k));
        }
        return { cms, hll };
      };
      for (const t of tuples) {
        const l4 = t.proto === 6 ? P.tcp(t.sport, t.dport) : P.udp(t.sport, t.dport);
        const frame = t.src.includes(':')
          ? P.eth(P.ETH_IPV6, P.ipv6(t.src, t.dst, t.proto, l4))
          : P.eth(P.ETH_IP, P.ipv4(t.src, t.dst, t.proto, l4));
        seeded.run('tma_xdp', frame);
      }
      const kernelCells = Array.from(CountMinSketch.fromCells(seeded.cms(0).packets).cells);
      const kernelRegisters = seeded.hll(0).map((r) => Array.from(r));
      const want = model(secret);
      expect(kernelCells).toEqual(Array.from(want.cms.cells));
      kernelRegisters.forEach((r, kind) =>
        expect({ kind, r }).toEqual({ kind, r: Array.from(want.hll[kind].registers) }),
      );
      // the comparison can fail: the public seed's sketches differ
      const pub = model(PUBLIC_HASH_KEY);
      expect(kernelCells).not.toEqual(Array.from(pub.cms.cells));
      expect(kernelRegisters[HllKind.Flows]).not.toEqual(Array.from(pub.hll[HllKind.Flows].registers));
    } finally {
      seeded.close();
      useHashSeed(PUBLIC_HASH_KEY);
    }
  });

  it('counts each error reason in its own slot of the copy', () => {
    const reasonOf = (e: Expect) => ('err' in e ? e.err : 'flow' in e ? e.malformed : undefined);
    let dropped = 0n;
    const expected = new Array(ERR_COUNT).fill(0n);
    for (const c of CASES) {
      const reason = reasonOf(c.expect);
      if (reason === undefined) continue;
      tma.run('tma_xdp', c.frame);
      expected[reason]++;
      if ('err' in c.expect) dropped++;
    }
    expect(tma.errors(0)).toEqual(expected);
    // malformed TCP headers are keyed: only the other reasons stay out of the sketches
    expect(tma.totals(0).errorPackets).toBe(dropped);
  });

  it('the reference hash agrees with the vectors words section of every seed', () => {
    for (const vs of vectors.seeds) {
      useReferenceSeed(BigInt(vs.seed));
      for (const w of vs.words) {
        const key = new Uint8Array(w.words.length * 4);
        const dv = new DataView(key.buffer);
        w.words.forEach((x: string, i: number) => dv.setUint32(4 * i, Number(x), true));
        const h = hashKey(key);
        expect([h.hi, h.lo]).toEqual([Number(w.hi), Number(w.lo)]);
      }
    }
    useReferenceSeed(PUBLIC_SEED);
  });
});
