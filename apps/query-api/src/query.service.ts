// The answers, shared by REST and GraphQL: merge the stored partial sketches of the requested windows and hosts,
// re-estimate candidate flows on the merged CMS, and attach every estimate's bound (CMS ε·N at 1 − δ; HLL standard
// error). Exact counters (totals per protocol and host) come from the same rows.
import { type CandidateBlock, HOUR_CANDIDATES, kthLargest, topByEstimate, unionBlocks } from '@tma/rollup';
import {
  IPV4_PREFIXES,
  IPV6_PREFIXES,
  CountMinSketch,
  flowKey,
  formatAddress,
  heavyHitters,
  hierarchicalHeavyHitters,
  isIPv4Mapped,
  parseFlowKey,
  toHex,
  type HeavyHitter,
  type RankBy,
} from '@tma/sketch';
import type { Storage } from '@tma/storage';
import { type Filters, inPrefix, PROTOCOL_LABELS, type Prefix, type TimeRange } from './params';
import {
  HOUR_TIER,
  MINUTE_TIER,
  mergeCms,
  mergeHll,
  type PartialRow,
  PartialStore,
  type RowSelection,
  type SketchColumn,
} from './partials';

export interface Scope {
  /** The time range answered: windows whose start lies in [from, to). */
  from: string;
  to: string;
  /** Distinct windows merged per tier (1m, 1h). */
  tiers: Record<string, number>;
  /** Hosts the answer is restricted to, or null for the whole fleet. */
  hosts: string[] | null;
  /**
   * False when a host filter was given but some stored partials merge the requested hosts with others (partials are
   * per Kafka partition): the answer then covers `coveredHosts`, a superset.
   */
  exact: boolean;
  coveredHosts?: string[];
}

export interface CmsBound {
  /** ε·N: an estimate exceeds the truth by at most this, with probability `confidence`. */
  bound: number;
  epsilon: number;
  confidence: number;
  /** N: total weight in the merged sketch. */
  total: number;
}

export interface FlowEstimate {
  src: string;
  dst: string;
  srcPort: number;
  dstPort: number;
  protocol: number;
  protocolName: string | null;
  packets: number;
  packetsLower: number;
  packetsBound: number;
  bytes: number;
  bytesLower: number;
  bytesBound: number;
  confidence: number;
}

export interface HllValue {
  estimate: number;
  /** Relative standard error (1.04/√m). */
  standardError: number;
  /** estimate ± 2 standard errors (≈95 %). */
  low95: number;
  high95: number;
}

const CARD_COLUMNS = {
  flows: 'hll_flows',
  sources: 'hll_sources',
  destinations: 'hll_destinations',
  ports: 'hll_ports',
} as const;
export type CardinalityMetric = keyof typeof CARD_COLUMNS;
export const CARDINALITY_METRICS = Object.keys(CARD_COLUMNS) as CardinalityMetric[];

function hllValue(h: { estimate(): number; standardError: number }): HllValue {
  const estimate = h.estimate();
  const se = h.standardError;
  return {
    estimate: Math.round(estimate * 100) / 100,
    standardError: se,
    low95: Math.max(0, estimate * (1 - 2 * se)),
    high95: estimate * (1 + 2 * se),
  };
}

function flowOut(h: HeavyHitter): FlowEstimate {
  return {
    src: h.tuple.src,
    dst: h.tuple.dst,
    srcPort: h.tuple.sport,
    dstPort: h.tuple.dport,
    protocol: h.tuple.proto,
    protocolName: PROTOCOL_LABELS[h.tuple.proto] ?? null,
    packets: h.packets,
    packetsLower: Math.max(h.kernelPackets, h.packets - h.packetsBound, 0),
    packetsBound: h.packetsBound,
    bytes: h.bytes,
    bytesLower: Math.max(h.kernelBytes, h.bytes - h.bytesBound, 0),
    bytesBound: h.bytesBound,
    confidence: h.confidence,
  };
}

function cmsBound(c: CountMinSketch): CmsBound {
  return { bound: c.errorBound(), epsilon: c.epsilon, confidence: 1 - c.delta, total: c.total };
}

const hasFlowFilter = (f: Filters) =>
  f.protocol !== undefined ||
  f.srcPort !== undefined ||
  f.dstPort !== undefined ||
  f.srcPrefix !== undefined ||
  f.dstPrefix !== undefined;

/**
 * Most candidates ranked exactly per request (k ≤ 1000): the ones with the largest plain estimates (topByEstimate in
 * @tma/rollup); the rest cannot reach the top.
 */
export const RANK_SHORTLIST = 2048;

function matches(f: Filters, key: Uint8Array): boolean {
  if (f.protocol !== undefined && key[36] !== f.protocol) return false;
  if (f.srcPort !== undefined && ((key[32] << 8) | key[33]) !== f.srcPort) return false;
  if (f.dstPort !== undefined && ((key[34] << 8) | key[35]) !== f.dstPort) return false;
  if (f.srcPrefix && !inPrefix(f.srcPrefix, key, 0)) return false;
  if (f.dstPrefix && !inPrefix(f.dstPrefix, key, 16)) return false;
  return true;
}

interface MergedFlows {
  cmsP: CountMinSketch;
  cmsB: CountMinSketch;
  candidates: CandidateBlock;
}

export interface IcicleNode {
  prefix: string;
  length: number;
  parent: string | null;
  weight: number;
  share: number;
}

export class QueryService {
  constructor(
    readonly storage: Storage,
    readonly store: PartialStore,
  ) {}

  private iso(ms: number): string {
    return new Date(ms).toISOString();
  }

  /** Rows for the range and host set; hour rows only without a host filter. */
  private async rows(
    range: TimeRange,
    hosts: string[] | undefined,
    hourTier = true,
  ): Promise<{ sel: RowSelection; scope: Scope }> {
    const sel = await this.store.select(range, { hourTier: hourTier && !hosts, withHosts: !!hosts });
    const scope: Scope = {
      from: this.iso(range.from),
      to: this.iso(range.to),
      tiers: sel.tiers,
      hosts: hosts ?? null,
      exact: true,
    };
    if (hosts) {
      const wanted = new Set(hosts);
      const covered = new Set<string>();
      sel.rows = sel.rows.filter((r) => (r.hosts ?? []).some((h) => wanted.has(h)));
      for (const r of sel.rows) for (const h of r.hosts ?? []) covered.add(h);
      scope.exact = [...covered].every((h) => wanted.has(h));
      if (!scope.exact) scope.coveredHosts = [...covered].sort();
      const windows = new Set(sel.rows.map((r) => `${r.tier}|${r.windowStart}`));
      scope.tiers = {};
      for (const w of windows) {
        const t = w.split('|')[0];
        scope.tiers[t] = (scope.tiers[t] ?? 0) + 1;
      }
    }
    return { sel, scope };
  }

  /**
   * Merged CMS and candidate union of a set of rows. Incremental: the 1 h rows of a range (which change once an
   * hour) are merged once and reused while that set is unchanged, so a range moving by a minute redoes only its
   * 1 min rows and one union of the hours' result with them.
   */
  private mergedFlows(rows: PartialRow[]): Promise<MergedFlows> {
    return this.store.memo('flows', rows, async () => {
      const hours = rows.filter((r) => r.tier === HOUR_TIER);
      const rest = rows.filter((r) => r.tier !== HOUR_TIER);
      if (!hours.length) return this.mergeFlowRows(rest);
      const h = await this.store.memo('flows:hours', hours, () => this.mergeFlowRows(hours, true));
      if (!rest.length) return h;
      const [p, b, c] = await this.flowSketches(rest);
      return {
        cmsP: mergeCms([h.cmsP, ...p]),
        cmsB: mergeCms([h.cmsB, ...b]),
        // The hours' union is extended, not redone: its keys are already distinct.
        candidates: unionBlocks(c, h.candidates),
      };
    });
  }

  private flowSketches(rows: PartialRow[]) {
    return Promise.all([
      this.store.sketches(rows, 'cms_packets'),
      this.store.sketches(rows, 'cms_bytes'),
      this.store.sketches(rows, 'candidates'),
    ]);
  }

  /** `keepIndex`: keep the union's hash table, for a union that will be extended (the hours of a range). */
  private async mergeFlowRows(rows: PartialRow[], keepIndex = false): Promise<MergedFlows> {
    const [p, b, c] = await this.flowSketches(rows);
    return { cmsP: mergeCms(p), cmsB: mergeCms(b), candidates: unionBlocks(c, undefined, { keepIndex }) };
  }

  /** Every candidate re-estimated on the merged sketches and ranked (shared by top flows, prefixes and HHH). */
  private async ranked(
    rows: PartialRow[],
    by: RankBy,
  ): Promise<{ cmsP: CountMinSketch; cmsB: CountMinSketch; candidates: number; all: HeavyHitter[] }> {
    const m = await this.mergedFlows(rows);
    const all = await this.store.memo(`rank:${by}`, rows, async () => {
      const top = m.candidates.pick(topByEstimate(m.candidates, by === 'packets' ? m.cmsP : m.cmsB, RANK_SHORTLIST));
      return heavyHitters(top.toArray(), m.cmsP, m.cmsB, { by });
    });
    return { cmsP: m.cmsP, cmsB: m.cmsB, candidates: m.candidates.size, all };
  }

  private mergedHll(rows: PartialRow[], column: SketchColumn) {
    return this.store.memo(`hll:${column}`, rows, async () =>
      mergeHll(await this.store.sketches(rows, column as 'hll_flows')),
    );
  }

  /**
   * Σ t_h over the range's 1 h rows, t_h being the smallest estimate an hour's shortlist kept (0 when it kept every
   * candidate): a flow missing from an hour's list had at most t_h there, so every flow above the sum is ranked.
   */
  private async completeAbove(rows: PartialRow[], by: RankBy): Promise<number> {
    const hours = rows.filter((r) => r.tier === HOUR_TIER);
    if (!hours.length) return 0;
    const [cms, cands] = await Promise.all([
      this.store.sketches(hours, by === 'packets' ? 'cms_packets' : 'cms_bytes'),
      this.store.sketches(hours, 'candidates'),
    ]);
    const cuts = await Promise.all(
      hours.map((h, i) =>
        this.store.memo(`cut:${by}`, [h], async () =>
          cands[i].size < HOUR_CANDIDATES ? 0 : kthLargest(cands[i].estimates(cms[i]), HOUR_CANDIDATES),
        ),
      ),
    );
    return cuts.reduce((a, b) => a + b, 0);
  }

  async topFlows(range: TimeRange, filters: Filters, by: RankBy, k: number) {
    const { sel, scope } = await this.rows(range, filters.hosts);
    // Re-estimated with every candidate (tighter collision correction), then filtered.
    const [{ cmsP, cmsB, candidates, all }, completeAbove] = await Promise.all([
      this.ranked(sel.rows, by),
      this.completeAbove(sel.rows, by),
    ]);
    const flows = hasFlowFilter(filters) ? all.filter((h) => matches(filters, h.key)) : all;
    return {
      scope,
      by,
      k,
      packets: cmsBound(cmsP),
      bytes: cmsBound(cmsB),
      candidates,
      completeAbove,
      matched: flows.length,
      flows: flows.slice(0, k).map(flowOut),
    };
  }

  async flowEstimate(
    range: TimeRange,
    hosts: string[] | undefined,
    t: { src: string; dst: string; sport: number; dport: number; proto: number },
  ) {
    const { sel, scope } = await this.rows(range, hosts);
    const [p, b] = await Promise.all([
      this.store.sketches(sel.rows, 'cms_packets'),
      this.store.sketches(sel.rows, 'cms_bytes'),
    ]);
    const cmsP = mergeCms(p);
    const cmsB = mergeCms(b);
    const key = flowKey(t);
    const ep = cmsP.query(key);
    const eb = cmsB.query(key);
    const tuple = parseFlowKey(key);
    return {
      scope,
      flow: {
        src: tuple.src,
        dst: tuple.dst,
        srcPort: t.sport,
        dstPort: t.dport,
        protocol: t.proto,
        protocolName: PROTOCOL_LABELS[t.proto] ?? null,
        packets: ep.estimate,
        packetsLower: ep.lower,
        packetsBound: ep.bound,
        bytes: eb.estimate,
        bytesLower: eb.lower,
        bytesBound: eb.bound,
        confidence: ep.confidence,
      } satisfies FlowEstimate,
      packets: cmsBound(cmsP),
      bytes: cmsBound(cmsB),
    };
  }

  /** Traffic of the candidate flows inside a prefix: each estimate is an upper bound of its flow; flows never tracked as candidates are not included. */
  async prefixEstimate(range: TimeRange, filters: Filters, side: 'src' | 'dst', prefix: Prefix) {
    const { sel, scope } = await this.rows(range, filters.hosts);
    const { cmsP, cmsB, all } = await this.ranked(sel.rows, 'packets');
    const inside = all.filter((h) => matches(filters, h.key) && inPrefix(prefix, h.key, side === 'src' ? 0 : 16));
    const packets = inside.reduce((s, h) => s + h.packets, 0);
    const bytes = inside.reduce((s, h) => s + h.bytes, 0);
    const lowerP = inside.reduce((s, h) => s + Math.max(h.kernelPackets, h.packets - h.packetsBound, 0), 0);
    const lowerB = inside.reduce((s, h) => s + Math.max(h.kernelBytes, h.bytes - h.bytesBound, 0), 0);
    return {
      scope,
      side,
      prefix: prefix.text,
      flows: inside.length,
      packets,
      packetsLower: lowerP,
      packetsBound: inside.length * cmsP.errorBound(),
      bytes,
      bytesLower: lowerB,
      bytesBound: inside.length * cmsB.errorBound(),
      confidence: 1 - cmsP.delta,
      note: 'sum over candidate flows inside the prefix; each flow bound is ε·N, so the sum is bounded by flows × ε·N',
    };
  }

  async cardinality(range: TimeRange, hosts: string[] | undefined, metrics: CardinalityMetric[] = CARDINALITY_METRICS) {
    const { sel, scope } = await this.rows(range, hosts);
    const out: Partial<Record<CardinalityMetric, HllValue>> = {};
    await Promise.all(
      metrics.map(async (m) => {
        out[m] = hllValue(await this.mergedHll(sel.rows, CARD_COLUMNS[m]));
      }),
    );
    return { scope, ...out };
  }

  private buckets(range: TimeRange, step: number): number[] {
    const out: number[] = [];
    for (let t = Math.floor(range.from / step) * step; t < range.to; t += step) out.push(t);
    return out;
  }

  async cardinalitySeries(range: TimeRange, step: number, hosts: string[] | undefined, metrics: CardinalityMetric[]) {
    // 1 h rows fit only steps made of whole hours.
    const { sel, scope } = await this.rows(range, hosts, step % 3_600_000 === 0);
    const buckets = this.buckets(range, step);
    const byBucket = new Map<number, PartialRow[]>();
    for (const r of sel.rows) {
      const b = Math.floor(r.windowStart / step) * step;
      (byBucket.get(b) ?? byBucket.set(b, []).get(b)!).push(r);
    }
    const series: Record<string, { t: string; value: HllValue | null }[]> = {};
    await Promise.all(
      metrics.map(async (m) => {
        await this.store.sketches(sel.rows, CARD_COLUMNS[m]); // one read for every bucket's rows
        series[m] = await Promise.all(
          buckets.map(async (b) => {
            const rows = byBucket.get(b);
            return { t: this.iso(b), value: rows ? hllValue(await this.mergedHll(rows, CARD_COLUMNS[m])) : null };
          }),
        );
      }),
    );
    return { scope, stepSeconds: step / 1000, series };
  }

  async heavyHitters(range: TimeRange, filters: Filters, side: 'src' | 'dst', phi: number, by: RankBy) {
    const { sel, scope } = await this.rows(range, filters.hosts);
    const { cmsP, cmsB, all } = await this.ranked(sel.rows, by);
    const flows = hasFlowFilter(filters) ? all.filter((h) => matches(filters, h.key)) : all;
    const ranking = by === 'packets' ? cmsP : cmsB;
    const total = ranking.total;
    const hhh = hierarchicalHeavyHitters(flows, { side, phi, total, by });
    return {
      scope,
      side,
      phi,
      by,
      total,
      threshold: phi * total,
      bound: ranking.errorBound(),
      confidence: 1 - ranking.delta,
      prefixes: hhh.map((h) => ({ ...h, boundPerFlow: ranking.errorBound() })),
      icicle: icicle(flows, side, by, total),
    };
  }

  /** Exact packets and bytes per protocol per step (fleet traffic over time). */
  async protocolSeries(range: TimeRange, step: number, filters: Filters) {
    const { sel, scope } = await this.rows(range, filters.hosts, step % 3_600_000 === 0);
    const buckets = this.buckets(range, step);
    const index = new Map(buckets.map((b, i) => [b, i]));
    const per = new Map<number, { packets: number[]; bytes: number[] }>();
    const totals = { packets: buckets.map(() => 0), bytes: buckets.map(() => 0) };
    for (const r of sel.rows) {
      const i = index.get(Math.floor(r.windowStart / step) * step);
      if (i === undefined) continue;
      r.protocols.forEach((p, j) => {
        if (filters.protocol !== undefined && p !== filters.protocol) return;
        let s = per.get(p);
        if (!s) per.set(p, (s = { packets: buckets.map(() => 0), bytes: buckets.map(() => 0) }));
        s.packets[i] += r.protocolPackets[j];
        s.bytes[i] += r.protocolBytes[j];
        totals.packets[i] += r.protocolPackets[j];
        totals.bytes[i] += r.protocolBytes[j];
      });
    }
    return {
      scope,
      stepSeconds: step / 1000,
      times: buckets.map((b) => this.iso(b)),
      total: totals,
      protocols: [...per.entries()]
        .sort((a, b) => b[1].packets.reduce((x, y) => x + y, 0) - a[1].packets.reduce((x, y) => x + y, 0))
        .map(([protocol, s]) => ({
          protocol,
          name: PROTOCOL_LABELS[protocol] ?? null,
          packets: s.packets,
          bytes: s.bytes,
        })),
    };
  }

  /** Hosts seen in the range (1 min tier, which keeps per-host counters): exact totals, last seen, sequence gaps. */
  async hosts(range: TimeRange, hosts: string[] | undefined) {
    const rows = await this.storage.query<{
      host: string;
      last_seen: string;
      first_seen: string;
      snapshots: string;
      packets: string;
      bytes: string;
      gaps: string;
      last_seq: string;
      boot: string;
      agent_version: string;
    }>(
      `SELECT host, toUnixTimestamp(max(window_start + window_seconds)) AS last_seen, toUnixTimestamp(min(window_start)) AS first_seen,
              sum(s) AS snapshots, sum(p) AS packets, sum(b) AS bytes, sum(g) AS gaps,
              toString(argMax(seq, window_start)) AS last_seq, argMax(boot, window_start) AS boot,
              argMaxIf(ver, window_start, ver != '') AS agent_version
       FROM {database}.agg_partials FINAL
       ARRAY JOIN hosts AS host, host_packets AS p, host_bytes AS b, host_snapshots AS s, host_gaps AS g, host_last_seq AS seq, host_boot AS boot,
                  arrayResize(host_agent_version, length(hosts)) AS ver
       WHERE tier = {tier:String} AND window_start >= {from:DateTime} AND window_start < {to:DateTime}
         ${hosts ? 'AND host IN {hosts:Array(String)}' : ''}
       GROUP BY host ORDER BY packets DESC, host`,
      { tier: MINUTE_TIER, from: new Date(range.from), to: new Date(range.to), hosts: hosts ?? [] },
    );
    const [w] = await this.storage.query<{ windows: string }>(
      'SELECT uniqExact(window_start) AS windows FROM {database}.agg_partials WHERE tier = {tier:String} AND window_start >= {from:DateTime} AND window_start < {to:DateTime}',
      { tier: MINUTE_TIER, from: new Date(range.from), to: new Date(range.to) },
    );
    const scope: Scope = {
      from: this.iso(range.from),
      to: this.iso(range.to),
      tiers: { [MINUTE_TIER]: Number(w?.windows ?? 0) },
      hosts: hosts ?? null,
      exact: true,
    };
    return {
      scope,
      hosts: rows.map((r) => ({
        host: r.host,
        firstSeen: this.iso(Number(r.first_seen) * 1000),
        lastSeen: this.iso(Number(r.last_seen) * 1000),
        // The newest version the host reported in the range; null when only rows from before versions were stored.
        agentVersion: r.agent_version === '' ? null : r.agent_version,
        bootId: r.boot,
        lastSequence: Number(r.last_seq),
        snapshots: Number(r.snapshots),
        packets: Number(r.packets),
        bytes: Number(r.bytes),
        gaps: Number(r.gaps),
      })),
    };
  }
}

/** Prefix tree of the flows' weight for one side, coarse to fine, at most 24 children kept per node (for drawing). */
function icicle(flows: HeavyHitter[], side: 'src' | 'dst', by: RankBy, total: number): IcicleNode[] {
  const offset = side === 'src' ? 0 : 16;
  const nodes = new Map<string, IcicleNode>();
  const children = new Map<string | null, IcicleNode[]>();
  for (const f of flows) {
    const v4 = isIPv4Mapped(f.key, offset);
    const levels = [...(v4 ? IPV4_PREFIXES : IPV6_PREFIXES)].reverse();
    let parent: string | null = null;
    const w = by === 'packets' ? f.packets : f.bytes;
    for (const len of levels) {
      const bits = v4 ? 96 + len : len;
      const a = f.key.slice(offset, offset + 16);
      for (let i = 0; i < 16; i++) a[i] &= (0xff00 >> Math.max(0, Math.min(8, bits - 8 * i))) & 0xff;
      const prefix = `${formatAddress(a)}/${len}`;
      let n = nodes.get(prefix);
      if (!n) {
        n = { prefix, length: len, parent, weight: 0, share: 0 };
        nodes.set(prefix, n);
        (children.get(parent) ?? children.set(parent, []).get(parent)!).push(n);
      }
      n.weight += w;
      parent = prefix;
    }
  }
  const out: IcicleNode[] = [];
  const walk = (parent: string | null) => {
    const list = (children.get(parent) ?? []).sort((a, b) => b.weight - a.weight).slice(0, 24);
    for (const n of list) {
      n.share = total > 0 ? n.weight / total : 0;
      out.push(n);
      walk(n.prefix);
    }
  };
  walk(null);
  return out;
}

export { toHex };
