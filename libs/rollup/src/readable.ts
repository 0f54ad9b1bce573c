// Readable rollup rows of one window (libs/storage/migrations/0101_*): totals, top flows, per-host and per-protocol;
// and the window's sketches in forms plain SQL merges (0105_*, docs/sql.md).
import { HLL_SKETCHES, heavyHitters, parseFlowKey, toHex } from '@tma/sketch';
import { shortlistBlock, topByEstimate } from './candidates';
import { COARSE_TIERS, HOUR_CANDIDATES, type Tier } from './tiers';
import { mergedCandidates, type MergedWindow } from './partial-rows';

export interface ReadableRows {
  windowTotals: Record<string, unknown>[];
  topFlows: Record<string, unknown>[];
  hostTotals: Record<string, unknown>[];
  protocolTotals: Record<string, unknown>[];
  /** agg_window_flows: the window's candidate flows with their CMS cells; written before windowSketches. */
  windowFlows: Record<string, unknown>[];
  /** agg_window_sketches: CMS counters and HLL registers as native arrays. */
  windowSketches: Record<string, unknown>[];
}

export interface ReadableTtl {
  windowTotals: number;
  topFlows: number;
  hostTotals: number;
  protocolTotals: number;
  /** windowFlows and windowSketches (one TTL: a flow's cells mean nothing without the counters). */
  sketches: number;
}

/** Readable rollup rows of one window; version = partial rows read (a rebuild that saw more rows replaces this one). */
export function readableRows(
  m: MergedWindow,
  tier: Tier,
  topK: number,
  ttl: ReadableTtl,
  now = new Date(),
): ReadableRows {
  const ws = Math.floor(m.windowStart / 1000);
  const version = rollupVersion(m);
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
  const candidates = mergedCandidates(m);
  for (const by of ['packets', 'bytes'] as const) {
    // Only the plain-estimate leaders can rank in the top k (see topByEstimate).
    const shortlist = candidates.pick(
      topByEstimate(candidates, by === 'packets' ? m.cmsPackets : m.cmsBytes, topK * 4),
    );
    heavyHitters(shortlist.toArray(), m.cmsPackets, m.cmsBytes, { by, k: topK }).forEach((h, i) => {
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
  // A coarse window's candidates are already its summary's (the 1 h or 1 d row's); a 1 min window's union is cut to
  // the same size.
  const listed = COARSE_TIERS.some((t) => t.tier === tier)
    ? candidates
    : shortlistBlock(candidates, m.cmsPackets, m.cmsBytes, HOUR_CANDIDATES);
  const windowFlows = listed.toArray().map((c, i) => {
    const t = parseFlowKey(c.key);
    return {
      tier,
      window_start: ws,
      version,
      src: t.src,
      dst: t.dst,
      sport: t.sport,
      dport: t.dport,
      protocol: t.proto,
      cms_cells: m.cmsPackets.cellsOf(listed.hi[i], listed.lo[i]),
      kernel_packets: c.packets,
      kernel_bytes: c.bytes,
      expires_at: exp(ttl.sketches),
    };
  });
  const windowSketches = [
    {
      tier,
      window_start: ws,
      window_seconds: m.windowSeconds,
      version,
      snapshots: m.snapshots,
      packets: m.packets,
      bytes: m.bytes,
      cms_packets: Array.from(m.cmsPackets.cells),
      cms_bytes: Array.from(m.cmsBytes.cells),
      ...Object.fromEntries(HLL_SKETCHES.map((h) => [h.column, Array.from(m[h.property].registers)])),
      updated_at: now,
      expires_at: exp(ttl.sketches),
    },
  ];
  return { windowTotals, topFlows, hostTotals, protocolTotals, windowFlows, windowSketches };
}

/**
 * Version of what is rebuilt from a window's partial rows: every row read, merged or fenced (only ever grows); for a
 * 1 d row the sum of its hours' versions.
 */
export function rollupVersion(m: MergedWindow): number {
  return m.inputVersions ?? m.partials + m.fencedRows;
}
