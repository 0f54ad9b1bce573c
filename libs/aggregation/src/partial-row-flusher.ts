// Writes what the window merger has ready as partial rows, then commits the offsets those rows made safe, then
// hands the written windows to the rollup scheduler. Writes are retried until they succeed, with consumption paused
// meanwhile (ClickHouse down): nothing is committed that is not stored.
//
// One window must not hold up the others: a window whose row cannot be built, or that ClickHouse keeps refusing
// while it takes the other windows, is dead-lettered (`window-failed`: partition, offset range, cause; its
// snapshots stay readable in Kafka at those offsets) and given up, so everything else is written and committed.
import type { Consumer } from 'kafkajs';
import type { AggregatorConfig } from './config';
import type { ConsumerLogger, ConsumerStats } from './consumer-stats';
import { deadLetter, rejectionHeaders, type DeadLetter } from './dead-letters';
import type { AggregatorMetrics } from './metrics';
import type { PartialRowStore } from './partial-row-store';
import type { RollupScheduler } from './rollup-scheduler';
import { partialRowFromAccumulator, type PartialRow } from './rows';
import { RejectedSnapshot } from './validate';
import type { WindowAccumulator } from './window-accumulator';
import type { WindowMerger } from './window-merger';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** kafkajs' heartbeat interval; also how often a batch heartbeats while it waits for the lock or a write. */
export const HEARTBEAT_MS = 3_000;

export interface FlushHooks {
  /** Stop (true) or resume (false) fetching while writes fail. */
  pause(paused: boolean): void;
  /** The instance is shutting down: a failing write gives up after a few attempts. */
  stopping(): boolean;
  /**
   * The group is rebalancing or rebalanced: this instance may have lost its partitions. A failing write stops
   * retrying (its rows stay pending and are dropped with the partition's state; the new owner reads them again).
   */
  lost(): boolean;
  /** Sends dead letters durably (acks=all) before anything is committed past them. */
  deadLetter(letters: DeadLetter[]): Promise<void>;
}

/** The dead letter of a window given up: what it held and where its snapshots are in Kafka. */
function windowLetter(acc: WindowAccumulator, err: unknown): DeadLetter {
  const cause = err instanceof Error ? err.message : String(err);
  const where = `${acc.topic}/${acc.partition}/${acc.firstOffset}-${acc.lastOffset}`;
  const rejection = new RejectedSnapshot(
    'window-failed',
    `window ${new Date(acc.windowStart).toISOString()} of ${where} (${acc.snapshots} snapshots) not written: ${cause}`,
  );
  const value = {
    topic: acc.topic,
    partition: acc.partition,
    windowStart: acc.windowStart,
    firstOffset: acc.firstOffset,
    lastOffset: acc.lastOffset,
    snapshots: acc.snapshots,
    hosts: [...acc.hosts.keys()],
    error: cause,
  };
  return deadLetter(null, Buffer.from(JSON.stringify(value)), rejectionHeaders(rejection, where));
}

export class PartialRowFlusher {
  /** The last write failed (readiness reports it). */
  failing = false;
  /**
   * The merger's low watermark as of the last flush whose rows are all stored (written or dead-lettered): every
   * window it passed by the lateness is in storage. The live watermark can be ahead of what is written (snapshots
   * merged since), so completeness is judged on this one.
   */
  writtenWatermark = 0;
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
    // the watermarks takeFlush decides by (nothing is merged in between)
    const watermark = this.merger.lowWatermark;
    const accs = this.merger.takeFlush(now, force);
    let complete = true;
    if (accs.length > 0) {
      const t0 = performance.now();
      const rows: PartialRow[] = [];
      const built: WindowAccumulator[] = [];
      const letters: DeadLetter[] = [];
      for (const a of accs) {
        try {
          rows.push(partialRowFromAccumulator(a, this.config.writerId, this.config.retention.partials));
          built.push(a);
        } catch (err) {
          this.logger.error(
            `window ${a.windowStart} of ${a.topic}/${a.partition} cannot be built: ${(err as Error).message}`,
          );
          letters.push(windowLetter(a, err));
        }
      }
      this.stats.encodeMs += performance.now() - t0;
      const { refused, deferred } = await this.writeWithRetry(rows, heartbeat, force);
      const written = built.filter((_, i) => !refused.has(rows[i]) && !deferred.has(rows[i]));
      built.forEach((a, i) => {
        const err = refused.get(rows[i]);
        if (err !== undefined) letters.push(windowLetter(a, err));
      });
      if (letters.length > 0) {
        await this.hooks.deadLetter(letters);
        this.metrics.dlq.inc({ reason: 'window-failed' }, letters.length);
      }
      // Written, or given up and dead-lettered; a deferred window stays pending (first in the next flush).
      this.merger.confirmFlush(accs.filter((a) => !deferred.has(rows[built.indexOf(a)])));
      this.rollups.noteWritten(written);
      complete = deferred.size === 0;
    }
    if (complete) this.writtenWatermark = watermark;
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
    this.rollups.schedule(force || idle, force);
  }

  /**
   * Writes `rows` (one insert), retried with backoff while every insert fails (ClickHouse down: consumption paused).
   * When the insert of them all fails, each row is tried alone: rows ClickHouse still refuses (twice) while it takes
   * others are `refused` (with their error), to be dead-lettered, instead of holding up every window. A lone row
   * that fails twice cannot tell a refused window from an outage: it is `deferred` to the next flush (consumption
   * goes on), where the other windows tell.
   */
  private async writeWithRetry(
    rows: PartialRow[],
    heartbeat: (() => Promise<void>) | undefined,
    force: boolean,
  ): Promise<{ refused: Map<PartialRow, unknown>; deferred: Set<PartialRow> }> {
    const refused = new Map<PartialRow, unknown>();
    const done = { refused, deferred: new Set<PartialRow>() };
    let pending = rows;
    for (let attempt = 0; pending.length > 0; attempt++) {
      try {
        await this.write(pending, heartbeat);
        return done;
      } catch (err) {
        this.writeFailed(err, pending.length, attempt);
        if (pending.length > 1) {
          const still = await this.writeEach(pending, refused, heartbeat);
          if (still.length < pending.length) {
            // ClickHouse takes other windows: one more try each, then these are refused for what they hold.
            await sleep(200);
            for (const r of await this.writeEach(still, refused, heartbeat))
              this.logger.error(`refused: ${String(refused.get(r))}`);
            return done;
          }
          pending = still;
          refused.clear();
        } else if (rows.length === 1 && attempt >= 1 && !force && !this.hooks.stopping()) {
          this.setPaused(false);
          return { refused, deferred: new Set(rows) };
        }
        // While stopping, give up after a few attempts: the unwritten data stays uncommitted and is read again.
        if ((force || this.hooks.stopping()) && attempt >= 4) throw err;
        await sleep(Math.min(10_000, 200 * 2 ** attempt));
        await heartbeat?.();
        if (!force && this.hooks.lost()) {
          this.logger.warn(`partitions may have moved: ${pending.length} unwritten row(s) left to their new owner`);
          return { refused, deferred: new Set(pending) };
        }
      }
    }
    return done;
  }

  /** Inserts each row alone; returns those that failed (their errors in `errors`). */
  private async writeEach(
    rows: PartialRow[],
    errors: Map<PartialRow, unknown>,
    heartbeat?: () => Promise<void>,
  ): Promise<PartialRow[]> {
    const failed: PartialRow[] = [];
    for (const r of rows) {
      try {
        await this.write([r], heartbeat);
        errors.delete(r);
      } catch (err) {
        this.metrics.writeErrors.inc();
        errors.set(r, err);
        failed.push(r);
      }
    }
    return failed;
  }

  private async write(rows: PartialRow[], heartbeat?: () => Promise<void>): Promise<void> {
    const end = this.metrics.writeSeconds.startTimer({ table: 'agg_partials' });
    const t0 = performance.now();
    // A slow insert must not let the group session expire (the write would then race the partition's new owner).
    const beat = heartbeat && setInterval(() => void heartbeat(), HEARTBEAT_MS);
    try {
      await this.store.writePartials(rows);
    } finally {
      if (beat) clearInterval(beat);
    }
    end();
    this.stats.writeMs += performance.now() - t0;
    this.stats.rowsWritten += rows.length;
    this.metrics.rowsWritten.inc({ table: 'agg_partials' }, rows.length);
    if (this.paused) this.setPaused(false);
    this.failing = false;
  }

  private writeFailed(err: unknown, rows: number, attempt: number): void {
    this.metrics.writeErrors.inc();
    this.failing = true;
    if (!this.paused) this.setPaused(true);
    this.logger.warn(`write of ${rows} partial row(s) failed (attempt ${attempt + 1}): ${(err as Error).message}`);
  }

  private setPaused(paused: boolean): void {
    this.paused = paused;
    this.metrics.paused.set(paused ? 1 : 0);
    this.hooks.pause(paused);
  }
}
