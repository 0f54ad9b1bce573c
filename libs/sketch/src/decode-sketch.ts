// Decoding a serialized sketch of any family, dispatched on its header.
import { CountMinSketch } from './cms';
import { decodeCountMinSketch } from './cms.serialize';
import { Candidate } from './heavy-hitters';
import { decodeCandidates } from './heavy-hitters.serialize';
import { HyperLogLog } from './hll';
import { decodeHyperLogLog } from './hll.serialize';
import { SketchFamily, readSketchHeader } from './serial-format';

export type DecodedSketch =
  | { family: 'cms'; sketch: CountMinSketch }
  | { family: 'hll'; sketch: HyperLogLog }
  | { family: 'candidates'; candidates: Candidate[] };

/** Decodes any serialized sketch with this fleet's parameters. */
export function decodeSketch(bytes: Uint8Array): DecodedSketch {
  const h = readSketchHeader(bytes);
  if (h.family === SketchFamily.CountMin) return { family: 'cms', sketch: decodeCountMinSketch(bytes) };
  if (h.family === SketchFamily.HyperLogLog) return { family: 'hll', sketch: decodeHyperLogLog(bytes) };
  return { family: 'candidates', candidates: decodeCandidates(bytes) };
}
