// @tma/schema/testing: complete, valid snapshots and deterministic bytes for tests and benchmarks.
export { sampleBytes, sampleFlowKey, sampleSnapshot } from './sample';
