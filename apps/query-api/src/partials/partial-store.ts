// Reads the aggregator's partial sketch rows (agg_partials) for a time range: which rows (RowIndex), their decoded
// sketches (SketchCache) and merges of exact row sets (MergeMemo), behind one provider. Windows not yet final are
// filled in from provisional rows (agg_provisional, ProvisionalIndex), decoded through a cache of their own.
import type { DecodedSketch, SketchColumn } from '@tma/rollup';
import type { Storage } from '@tma/storage';
import type { TimeRange } from '../common/params';
import { MergeMemo } from './merge-memo';
import type { MergePool } from './merge-pool';
import type { PartialRef } from './partial-row';
import {
  PROVISIONAL_ID_SQL,
  PROVISIONAL_TABLE,
  ProvisionalIndex,
  isProvisional,
  overlayProvisional,
} from './provisional-index';
import { RowIndex, type RowSelection } from './row-index';
import { SketchCache } from './sketch-cache';
import type { StoreMetrics } from './store-metrics';

export interface PartialStoreOptions {
  cacheBytes: number;
  /** 0 = no index: list rows in ClickHouse on every request. */
  indexRefreshMs: number;
  mergeCache: boolean;
  /** Byte budget of the kept merges. */
  mergeCacheBytes: number;
  /** Merge worker threads; absent: merges run on the event loop. */
  pool?: MergePool;
}

export class PartialStore {
  private readonly index: RowIndex;
  private readonly cache: SketchCache;
  private readonly provisional: ProvisionalIndex;
  /** Provisional sketches change every few seconds: a small cache apart, so they never push out final rows. */
  private readonly provisionalCache: SketchCache;
  private readonly merges: MergeMemo;
  /** Where merges run when set (worker threads). */
  readonly pool: MergePool | undefined;

  constructor(storage: Storage, options: PartialStoreOptions, metrics?: StoreMetrics) {
    this.index = new RowIndex(storage, options.indexRefreshMs, metrics);
    this.cache = new SketchCache(storage, options.cacheBytes, metrics);
    this.provisional = new ProvisionalIndex(storage, options.indexRefreshMs, metrics);
    this.provisionalCache = new SketchCache(storage, Math.ceil(options.cacheBytes / 8), metrics, {
      table: PROVISIONAL_TABLE,
      idSql: PROVISIONAL_ID_SQL,
    });
    this.merges = new MergeMemo(options.mergeCache, options.mergeCacheBytes);
    this.pool = options.pool;
  }

  get cachedBytes(): number {
    return this.cache.bytes + this.provisionalCache.bytes;
  }

  async start(): Promise<void> {
    await Promise.all([this.index.start(), this.provisional.start()]);
  }

  /** Stops the listings and the merge workers (waiting merges refused, running ones finish). */
  async stop(): Promise<void> {
    this.index.stop();
    this.provisional.stop();
    await this.pool?.close();
  }

  async refresh(): Promise<void> {
    await Promise.all([this.index.refresh(), this.provisional.refresh()]);
  }

  /** Final rows of the range, plus provisional rows for what they do not hold yet (overlayProvisional). */
  async select(
    range: TimeRange,
    options: { hourTier: boolean; dayTier?: boolean; withHosts?: boolean },
  ): Promise<RowSelection> {
    const [sel, provisional] = await Promise.all([this.index.select(range, options), this.provisional.current()]);
    return overlayProvisional(sel, provisional, range);
  }

  async sketches<C extends SketchColumn>(rows: readonly PartialRef[], column: C): Promise<DecodedSketch<C>[]> {
    if (!rows.some(isProvisional)) return this.cache.sketches(rows, column);
    const finals = rows.filter((r) => !isProvisional(r));
    const [f, p] = await Promise.all([
      this.cache.sketches(finals, column),
      this.provisionalCache.sketches(rows.filter(isProvisional), column),
    ]);
    let i = 0;
    let j = 0;
    return rows.map((r) => (isProvisional(r) ? p[j++] : f[i++]));
  }

  memo<T>(kind: string, rows: readonly PartialRef[], compute: () => Promise<T>): Promise<T> {
    return this.merges.memo(kind, rows, compute);
  }
}
