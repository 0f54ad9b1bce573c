// @tma/sketch: the fleet's mergeable sketches (SPEC.md), identical bit for bit to the kernel's.
export * from './spec.generated';
export * from './errors';
export * from './hash';
export * from './keys';
export * from './cms';
export * from './hll';
export * from './heavy-hitters';
export * from './serialize';
export * from './random';
export { CmsWindow, HllWindow } from './wasm/window';
