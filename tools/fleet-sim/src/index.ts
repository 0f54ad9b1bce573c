// @tma/fleet-sim: N virtual hosts publishing real snapshots with known ground truth (tests and benchmarks).
export * from './truth';
export * from './fleet';
export * from './publish';
