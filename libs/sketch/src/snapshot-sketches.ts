// What a snapshot carries of this library, under the Avro schema's field names: the sketch specification it declares
// (what the aggregator compares before it merges anything) and the serialized forms of a host's six sketches.
import { CountMinSketch } from './cms';
import { currentHashSeed } from './hash';
import { encodeCountMinSketch } from './cms.serialize';
import { HyperLogLog } from './hll';
import { encodeHyperLogLog } from './hll.serialize';
import {
  CMS_DEPTH,
  CMS_WIDTH,
  HASH_NAME,
  HLL_P,
  HLL_SKETCHES,
  SPEC_VERSION,
  type HllSketch,
  type HllWireField,
} from './spec.generated';

/** The specification this process's sketches are built with (its seed identity included), as snapshots declare it. */
export function declaredSpec() {
  return {
    specVersion: SPEC_VERSION,
    hashName: HASH_NAME,
    seedHash: currentHashSeed().seedHash,
    cmsDepth: CMS_DEPTH,
    cmsWidth: CMS_WIDTH,
    hllPrecision: HLL_P,
  };
}

/** A host's sketches of one interval: the two CMSs and the registry's HLLs (HLL_SKETCHES) by wire field. */
export interface SnapshotSketches<C = CountMinSketch, H = HyperLogLog> extends Record<HllWireField, H> {
  cmsPackets: C;
  cmsBytes: C;
}

/** The six sketches serialized (smaller encoding of each), as the snapshot's byte fields. */
export function encodeSnapshotSketches(s: SnapshotSketches): SnapshotSketches<Buffer, Buffer> {
  const hll = (h: HyperLogLog) => Buffer.from(encodeHyperLogLog(h));
  return {
    cmsPackets: Buffer.from(encodeCountMinSketch(s.cmsPackets)),
    cmsBytes: Buffer.from(encodeCountMinSketch(s.cmsBytes)),
    ...perHll('wireField', (h) => hll(s[h.wireField])),
  };
}

/** One value per registry HLL, keyed by one of its names (concept name, wire field, column or property). */
export function perHll<K extends 'name' | 'wireField' | 'column' | 'property', T>(
  key: K,
  of: (h: HllSketch) => T,
): Record<HllSketch[K], T> {
  return Object.fromEntries(HLL_SKETCHES.map((h) => [h[key], of(h)])) as Record<HllSketch[K], T>;
}
