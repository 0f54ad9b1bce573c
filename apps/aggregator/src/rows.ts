// Row shapes of the aggregator's tables (libs/storage/migrations/0100_*, 0101_*) and the conversions between
// in-memory sketches and rows. Sketch columns carry the libs/sketch binary serialization (hex in transit).
import {
  CandidateSet,
  CountMinSketch,
  HyperLogLog,
  decodeCandidates,
  decodeCountMinSketch,
  decodeHyperLogLog,
  encodeCandidates,
  encodeCountMinSketch,
  encodeHyperLogLog,
  heavyHitters,
  toHex,
  type Candidate,
} from '@tma/sketch';
import type { WindowAccumulator } from './window';

export type Tier = '1m' | '1h';

/** Row of agg_partials as written (Uint8Array columns go through their _hex EPHEMERAL twins). */
export interface PartialRow {
  tier: Tier;
  window_start: number;
  window_seconds: number;
  topic: string;
  partition: number;
  first_offset: number;
  last_offset: number;
  version: number;
  writer: string;
  late: number;
  snapshots: number;
  packets: number;
  bytes: number;
  cms_packets: Uint8Array;
  cms_bytes: Uint8Array;
  hll_flows: Uint8Array;
  hll_sources: Uint8Array;
  hll_destinations: Uint8Array;
  hll_ports: Uint8Array;
  candidates: Uint8Array;
  protocols: number[];
  protocol_packets: number[];
  protocol_bytes: number[];
  hosts: string[];
  host_boot: string[];
  host_last_seq: number[];
  host_packets: number[];
  host_bytes: number[];
  host_snapshots: number[];
  host_gaps: number[];
  gaps: number;
  written_at: Date;
  expires_at: number;
}

/** One window merged from any number of partial rows (or accumulators). */
export interface MergedWindow {
  windowStart: number;
  windowSeconds: number;
  partials: number;
  latePartials: number;
  snapshots: number;
  packets: number;
  bytes: number;
  gaps: number;
  cmsPackets: CountMinSketch;
  cmsBytes: CountMinSketch;
  hllFlows: HyperLogLog;
  hllSources: HyperLogLog;
  hllDestinations: HyperLogLog;
  hllPorts: HyperLogLog;
  candidates: CandidateSet;
  protocols: Map<number, { packets: number; bytes: number }>;
  hosts: Map<string, { packets: number; bytes: number; snapshots: number; gaps: number; boot: string; lastSeq: number }>;
}

export function emptyMerged(windowStart: number, windowSeconds: number): MergedWindow {
  return {
    windowStart,
    windowSeconds,
    partials: 0,
    latePartials: 0,
    snapshots: 0,
    packets: 0,
    bytes: 0,
    gaps: 0,
    cmsPackets: new CountMinSketch(),
    cmsBytes: new CountMinSketch(),
    hllFlows: new HyperLogLog(),
    hllSources: new HyperLogLog(),
    hllDestinations: new HyperLogLog(),
    hllPorts: new HyperLogLog(),
    candidates: new CandidateSet(),
    protocols: new Map(),
    hosts: new Map(),
  };
}

const sec = (ms: number) => Math.floor(ms / 1000);

export function partialRowFromAccumulator(acc: WindowAccumulator, writer: string, ttlSeconds: number, now = new Date()): PartialRow {
  const protocols = [...acc.protocols].sort((a, b) => a[0] - b[0]);
  const hosts = [...acc.hosts].sort((a, b) => (a[0] < b[0] ? -1 : 1));
  return {
    tier: '1m',
    window_start: sec(acc.windowStart),
    window_seconds: sec(acc.windowMs),
    topic: acc.topic,
    partition: acc.partition,
    first_offset: acc.firstOffset,
    last_offset: acc.lastOffset,
    // Rows with the same id hold the same offsets, so the same content: any version would do; the range end keeps it monotonic.
    version: acc.lastOffset + 1,
    writer,
    late: acc.late ? 1 : 0,
    snapshots: acc.snapshots,
    packets: acc.packets,
    bytes: acc.bytes,
    cms_packets: encodeCountMinSketch(acc.cmsPackets),
    cms_bytes: encodeCountMinSketch(acc.cmsBytes),
    hll_flows: encodeHyperLogLog(acc.hllFlows),
    hll_sources: encodeHyperLogLog(acc.hllSources),
    hll_destinations: encodeHyperLogLog(acc.hllDestinations),
    hll_ports: encodeHyperLogLog(acc.hllPorts),
    candidates: encodeCandidates(acc.candidates.values()),
    protocols: protocols.map((p) => p[0]),
    protocol_packets: protocols.map((p) => p[1].packets),
    protocol_bytes: protocols.map((p) => p[1].bytes),
    hosts: hosts.map((h) => h[0]),
    host_boot: hosts.map((h) => h[1].boot),
    host_last_seq: hosts.map((h) => h[1].lastSeq),
    host_packets: hosts.map((h) => h[1].packets),
    host_bytes: hosts.map((h) => h[1].bytes),
    host_snapshots: hosts.map((h) => h[1].snapshots),
    host_gaps: hosts.map((h) => h[1].gaps),
    gaps: acc.gaps,
    written_at: now,
    expires_at: sec(acc.windowStart) + ttlSeconds,
  };
}

/** A partial row as read back (SELECT … hex(col) AS col with binaryColumns; 64-bit integers arrive as text). */
export interface StoredPartial {
  window_start: number | string;
  window_seconds: number | string;
  late: number | string;
  snapshots: number | string;
  packets: number | string;
  bytes: number | string;
  gaps: number | string;
  cms_packets: Uint8Array;
  cms_bytes: Uint8Array;
  hll_flows: Uint8Array;
  hll_sources: Uint8Array;
  hll_destinations: Uint8Array;
  hll_ports: Uint8Array;
  candidates: Uint8Array;
  protocols: (number | string)[];
  protocol_packets: (number | string)[];
  protocol_bytes: (number | string)[];
  hosts: string[];
  host_boot: string[];
  host_last_seq: (number | string)[];
  host_packets: (number | string)[];
  host_bytes: (number | string)[];
  host_snapshots: (number | string)[];
  host_gaps: (number | string)[];
}

/** Merges a stored partial into `into` (associative and commutative: any order, any grouping). */
export function mergeStoredPartial(into: MergedWindow, row: StoredPartial): void {
  into.partials++;
  if (Number(row.late)) into.latePartials++;
  into.snapshots += Number(row.snapshots);
  into.packets += Number(row.packets);
  into.bytes += Number(row.bytes);
  into.gaps += Number(row.gaps);
  into.cmsPackets.merge(decodeCountMinSketch(row.cms_packets));
  into.cmsBytes.merge(decodeCountMinSketch(row.cms_bytes));
  into.hllFlows.merge(decodeHyperLogLog(row.hll_flows));
  into.hllSources.merge(decodeHyperLogLog(row.hll_sources));
  into.hllDestinations.merge(decodeHyperLogLog(row.hll_destinations));
  into.hllPorts.merge(decodeHyperLogLog(row.hll_ports));
  into.candidates.addAll(decodeCandidates(row.candidates));
  row.protocols.forEach((p, i) => {
    const k = Number(p);
    const t = into.protocols.get(k) ?? { packets: 0, bytes: 0 };
    t.packets += Number(row.protocol_packets[i]);
    t.bytes += Number(row.protocol_bytes[i]);
    into.protocols.set(k, t);
  });
  row.hosts.forEach((h, i) => {
    const t = into.hosts.get(h) ?? { packets: 0, bytes: 0, snapshots: 0, gaps: 0, boot: row.host_boot[i], lastSeq: 0 };
    t.packets += Number(row.host_packets[i]);
    t.bytes += Number(row.host_bytes[i]);
    t.snapshots += Number(row.host_snapshots[i]);
    t.gaps += Number(row.host_gaps[i]);
    const seq = Number(row.host_last_seq[i]);
    if (seq >= t.lastSeq) {
      t.lastSeq = seq;
      t.boot = row.host_boot[i];
    }
    into.hosts.set(h, t);
  });
}

/** The coarse-tier row built from a window's merged partials (writer "rollup", one row per tier window). */
export function rollupPartialRow(m: MergedWindow, tier: Tier, ttlSeconds: number, now = new Date()): PartialRow {
  const protocols = [...m.protocols].sort((a, b) => a[0] - b[0]);
  const hosts = [...m.hosts].sort((a, b) => (a[0] < b[0] ? -1 : 1));
  return {
    tier,
    window_start: sec(m.windowStart),
    window_seconds: m.windowSeconds,
    topic: '',
    partition: 0,
    first_offset: 0,
    last_offset: 0,
    version: m.partials,
    writer: 'rollup',
    late: 0,
    snapshots: m.snapshots,
    packets: m.packets,
    bytes: m.bytes,
    cms_packets: encodeCountMinSketch(m.cmsPackets),
    cms_bytes: encodeCountMinSketch(m.cmsBytes),
    hll_flows: encodeHyperLogLog(m.hllFlows),
    hll_sources: encodeHyperLogLog(m.hllSources),
    hll_destinations: encodeHyperLogLog(m.hllDestinations),
    hll_ports: encodeHyperLogLog(m.hllPorts),
    candidates: encodeCandidates(m.candidates),
    protocols: protocols.map((p) => p[0]),
    protocol_packets: protocols.map((p) => p[1].packets),
    protocol_bytes: protocols.map((p) => p[1].bytes),
    hosts: hosts.map((h) => h[0]),
    host_boot: hosts.map((h) => h[1].boot),
    host_last_seq: hosts.map((h) => h[1].lastSeq),
    host_packets: hosts.map((h) => h[1].packets),
    host_bytes: hosts.map((h) => h[1].bytes),
    host_snapshots: hosts.map((h) => h[1].snapshots),
    host_gaps: hosts.map((h) => h[1].gaps),
    gaps: m.gaps,
    written_at: now,
    expires_at: sec(m.windowStart) + ttlSeconds,
  };
}

/**
 * The `n` candidates with the largest plain CMS estimates. A fleet window can hold 10^5 candidate keys; ranking
 * only a shortlist keeps rollups cheap. Estimates stay upper bounds: with fewer candidates, less of the other
 * candidates' counts is taken out of shared cells, so an estimate can only be higher, never below the truth.
 */
export function preselect(candidates: Candidate[], cms: CountMinSketch, n: number): Candidate[] {
  if (candidates.length <= n) return candidates;
  const est = new Float64Array(candidates.length);
  const order = new Uint32Array(candidates.length);
  for (let i = 0; i < candidates.length; i++) {
    est[i] = cms.estimateKey(candidates[i].key);
    order[i] = i;
  }
  order.sort((a, b) => est[b] - est[a]);
  const out: Candidate[] = [];
  for (let i = 0; i < n; i++) out.push(candidates[order[i]]);
  return out;
}

/** Keeps the `n` highest candidates by packets and the `n` highest by bytes (estimates on the merged sketches). */
export function shortlistCandidates(m: MergedWindow, n: number): void {
  if (m.candidates.size <= n) return;
  const all = m.candidates.toArray();
  const keep = new CandidateSet(preselect(all, m.cmsPackets, n));
  for (const c of preselect(all, m.cmsBytes, n)) if (!keep.has(c.key)) keep.add(c);
  m.candidates = keep;
}

export interface ReadableRows {
  windowTotals: Record<string, unknown>[];
  topFlows: Record<string, unknown>[];
  hostTotals: Record<string, unknown>[];
  protocolTotals: Record<string, unknown>[];
}

export interface ReadableTtl {
  windowTotals: number;
  topFlows: number;
  hostTotals: number;
  protocolTotals: number;
}

/** Readable rollup rows of one window; version = partial rows merged (a rebuild that saw more rows replaces this one). */
export function readableRows(m: MergedWindow, tier: Tier, topK: number, ttl: ReadableTtl, now = new Date()): ReadableRows {
  const ws = sec(m.windowStart);
  const version = m.partials;
  const exp = (t: number) => ws + t;
  const windowTotals = [
    {
      tier,
      window_start: ws,
      window_seconds: m.windowSeconds,
      version,
      partials: m.partials,
      snapshots: m.snapshots,
      hosts: m.hosts.size,
      packets: m.packets,
      bytes: m.bytes,
      distinct_flows: m.hllFlows.estimate(),
      distinct_sources: m.hllSources.estimate(),
      distinct_destinations: m.hllDestinations.estimate(),
      distinct_ports: m.hllPorts.estimate(),
      hll_standard_error: m.hllFlows.standardError,
      cms_epsilon: m.cmsPackets.epsilon,
      cms_confidence: 1 - m.cmsPackets.delta,
      gaps: m.gaps,
      late_partials: m.latePartials,
      updated_at: now,
      expires_at: exp(ttl.windowTotals),
    },
  ];
  const topFlows: Record<string, unknown>[] = [];
  for (const by of ['packets', 'bytes'] as const) {
    const shortlist = preselect(m.candidates.toArray(), by === 'packets' ? m.cmsPackets : m.cmsBytes, topK * 4);
    heavyHitters(shortlist, m.cmsPackets, m.cmsBytes, { by, k: topK }).forEach((h, i) => {
      topFlows.push({
        tier,
        window_start: ws,
        ranked_by: by,
        rank: i + 1,
        version,
        src: h.tuple.src,
        dst: h.tuple.dst,
        sport: h.tuple.sport,
        dport: h.tuple.dport,
        protocol: h.tuple.proto,
        flow_key_hex: toHex(h.key),
        packets: h.packets,
        packets_bound: h.packetsBound,
        bytes: h.bytes,
        bytes_bound: h.bytesBound,
        confidence: h.confidence,
        updated_at: now,
        expires_at: exp(ttl.topFlows),
      });
    });
  }
  const hostTotals = [...m.hosts].map(([host, t]) => ({
    tier,
    window_start: ws,
    host,
    version,
    snapshots: t.snapshots,
    packets: t.packets,
    bytes: t.bytes,
    gaps: t.gaps,
    updated_at: now,
    expires_at: exp(ttl.hostTotals),
  }));
  const protocolTotals = [...m.protocols].map(([protocol, t]) => ({
    tier,
    window_start: ws,
    protocol,
    version,
    packets: t.packets,
    bytes: t.bytes,
    updated_at: now,
    expires_at: exp(ttl.protocolTotals),
  }));
  return { windowTotals, topFlows, hostTotals, protocolTotals };
}
