// Provisional rows: every few seconds, the open windows that changed since their last provisional row are written
// to agg_provisional (one row per window × topic × partition, the newest write wins), so answers show an interval
// seconds after it ended instead of after its window's end plus the allowed lateness. Beside the exactly-once path,
// never part of it: nothing here touches offsets, commits, pending windows or agg_partials, and a failed write is
// only tried again at the next tick. Readers merge a provisional row only while no final row of its window and
// partition starts at or before its last offset (docs/query-api.md, "Provisional windows").
import type { Storage } from '@tma/storage';
import type { AggregatorConfig } from './config';
import type { ConsumerLogger } from './consumer-stats';
import type { AggregatorMetrics } from './metrics';
import { provisionalRowFromAccumulator, type PartialRow } from './rows';
import type { WindowAccumulator } from './window-accumulator';
import type { WindowMerger } from './window-merger';

export const PROVISIONAL_TABLE = 'agg_provisional';

/**
 * When the next provisional cycle may start, after one that ended at `endMs`: building the rows runs on the consumer
 * thread and the insert shares the storage connection (one connection on embedded chDB) with the final rows and the
 * queries, so a large fleet's provisional rows are written less often rather than take more than a tenth of the
 * thread or a quarter of the connection. Small fleets stay at the configured interval.
 */
export function nextProvisionalAt(endMs: number, buildMs: number, writeMs: number): number {
  return endMs + Math.max(9 * buildMs, 3 * writeMs);
}

/** Rows built from the open windows at one moment, with the number of snapshots each held then. */
export interface ProvisionalBatch {
  rows: PartialRow[];
  windows: { acc: WindowAccumulator; snapshots: number }[];
}

export class ProvisionalWriter {
  /** Snapshots each window held when its last provisional row was stored (unchanged windows are not rewritten). */
  private readonly stored = new WeakMap<WindowAccumulator, number>();
  private lastVersion = 0;
  /** The last write failed (logged once until one succeeds again). */
  private failing = false;
  /** Wall clock before which no new cycle starts (nextProvisionalAt) and the last cycle's build time. */
  private notBefore = 0;
  private lastBuildMs = 0;

  constructor(
    private readonly config: Pick<AggregatorConfig, 'writerId' | 'provisionalTtlSeconds'>,
    private readonly merger: WindowMerger,
    private readonly storage: Storage,
    private readonly metrics: AggregatorMetrics,
    private readonly logger: ConsumerLogger,
  ) {}

  /** Whether a cycle may start now (see nextProvisionalAt). */
  due(nowMs = Date.now()): boolean {
    return nowMs >= this.notBefore;
  }

  /**
   * Builds the rows of the open windows that changed (synchronously: the windows are read between two merges).
   * Windows whose row would already have expired (old data being caught up) are left out.
   */
  take(nowMs = Date.now()): ProvisionalBatch {
    const t0 = performance.now();
    const batch: ProvisionalBatch = { rows: [], windows: [] };
    const ttlMs = this.config.provisionalTtlSeconds * 1000;
    for (const acc of this.merger.openWindows()) {
      if (this.stored.get(acc) === acc.snapshots || acc.windowStart + ttlMs <= nowMs) continue;
      // The writer's wall clock, strictly increasing: a later write of the same key always replaces an earlier one.
      this.lastVersion = Math.max(nowMs, this.lastVersion + 1);
      batch.rows.push(
        provisionalRowFromAccumulator(
          acc,
          this.config.writerId,
          this.config.provisionalTtlSeconds,
          this.lastVersion,
          new Date(nowMs),
        ),
      );
      batch.windows.push({ acc, snapshots: acc.snapshots });
    }
    this.lastBuildMs = performance.now() - t0;
    if (batch.rows.length > 0) this.metrics.provisionalBuildSeconds.inc(this.lastBuildMs / 1000);
    this.notBefore = nextProvisionalAt(Date.now(), this.lastBuildMs, 0);
    return batch;
  }

  /**
   * Stores a batch in one insert. A failure is logged (once until a write succeeds) and only delays what answers
   * show: the windows are tried again next time; the final rows' writes report outages themselves.
   */
  async write(batch: ProvisionalBatch): Promise<boolean> {
    if (batch.rows.length === 0) return true;
    const end = this.metrics.writeSeconds.startTimer({ table: PROVISIONAL_TABLE });
    const t0 = performance.now();
    try {
      await this.storage.insertRows(PROVISIONAL_TABLE, batch.rows as unknown as Record<string, unknown>[]);
    } catch (err) {
      if (!this.failing)
        this.logger.warn(
          `provisional write of ${batch.rows.length} row(s) failed: ${(err as Error).message}; tried again at the next tick`,
        );
      this.failing = true;
      return false;
    }
    end();
    this.notBefore = nextProvisionalAt(Date.now(), this.lastBuildMs, performance.now() - t0);
    this.failing = false;
    this.metrics.rowsWritten.inc({ table: PROVISIONAL_TABLE }, batch.rows.length);
    for (const w of batch.windows) this.stored.set(w.acc, w.snapshots);
    return true;
  }
}
