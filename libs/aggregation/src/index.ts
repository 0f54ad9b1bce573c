// @tma/aggregation: the aggregator service — Kafka snapshots merged per window into ClickHouse — as a Nest module any
// app can host (apps/aggregator alone, apps/query-api in single-machine mode). docs/aggregator.md.
export { AggregatorModule } from './aggregator.module';
export { AGGREGATOR_OPTIONS, AggregatorService, type AggregatorModuleOptions } from './aggregator.service';
export { startAggregator, type AggregatorHandle, type StartAggregatorOptions } from './start';
export { loadAggregatorConfig, AggregatorConfigError, type AggregatorConfig } from './config';
export { AggregatorEngine, windowOf, type IngestOutcome } from './engine';
export { AggregatorSink } from './sink';
export { validateMessage, RejectedSnapshot, type RejectReason } from './validate';
export * from './rows';
