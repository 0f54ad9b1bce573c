// @tma/aggregation: the aggregator service — Kafka snapshots merged per window into ClickHouse — as a plain
// SnapshotAggregator any app can run (apps/aggregator alone, apps/query-api in single-machine mode), plus a small
// Nest module factory for hosts that are Nest applications. docs/aggregator.md.
export { SnapshotAggregator, type AggregatorOptions } from './snapshot-aggregator';
export { aggregatorNestModule, AggregatorNestModule } from './nest-module';
export { SnapshotConsumer } from './snapshot-consumer';
export type { ConsumerLogger, ConsumerStats } from './consumer-stats';
export { loadAggregatorConfig, type AggregatorConfig } from './config';
export { WindowMerger, type IngestOutcome } from './window-merger';
export { WindowAccumulator } from './window-accumulator';
export { fleetRow, PartialRowStore } from './partial-row-store';
export { ThreatRunner, readWindowData } from './threat-runner';
export { validateMessage, RejectedSnapshot, type RejectReason } from './validate';
export * from './rows';
// A process hosting the aggregator applies this once at start-up (apps/aggregator main.ts, the query API's
// single-machine mode): idle kafkajs connections otherwise spin a 1 ms timer each.
export { patchKafkajsIdleTimers } from '@tma/kafka';
