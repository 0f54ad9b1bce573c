// What a snapshot carries of this library, under the Avro schema's field names: the sketch specification it declares
// (what the aggregator compares before it merges anything) and the serialized forms of a host's six sketches.
import { CountMinSketch } from './cms';
import { encodeCountMinSketch } from './cms.serialize';
import { HyperLogLog } from './hll';
import { encodeHyperLogLog } from './hll.serialize';
import { CMS_DEPTH, CMS_WIDTH, HASH_NAME, HLL_P, SEED_HASH, SPEC_VERSION } from './spec.generated';

export const DECLARED_SPEC = Object.freeze({
  specVersion: SPEC_VERSION,
  hashName: HASH_NAME,
  seedHash: SEED_HASH,
  cmsDepth: CMS_DEPTH,
  cmsWidth: CMS_WIDTH,
  hllPrecision: HLL_P,
});

/** A host's sketches of one interval. */
export interface SnapshotSketches<C = CountMinSketch, H = HyperLogLog> {
  cmsPackets: C;
  cmsBytes: C;
  hllFlows: H;
  hllSources: H;
  hllDestinations: H;
  hllDestinationPorts: H;
}

/** The six sketches serialized (smaller encoding of each), as the snapshot's byte fields. */
export function encodeSnapshotSketches(s: SnapshotSketches): SnapshotSketches<Buffer, Buffer> {
  const hll = (h: HyperLogLog) => Buffer.from(encodeHyperLogLog(h));
  return {
    cmsPackets: Buffer.from(encodeCountMinSketch(s.cmsPackets)),
    cmsBytes: Buffer.from(encodeCountMinSketch(s.cmsBytes)),
    hllFlows: hll(s.hllFlows),
    hllSources: hll(s.hllSources),
    hllDestinations: hll(s.hllDestinations),
    hllDestinationPorts: hll(s.hllDestinationPorts),
  };
}
