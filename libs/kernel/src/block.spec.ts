// Block rules in the real kernel program (BPF_PROG_TEST_RUN): the layouts against the object's BTF, the match by
// longest source prefix then protocol, port and destination, drops on XDP and TC ingress only, dry-run counting,
// expiry by the kernel itself, and the rule count that lets the packet path skip the lookup.
import { spawnSync } from 'node:child_process';
import { parseAddress } from '@tma/sketch';
import { BLOCK_STRUCTS, BlockMap, monotonicNs, type KernelBlockRule } from './block';
import { buildObject, OBJECT_PATH, packets as P, rootDescribe, TestKernel } from './testing';

const XDP_DROP = 1;
const XDP_PASS = 2;
const TC_ACT_SHOT = 2;
const TC_ACT_UNSPEC = -1;

const v4 = (src: string, dst: string, proto: number, sport: number, dport: number) =>
  P.eth(
    P.ETH_IP,
    P.ipv4(src, dst, proto, proto === 6 ? P.tcp(sport, dport, P.bytes(20)) : P.udp(sport, dport, P.bytes(20))),
  );
const v6 = (src: string, dst: string, dport: number) => P.eth(P.ETH_IPV6, P.ipv6(src, dst, 17, P.udp(1, dport)));

const rule = ({ src, len, ...over }: Partial<Omit<KernelBlockRule, 'src'>> & { src: string; len: number }) => ({
  src: parseAddress(src),
  prefixLen: src.includes(':') ? len : 96 + len,
  dst: null,
  dport: 0,
  proto: 0,
  dryRun: false,
  expiresNs: monotonicNs() + 60_000_000_000n,
  slot: 1,
  ...over,
});

rootDescribe('kernel block rule tests')('block rules in the kernel program', () => {
  let tma: TestKernel;
  let block: BlockMap;
  beforeAll(() => {
    buildObject();
    tma = TestKernel.load();
    block = new BlockMap(tma.kernel);
  });
  afterAll(() => tma?.close());
  beforeEach(() => {
    for (const r of block.list()) block.delete(r.src, r.prefixLen);
    block.setRuleCount(0);
  });

  const xdp = (frame: Uint8Array, times = 1) => {
    let retval = -1;
    for (let i = 0; i < times; i++) retval = tma.run('tma_xdp', frame).retval;
    return retval;
  };
  const uint = (x: number) => x | 0;

  it('the layouts user space writes equal the BTF of the object', () => {
    const r = spawnSync('bpftool', ['-j', 'btf', 'dump', 'file', OBJECT_PATH], {
      encoding: 'utf8',
      maxBuffer: 64 << 20,
    });
    expect(r.status).toBe(0);
    const types: { kind: string; name: string; size: number; members?: { name: string; bits_offset: number }[] }[] =
      JSON.parse(r.stdout).types;
    for (const [name, want] of Object.entries(BLOCK_STRUCTS)) {
      const t = types.find((x) => x.kind === 'STRUCT' && x.name === name);
      const members = Object.fromEntries((t?.members ?? []).map((m) => [m.name, m.bits_offset / 8]));
      expect({ name, size: t?.size, members }).toEqual({ name, size: want.size, members: want.members });
    }
  });

  it('drops what the longest matching prefix matches on XDP and TC ingress, counts it, passes the rest', () => {
    block.put(rule({ src: '203.0.113.0', len: 24, slot: 3, proto: 17, dport: 53 }));
    block.put(rule({ src: '203.0.0.0', len: 16, slot: 4 }));
    block.setRuleCount(2);
    const hit = v4('203.0.113.9', '10.0.0.1', 17, 4000, 53);
    expect(xdp(hit, 10)).toBe(XDP_DROP);
    // the /24 decides for its addresses: another port is not dropped, even though the /16 would drop anything
    expect(xdp(v4('203.0.113.9', '10.0.0.1', 17, 4000, 54))).toBe(XDP_PASS);
    expect(xdp(v4('203.0.113.9', '10.0.0.1', 6, 4000, 53))).toBe(XDP_PASS);
    expect(xdp(v4('203.0.7.7', '10.0.0.1', 6, 1, 443))).toBe(XDP_DROP);
    expect(xdp(v4('198.51.100.1', '10.0.0.1', 17, 4000, 53))).toBe(XDP_PASS);
    expect(uint(tma.run('tma_tc', hit).retval)).toBe(TC_ACT_SHOT);
    expect(uint(tma.run('tma_tc_eg', hit).retval)).toBe(TC_ACT_UNSPEC); // egress is never blocked
    expect(block.count(3)).toEqual({ packets: 11, bytes: 11 * hit.length });
    expect(block.count(4).packets).toBe(1);
    // dropped packets are still counted in the sketches first
    expect(tma.totals(0).protoPackets[17]).toBeGreaterThanOrEqual(12n);
  });

  it('matches a destination when the rule names one, and IPv6 prefixes', () => {
    block.put(rule({ src: '192.0.2.0', len: 24, dst: parseAddress('10.0.0.1'), slot: 5 }));
    block.put(rule({ src: '2001:db8:66::', len: 48, slot: 6 }));
    block.setRuleCount(2);
    expect(xdp(v4('192.0.2.1', '10.0.0.1', 17, 1, 2))).toBe(XDP_DROP);
    expect(xdp(v4('192.0.2.1', '10.0.0.2', 17, 1, 2))).toBe(XDP_PASS);
    expect(xdp(v6('2001:db8:66:1::5', '2001:db8::1', 80))).toBe(XDP_DROP);
    expect(xdp(v6('2001:db8:67::5', '2001:db8::1', 80))).toBe(XDP_PASS);
    expect([block.count(5).packets, block.count(6).packets]).toEqual([1, 1]);
  });

  it('the /16 prefilter covers prefixes wider than /16, and follows rules as they come and go', () => {
    block.put(rule({ src: '100.64.0.0', len: 10, slot: 11 }));
    block.setRuleCount(1);
    for (const src of ['100.64.0.1', '100.100.200.1', '100.127.255.254'])
      expect(xdp(v4(src, '10.0.0.1', 17, 1, 2))).toBe(XDP_DROP);
    expect(xdp(v4('100.128.0.1', '10.0.0.1', 17, 1, 2))).toBe(XDP_PASS);
    block.put(rule({ src: '100.100.7.0', len: 24, slot: 12, dryRun: true }));
    block.setRuleCount(2);
    expect(block.delete(parseAddress('100.64.0.0'), 96 + 10)).toBe(true);
    block.setRuleCount(1);
    expect(xdp(v4('100.100.7.9', '10.0.0.1', 17, 1, 2))).toBe(XDP_PASS); // dry-run: counted
    expect(xdp(v4('100.100.200.1', '10.0.0.1', 17, 1, 2))).toBe(XDP_PASS);
    expect([block.count(11).packets, block.count(12).packets]).toEqual([3, 1]);
  });

  it('dry-run counts what it would drop and drops nothing', () => {
    block.put(rule({ src: '203.0.113.0', len: 24, slot: 7, dryRun: true }));
    block.setRuleCount(1);
    expect(xdp(v4('203.0.113.1', '10.0.0.1', 17, 1, 2), 25)).toBe(XDP_PASS);
    expect(uint(tma.run('tma_tc', v4('203.0.113.1', '10.0.0.1', 17, 1, 2)).retval)).toBe(TC_ACT_UNSPEC);
    expect(block.count(7).packets).toBe(26);
  });

  it('an expired rule matches nothing and the kernel deletes it at the first packet it sees', () => {
    block.put(rule({ src: '203.0.113.0', len: 24, slot: 8, expiresNs: monotonicNs() - 1n }));
    block.setRuleCount(1);
    expect(block.list()).toHaveLength(1);
    expect(xdp(v4('203.0.113.1', '10.0.0.1', 17, 1, 2))).toBe(XDP_PASS);
    expect(block.list()).toHaveLength(0);
    expect(block.count(8).packets).toBe(0);
  });

  it('with the rule count at 0 the packet path does not look rules up', () => {
    block.put(rule({ src: '203.0.113.0', len: 24, slot: 9 }));
    expect(xdp(v4('203.0.113.1', '10.0.0.1', 17, 1, 2))).toBe(XDP_PASS);
    expect(block.count(9).packets).toBe(0);
    block.setRuleCount(1);
    expect(xdp(v4('203.0.113.1', '10.0.0.1', 17, 1, 2))).toBe(XDP_DROP);
  });

  it('a rule written again keeps its slot counters unless fresh; list() reads back what was written', () => {
    const r = rule({ src: '2001:db8:1::', len: 64, slot: 10, proto: 6, dport: 443, dst: parseAddress('2001:db8::9') });
    block.put(r);
    expect(block.list()).toEqual([{ ...r, src: parseAddress('2001:db8:1::') }]);
  });
});
