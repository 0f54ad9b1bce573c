// Reads the aggregator's partial sketch rows (agg_partials) for a time range: which rows (RowIndex), their decoded
// sketches (SketchCache) and merges of exact row sets (MergeMemo), behind one provider. Windows not yet final are
// filled in from provisional rows (agg_provisional, ProvisionalIndex), decoded through a cache of their own.
import { MINUTE_TIER, type DecodedSketch, type SketchColumn } from '@tma/rollup';
import { currentHashSeed } from '@tma/sketch';
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
  /** Read 1 min windows' fleet rows where they hold every row of the window (default true). */
  fleetRows?: boolean;
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
    this.index = new RowIndex(storage, options.indexRefreshMs, metrics, options.fleetRows ?? true);
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
    return ofSeed(withFleetRows(overlayProvisional(sel, provisional, range)), currentHashSeed().seedHash);
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

/**
 * The rows of one hash seed identity. Sketches of two seeds never merge: after a seed rotation the rows stored under
 * the old seed are left out of answers rather than failing them; `otherSeedWindows` counts the windows that lost rows
 * (all of them, or the partitions of a window written under the old seed).
 */
export function ofSeed(selection: RowSelection, seedId: number): RowSelection {
  if (selection.rows.every((r) => r.seedId === seedId)) return selection;
  const rows = selection.rows.filter((r) => r.seedId === seedId);
  const kept = new Set(rows.map((r) => `${r.tier}|${r.windowStart}`));
  const left = new Set(selection.rows.filter((r) => r.seedId !== seedId).map((r) => `${r.tier}|${r.windowStart}`));
  const tiers: Record<string, number> = {};
  for (const w of kept) {
    const tier = w.slice(0, w.indexOf('|'));
    tiers[tier] = (tiers[tier] ?? 0) + 1;
  }
  return { rows, tiers, windows: kept.size, fenced: selection.fenced, otherSeedWindows: left.size };
}

/**
 * A window's final 1 min rows replaced by its fleet row (libs/rollup FLEET_MINUTE_TIER) where that row merged exactly
 * them: its version (the sum of the versions it merged) equals the sum of theirs. A row written or rewritten since
 * (late data, a fence) makes the sums differ, and the window is read from its rows until the fleet row is rebuilt.
 * Provisional rows of the window stay as they are (the fleet row holds final rows only).
 */
export function withFleetRows(selection: RowSelection): RowSelection {
  const { fleet, ...rest } = selection;
  if (!fleet?.length) return rest;
  const finals = new Map<number, PartialRef[]>();
  for (const r of rest.rows)
    if (r.tier === MINUTE_TIER && !isProvisional(r))
      (finals.get(r.windowStart) ?? finals.set(r.windowStart, []).get(r.windowStart)!).push(r);
  const replaced = new Set<PartialRef>();
  const added: PartialRef[] = [];
  for (const f of fleet) {
    const rows = finals.get(f.windowStart);
    if (!rows || rows.length < 2) continue;
    if (rows.reduce((s, r) => s + BigInt(r.version), 0n) !== BigInt(f.version)) continue;
    for (const r of rows) replaced.add(r);
    added.push(f);
  }
  if (!added.length) return rest;
  const rows = [...rest.rows.filter((r) => !replaced.has(r)), ...added];
  rows.sort((a, b) => a.windowStart - b.windowStart || (a.id < b.id ? -1 : 1));
  return { ...rest, rows };
}
