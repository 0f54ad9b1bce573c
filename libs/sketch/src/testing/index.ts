// @tma/sketch/testing: seeded traffic and exact ground truth for tests, simulators, benchmarks and the testbed; a
// model of the kernel's candidate table. Not product code: nothing under apps/ or libs/ imports it outside tests.
export * from './random';
export * from './datasets';
export * from './truth';
export * from './candidate-table';
export * from './options';
