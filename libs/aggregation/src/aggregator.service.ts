// The aggregator as a Nest provider: starts after the application bootstraps, flushes open windows on shutdown.
import { Inject, Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { applyMigrations, createStorage, describeStorageConfig, loadStorageConfig, type Storage } from '@tma/storage';
import { loadKafkaSettings } from '@tma/kafka';
import { loadAggregatorConfig, type AggregatorConfig } from './config';
import { AggregatorMetrics } from './metrics';
import { AggregatorRunner } from './runner';
import { AggregatorSink } from './sink';

export const AGGREGATOR_OPTIONS = Symbol('AGGREGATOR_OPTIONS');

export interface AggregatorModuleOptions {
  /** Environment to read settings from (default process.env). */
  env?: NodeJS.ProcessEnv;
  /**
   * An open storage to share (single-machine mode: embedded chDB allows one process per data directory, so the
   * query API passes its own). Not closed by the aggregator. Default: opened from the environment and closed on stop.
   */
  storage?: Storage;
  /** Serve /metrics, /health and /ready from this module's controller (default true). */
  controllers?: boolean;
  /** Collect process metrics (CPU, memory, event loop) in this instance's registry (default true). */
  defaultMetrics?: boolean;
}

@Injectable()
export class AggregatorService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('Aggregator');
  readonly config: AggregatorConfig;
  readonly metrics: AggregatorMetrics;
  private storage?: Storage;
  private ownsStorage = false;
  private runnerInstance?: AggregatorRunner;
  private started = false;

  constructor(@Inject(AGGREGATOR_OPTIONS) private readonly options: AggregatorModuleOptions) {
    const env = options.env ?? process.env;
    // Validated here, at construction: a bad setting stops the boot with a message naming the variable.
    this.config = loadAggregatorConfig(env);
    loadKafkaSettings(env, 'tma-aggregator');
    this.metrics = new AggregatorMetrics({
      defaultMetrics: options.defaultMetrics,
      labels: { writer: this.config.writerId },
    });
  }

  get runner(): AggregatorRunner | undefined {
    return this.runnerInstance;
  }

  async onApplicationBootstrap(): Promise<void> {
    const env = this.options.env ?? process.env;
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
    const sink = new AggregatorSink(this.storage, this.config.retention, this.config.topK);
    this.runnerInstance = new AggregatorRunner(
      this.config,
      loadKafkaSettings(env, 'tma-aggregator'),
      sink,
      this.metrics,
      this.logger,
    );
    await this.runnerInstance.start();
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
    const ready = this.started && (this.runnerInstance?.ready ?? false);
    return { ready, joined: ready };
  }

  metricsText(): Promise<string> {
    return this.metrics.text();
  }

  async onApplicationShutdown(): Promise<void> {
    try {
      await this.runnerInstance?.stop();
    } finally {
      if (this.ownsStorage) await this.storage?.close();
    }
  }
}
