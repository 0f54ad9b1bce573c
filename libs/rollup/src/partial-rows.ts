// One window's merged content and the agg_partials row it becomes (libs/storage/migrations/0100_*, 0102_*), shared by
// the aggregator (1 min rows from Kafka, 1 h rows from 1 min rows) and everything that builds or reads such rows
// (the query API, benchmarks). Sketch columns carry the libs/sketch binary serialization.
import {
  CountMinSketch,
  HLL_SKETCHES,
  HyperLogLog,
  decodeCandidateList,
  decodeCountMinSketch,
  decodeHyperLogLog,
  encodeCandidates,
  encodeCountMinSketch,
  encodeHyperLogLog,
  perHll,
  SynCounts,
  type Candidate,
  type CandidateFloor,
  type HllColumn,
  type HllProperty,
} from '@tma/sketch';
import { CandidateBlock, unionBlocks } from './candidates';
import type { Tier } from './tiers';

/**
 * An exact count. A window's row from snapshots keeps every count ≤ 2^53 − 1 (the aggregator refuses a snapshot that
 * would pass it) and uses numbers; sums of stored rows (the 1 h tier, fleet-wide rollups, query answers) use bigint,
 * since UInt64 columns go up to 2^64 − 1 and no double holds such a sum exactly.
 */
export type Count = number | bigint;

/** Exact counters of one host within a window (and what it said about itself). */
export interface HostTotals<C extends Count = number> {
  boot: string;
  lastSeq: number;
  /** The agent's version in its newest snapshot of the window ('' when unknown: rows written before it was stored). */
  agentVersion: string;
  packets: C;
  bytes: C;
  snapshots: number;
  gaps: number;
}

/** What any window holds, however it was merged (from snapshots or from stored rows); HLLs as HLL_SKETCHES lists. */
export interface WindowContent<C extends Count = number> extends Record<HllProperty, HyperLogLog> {
  snapshots: number;
  packets: C;
  bytes: C;
  gaps: number;
  cmsPackets: CountMinSketch;
  cmsBytes: CountMinSketch;
  protocols: Map<number, { packets: C; bytes: C }>;
  hosts: Map<string, HostTotals<C>>;
  /**
   * What the window's candidate list leaves out (every other flow had at most this; undefined: unknown, some
   * snapshot said nothing) and whether any snapshot was sampled. Taken from the block when the candidates are one.
   */
  candidateFloor?: CandidateFloor;
  candidatesSampled?: boolean;
  /** TCP flag counts per server address (SYN floods; docs/threats.md); undefined when no snapshot carried them. */
  syn?: SynCounts;
}

/** Row of agg_partials as written (Uint8Array columns go through their _hex EPHEMERAL twins). */
/** The serialized sketches of a row, as stored (libs/sketch binary forms; candidates as a CandidateBlock). */
export interface SketchColumns extends Record<HllColumn, Uint8Array> {
  cms_packets: Uint8Array;
  cms_bytes: Uint8Array;
  candidates: Uint8Array;
  /** SynCounts.encode(), empty when the window has none (migration 0113). */
  syn_flags?: Uint8Array;
}

export interface PartialRow extends SketchColumns {
  tier: Tier;
  window_start: number;
  window_seconds: number;
  topic: string;
  partition: number;
  first_offset: number;
  /** Ownership epoch the row was merged under (libs/rollup fence.ts); 0 for 1 h rows. */
  epoch: number;
  last_offset: number;
  version: number;
  writer: string;
  late: number;
  snapshots: number;
  packets: Count;
  bytes: Count;
  protocols: number[];
  protocol_packets: Count[];
  protocol_bytes: Count[];
  hosts: string[];
  host_boot: string[];
  host_last_seq: number[];
  host_agent_version: string[];
  host_packets: Count[];
  host_bytes: Count[];
  host_snapshots: number[];
  host_gaps: number[];
  gaps: number;
  written_at: Date;
  expires_at: number;
}

/** Where a row sits in agg_partials: its key, version and provenance. */
export interface RowIdentity {
  tier: Tier;
  windowStartMs: number;
  windowSeconds: number;
  topic: string;
  partition: number;
  firstOffset: number;
  epoch: number;
  lastOffset: number;
  version: number;
  writer: string;
  late: boolean;
}

const sec = (ms: number) => Math.floor(ms / 1000);

/** The agg_partials row of a window's content. */
export function partialRow<C extends Count>(
  c: WindowContent<C>,
  candidates: Iterable<Candidate> | CandidateBlock,
  id: RowIdentity,
  ttlSeconds: number,
  now = new Date(),
): PartialRow {
  const protocols = [...c.protocols].sort((a, b) => a[0] - b[0]);
  const hosts = [...c.hosts].sort((a, b) => (a[0] < b[0] ? -1 : 1));
  const block = candidates instanceof CandidateBlock ? candidates : undefined;
  const list = block ? block.toArray() : (candidates as Iterable<Candidate>);
  const floor = block ? block.floor : c.candidateFloor;
  const sampled = block ? block.sampled : (c.candidatesSampled ?? false);
  return {
    tier: id.tier,
    window_start: sec(id.windowStartMs),
    window_seconds: id.windowSeconds,
    topic: id.topic,
    partition: id.partition,
    first_offset: id.firstOffset,
    epoch: id.epoch,
    last_offset: id.lastOffset,
    version: id.version,
    writer: id.writer,
    late: id.late ? 1 : 0,
    snapshots: c.snapshots,
    packets: c.packets,
    bytes: c.bytes,
    cms_packets: encodeCountMinSketch(c.cmsPackets),
    cms_bytes: encodeCountMinSketch(c.cmsBytes),
    ...perHll('column', (h) => encodeHyperLogLog(c[h.property])),
    candidates: encodeCandidates(list, undefined, { floor, sampled }),
    syn_flags: c.syn ? c.syn.encode() : new Uint8Array(0),
    protocols: protocols.map((p) => p[0]),
    protocol_packets: protocols.map((p) => p[1].packets),
    protocol_bytes: protocols.map((p) => p[1].bytes),
    hosts: hosts.map((h) => h[0]),
    host_boot: hosts.map((h) => h[1].boot),
    host_last_seq: hosts.map((h) => h[1].lastSeq),
    host_agent_version: hosts.map((h) => h[1].agentVersion),
    host_packets: hosts.map((h) => h[1].packets),
    host_bytes: hosts.map((h) => h[1].bytes),
    host_snapshots: hosts.map((h) => h[1].snapshots),
    host_gaps: hosts.map((h) => h[1].gaps),
    gaps: c.gaps,
    written_at: now,
    expires_at: sec(id.windowStartMs) + ttlSeconds,
  };
}

/** A partial row as read back (SELECT … hex(col) AS col with binaryColumns; 64-bit integers arrive as text), or as written. */
export interface StoredPartial extends SketchColumns {
  window_start: number | string;
  window_seconds: number | string;
  late: number | string;
  snapshots: number | string;
  packets: Count | string;
  bytes: Count | string;
  gaps: number | string;
  protocols: (number | string)[];
  protocol_packets: (Count | string)[];
  protocol_bytes: (Count | string)[];
  hosts: string[];
  host_boot: string[];
  host_last_seq: (number | string)[];
  /** Absent or shorter than `hosts` in rows written before agent versions were stored. */
  host_agent_version?: string[];
  host_packets: (Count | string)[];
  host_bytes: (Count | string)[];
  host_snapshots: (number | string)[];
  host_gaps: (number | string)[];
}

/** The columns a StoredPartial needs, for SELECT lists. */
export const SKETCH_COLUMNS = ['cms_packets', 'cms_bytes', ...HLL_SKETCHES.map((h) => h.column), 'candidates'] as const;
/** The binary columns of STORED_PARTIAL_SELECT (the sketches and the SYN counts), for query(…, { binaryColumns }). */
export const STORED_PARTIAL_BINARY = [...SKETCH_COLUMNS, 'syn_flags'] as const;
export const STORED_PARTIAL_SELECT = `toUnixTimestamp(window_start) AS window_start, window_seconds, late, snapshots, packets, bytes, gaps,
  ${STORED_PARTIAL_BINARY.map((c) => `hex(${c}) AS ${c}`).join(', ')},
  protocols, protocol_packets, protocol_bytes, hosts, host_boot, host_last_seq, host_agent_version, host_packets, host_bytes,
  host_snapshots, host_gaps`;

/** One window merged from any number of stored partial rows (exact totals: bigint). */
export interface MergedWindow extends WindowContent<bigint> {
  windowStart: number;
  windowSeconds: number;
  partials: number;
  latePartials: number;
  /**
   * Rows read but not merged because the ownership fence drops them. Counted in the rollup version with `partials`:
   * rows are only ever added, so a later rebuild never has a lower version than an earlier one.
   */
  fencedRows: number;
  /** Each merged row's candidates; see mergedCandidates(). */
  candidateParts: CandidateBlock[];
}

export function emptyMerged(windowStart: number, windowSeconds: number): MergedWindow {
  return {
    windowStart,
    windowSeconds,
    partials: 0,
    latePartials: 0,
    fencedRows: 0,
    snapshots: 0,
    packets: 0n,
    bytes: 0n,
    gaps: 0,
    cmsPackets: new CountMinSketch(),
    cmsBytes: new CountMinSketch(),
    ...perHll('property', () => new HyperLogLog()),
    candidateParts: [],
    protocols: new Map(),
    hosts: new Map(),
  };
}

/** The key union of every merged row's candidates (kernel counts summed). */
export function mergedCandidates(m: MergedWindow): CandidateBlock {
  const u = unionBlocks(m.candidateParts);
  m.candidateParts = [u];
  return u;
}

/** Adds one host's counters to a window's (boot, sequence and agent version of the highest sequence win). */
export function addHostTotals(into: Map<string, HostTotals<bigint>>, host: string, t: HostTotals<bigint>): void {
  const h = into.get(host);
  if (!h) {
    into.set(host, { ...t });
    return;
  }
  if (t.lastSeq >= h.lastSeq) {
    h.boot = t.boot;
    h.lastSeq = t.lastSeq;
    if (t.agentVersion) h.agentVersion = t.agentVersion;
  }
  h.packets += t.packets;
  h.bytes += t.bytes;
  h.snapshots += t.snapshots;
  h.gaps += t.gaps;
}

/** Merges a stored partial into `into` (associative and commutative: any order, any grouping). */
export function mergeStoredPartial(into: MergedWindow, row: StoredPartial): void {
  into.partials++;
  if (Number(row.late)) into.latePartials++;
  into.snapshots += Number(row.snapshots);
  into.packets += BigInt(row.packets);
  into.bytes += BigInt(row.bytes);
  into.gaps += Number(row.gaps);
  into.cmsPackets.merge(decodeCountMinSketch(row.cms_packets));
  into.cmsBytes.merge(decodeCountMinSketch(row.cms_bytes));
  for (const h of HLL_SKETCHES) into[h.property].merge(decodeHyperLogLog(row[h.column]));
  into.candidateParts.push(CandidateBlock.from(decodeCandidateList(row.candidates)));
  if (row.syn_flags && row.syn_flags.length > 0) {
    const syn = SynCounts.decode(row.syn_flags);
    (into.syn ??= new SynCounts(syn.depth, syn.widthBits)).merge(syn);
  }
  row.protocols.forEach((p, i) => {
    const k = Number(p);
    const t = into.protocols.get(k) ?? { packets: 0n, bytes: 0n };
    t.packets += BigInt(row.protocol_packets[i]);
    t.bytes += BigInt(row.protocol_bytes[i]);
    into.protocols.set(k, t);
  });
  row.hosts.forEach((h, i) => {
    addHostTotals(into.hosts, h, {
      boot: row.host_boot[i],
      lastSeq: Number(row.host_last_seq[i]),
      agentVersion: row.host_agent_version?.[i] ?? '',
      packets: BigInt(row.host_packets[i]),
      bytes: BigInt(row.host_bytes[i]),
      snapshots: Number(row.host_snapshots[i]),
      gaps: Number(row.host_gaps[i]),
    });
  });
}
