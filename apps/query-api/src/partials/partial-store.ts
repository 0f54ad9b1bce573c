// Reads the aggregator's partial sketch rows (agg_partials) for a time range: which rows (RowIndex), their decoded
// sketches (SketchCache) and merges of exact row sets (MergeMemo), behind one provider.
import type { DecodedSketch, SketchColumn } from '@tma/rollup';
import type { Storage } from '@tma/storage';
import type { TimeRange } from '../common/params';
import { MergeMemo } from './merge-memo';
import type { PartialRef } from './partial-row';
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
}

export class PartialStore {
  private readonly index: RowIndex;
  private readonly cache: SketchCache;
  private readonly merges: MergeMemo;

  constructor(storage: Storage, options: PartialStoreOptions, metrics?: StoreMetrics) {
    this.index = new RowIndex(storage, options.indexRefreshMs, metrics);
    this.cache = new SketchCache(storage, options.cacheBytes, metrics);
    this.merges = new MergeMemo(options.mergeCache, options.mergeCacheBytes);
  }

  get cachedBytes(): number {
    return this.cache.bytes;
  }

  start(): Promise<void> {
    return this.index.start();
  }

  stop(): void {
    this.index.stop();
  }

  refresh(): Promise<void> {
    return this.index.refresh();
  }

  select(range: TimeRange, options: { hourTier: boolean; withHosts?: boolean }): Promise<RowSelection> {
    return this.index.select(range, options);
  }

  sketches<C extends SketchColumn>(rows: readonly PartialRef[], column: C): Promise<DecodedSketch<C>[]> {
    return this.cache.sketches(rows, column);
  }

  memo<T>(kind: string, rows: readonly PartialRef[], compute: () => Promise<T>): Promise<T> {
    return this.merges.memo(kind, rows, compute);
  }
}
