// Flow answers: top flows, one 5-tuple's estimate and the traffic inside a prefix, from the merged CMS pair and the
// candidate union of the range's rows; every estimate with its bound (CMS ε·N at 1 − δ).
import { Injectable } from '@nestjs/common';
import { type CountMinSketch, flowKey, type HeavyHitter, parseFlowKey } from '@tma/sketch';
import { inPrefix, PROTOCOL_LABELS } from '../common/params';
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
  packets: number;
  packetsLower: number;
  packetsBound: number;
  bytes: number;
  bytesLower: number;
  bytesBound: number;
  confidence: number;
}

function flowOut(h: HeavyHitter): FlowEstimate {
  return {
    src: h.tuple.src,
    dst: h.tuple.dst,
    srcPort: h.tuple.sport,
    dstPort: h.tuple.dport,
    protocol: h.tuple.proto,
    protocolName: PROTOCOL_LABELS.get(h.tuple.proto) ?? null,
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

@Injectable()
export class FlowsService {
  constructor(
    private readonly store: PartialStore,
    private readonly merger: SketchMerger,
  ) {}

  async topFlows({ range, filters, by, k }: TopFlowsArgs) {
    const { rows, scope } = await scopedRows(this.store, range, filters.hosts);
    // Re-estimated with every candidate (tighter collision correction), then filtered.
    const [{ cmsP, cmsB, candidates, all }, completeAbove] = await Promise.all([
      this.merger.ranked(rows, by),
      this.merger.completeAbove(rows, by),
    ]);
    const flows = hasFlowFilter(filters) ? all.filter((h) => matchesFlowFilter(filters, h.key)) : all;
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

  async flowEstimate({ range, hosts, tuple: t }: FlowEstimateArgs) {
    const { rows, scope } = await scopedRows(this.store, range, hosts);
    const { cmsP, cmsB } = await this.merger.cms(rows);
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
        protocolName: PROTOCOL_LABELS.get(t.proto) ?? null,
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
  async prefixEstimate({ range, filters, side, prefix }: PrefixEstimateArgs) {
    const { rows, scope } = await scopedRows(this.store, range, filters.hosts);
    const { cmsP, cmsB, all } = await this.merger.ranked(rows, 'packets');
    const inside = all.filter(
      (h) => matchesFlowFilter(filters, h.key) && inPrefix(prefix, h.key, side === 'src' ? 0 : 16),
    );
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
}
