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
  decodeSpread,
  encodeSpread,
  type SpreadSketch,
  PrefixCounts,
  SynCounts,
  type Candidate,
  type CandidateFloor,
  type FrequentState,
  type HllColumn,
  type HllProperty,
} from '@tma/sketch';
import { CandidateBlock, unionBlocks } from './candidates';
import { exactSummary, storedSummary, windowSlack, type FrequentSummary } from './frequent';
import type { Tier } from './tiers';

/**
 * An exact count. A window's row from snapshots keeps every count ≤ 2^53 − 1 (the aggregator refuses a snapshot that
 * would pass it) and uses numbers; sums of stored rows (the 1 h tier, fleet-wide rollups, query answers) use bigint,
 * since UInt64 columns go up to 2^64 − 1 and no double holds such a sum exactly.
 */
export type Count = number | bigint;

/** A stream of a host (boot id, agent id) and the highest sequence of it merged. */
export interface HostStream {
  boot: string;
  agent: string;
  lastSeq: number;
}

/** Exact counters of one host within a window (and what it said about itself). */
export interface HostTotals<C extends Count = number> {
  boot: string;
  lastSeq: number;
  /** The agent's version in its newest snapshot of the window ('' when unknown: rows written before it was stored). */
  agentVersion: string;
  /**
   * The agent id of the stream `lastSeq` belongs to (with `boot`); '' or absent when unknown (rows written before it
   * was stored).
   */
  agent?: string;
  /**
   * The streams the host had earlier in this window, when its stream changed inside it (an agent that lost its
   * state, a reboot), each with its last sequence: the aggregator's reload needs their positions too. Absent: none.
   */
  earlier?: HostStream[];
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
  /** A coarse tier's frequent-items summary state, stored with its candidates (in the same order). */
  frequent?: FrequentState;
  /** Per-source spreads merged over the window's snapshots (undefined: none carried one). */
  spread?: SpreadSketch;
  /** Heavy-prefix counts with bounds (undefined: none known, every prefix may hold all of the window's traffic). */
  prefixCounts?: PrefixCounts;
  /** TCP flag counts per server address (SYN floods; docs/threats.md); undefined when no snapshot carried them. */
  syn?: SynCounts;
}

/** Prefixes a stored row keeps per side and level (the rest raise the level's floor). */
export const ROW_PREFIXES_PER_TABLE = 64;

/** The prefixes column of a window's content ('' when unknown). */
export const prefixesColumn = (c: Pick<WindowContent<Count>, 'prefixCounts'>): string =>
  c.prefixCounts ? c.prefixCounts.clone().cap(ROW_PREFIXES_PER_TABLE).encode() : '';

/** A stored row's prefix counts: '' (rows written before 0111, or without prefix data) counts as unknown traffic. */
export const storedPrefixes = (
  text: string | undefined,
  packets: Count | string,
  bytes: Count | string,
): PrefixCounts => (text ? PrefixCounts.decode(text) : new PrefixCounts().addUnknown(Number(packets), Number(bytes)));

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
  /** Per-source spreads (encodeSpread; empty when none). */
  spread: Uint8Array;
  /** heavy-prefix counts (JSON of PrefixCounts; '' unknown) */
  prefixes: string;
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
  host_agent: string[];
  host_packets: Count[];
  host_bytes: Count[];
  host_snapshots: number[];
  host_gaps: number[];
  earlier_stream_host: string[];
  earlier_stream_boot: string[];
  earlier_stream_agent: string[];
  earlier_stream_last_seq: number[];
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
  const earlier = hosts.flatMap(([host, h]) => (h.earlier ?? []).map((e) => ({ host, ...e })));
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
    candidates: encodeCandidates(list, undefined, { floor, sampled, frequent: c.frequent }),
    spread: encodeSpread(c.spread),
    prefixes: prefixesColumn(c),
    syn_flags: c.syn ? c.syn.encode() : new Uint8Array(0),
    protocols: protocols.map((p) => p[0]),
    protocol_packets: protocols.map((p) => p[1].packets),
    protocol_bytes: protocols.map((p) => p[1].bytes),
    hosts: hosts.map((h) => h[0]),
    host_boot: hosts.map((h) => h[1].boot),
    host_last_seq: hosts.map((h) => h[1].lastSeq),
    host_agent_version: hosts.map((h) => h[1].agentVersion),
    host_agent: hosts.map((h) => h[1].agent ?? ''),
    host_packets: hosts.map((h) => h[1].packets),
    host_bytes: hosts.map((h) => h[1].bytes),
    host_snapshots: hosts.map((h) => h[1].snapshots),
    host_gaps: hosts.map((h) => h[1].gaps),
    earlier_stream_host: earlier.map((e) => e.host),
    earlier_stream_boot: earlier.map((e) => e.boot),
    earlier_stream_agent: earlier.map((e) => e.agent),
    earlier_stream_last_seq: earlier.map((e) => e.lastSeq),
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
  /** Absent or shorter than `hosts` in rows written before agent ids were stored. */
  host_agent?: string[];
  host_packets: (Count | string)[];
  host_bytes: (Count | string)[];
  host_snapshots: (number | string)[];
  host_gaps: (number | string)[];
  /** Per-source spreads; absent or empty in rows written before they were stored. */
  spread?: Uint8Array;
  /** Absent in rows read without it; '' in rows written before 0111. */
  prefixes?: string;
}

/** The columns a StoredPartial needs, for SELECT lists. */
export const SKETCH_COLUMNS = ['cms_packets', 'cms_bytes', ...HLL_SKETCHES.map((h) => h.column), 'candidates'] as const;
/** Binary columns of STORED_PARTIAL_SELECT (the sketch columns, the per-source spreads and the SYN counts). */
export const STORED_PARTIAL_BINARY = [...SKETCH_COLUMNS, 'spread', 'syn_flags'] as const;
export const STORED_PARTIAL_SELECT = `toUnixTimestamp(window_start) AS window_start, window_seconds, late, snapshots, packets, bytes, gaps,
  ${STORED_PARTIAL_BINARY.map((c) => `hex(${c}) AS ${c}`).join(', ')},
  protocols, protocol_packets, protocol_bytes, hosts, host_boot, host_last_seq, host_agent_version, host_agent, host_packets,
  host_bytes, host_snapshots, host_gaps, prefixes`;

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
  /**
   * Σ of the merged rows' own versions, when the rollups' version is to follow them (a 1 d row: its hours are rebuilt
   * in place with higher versions, so the count of rows read would not grow).
   */
  inputVersions?: number;
  /** Each merged row's candidates; see mergedCandidates(). */
  candidateParts: CandidateBlock[];
  /**
   * Each merged row's candidates as a frequent-items summary (a coarse-tier row's stored one, else the row's list as
   * an exact summary with its slack): what the coarse tiers are built from (libs/rollup frequent.ts).
   */
  frequentParts: FrequentSummary[];
  prefixCounts: PrefixCounts;
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
    frequentParts: [],
    prefixCounts: new PrefixCounts(),
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

/** Adds one host's counters to a window's (boot, agent, sequence and agent version of the highest sequence win). */
export function addHostTotals(into: Map<string, HostTotals<bigint>>, host: string, t: HostTotals<bigint>): void {
  const h = into.get(host);
  if (!h) {
    into.set(host, { ...t });
    return;
  }
  if (t.lastSeq >= h.lastSeq) {
    h.boot = t.boot;
    h.lastSeq = t.lastSeq;
    h.agent = t.agent;
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
  const cmsP = decodeCountMinSketch(row.cms_packets);
  const cmsB = decodeCountMinSketch(row.cms_bytes);
  into.cmsPackets.merge(cmsP);
  into.cmsBytes.merge(cmsB);
  for (const h of HLL_SKETCHES) into[h.property].merge(decodeHyperLogLog(row[h.column]));
  const list = decodeCandidateList(row.candidates);
  const block = CandidateBlock.from(list);
  into.candidateParts.push(block);
  into.frequentParts.push(
    list.frequent ? storedSummary(block, list.frequent) : exactSummary(block, windowSlack(block, cmsP, cmsB)),
  );
  const spread = decodeSpread(row.spread);
  if (spread) into.spread = into.spread ? into.spread.merge(spread) : spread;
  into.prefixCounts.add(storedPrefixes(row.prefixes, row.packets, row.bytes));
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
      agent: row.host_agent?.[i] ?? '',
      packets: BigInt(row.host_packets[i]),
      bytes: BigInt(row.host_bytes[i]),
      snapshots: Number(row.host_snapshots[i]),
      gaps: Number(row.host_gaps[i]),
    });
  });
}
