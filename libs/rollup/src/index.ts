// @tma/rollup: the window logic the aggregator writes with and the query API reads with — merged window content,
// agg_partials rows, tiers, candidate unions and shortlists (docs/aggregator.md, docs/query-api.md).
export * from './tiers';
export * from './candidates';
export * from './frequent';
export * from './partial-rows';
export * from './readable';
export * from './sketch-columns';
export * from './fence';
