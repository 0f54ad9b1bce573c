// Prometheus metrics of one aggregator instance. Each instance has its own registry, so two instances (or the
// aggregator beside the query API) can live in one process without clashing names.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export class AggregatorMetrics {
  readonly registry = new Registry();
  readonly snapshots: Counter<'outcome'>;
  readonly dlq: Counter<'reason'>;
  readonly gaps: Counter;
  readonly decodeSeconds: Counter;
  readonly mergeSeconds: Counter;
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
    this.snapshots = new Counter({
      name: 'tma_aggregator_snapshots_total',
      help: 'Snapshots read, by outcome: accepted, late (merged as a further partial row), duplicate, skipped (already stored), rejected (DLQ)',
      labelNames: ['outcome'],
      registers: [r],
    });
    this.dlq = new Counter({
      name: 'tma_aggregator_dlq_total',
      help: 'Messages sent to the dead-letter topic, by reason',
      labelNames: ['reason'],
      registers: [r],
    });
    this.gaps = new Counter({
      name: 'tma_aggregator_sequence_gaps_total',
      help: "Snapshots missing from hosts' sequences (gaps seen)",
      registers: [r],
    });
    this.decodeSeconds = new Counter({
      name: 'tma_aggregator_decode_seconds_total',
      help: 'Time spent decoding and validating snapshots',
      registers: [r],
    });
    this.mergeSeconds = new Counter({
      name: 'tma_aggregator_merge_seconds_total',
      help: 'Time spent merging snapshots into windows',
      registers: [r],
    });
    this.writeSeconds = new Histogram({
      name: 'tma_aggregator_write_seconds',
      help: 'Latency of ClickHouse writes (partials: the flush that precedes each commit; rollups: readable tables)',
      labelNames: ['table'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [r],
    });
    this.rowsWritten = new Counter({
      name: 'tma_aggregator_rows_written_total',
      help: 'Rows written, by table',
      labelNames: ['table'],
      registers: [r],
    });
    this.writeErrors = new Counter({
      name: 'tma_aggregator_write_errors_total',
      help: 'Failed ClickHouse writes (retried; the consumer pauses meanwhile)',
      registers: [r],
    });
    this.consumerRestarts = new Counter({
      name: 'tma_aggregator_consumer_restarts_total',
      help: 'Consumers started again after kafkajs stopped one on an error it does not retry',
      registers: [r],
    });
    this.lag = new Gauge({
      name: 'tma_aggregator_consumer_lag',
      help: 'Messages behind the partition high watermark at the last fetch',
      labelNames: ['topic', 'partition'],
      registers: [r],
    });
    this.openWindows = new Gauge({
      name: 'tma_aggregator_open_windows',
      help: 'Window accumulators held in memory',
      registers: [r],
    });
    this.watermark = new Gauge({
      name: 'tma_aggregator_watermark_seconds',
      help: 'Newest interval end seen (event time, Unix seconds)',
      registers: [r],
    });
    this.paused = new Gauge({
      name: 'tma_aggregator_paused',
      help: '1 while consumption is paused because ClickHouse is failing',
      registers: [r],
    });
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }
}
