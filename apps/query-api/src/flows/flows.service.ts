// Flow answers: top flows, one 5-tuple's estimate and the traffic inside a prefix, from the merged CMS pair and the
// candidate union of the range's rows; every answer with deterministic lower and upper bounds and the CMS's
// probabilistic ε·N bound at 1 − δ (docs/query-api.md: bounds).
import { Injectable } from '@nestjs/common';
import { type CountMinSketch, flowKey, type HeavyHitter, parseFlowKey, splitTopK } from '@tma/sketch';
import { type Filters, inPrefix, PROTOCOL_LABELS } from '../common/params';
import { PartialStore } from '../partials/partial-store';
import { scopedRows } from '../partials/scope';
import { SketchMerger } from '../partials/sketch-merger';
import { hasFlowFilter, matchesFlowFilter } from './flow-filter';
import type { FlowEstimateArgs, PrefixEstimateArgs, TopFlowsArgs } from './flows.args';

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
  /** the estimate: the deterministic upper bound */
  packets: number;
  /** deterministic bounds: packetsLower ≤ truth ≤ packetsUpper (scaled estimates when boundsExact is false) */
  packetsLower: number;
  packetsUpper: number;
  /** ε·N: truth ≥ packetsUpper − packetsBound with probability `confidence` (CMS) */
  packetsBound: number;
  /** max(packetsLower, packetsUpper − ε·N): a lower bound with probability `confidence` */
  packetsLowerProbable: number;
  bytes: number;
  bytesLower: number;
  bytesUpper: number;
  bytesBound: number;
  bytesLowerProbable: number;
  confidence: number;
  /** false when sampled counts were scaled up: the bounds are then estimates, not certain */
  boundsExact: boolean;
}

function flowOut(h: HeavyHitter, boundsExact: boolean): FlowEstimate {
  return {
    src: h.tuple.src,
    dst: h.tuple.dst,
    srcPort: h.tuple.sport,
    dstPort: h.tuple.dport,
    protocol: h.tuple.proto,
    protocolName: PROTOCOL_LABELS.get(h.tuple.proto) ?? null,
    packets: h.packets,
    packetsLower: Math.min(h.sincePackets, h.packets),
    packetsUpper: h.packets,
    packetsBound: h.packetsBound,
    packetsLowerProbable: Math.max(Math.min(h.sincePackets, h.packets), h.packets - h.packetsBound, 0),
    bytes: h.bytes,
    bytesLower: Math.min(h.sinceBytes, h.bytes),
    bytesUpper: h.bytes,
    bytesBound: h.bytesBound,
    bytesLowerProbable: Math.max(Math.min(h.sinceBytes, h.bytes), h.bytes - h.bytesBound, 0),
    confidence: h.confidence,
    boundsExact,
  };
}

function cmsBound(c: CountMinSketch): CmsBound {
  return { bound: c.errorBound(), epsilon: c.epsilon, confidence: 1 - c.delta, total: c.total };
}

/** A memo-stable id and matcher of the flow filters, or undefined when there are none. */
function flowFilter(filters: Filters): { id: string; match: (key: Uint8Array) => boolean } | undefined {
  if (!hasFlowFilter(filters)) return undefined;
  const { protocol, srcPort, dstPort, srcPrefix, dstPrefix } = filters;
  return {
    id: JSON.stringify([protocol, srcPort, dstPort, srcPrefix?.text, dstPrefix?.text]),
    match: (key) => matchesFlowFilter(filters, key),
  };
}

@Injectable()
export class FlowsService {
  constructor(
    private readonly store: PartialStore,
    private readonly merger: SketchMerger,
  ) {}

  async topFlows({ range, filters, by, k }: TopFlowsArgs) {
    const { rows, scope } = await scopedRows(this.store, range, filters.hosts);
    // Filtered first, then cut to the shortlist and re-estimated with every kept candidate.
    const ranked = await this.merger.ranked(rows, by, flowFilter(filters));
    const { cmsP, cmsB, candidates, all, sampled } = ranked;
    const flows = all.map((h) => flowOut(h, !sampled));
    const completeAbove = ranked.completeAbove ?? null;
    const pick = (a: number[]) => a.map((i) => flows[i]);
    const split = splitTopK(
      flows.map((f) => (by === 'packets' ? f.packetsLower : f.bytesLower)),
      flows.map((f) => (by === 'packets' ? f.packetsUpper : f.bytesUpper)),
      k,
      completeAbove ?? undefined,
    );
    return {
      scope,
      by,
      k,
      packets: cmsBound(cmsP),
      bytes: cmsBound(cmsB),
      candidates,
      completeAbove,
      summaryError: by === 'packets' ? ranked.summaryError.packets : ranked.summaryError.bytes,
      complete: split.complete,
      kthLower: split.kthLower,
      boundsExact: !sampled,
      matched: flows.length,
      flows: flows.slice(0, k),
      certain: pick(split.certain),
      possible: pick(split.possible),
    };
  }

  async flowEstimate({ range, hosts, tuple: t }: FlowEstimateArgs) {
    const { rows, scope } = await scopedRows(this.store, range, hosts);
    const key = flowKey(t);
    const id = Buffer.from(key).toString('hex');
    // the flow's own candidate entry (if any) with the rows' floor, through the same path as the rankings
    const { cmsP, cmsB, all, floor, sampled } = await this.merger.ranked(rows, 'packets', {
      id: `flow:${id}`,
      match: (k) => Buffer.from(k).toString('hex') === id,
    });
    const tuple = parseFlowKey(key);
    const ep = cmsP.query(key);
    const eb = cmsB.query(key);
    // not a candidate: no exact count; its traffic is within the floor where no list named it
    const h: HeavyHitter = all[0] ?? {
      key,
      tuple,
      packets: floor ? Math.min(ep.estimate, floor.packets) : ep.estimate,
      packetsBound: ep.bound,
      bytes: floor ? Math.min(eb.estimate, floor.bytes) : eb.estimate,
      bytesBound: eb.bound,
      kernelPackets: 0,
      kernelBytes: 0,
      sincePackets: 0,
      sinceBytes: 0,
      confidence: ep.confidence,
    };
    return {
      scope,
      flow: { ...flowOut(h, !sampled), srcPort: t.sport, dstPort: t.dport, protocol: t.proto } satisfies FlowEstimate,
      packets: cmsBound(cmsP),
      bytes: cmsBound(cmsB),
    };
  }

  /** Traffic of the candidate flows inside a prefix: each estimate is an upper bound of its flow; flows never tracked as candidates are not included. */
  async prefixEstimate({ range, filters, side, prefix }: PrefixEstimateArgs) {
    const { rows, scope } = await scopedRows(this.store, range, filters.hosts);
    const off = side === 'src' ? 0 : 16;
    const { cmsP, cmsB, all, sampled } = await this.merger.ranked(rows, 'packets', {
      id: JSON.stringify([flowFilter(filters)?.id, side, prefix.text]),
      match: (k) => matchesFlowFilter(filters, k) && inPrefix(prefix, k, off),
    });
    const inside = all.map((h) => flowOut(h, !sampled));
    const sum = (f: (x: FlowEstimate) => number) => inside.reduce((s, x) => s + f(x), 0);
    return {
      scope,
      side,
      prefix: prefix.text,
      flows: inside.length,
      packets: sum((x) => x.packets),
      packetsLower: sum((x) => x.packetsLower),
      packetsBound: inside.length * cmsP.errorBound(),
      bytes: sum((x) => x.bytes),
      bytesLower: sum((x) => x.bytesLower),
      bytesBound: inside.length * cmsB.errorBound(),
      confidence: 1 - cmsP.delta,
      boundsExact: !sampled,
      note: 'sum over candidate flows inside the prefix (the shortlist of the largest); lower sums their exact since-entry counts; each flow estimate exceeds its truth by at most ε·N, so the sum by at most flows × ε·N',
    };
  }
}
