// Synthetic traffic with exact ground truth: a seeded flow set (Zipf-sized flows over IPv4/IPv6 and TCP/UDP/ICMP,
// a port scan, a many-sources flood) rendered as Ethernet frames, written as a classic pcap, and counted per 5-tuple
// the way the kernel counts: bytes are frame lengths from the Ethernet header on (no FCS).
import { writeFileSync } from 'node:fs';
import { formatAddress } from '@tma/sketch';
import { Rng, TrafficTally, addCounts, withDefaults, zipfCounts, type Counts } from '@tma/sketch/testing';

export const PROTO_ICMP = 1;
export const PROTO_TCP = 6;
export const PROTO_UDP = 17;
export const PROTO_ICMPV6 = 58;

/** Largest frame a veth with the default 1500-byte MTU forwards. */
export const MAX_FRAME = 1514;

export interface TrafficOptions {
  seed: number;
  /** Zipf-sized flows (default 2000). */
  flows?: number;
  /** Zipf exponent s: flow of rank r gets packets ∝ r^−s (default 1.1). */
  zipf?: number;
  /** Packets shared out among the Zipf flows (default 50,000); every flow gets at least one. */
  packets?: number;
  /** Fraction of Zipf flows over IPv6 (default 0.3). */
  ipv6Share?: number;
  /** Destination ports one scanner probes with one SYN each (default 1000; 0 = no scan). */
  scanPorts?: number;
  /** Spoofed sources sending SYNs to one victim (default 1500; 0 = no flood). */
  floodSources?: number;
  /** Flows added as given (services, bulk transfers, floods of a few sources; IPv4 only), after the generated ones. */
  extraFlows?: ExtraFlow[];
  /** Destination MAC of every frame. Default: a unicast address no testbed interface has, so the receiving host
   *  counts frames at its hooks and then drops them (PACKET_OTHERHOST) instead of answering them. */
  dstMac?: string;
  srcMac?: string;
  /** Capture start time of the pcap, Unix seconds (default derived from the seed, so output is reproducible). */
  startTime?: number;
}

export type FlowKind = 'zipf' | 'scan' | 'flood' | 'extra';

/** A flow given by the caller (IPv4). TCP segments carry PSH|ACK unless `tcpFlags` says otherwise. */
export interface ExtraFlow {
  src: string;
  dst: string;
  sport: number;
  dport: number;
  proto: number;
  packets: number;
  tcpFlags?: number;
  /** TCP: this many of its packets (the first ones sent) are SYNs without payload; the rest carry tcpFlags. */
  synPackets?: number;
  /** Payload bytes of every packet (default: the generator's mix), capped at what a 1514-byte frame holds. */
  payload?: number;
}

/** One 5-tuple as the sketch specification keys it (ICMP: sport = type, dport = code) with its exact counts. */
export interface TruthFlow {
  src: string;
  dst: string;
  sport: number;
  dport: number;
  proto: number;
  family: 4 | 6;
  kind: FlowKind;
  packets: number;
  bytes: number;
}

export interface GroundTruth {
  format: 'tma-testbed-truth-v1';
  seed: number;
  options: Required<Omit<TrafficOptions, 'seed'>>;
  packets: number;
  bytes: number;
  /** Per IP protocol number, ascending. */
  protocols: Array<{ protocol: number } & Counts>;
  ipv4: Counts;
  ipv6: Counts;
  /** Exact distinct counts of what the HLLs estimate: 5-tuples, sources, destinations, (destination port, protocol). */
  distinct: { flows: number; sources: number; destinations: number; ports: number };
  /** Every flow, most packets first. */
  flows: TruthFlow[];
}

export interface Traffic {
  frames: Buffer[];
  truth: GroundTruth;
  /** Microseconds since the capture start for each frame (non-decreasing). */
  offsetsUs: Float64Array;
}

interface FlowPlan {
  family: 4 | 6;
  proto: number;
  src: Uint8Array;
  dst: Uint8Array;
  sport: number;
  dport: number;
  kind: FlowKind;
  packets: number;
  /** TCP flags of its segments (SYN for scan and flood). */
  tcpFlags: number;
  /** The first this many packets are SYNs (extra flows). */
  synPackets?: number;
  /** Fixed payload length (extra flows). */
  payload?: number;
}

const COMMON_PORTS = [80, 443, 53, 22, 123, 8080, 3306, 5432, 6379, 9092, 25, 110, 993, 1883, 5060];

function ipv4(a: number, b: number, c: number, d: number): Uint8Array {
  return Uint8Array.of(a, b, c, d);
}

function ipv6(groups: number[]): Uint8Array {
  const out = new Uint8Array(16);
  for (let i = 0; i < 8; i++) {
    out[2 * i] = (groups[i] >>> 8) & 0xff;
    out[2 * i + 1] = groups[i] & 0xff;
  }
  return out;
}

/** Dotted quad for 4 bytes, RFC 5952 text for 16 (the sketch library's rendering of key addresses). */
export function formatIp(bytes: Uint8Array): string {
  return bytes.length === 4 ? bytes.join('.') : formatAddress(bytes);
}

function parseMac(text: string): Buffer {
  const parts = text.split(':');
  if (parts.length !== 6 || parts.some((p) => !/^[0-9a-fA-F]{2}$/.test(p)))
    throw new RangeError(`invalid MAC address ${text}`);
  return Buffer.from(parts.map((p) => parseInt(p, 16)));
}

function checkedOptions(o: TrafficOptions): Required<Omit<TrafficOptions, 'seed'>> {
  const r = withDefaults<Required<Omit<TrafficOptions, 'seed'>>>(o, {
    flows: 2000,
    zipf: 1.1,
    packets: 50_000,
    ipv6Share: 0.3,
    scanPorts: 1000,
    floodSources: 1500,
    extraFlows: [],
    dstMac: '02:74:6d:61:ff:fe',
    srcMac: '02:74:6d:61:ff:01',
    startTime: 1_700_000_000 + ((o.seed >>> 0) % 86_400),
  });
  if (!Number.isInteger(r.flows) || r.flows < 1)
    throw new RangeError(`flows must be a positive integer, got ${r.flows}`);
  if (!(r.zipf > 0)) throw new RangeError(`zipf exponent must be > 0, got ${r.zipf}`);
  if (!Number.isInteger(r.packets) || r.packets < r.flows)
    throw new RangeError(`packets (${r.packets}) must be an integer ≥ flows (${r.flows})`);
  if (!(r.ipv6Share >= 0 && r.ipv6Share <= 1)) throw new RangeError(`ipv6Share must be in [0, 1], got ${r.ipv6Share}`);
  if (!Number.isInteger(r.scanPorts) || r.scanPorts < 0 || r.scanPorts > 65535)
    throw new RangeError(`scanPorts must be in 0..65535`);
  if (!Number.isInteger(r.floodSources) || r.floodSources < 0 || r.floodSources > 100_000)
    throw new RangeError(`floodSources must be in 0..100000`);
  parseMac(r.dstMac);
  parseMac(r.srcMac);
  return r;
}

function planFlows(o: Required<Omit<TrafficOptions, 'seed'>>, rnd: () => number): FlowPlan[] {
  const int = (lo: number, hi: number): number => lo + Math.floor(rnd() * (hi - lo + 1));
  const seen = new Set<string>();
  const id = (f: Pick<FlowPlan, 'src' | 'dst' | 'sport' | 'dport' | 'proto'>): string =>
    `${Buffer.from(f.src).toString('hex')}/${Buffer.from(f.dst).toString('hex')}/${f.sport}/${f.dport}/${f.proto}`;
  const plans: FlowPlan[] = [];
  const add = (f: FlowPlan): boolean => {
    const k = id(f);
    if (seen.has(k)) return false;
    seen.add(k);
    plans.push(f);
    return true;
  };

  const counts = zipfCounts(o.flows, o.zipf, o.packets);
  for (let i = 0; i < o.flows; i++) {
    for (;;) {
      const family: 4 | 6 = rnd() < o.ipv6Share ? 6 : 4;
      const r = rnd();
      const proto = r < 0.6 ? PROTO_TCP : r < 0.9 ? PROTO_UDP : family === 4 ? PROTO_ICMP : PROTO_ICMPV6;
      const src =
        family === 4
          ? ipv4(10, int(1, 40), int(0, 255), int(1, 254))
          : ipv6([0xfd00, 1, int(0, 0xff), 0, 0, 0, int(0, 0xffff), int(1, 0xffff)]);
      const dst =
        family === 4 ? ipv4(10, 100, int(0, 3), int(1, 200)) : ipv6([0xfd00, 0x100, 0, 0, 0, 0, 0, int(1, 300)]);
      const icmp = proto === PROTO_ICMP || proto === PROTO_ICMPV6;
      // ICMP keys carry type/code; echo request is by far the commonest, some destination-unreachables mixed in.
      const echo = rnd() < 0.85;
      const sport = icmp ? (proto === PROTO_ICMP ? (echo ? 8 : 3) : echo ? 128 : 1) : int(32768, 60999);
      const dport = icmp
        ? echo
          ? 0
          : int(0, 4)
        : rnd() < 0.8
          ? COMMON_PORTS[int(0, COMMON_PORTS.length - 1)]
          : int(1, 65535);
      if (add({ family, proto, src, dst, sport, dport, kind: 'zipf', packets: counts[i], tcpFlags: 0x18 })) break;
    }
  }

  if (o.scanPorts > 0) {
    // One scanner sweeps ports 1..scanPorts of one target from a single source port (nmap-style SYN scan).
    const src = ipv4(10, 66, 6, 6);
    const dst = ipv4(10, 100, 9, 20);
    for (let p = 1; p <= o.scanPorts; p++) {
      add({ family: 4, proto: PROTO_TCP, src, dst, sport: 40_000, dport: p, kind: 'scan', packets: 1, tcpFlags: 0x02 });
    }
  }
  if (o.floodSources > 0) {
    // Spoofed sources from the benchmarking range 198.18.0.0/15, each a SYN or two to one victim's port 80.
    const dst = ipv4(10, 100, 9, 80);
    const used = new Set<string>();
    let made = 0;
    while (made < o.floodSources) {
      const src = ipv4(198, int(18, 19), int(0, 255), int(1, 254));
      const f: FlowPlan = {
        family: 4,
        proto: PROTO_TCP,
        src,
        dst,
        sport: int(1024, 65535),
        dport: 80,
        kind: 'flood',
        packets: int(1, 2),
        tcpFlags: 0x02,
      };
      // a spoofed source repeats rarely; keep sources distinct so the source count is exactly floodSources
      const srcId = src.join('.');
      if (used.has(srcId) || !add(f)) continue;
      used.add(srcId);
      made++;
    }
  }
  for (const e of o.extraFlows) {
    const addr = (t: string) => ipv4(...(t.split('.').map(Number) as [number, number, number, number]));
    const ok = add({
      family: 4,
      proto: e.proto,
      src: addr(e.src),
      dst: addr(e.dst),
      sport: e.sport,
      dport: e.dport,
      kind: 'extra',
      packets: e.packets,
      tcpFlags: e.tcpFlags ?? 0x18,
      synPackets: e.synPackets,
      payload: e.payload,
    });
    if (!ok) throw new RangeError(`extra flow ${e.src}:${e.sport} → ${e.dst}:${e.dport}/${e.proto} is listed twice`);
  }
  return plans;
}

function checksumAdd(buf: Buffer, start: number, end: number, acc = 0): number {
  let s = acc;
  let i = start;
  for (; i + 1 < end; i += 2) s += (buf[i] << 8) | buf[i + 1];
  if (i < end) s += buf[i] << 8;
  return s;
}

function checksumFold(sum: number): number {
  let s = sum;
  while (s > 0xffff) s = (s & 0xffff) + Math.floor(s / 0x10000);
  return ~s & 0xffff;
}

/** Payload length of one packet: pure ACKs, small and full-size segments for TCP; varied datagrams otherwise. */
function payloadLength(f: FlowPlan, max: number, rnd: () => number): number {
  if (f.tcpFlags === 0x02) return 0;
  if (f.payload !== undefined) return Math.min(f.payload, max);
  const r = rnd();
  if (f.proto === PROTO_TCP) {
    if (r < 0.3) return 0;
    if (r < 0.7) return 1 + Math.floor(rnd() * 512);
    if (r < 0.85) return max;
    return 513 + Math.floor(rnd() * (max - 512));
  }
  if (f.proto === PROTO_UDP) return 8 + Math.floor(rnd() * (r < 0.7 ? 300 : max - 7));
  return r < 0.7 ? 56 : Math.floor(rnd() * 1001);
}

interface FlowState {
  seq: number;
  ipId: number;
}

function buildFrame(f: FlowPlan, st: FlowState, payloadLen: number, macs: Buffer, rnd: () => number): Buffer {
  const ipLen = f.family === 4 ? 20 : 40;
  const l4Len = f.proto === PROTO_TCP ? 20 : 8;
  const frame = Buffer.alloc(14 + ipLen + l4Len + payloadLen);
  macs.copy(frame, 0);
  frame.writeUInt16BE(f.family === 4 ? 0x0800 : 0x86dd, 12);
  const ip = 14;
  const l4 = ip + ipLen;
  const l4Total = l4Len + payloadLen;
  // payload: pseudo-random bytes (cheap: a few words from the PRNG, repeated with a counter)
  for (let i = l4 + l4Len, k = 0; i < frame.length; i++, k++) frame[i] = (k * 131 + st.seq) & 0xff;

  if (f.family === 4) {
    frame[ip] = 0x45;
    frame.writeUInt16BE(ipLen + l4Total, ip + 2);
    frame.writeUInt16BE(st.ipId, ip + 4);
    st.ipId = (st.ipId + 1) & 0xffff;
    frame.writeUInt16BE(0x4000, ip + 6); // DF, no fragments
    frame[ip + 8] = 64;
    frame[ip + 9] = f.proto;
    frame.set(f.src, ip + 12);
    frame.set(f.dst, ip + 16);
    frame.writeUInt16BE(checksumFold(checksumAdd(frame, ip, ip + 20)), ip + 10);
  } else {
    frame.writeUInt32BE(0x60000000 | (st.ipId & 0xfffff), ip);
    frame.writeUInt16BE(l4Total, ip + 4);
    frame[ip + 6] = f.proto;
    frame[ip + 7] = 64;
    frame.set(f.src, ip + 8);
    frame.set(f.dst, ip + 24);
  }

  switch (f.proto) {
    case PROTO_TCP:
      frame.writeUInt16BE(f.sport, l4);
      frame.writeUInt16BE(f.dport, l4 + 2);
      frame.writeUInt32BE(st.seq >>> 0, l4 + 4);
      frame.writeUInt32BE(f.tcpFlags === 0x02 ? 0 : 1, l4 + 8);
      frame[l4 + 12] = 5 << 4;
      frame[l4 + 13] = f.tcpFlags;
      frame.writeUInt16BE(64240, l4 + 14);
      st.seq = (st.seq + Math.max(1, payloadLen)) >>> 0;
      break;
    case PROTO_UDP:
      frame.writeUInt16BE(f.sport, l4);
      frame.writeUInt16BE(f.dport, l4 + 2);
      frame.writeUInt16BE(l4Total, l4 + 4);
      break;
    default: // ICMP / ICMPv6: type, code, checksum, identifier, sequence
      frame[l4] = f.sport;
      frame[l4 + 1] = f.dport;
      frame.writeUInt16BE(Math.floor(rnd() * 0x10000), l4 + 4);
      frame.writeUInt16BE(st.seq & 0xffff, l4 + 6);
      st.seq++;
  }

  // L4 checksum; TCP, UDP and ICMPv6 cover a pseudo-header, ICMPv4 does not.
  let sum = 0;
  if (f.proto !== PROTO_ICMP) {
    if (f.family === 4) sum = checksumAdd(frame, ip + 12, ip + 20);
    else sum = checksumAdd(frame, ip + 8, ip + 40);
    sum += f.proto + l4Total;
  }
  const csumAt = f.proto === PROTO_TCP ? l4 + 16 : f.proto === PROTO_UDP ? l4 + 6 : l4 + 2;
  let c = checksumFold(checksumAdd(frame, l4, frame.length, sum));
  if (c === 0 && f.proto === PROTO_UDP) c = 0xffff; // 0 means "no checksum" for UDP
  frame.writeUInt16BE(c, csumAt);
  return frame;
}

/** Generates the flow set, renders every packet in a shuffled order and counts the ground truth. */
export function generateTraffic(options: TrafficOptions): Traffic {
  const o = checkedOptions(options);
  const rng = new Rng(options.seed);
  const rnd = (): number => rng.next();
  const plans = planFlows(o, rnd);
  const macs = Buffer.concat([parseMac(o.dstMac), parseMac(o.srcMac)]);

  const total = plans.reduce((a, f) => a + f.packets, 0);
  const order = new Int32Array(total);
  for (let i = 0, k = 0; i < plans.length; i++) for (let j = 0; j < plans[i].packets; j++) order[k++] = i;
  for (let i = total - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    const t = order[i];
    order[i] = order[j];
    order[j] = t;
  }

  const states: FlowState[] = plans.map(() => ({
    seq: Math.floor(rnd() * 2 ** 32),
    ipId: Math.floor(rnd() * 0x10000),
  }));
  const counted = plans.map(() => ({ packets: 0, bytes: 0 }));
  const frames: Buffer[] = new Array(total);
  const offsetsUs = new Float64Array(total);
  let t = 0;
  for (let k = 0; k < total; k++) {
    const i = order[k];
    const f = plans[i];
    const max = MAX_FRAME - 14 - (f.family === 4 ? 20 : 40) - (f.proto === PROTO_TCP ? 20 : 8);
    const syn = f.proto === PROTO_TCP && counted[i].packets < (f.synPackets ?? 0);
    const frame = syn
      ? buildFrame({ ...f, tcpFlags: 0x02 }, states[i], 0, macs, rnd)
      : buildFrame(f, states[i], payloadLength(f, max, rnd), macs, rnd);
    frames[k] = frame;
    counted[i].packets++;
    counted[i].bytes += frame.length;
    t += 1 + Math.floor(rnd() * 20);
    offsetsUs[k] = t;
  }

  const flows: TruthFlow[] = plans.map((f, i) => ({
    src: formatIp(f.src),
    dst: formatIp(f.dst),
    sport: f.sport,
    dport: f.dport,
    proto: f.proto,
    family: f.family,
    kind: f.kind,
    packets: counted[i].packets,
    bytes: counted[i].bytes,
  }));
  return { frames, offsetsUs, truth: summarize(options.seed, o, flows) };
}

function summarize(seed: number, options: GroundTruth['options'], flows: TruthFlow[]): GroundTruth {
  const all = new TrafficTally();
  const families = new Map<4 | 6, Counts>([
    [4, { packets: 0, bytes: 0 }],
    [6, { packets: 0, bytes: 0 }],
  ]);
  for (const f of flows) {
    all.add({ proto: f.proto, src: f.src, dst: f.dst, dport: `${f.dport}/${f.proto}` }, f.packets, f.bytes);
    addCounts(families, f.family, f.packets, f.bytes);
  }
  const sorted = [...flows].sort((a, b) => b.packets - a.packets || b.bytes - a.bytes);
  return {
    format: 'tma-testbed-truth-v1',
    seed,
    options,
    packets: all.packets,
    bytes: all.bytes,
    protocols: [...all.protocols].sort((a, b) => a[0] - b[0]).map(([protocol, c]) => ({ protocol, ...c })),
    ipv4: families.get(4)!,
    ipv6: families.get(6)!,
    distinct: {
      flows: flows.length,
      sources: all.distinctSources.size,
      destinations: all.distinctDestinations.size,
      ports: all.distinctPorts.size,
    },
    flows: sorted,
  };
}

/** Classic pcap (microsecond timestamps, LINKTYPE_ETHERNET): 24-byte global header, then 16-byte record headers. */
export function encodePcap(frames: readonly Buffer[], offsetsUs: ArrayLike<number>, startTime: number): Buffer {
  let size = 24;
  for (const f of frames) size += 16 + f.length;
  const out = Buffer.alloc(size);
  out.writeUInt32LE(0xa1b2c3d4, 0); // magic: microsecond resolution, written little-endian
  out.writeUInt16LE(2, 4); // version 2.4
  out.writeUInt16LE(4, 6);
  out.writeInt32LE(0, 8); // thiszone
  out.writeUInt32LE(0, 12); // sigfigs
  out.writeUInt32LE(65535, 16); // snaplen
  out.writeUInt32LE(1, 20); // LINKTYPE_ETHERNET
  let at = 24;
  for (let i = 0; i < frames.length; i++) {
    const us = offsetsUs[i] ?? 0;
    out.writeUInt32LE(startTime + Math.floor(us / 1e6), at);
    out.writeUInt32LE(us % 1e6, at + 4);
    out.writeUInt32LE(frames[i].length, at + 8);
    out.writeUInt32LE(frames[i].length, at + 12);
    frames[i].copy(out, at + 16);
    at += 16 + frames[i].length;
  }
  return out;
}

/** Writes `<base>.pcap` and `<base>.truth.json`; returns both paths. */
export function writeTraffic(traffic: Traffic, base: string): { pcap: string; truth: string } {
  const pcap = `${base}.pcap`;
  const truth = `${base}.truth.json`;
  writeFileSync(pcap, encodePcap(traffic.frames, traffic.offsetsUs, traffic.truth.options.startTime));
  writeFileSync(truth, `${JSON.stringify(traffic.truth, null, 1)}\n`);
  return { pcap, truth };
}

/** Sums ground truths of traffic sent one after the other to the same host (flows with equal 5-tuples merge). */
export function combineTruths(truths: readonly GroundTruth[]): GroundTruth {
  if (truths.length === 0) throw new RangeError('nothing to combine');
  const byTuple = new Map<string, TruthFlow>();
  for (const t of truths) {
    for (const f of t.flows) {
      const k = `${f.src}/${f.dst}/${f.sport}/${f.dport}/${f.proto}`;
      const seen = byTuple.get(k);
      if (seen) {
        seen.packets += f.packets;
        seen.bytes += f.bytes;
      } else {
        byTuple.set(k, { ...f });
      }
    }
  }
  return summarize(truths[0].seed, truths[0].options, [...byTuple.values()]);
}
