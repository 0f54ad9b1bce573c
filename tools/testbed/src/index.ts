// @tma/testbed: network-namespace hosts, edge agents inside them, synthetic traffic with exact ground truth (the
// testbed CLI is main.ts; benchmarks drive the same pieces).
export * from './agents';
export * from './cleanup';
export * from './netns';
export * from './relay';
export * from './traffic';
export * from './watch';
