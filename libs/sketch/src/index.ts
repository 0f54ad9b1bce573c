// @tma/sketch: the fleet's mergeable sketches (SPEC.md), identical bit for bit to the kernel's.
export * from './spec.generated';
export { declaredSpec, encodeSnapshotSketches, perHll, type SnapshotSketches } from './snapshot-sketches';
export {
  BadVersionError,
  CorruptError,
  IncompatibleParametersError,
  IncompatibleSketchError,
  SketchDecodeError,
  TooShortError,
} from './errors';
export * from './hash';
export * from './keys';
export * from './cms';
export * from './hll';
export * from './heavy-hitters';
export * from './prefixes';
export * from './prefix-counts';
export {
  SKETCH_FORMAT_VERSION,
  SKETCH_HEADER_BYTES,
  SKETCH_MAGIC,
  SketchEncoding,
  SketchFamily,
  readSketchHeader,
  type EncodeOptions,
  type SketchHeader,
} from './serial-format';
export {
  checkEncodedCountMinSketch,
  decodeCountMinSketch,
  encodeCountMinSketch,
  mergeEncodedCountMinSketch,
  type DecodeCountMinOptions,
} from './cms.serialize';
export {
  checkEncodedHyperLogLog,
  decodeHyperLogLog,
  encodeHyperLogLog,
  mergeEncodedHyperLogLog,
  type DecodeHyperLogLogOptions,
} from './hll.serialize';
export {
  type CandidateList,
  type FrequentState,
  decodeCandidateList,
  decodeCandidates,
  encodeCandidates,
} from './heavy-hitters.serialize';
export { decodeSketch, type DecodedSketch } from './decode-sketch';
export { CmsWindow, HllWindow } from './wasm/sketch-windows';
export * from './seed-source';
export * from './spread';
export * from './syn-counts';
