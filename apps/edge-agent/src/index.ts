// @tma/edge-agent: the agent's modules, for tests, benchmarks and the testbed.
export * from './config';
export * from './log';
export * from './agent';
export * from './snapshot';
export * from './spool';
export * from './state';
export * from './publisher';
export * from './metrics';
export * from './kernel/layout';
export * from './kernel/libbpf';
export * from './kernel/loader';
export * from './kernel/reader';
