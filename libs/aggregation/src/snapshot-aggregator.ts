// One aggregator instance, free of any framework: settings validated at construction, then start() opens (or
// borrows) the storage, applies migrations and runs the snapshot consumer; stop() flushes and leaves the group.
// apps/aggregator serves it over HTTP; the query API hosts it in single-machine mode (aggregatorNestModule).
import { Logger } from '@nestjs/common';
import { applyMigrations, createStorage, describeStorageConfig, loadStorageConfig, type Storage } from '@tma/storage';
import { loadKafkaSettings } from '@tma/kafka';
import { useHashSeed } from '@tma/sketch';
import { loadAggregatorConfig, type AggregatorConfig } from './config';
import { loadThreatConfig, type ThreatConfig } from '@tma/threats';
import type { ConsumerLogger } from './consumer-stats';
import { AggregatorMetrics } from './metrics';
import { PartialRowStore } from './partial-row-store';
import { SnapshotConsumer } from './snapshot-consumer';

export interface AggregatorOptions {
  /** Environment to read settings from (default process.env). */
  env?: NodeJS.ProcessEnv;
  /**
   * An open storage to share (single-machine mode: embedded chDB allows one process per data directory, so the
   * query API passes its own). Not closed by the aggregator. Default: opened from the environment and closed on stop.
   */
  storage?: Storage;
  /** Collect process metrics (CPU, memory, event loop) in this instance's registry (default true). */
  defaultMetrics?: boolean;
  /** Where to log (default: a Nest Logger, so a hosting application's logger receives the lines). */
  logger?: ConsumerLogger;
}

export class SnapshotAggregator {
  readonly config: AggregatorConfig;
  /** Threat detection settings (TMA_THREATS_*, docs/threats.md). */
  readonly threats: ThreatConfig;
  readonly metrics: AggregatorMetrics;
  private readonly logger: ConsumerLogger;
  private storage?: Storage;
  private ownsStorage = false;
  private consumerInstance?: SnapshotConsumer;
  private started = false;

  constructor(private readonly options: AggregatorOptions = {}) {
    const env = options.env ?? process.env;
    // Validated here, at construction: a bad setting stops the boot with a message naming the variable.
    this.config = loadAggregatorConfig(env);
    this.threats = loadThreatConfig(env);
    loadKafkaSettings(env, 'tma-aggregator');
    this.metrics = new AggregatorMetrics({
      defaultMetrics: options.defaultMetrics,
      labels: { writer: this.config.writerId },
    });
    this.logger = options.logger ?? new Logger('Aggregator');
  }

  /** The running consumer (after start()). */
  get consumer(): SnapshotConsumer | undefined {
    return this.consumerInstance;
  }

  async start(): Promise<void> {
    const env = this.options.env ?? process.env;
    // the sketches merged here and the seed identity snapshots must carry (else DLQ wrong-seed)
    const seed = this.config.hashSeed;
    for (const w of seed.warnings) this.logger.warn(w);
    useHashSeed(seed.seed);
    this.logger.log(`hash seed identity 0x${seed.seed.seedHash.toString(16).padStart(8, '0')} from ${seed.source}`);
    if (this.options.storage) {
      this.storage = this.options.storage;
    } else {
      const cfg = loadStorageConfig(env);
      this.logger.log(`storage: ${describeStorageConfig(cfg)}`);
      this.storage = await createStorage(cfg);
      this.ownsStorage = true;
    }
    const report = await applyMigrations(this.storage);
    if (report.applied.length > 0) this.logger.log(`migrations applied: ${report.applied.join(', ')}`);
    const store = new PartialRowStore(this.storage, this.config.retention, this.config.topK);
    this.consumerInstance = new SnapshotConsumer(
      this.config,
      loadKafkaSettings(env, 'tma-aggregator'),
      store,
      this.metrics,
      this.logger,
      this.threats,
    );
    await this.consumerInstance.start();
    this.started = true;
    this.logger.log(
      `consuming ${this.config.topicPrefix} snapshots in group ${this.config.groupId} as ${this.config.writerId}; window ${this.config.windowMs / 1000}s, lateness ${this.config.allowedLatenessMs / 1000}s`,
    );
  }

  /** Process is up. */
  health(): { status: 'ok' } {
    return { status: 'ok' };
  }

  /** Joined the consumer group and ClickHouse accepts writes. */
  readiness(): { ready: boolean; joined: boolean } {
    const ready = this.started && (this.consumerInstance?.ready ?? false);
    return { ready, joined: ready };
  }

  metricsText(): Promise<string> {
    return this.metrics.text();
  }

  /** Flushes open windows as partial rows, commits, leaves the group, closes the storage if it opened it. */
  async stop(): Promise<void> {
    try {
      await this.consumerInstance?.stop();
    } finally {
      if (this.ownsStorage) await this.storage?.close();
    }
  }
}
