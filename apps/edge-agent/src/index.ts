// @tma/edge-agent: the agent's modules, for tests, benchmarks and the testbed.
export * from './config';
export * from './log';
export * from './agent';
export * from './snapshot';
export * from './spool';
export * from './agent-state';
export * from './publisher';
export * from './metrics';
