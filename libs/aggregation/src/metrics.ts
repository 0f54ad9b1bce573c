// Prometheus metrics of one aggregator instance. Each instance has its own registry, so two instances (or the
// aggregator beside the query API) can live in one process without clashing names.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export class AggregatorMetrics {
  readonly registry = new Registry();
  readonly snapshots: Counter<'outcome'>;
  readonly dlq: Counter<'reason'>;
  readonly gaps: Counter;
  readonly dropped: Counter<'reason'>;
  readonly sequenceJumps: Counter;
  readonly heldBack: Counter;
  readonly decodeSeconds: Counter;
  readonly mergeSeconds: Counter;
  readonly provisionalBuildSeconds: Counter;
  readonly writeSeconds: Histogram<'table'>;
  readonly rowsWritten: Counter<'table'>;
  readonly writeErrors: Counter;
  readonly consumerRestarts: Counter;
  readonly lag: Gauge<'topic' | 'partition'>;
  readonly openWindows: Gauge;
  readonly watermark: Gauge;
  readonly paused: Gauge;

  constructor(options: { defaultMetrics?: boolean; labels?: Record<string, string> } = {}) {
    const r = this.registry;
    if (options.labels) r.setDefaultLabels(options.labels);
    if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: r });
    const counter = <L extends string = string>(name: string, help: string, labelNames: L[] = []) =>
      new Counter<L>({ name, help, labelNames, registers: [r] });
    const gauge = <L extends string = string>(name: string, help: string, labelNames: L[] = []) =>
      new Gauge<L>({ name, help, labelNames, registers: [r] });
    this.snapshots = counter(
      'tma_aggregator_snapshots_total',
      'Snapshots read, by outcome: accepted, late (merged as a further partial row), duplicate, skipped (already stored), rejected (DLQ)',
      ['outcome'],
    );
    this.dlq = counter('tma_aggregator_dlq_total', 'Messages sent to the dead-letter topic, by reason', ['reason']);
    this.gaps = counter('tma_aggregator_sequence_gaps_total', "Snapshots missing from hosts' sequences (gaps seen)");
    this.dropped = counter(
      'tma_aggregator_dropped_total',
      'Valid snapshots dropped without a dead letter, by reason: duplicate-sequence (its (host, agent, boot, sequence) was merged already)',
      ['reason'],
    );
    this.sequenceJumps = counter(
      'tma_aggregator_sequence_jumps_total',
      'Snapshots whose sequence jumped further than TMA_AGG_MAX_SEQUENCE_JUMP from its stream: merged, tracked as a run of their own',
    );
    this.heldBack = counter(
      'tma_aggregator_held_back_total',
      'Times a message needed a window beyond TMA_AGG_MAX_OPEN_WINDOWS (open or late) of its partition: held until a flush made room, then merged',
    );
    this.decodeSeconds = counter('tma_aggregator_decode_seconds_total', 'Time spent decoding and validating snapshots');
    this.mergeSeconds = counter('tma_aggregator_merge_seconds_total', 'Time spent merging snapshots into windows');
    this.provisionalBuildSeconds = counter(
      'tma_aggregator_provisional_build_seconds_total',
      'Time spent building provisional rows of open windows (sketch copies and encoding, on the consumer thread)',
    );
    this.writeSeconds = new Histogram({
      name: 'tma_aggregator_write_seconds',
      help: 'Latency of ClickHouse writes (partials: the flush that precedes each commit; rollups: readable tables)',
      labelNames: ['table'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [r],
    });
    this.rowsWritten = counter('tma_aggregator_rows_written_total', 'Rows written, by table', ['table']);
    this.writeErrors = counter(
      'tma_aggregator_write_errors_total',
      'Failed ClickHouse writes (retried; the consumer pauses meanwhile)',
    );
    this.consumerRestarts = counter(
      'tma_aggregator_consumer_restarts_total',
      'Consumers started again after kafkajs stopped one on an error it does not retry',
    );
    this.lag = gauge('tma_aggregator_consumer_lag', 'Messages behind the partition high watermark at the last fetch', [
      'topic',
      'partition',
    ]);
    this.openWindows = gauge('tma_aggregator_open_windows', 'Window accumulators held in memory');
    this.watermark = gauge(
      'tma_aggregator_watermark_seconds',
      "Event time reached by the most advanced partition (its hosts' lower-median newest interval end, Unix seconds)",
    );
    this.paused = gauge('tma_aggregator_paused', '1 while consumption is paused because ClickHouse is failing');
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }
}
