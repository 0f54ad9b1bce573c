// @tma/threats: sketch-native threat detection over fleet-wide windows — detectors over the merged sketches every
// snapshot carries, EWMA baselines, k-ary sketch differences and the alert lifecycle (docs/threats.md).
export * from './config';
export * from './baseline';
export * from './kary';
export * from './window';
export * from './lifecycle';
export * from './detectors';
export * from './sources';
export * from './mitigation';
