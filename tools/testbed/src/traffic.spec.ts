// The generator's pcap read back by independent readers (tshark, tcpdump): every frame parses, every checksum is
// right, and per-5-tuple packets and bytes equal the ground truth it wrote.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAddress } from '@tma/sketch';
import { zipfCounts } from '@tma/sketch/testing';
import { combineTruths, encodePcap, generateTraffic, type GroundTruth, writeTraffic } from './traffic';

function have(cmd: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const canon = (a: string): string => Buffer.from(parseAddress(a)).toString('hex');
const tupleId = (src: string, dst: string, sport: number, dport: number, proto: number): string =>
  `${canon(src)}/${canon(dst)}/${sport}/${dport}/${proto}`;

describe('traffic generator', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'tma-traffic-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const opts = { seed: 7, flows: 400, packets: 6000, scanPorts: 300, floodSources: 500 };

  it('splits packets by Zipf exactly and keeps every flow', () => {
    const c = zipfCounts(2000, 1.1, 50_000);
    expect(c.reduce((a, b) => a + b, 0)).toBe(50_000);
    expect(Math.min(...c)).toBeGreaterThanOrEqual(1);
    for (let i = 1; i < c.length; i++) expect(c[i]).toBeLessThanOrEqual(c[i - 1] + 1);
    // rank 1 against rank 10 follows 10^1.1 within rounding
    expect(c[0] / c[9]).toBeGreaterThan(12);
    expect(c[0] / c[9]).toBeLessThan(13.2);
  });

  it('is reproducible from its seed and differs across seeds', () => {
    const a = generateTraffic(opts);
    const b = generateTraffic(opts);
    const c = generateTraffic({ ...opts, seed: 8 });
    const pa = encodePcap(a.frames, a.offsetsUs, a.truth.options.startTime);
    expect(pa.equals(encodePcap(b.frames, b.offsetsUs, b.truth.options.startTime))).toBe(true);
    expect(pa.equals(encodePcap(c.frames, c.offsetsUs, c.truth.options.startTime))).toBe(false);
  });

  it('covers IPv4 and IPv6, TCP/UDP/ICMP/ICMPv6, a port scan and a flood, with varied frame lengths', () => {
    const { truth, frames } = generateTraffic(opts);
    const protos = truth.protocols.map((p) => p.protocol);
    expect(protos).toEqual([1, 6, 17, 58]);
    expect(truth.ipv4.packets).toBeGreaterThan(0);
    expect(truth.ipv6.packets).toBeGreaterThan(0);
    expect(truth.ipv4.packets + truth.ipv6.packets).toBe(truth.packets);
    const scan = truth.flows.filter((f) => f.kind === 'scan');
    expect(scan).toHaveLength(300);
    expect(new Set(scan.map((f) => f.src)).size).toBe(1);
    expect(new Set(scan.map((f) => f.dport)).size).toBe(300);
    const flood = truth.flows.filter((f) => f.kind === 'flood');
    expect(new Set(flood.map((f) => f.src)).size).toBe(500);
    expect(new Set(flood.map((f) => f.dst)).size).toBe(1);
    expect(truth.flows.filter((f) => f.kind === 'zipf')).toHaveLength(400);
    expect(truth.distinct.flows).toBe(1200);
    const lengths = new Set(frames.map((f) => f.length));
    expect(lengths.size).toBeGreaterThan(500);
    // down to a bare ICMP header (42 bytes: veth carries frames under the 60-byte Ethernet minimum unpadded)
    expect(Math.min(...lengths)).toBeGreaterThanOrEqual(42);
    expect(Math.min(...lengths)).toBeLessThanOrEqual(54);
    expect(Math.max(...lengths)).toBe(1514);
    expect(truth.bytes).toBe(frames.reduce((a, f) => a + f.length, 0));
  });

  it('combines truths of consecutive traffic by 5-tuple', () => {
    const a = generateTraffic(opts).truth;
    const both = combineTruths([a, a]);
    expect(both.packets).toBe(2 * a.packets);
    expect(both.bytes).toBe(2 * a.bytes);
    expect(both.distinct).toEqual(a.distinct);
  });

  const readers = have('tshark') && have('tcpdump');
  (readers ? it : it.skip)(
    'is read back by tshark and tcpdump with per-5-tuple counts equal to the ground truth',
    () => {
      const files = writeTraffic(generateTraffic(opts), join(dir, 'flows'));
      const truth = JSON.parse(readFileSync(files.truth, 'utf8')) as GroundTruth;

      // tcpdump: the same number of frames, no read error
      const dump = execFileSync('tcpdump', ['-nn', '-r', files.pcap], {
        encoding: 'utf8',
        maxBuffer: 1 << 28,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      expect(dump.trim().split('\n')).toHaveLength(truth.packets);

      const fields = [
        'frame.len',
        'ip.src',
        'ip.dst',
        'ipv6.src',
        'ipv6.dst',
        'ip.proto',
        'ipv6.nxt',
        'tcp.srcport',
        'tcp.dstport',
        'udp.srcport',
        'udp.dstport',
        'icmp.type',
        'icmp.code',
        'icmpv6.type',
        'icmpv6.code',
        'ip.checksum.status',
        'tcp.checksum.status',
        'udp.checksum.status',
        'icmp.checksum.status',
        'icmpv6.checksum.status',
      ];
      const out = execFileSync(
        'tshark',
        [
          '-n',
          '-r',
          files.pcap,
          '-T',
          'fields',
          '-E',
          'separator=\t',
          '-E',
          'occurrence=f',
          '-o',
          'ip.check_checksum:TRUE',
          '-o',
          'tcp.check_checksum:TRUE',
          '-o',
          'udp.check_checksum:TRUE',
          ...fields.flatMap((f) => ['-e', f]),
        ],
        { encoding: 'utf8', maxBuffer: 1 << 28, stdio: ['ignore', 'pipe', 'pipe'] },
      );
      const rows = out
        .trimEnd()
        .split('\n')
        .map((l) => l.split('\t'));
      expect(rows).toHaveLength(truth.packets);

      const seen = new Map<string, { packets: number; bytes: number }>();
      let badChecksums = 0;
      for (const r of rows) {
        const v = Object.fromEntries(fields.map((f, i) => [f, r[i] ?? '']));
        const v6 = v['ipv6.src'] !== '';
        const proto = Number(v6 ? v['ipv6.nxt'] : v['ip.proto']);
        const sport = Number(v['tcp.srcport'] || v['udp.srcport'] || v['icmp.type'] || v['icmpv6.type']);
        const dport = Number(v['tcp.dstport'] || v['udp.dstport'] || v['icmp.code'] || v['icmpv6.code']);
        const id = tupleId(v6 ? v['ipv6.src'] : v['ip.src'], v6 ? v['ipv6.dst'] : v['ip.dst'], sport, dport, proto);
        const c = seen.get(id) ?? { packets: 0, bytes: 0 };
        c.packets++;
        c.bytes += Number(v['frame.len']);
        seen.set(id, c);
        // status 1 = good; every header of ours carries a checksum tshark can verify
        const statuses = [
          'ip.checksum.status',
          'tcp.checksum.status',
          'udp.checksum.status',
          'icmp.checksum.status',
          'icmpv6.checksum.status',
        ]
          .map((f) => v[f])
          .filter((s) => s !== '');
        if (statuses.length === 0 || statuses.some((s) => s !== '1')) badChecksums++;
      }
      expect(badChecksums).toBe(0);

      const expected = new Map(
        truth.flows.map((f) => [
          tupleId(f.src, f.dst, f.sport, f.dport, f.proto),
          { packets: f.packets, bytes: f.bytes },
        ]),
      );
      expect(seen.size).toBe(expected.size);
      expect(Object.fromEntries(seen)).toEqual(Object.fromEntries(expected));
    },
  );

  if (!readers) {
    it('needs tshark and tcpdump to check the pcap (install: apt-get install -y tshark tcpdump)', () => {
      throw new Error('tshark or tcpdump is missing: ./tma setup installs them');
    });
  }
});
