// Writes what the window merger has ready as partial rows, then commits the offsets those rows made safe, then
// hands the written windows to the rollup scheduler. Writes are retried until they succeed, with consumption paused
// meanwhile (ClickHouse down): nothing is committed that is not stored.
import type { Consumer } from 'kafkajs';
import type { AggregatorConfig } from './config';
import type { ConsumerLogger, ConsumerStats } from './consumer-stats';
import type { AggregatorMetrics } from './metrics';
import type { PartialRowStore } from './partial-row-store';
import type { RollupScheduler } from './rollup-scheduler';
import { partialRowFromAccumulator, type PartialRow } from './rows';
import type { WindowMerger } from './window-merger';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface FlushHooks {
  /** Stop (true) or resume (false) fetching while writes fail. */
  pause(paused: boolean): void;
  /** The instance is shutting down: a failing write gives up after a few attempts. */
  stopping(): boolean;
}

export class PartialRowFlusher {
  /** The last write failed (readiness reports it). */
  failing = false;
  private paused = false;
  private lastFlushWall = 0;

  constructor(
    private readonly config: AggregatorConfig,
    private readonly merger: WindowMerger,
    private readonly store: PartialRowStore,
    private readonly rollups: RollupScheduler,
    private readonly metrics: AggregatorMetrics,
    private readonly logger: ConsumerLogger,
    private readonly stats: ConsumerStats,
    private readonly hooks: FlushHooks,
  ) {}

  /** The flush interval has passed since the last flush. */
  get due(): boolean {
    return Date.now() - this.lastFlushWall >= this.config.flushIntervalMs;
  }

  /** Writes what is due, then commits on `consumer`, then schedules rollups. `force`: everything (shutdown). */
  async flush(consumer: Consumer, force: boolean, heartbeat?: () => Promise<void>): Promise<void> {
    const now = Date.now();
    const idle = this.merger.isIdle(now);
    const accs = this.merger.takeFlush(now, force);
    if (accs.length > 0) {
      const t0 = performance.now();
      const rows = accs.map((a) => partialRowFromAccumulator(a, this.config.writerId, this.config.retention.partials));
      this.stats.encodeMs += performance.now() - t0;
      await this.writeWithRetry(rows, heartbeat, force);
      this.merger.confirmFlush(accs);
      this.rollups.noteWritten(accs);
    }
    const positions = this.merger.commitPositions();
    if (positions.length > 0) {
      const c0 = performance.now();
      try {
        await consumer.commitOffsets(
          positions.map((p) => ({ topic: p.topic, partition: p.partition, offset: String(p.offset) })),
        );
        this.merger.markCommitted(positions);
        this.stats.commits++;
        this.stats.commitMs += performance.now() - c0;
      } catch (err) {
        // A rebalance took the partition: its new owner skips what these rows hold (see window-merger.ts).
        this.logger.warn(`commit failed (${(err as Error).message}); the rows are stored and will not be merged again`);
      }
    }
    this.lastFlushWall = Date.now();
    this.metrics.openWindows.set(this.merger.openAccumulators());
    this.rollups.schedule(force || idle);
  }

  private async writeWithRetry(
    rows: PartialRow[],
    heartbeat: (() => Promise<void>) | undefined,
    force: boolean,
  ): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      const end = this.metrics.writeSeconds.startTimer({ table: 'agg_partials' });
      const t0 = performance.now();
      try {
        await this.store.writePartials(rows);
        end();
        this.stats.writeMs += performance.now() - t0;
        this.stats.rowsWritten += rows.length;
        this.metrics.rowsWritten.inc({ table: 'agg_partials' }, rows.length);
        if (this.paused) this.setPaused(false);
        this.failing = false;
        return;
      } catch (err) {
        this.metrics.writeErrors.inc();
        this.failing = true;
        if (!this.paused) this.setPaused(true);
        this.logger.warn(
          `write of ${rows.length} partial row(s) failed (attempt ${attempt + 1}): ${(err as Error).message}`,
        );
        // While stopping, give up after a few attempts: the unwritten data stays uncommitted and is read again.
        if ((force || this.hooks.stopping()) && attempt >= 4) throw err;
        await sleep(Math.min(10_000, 200 * 2 ** attempt));
        await heartbeat?.().catch(() => undefined);
      }
    }
  }

  private setPaused(paused: boolean): void {
    this.paused = paused;
    this.metrics.paused.set(paused ? 1 : 0);
    this.hooks.pause(paused);
  }
}
