// @tma/query-api: the query API as a library (tests, benchmarks and hosting in other processes).
export * from './app';
export * from './config';
export * from './common/errors';
export * from './common/params';
export * from './partials/partial-store';
export type { PartialRef } from './partials/partial-row';
export type { Scope } from './partials/scope';
export { FlowsService, type CmsBound, type FlowEstimate } from './flows/flows.service';
export { CardinalityService, type HllValue } from './cardinality/cardinality.service';
export { CARDINALITY_METRICS, type CardinalityMetric } from './cardinality/cardinality.args';
export { HeavyHittersService } from './heavy-hitters/heavy-hitters.service';
export type { IcicleNode } from './heavy-hitters/icicle';
export { TrafficService } from './traffic/traffic.service';
export { HostsService } from './hosts/hosts.service';
export { SDL } from './graphql/graphql.schema';
export { MAX_COMPLEXITY, MAX_DEPTH, measure } from './graphql/graphql.complexity';
