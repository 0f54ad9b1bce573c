// @tma/query-api: the query API as a library (tests, benchmarks and hosting in other processes).
export * from './app';
export * from './config';
export * from './errors';
export * from './params';
export * from './partials';
export * from './query.service';
export { SDL, MAX_COMPLEXITY, MAX_DEPTH, measure } from './graphql';
