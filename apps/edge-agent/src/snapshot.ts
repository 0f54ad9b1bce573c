// From one idle copy read out of the kernel to a SketchSnapshot: the summed arrays become libs/sketch sketches
// (typed arrays in, no per-cell objects) and their serialized forms.
import {
  CountMinSketch,
  declaredSpec,
  HyperLogLog,
  encodeSnapshotSketches,
  perHll,
  formatAddress,
  parseFlowKey,
  prefixCountsToWire,
  toHex,
  encodeSpread,
} from '@tma/sketch';
import { NO_SYN_FLAGS, type SketchSnapshot } from '@tma/schema';
import { ERR_REASONS, type EpochRead } from '@tma/kernel';

/** What the agent knows about an interval beside the kernel's read: the snapshot's identity and coverage fields. */
export type SnapshotMeta = Pick<
  SketchSnapshot,
  | 'hostId'
  | 'agentId'
  | 'agentVersion'
  | 'bootId'
  | 'sequence'
  | 'intervalStartMs'
  | 'intervalEndMs'
  | 'interfaces'
  | 'samplingRate'
  | 'spoolDrops'
>;

const buf = (u8: Uint8Array): Buffer => Buffer.from(u8.buffer, u8.byteOffset, u8.byteLength);

export function buildSnapshot(read: EpochRead, meta: SnapshotMeta): SketchSnapshot {
  const sketches = encodeSnapshotSketches({
    cmsPackets: CountMinSketch.fromCells(read.cmsPackets),
    cmsBytes: CountMinSketch.fromCells(read.cmsBytes),
    ...perHll('wireField', (h) => HyperLogLog.fromRegisters(read.hll[h.kind])),
  });
  const protocols: SketchSnapshot['totals']['protocols'] = [];
  for (let p = 0; p < read.protoPackets.length; p++) {
    if (read.protoPackets[p] > 0)
      protocols.push({ protocol: p, packets: read.protoPackets[p], bytes: read.protoBytes[p] });
  }
  const parseErrors: SketchSnapshot['parseErrors'] = [];
  for (let r = 0; r < read.errors.length; r++)
    if (read.errors[r] > 0) parseErrors.push({ reason: ERR_REASONS[r] ?? `error_${r}`, count: read.errors[r] });
  return {
    ...meta,
    sketchSpec: declaredSpec(),
    ...sketches,
    candidates: read.candidates.map((c) => ({
      key: buf(c.key),
      packets: c.packets,
      bytes: c.bytes,
      sincePackets: c.sincePackets,
      sinceBytes: c.sinceBytes,
    })),
    totals: { packets: read.totals.packets, bytes: read.totals.bytes, protocols },
    parseErrors,
    candidateEvictions: read.totals.candEvictions,
    candidateBounds: true,
    candidateFloorPackets: read.candidateFloor.packets,
    candidateFloorBytes: read.candidateFloor.bytes,
    candidateThreshold: read.candidateFloor.thresholdPackets,
    evictedPackets: read.totals.candEvictedPackets,
    evictedBytes: read.totals.candEvictedBytes,
    spreadSketch: Buffer.from(encodeSpread(read.spread)),
    ...prefixFields(read, meta.samplingRate),
    synFlags: synFlags(read),
  };
}

/** Heavy prefixes: the kernel's counts with bounds; a sampled interval's counts are of the sampled packets only, so
 * it says it carries none (every prefix may then hold all of its traffic). */
function prefixFields(
  read: EpochRead,
  samplingRate: number,
): Pick<SketchSnapshot, 'prefixCounts' | 'heavyPrefixes' | 'prefixFloors'> {
  if (samplingRate > 1) return { prefixCounts: false, heavyPrefixes: [], prefixFloors: [] };
  const wire = prefixCountsToWire(read.prefixes);
  return {
    prefixCounts: true,
    heavyPrefixes: wire.heavyPrefixes.map((p) => ({ ...p, prefix: buf(p.prefix) })),
    prefixFloors: wire.prefixFloors,
  };
}

/** The SYN-flood block: the kernel's TCP flag counts per server address (depth 0 when the object has none). */
function synFlags(read: EpochRead): SketchSnapshot['synFlags'] {
  if (!read.syn) return NO_SYN_FLAGS;
  const d = read.syn.toData();
  return { ...d, candidates: d.candidates.map(buf) };
}

/** JSON form for --stdout: sketch blobs as base64, candidate keys as hex plus their readable 5-tuple. */
export function snapshotToJson(s: SketchSnapshot): Record<string, unknown> {
  const b64 = (b: Buffer) => b.toString('base64');
  return {
    ...s,
    cmsPackets: b64(s.cmsPackets),
    cmsBytes: b64(s.cmsBytes),
    ...perHll('wireField', (h) => b64(s[h.wireField])),
    spreadSketch: b64(s.spreadSketch),
    candidates: s.candidates.map((c) => ({
      key: toHex(c.key),
      flow: parseFlowKey(c.key),
      packets: c.packets,
      bytes: c.bytes,
      sincePackets: c.sincePackets,
      sinceBytes: c.sinceBytes,
    })),
    heavyPrefixes: s.heavyPrefixes.map((p) => ({ ...p, prefix: toHex(p.prefix) })),
    synFlags: { ...s.synFlags, candidates: s.synFlags.candidates.map((a) => formatAddress(a)) },
  };
}
