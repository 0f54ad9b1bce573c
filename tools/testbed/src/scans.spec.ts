// Scans through the real kernel program, as root: crafted frames replayed (tcpreplay) from a network namespace into
// a veth end where the data path is attached on TC, one epoch read per window (what the agent reads every
// interval), each read turned into the window the detectors see (one host). A port scan, a host scan
// (superspreader) and a low-and-slow sweep, none of whose flows is a heavy-hitter candidate, are each detected
// within two windows of their start, named by their source with a spread estimate that bounds the truth. The low
// and slow sweep runs on a compressed time scale: one window per replay.
import { execFileSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { CandidateBlock } from '@tma/rollup';
import { TmaKernel, EpochReader, type EpochRead } from '@tma/kernel';
import { buildObject, OBJECT_PATH, packets as P, rootDescribe, VethNs } from '@tma/kernel/testing';
import { CountMinSketch, HyperLogLog, SpreadSketch } from '@tma/sketch';
import {
  DEFAULT_THREAT_CONFIG,
  emptyState,
  evaluateWindow,
  type Detection,
  type ThreatState,
  type WindowData,
} from '@tma/threats';
import { encodePcap, missingTools } from '.';

const run = rootDescribe('testbed scan tests');
const HOST = 'ns-host';
const WINDOW_MS = 60_000;
const T0 = Date.UTC(2026, 0, 1);
const config = { ...DEFAULT_THREAT_CONFIG, warmupWindows: 3 };

interface Pkt {
  src: string;
  dst: string;
  sport: number;
  dport: number;
  proto: 6 | 17;
}

const frame = (p: Pkt) =>
  Buffer.from(
    P.eth(P.ETH_IP, P.ipv4(p.src, p.dst, p.proto, p.proto === 6 ? P.tcp(p.sport, p.dport) : P.udp(p.sport, p.dport))),
  );

/** Benign traffic of one window: 40 clients, each to 1–4 servers on 443/53, a few packets each. */
function benign(round: number): Pkt[] {
  const out: Pkt[] = [];
  for (let c = 0; c < 40; c++)
    for (let s = 0; s < 1 + (c % 4); s++)
      for (let k = 0; k < 3 + ((c + round) % 5); k++)
        out.push({
          src: `10.0.0.${c + 1}`,
          dst: `10.1.0.${s + 1}`,
          sport: 40_000 + c,
          dport: s % 2 ? 53 : 443,
          proto: 6,
        });
  return out;
}

/** The window the detectors see from one epoch read of this host (as the aggregator would merge it). */
function windowOf(r: EpochRead, i: number): WindowData {
  const hll = (k: number) => HyperLogLog.fromRegisters(r.hll[k]);
  const distinct = { flows: hll(0), sources: hll(1), destinations: hll(2), ports: hll(3) };
  const candidates = CandidateBlock.from(r.candidates.map((c) => ({ key: c.key, packets: c.packets, bytes: c.bytes })));
  const packets = r.totals.packets;
  return {
    windowStart: T0 + i * WINDOW_MS,
    windowMs: WINDOW_MS,
    packets,
    bytes: r.totals.bytes,
    cmsPackets: CountMinSketch.fromCells(r.cmsPackets),
    distinct,
    candidates,
    hosts: new Map([[HOST, { packets, bytes: r.totals.bytes }]]),
    groups: [{ hosts: [HOST], packets, distinct, candidates, spread: r.spread }],
    spread: r.spread,
  };
}

run('scans through the kernel, named by their source', () => {
  const ns = new VethNs();
  let kernel: TmaKernel;
  let reader: EpochReader;
  const pcap = `/tmp/tma-scans-${process.pid}.pcap`;

  beforeAll(() => {
    const missing = missingTools(['ip', 'tcpreplay']);
    if (missing.length > 0) throw new Error(`missing tools: ${missing.join(', ')}`);
    buildObject();
    ns.create();
    kernel = TmaKernel.load({ objectPath: OBJECT_PATH, hook: 'tc' });
    kernel.attach(ns.ifindex, ns.outer, { tcAttach: 'tcx' });
    reader = new EpochReader(kernel);
  });
  afterAll(() => {
    kernel?.close();
    ns.destroy();
    rmSync(pcap, { force: true });
  });

  /** Replays one window's packets into the host, then reads the window out of the kernel. */
  function window(pkts: Pkt[]): EpochRead {
    reader.read(); // start from an empty copy
    writeFileSync(
      pcap,
      encodePcap(
        pkts.map(frame),
        pkts.map((_, i) => i),
        1_700_000_000,
      ),
    );
    execFileSync('ip', ['netns', 'exec', ns.netns, 'tcpreplay', '-q', '--topspeed', '-i', ns.inner, pcap], {
      stdio: 'pipe',
    });
    const r = reader.read();
    // every frame was counted (nothing else travels on the pair)
    expect(r.totals.packets).toBeGreaterThanOrEqual(pkts.length);
    return r;
  }

  /** Windows of traffic through the kernel and the detectors; low-and-slow over the last `history` windows. */
  function detectAll(windows: Pkt[][], history = 0): Detection[][] {
    let state: ThreatState = emptyState();
    let before: WindowData | undefined;
    const ring: SpreadSketch[] = [];
    return windows.map((pkts, i) => {
      const w = windowOf(window(pkts), i);
      if (history > 0) {
        ring.push(w.spread!);
        if (ring.length > history) ring.shift();
        const union = new SpreadSketch();
        for (const s of ring) union.merge(s);
        if (ring.length >= 2) w.spreadHistory = { union, windows: [...ring] };
      }
      const r = evaluateWindow(w, before, state, config);
      state = r.state;
      before = w;
      return r.detections;
    });
  }

  const evidence = (d: Detection, prefix: string) => d.evidence.find((e) => e.name.startsWith(prefix))!;
  const WARM = 4;

  it('a port scan (one SYN to each of 800 ports of one host): port-scan naming the scanner within two windows', () => {
    const windows = Array.from({ length: WARM }, (_, i) => benign(i));
    const scan = (from: number) => [
      ...benign(WARM),
      ...Array.from({ length: 400 }, (_, j) => ({
        src: '203.0.113.66',
        dst: '10.1.0.9',
        sport: 50_000,
        dport: from + j,
        proto: 6 as const,
      })),
    ];
    windows.push(scan(1), scan(401));
    const det = detectAll(windows);
    expect(det.slice(0, WARM).flat()).toEqual([]);
    const found = det
      .slice(WARM)
      .flat()
      .find((d) => d.kind === 'port-scan' && d.subject === '203.0.113.66')!;
    expect(found).toBeDefined();
    expect(found.hosts).toEqual([HOST]);
    const ev = evidence(found, 'distinct destination ports of 203.0.113.66');
    expect(ev.lower!).toBeLessThanOrEqual(400);
    expect(ev.upper!).toBeGreaterThanOrEqual(400);
  });

  it('a host scan (one SYN to port 22 of 1,500 addresses): superspreader naming the scanner within two windows', () => {
    const windows = Array.from({ length: WARM }, (_, i) => benign(i));
    const sweep = (from: number) => [
      ...benign(WARM),
      ...Array.from({ length: 750 }, (_, j) => ({
        src: '198.51.100.99',
        dst: `172.20.${(from + j) >> 8}.${(from + j) & 255}`,
        sport: 50_001,
        dport: 22,
        proto: 6 as const,
      })),
    ];
    windows.push(sweep(0), sweep(750));
    const det = detectAll(windows);
    expect(det.slice(0, WARM).flat()).toEqual([]);
    const found = det
      .slice(WARM)
      .flat()
      .find((d) => d.kind === 'superspreader' && d.subject === '198.51.100.99')!;
    expect(found).toBeDefined();
    const ev = evidence(found, 'distinct destinations of 198.51.100.99');
    expect(ev.lower!).toBeLessThanOrEqual(750);
    expect(ev.upper!).toBeGreaterThanOrEqual(750);
  });

  it('low and slow (25 new hosts per window, 2 packets each): named over the union, never per window', () => {
    const windows: Pkt[][] = [];
    for (let i = 0; i < 26; i++) {
      const pkts = benign(i);
      if (i >= WARM)
        for (let j = 0; j < 25; j++) {
          const n = (i - WARM) * 25 + j;
          for (let k = 0; k < 2; k++)
            pkts.push({ src: '192.0.2.200', dst: `172.21.${n >> 8}.${n & 255}`, sport: 50_002, dport: 445, proto: 6 });
        }
      windows.push(pkts);
    }
    const det = detectAll(windows, 60);
    expect(det.flat().filter((d) => d.subject === '192.0.2.200' && d.kind !== 'low-and-slow')).toEqual([]);
    const first = det.findIndex((ds) => ds.some((d) => d.kind === 'low-and-slow' && d.subject === '192.0.2.200'));
    expect(first).toBeGreaterThan(WARM);
    const d = det[first].find((x) => x.kind === 'low-and-slow')!;
    const truth = (first - WARM + 1) * 25;
    const ev = evidence(d, 'distinct destinations of 192.0.2.200 over');
    expect(ev.lower!).toBeLessThanOrEqual(truth);
    expect(ev.upper!).toBeGreaterThanOrEqual(truth);
    // the lower bound (3 standard errors of a 32-register HLL below the estimate) passes the threshold once the
    // truth is about 1 / (1 - 3 × 0.184) = 2.2 times it: here by 2.5 times
    expect(truth).toBeLessThanOrEqual(2.5 * config.lowSlowMinSpread);
    expect(det.flat().filter((x) => x.kind === 'low-and-slow' && x.subject !== '192.0.2.200')).toEqual([]);
  });
});
