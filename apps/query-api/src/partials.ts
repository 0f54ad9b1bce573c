// Reads the aggregator's partial sketch rows (agg_partials) for a time range, choosing tiers, and decodes their
// sketches through a byte-bounded cache. A stored row never changes under the same key and version (a rewrite bumps
// the version), so a decoded sketch can be reused until it is evicted, and a merge of an exact set of (row, version)
// pairs can be reused too: a late or rewritten row changes the set. Which rows exist is kept in an in-memory index
// that picks up newly written rows every second (answers lag the newest write by at most that), so a warm request
// needs no ClickHouse round trip at all.
import { createHash } from 'node:crypto';
import { CandidateBlock, HOUR_MS as HOUR, HOUR_TIER, MINUTE_TIER } from '@tma/rollup';
import { CountMinSketch, HyperLogLog, decodeCandidates, decodeCountMinSketch, decodeHyperLogLog } from '@tma/sketch';
import type { Storage } from '@tma/storage';
import type { TimeRange } from './params';

export { HOUR_TIER, MINUTE_TIER };

export type SketchColumn =
  'cms_packets' | 'cms_bytes' | 'hll_flows' | 'hll_sources' | 'hll_destinations' | 'hll_ports' | 'candidates';
export type Decoded<C extends SketchColumn> = C extends 'cms_packets' | 'cms_bytes'
  ? CountMinSketch
  : C extends 'candidates'
    ? CandidateBlock
    : HyperLogLog;

export interface PartialRow {
  /** tier|window start (s)|topic|partition|first offset: the table's key. */
  id: string;
  tier: string;
  windowStart: number;
  windowSeconds: number;
  version: string;
  packets: number;
  bytes: number;
  snapshots: number;
  gaps: number;
  protocols: number[];
  protocolPackets: number[];
  protocolBytes: number[];
  /** Only when asked for (host filters, host tables). */
  hosts?: string[];
}

export interface RowSelection {
  rows: PartialRow[];
  tiers: Record<string, number>;
  /** Distinct windows merged (a 1 h row counts once). */
  windows: number;
}

export interface StoreMetrics {
  cacheHit(n: number): void;
  cacheMiss(n: number): void;
  queryTime(kind: string, seconds: number): void;
}

interface CacheEntry {
  value: unknown;
  size: number;
}

function sizeOf(v: unknown): number {
  if (v instanceof CountMinSketch) return v.cells.byteLength + 64;
  if (v instanceof HyperLogLog) return v.registers.byteLength + 64;
  if (v instanceof CandidateBlock) return v.byteSize;
  return 64;
}

/** Rows of the light listing: every scalar and the protocol arrays, never the sketches. */
interface ListRow {
  tier: string;
  ws: string | number;
  window_seconds: string | number;
  topic: string;
  partition: string | number;
  first_offset: string;
  version: string;
  packets: string;
  bytes: string;
  snapshots: string;
  gaps: string;
  protocols: number[];
  protocol_packets: string[];
  protocol_bytes: string[];
  hosts?: string[];
}

export interface PartialStoreOptions {
  cacheBytes: number;
  /** 0 = no index: list rows in ClickHouse on every request. */
  indexRefreshMs: number;
  mergeCache: boolean;
}

interface IndexedRow extends PartialRow {
  expiresAt: number;
}

const LIST_COLUMNS = `tier, toUnixTimestamp(window_start) AS ws, window_seconds, topic, partition, toString(first_offset) AS first_offset,
  toString(version) AS version, packets, bytes, snapshots, gaps, protocols, protocol_packets, protocol_bytes`;
const MERGE_CACHE_ENTRIES = 128;

const ID_SQL =
  "concat(tier, '|', toString(toUnixTimestamp(window_start)), '|', topic, '|', toString(partition), '|', toString(first_offset))";

export class PartialStore {
  private readonly cache = new Map<string, CacheEntry>();
  private readonly pending = new Map<string, Promise<unknown>>();
  private cacheSize = 0;
  private readonly cacheBytes: number;
  private readonly index = new Map<string, IndexedRow>();
  private indexedUpTo = 0;
  private indexOkAt = 0;
  private timer?: NodeJS.Timeout;
  private refreshing?: Promise<void>;
  private readonly memoCache = new Map<string, unknown>();
  private readonly memoPending = new Map<string, Promise<unknown>>();

  constructor(
    private readonly storage: Storage,
    private readonly options: PartialStoreOptions,
    private readonly metrics?: StoreMetrics,
  ) {
    this.cacheBytes = options.cacheBytes;
  }

  get cachedBytes(): number {
    return this.cacheSize;
  }

  /** Loads the row index and keeps it current (no-op without an index). */
  async start(): Promise<void> {
    if (this.options.indexRefreshMs <= 0) return;
    await this.refresh();
    this.timer = setInterval(() => void this.refresh().catch(() => undefined), this.options.indexRefreshMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  /** Picks up rows written since the last refresh (with 5 s of overlap: re-reading a row is harmless). */
  refresh(): Promise<void> {
    this.refreshing ??= (async () => {
      const t0 = performance.now();
      try {
        const rows = await this.storage.query<ListRow & { written_ms: string; expires: string }>(
          `SELECT ${LIST_COLUMNS}, toString(toUnixTimestamp64Milli(written_at)) AS written_ms, toUnixTimestamp(expires_at) AS expires
           FROM {database}.agg_partials FINAL WHERE written_at >= fromUnixTimestamp64Milli({since:Int64})`,
          { since: Math.max(0, this.indexedUpTo - 5000) },
        );
        for (const r of rows) {
          const row = toRow(r) as IndexedRow;
          row.expiresAt = Number(r.expires) * 1000;
          const old = this.index.get(row.id);
          if (!old || BigInt(old.version) <= BigInt(row.version)) this.index.set(row.id, row);
          this.indexedUpTo = Math.max(this.indexedUpTo, Number(r.written_ms));
        }
        const now = Date.now();
        for (const [id, r] of this.index) if (r.expiresAt <= now) this.index.delete(id);
        this.indexOkAt = Date.now();
      } finally {
        this.metrics?.queryTime('index', (performance.now() - t0) / 1000);
        this.refreshing = undefined;
      }
    })();
    return this.refreshing;
  }

  private indexFresh(): boolean {
    return this.options.indexRefreshMs > 0 && Date.now() - this.indexOkAt < 5 * this.options.indexRefreshMs + 5000;
  }

  /**
   * A value computed from an exact set of rows, reused while the set is unchanged (same ids and versions). Concurrent
   * requests for the same key share one computation.
   */
  async memo<T>(kind: string, rows: readonly PartialRow[], compute: () => Promise<T>): Promise<T> {
    if (!this.options.mergeCache) return compute();
    const h = createHash('sha1').update(kind);
    for (const r of rows) h.update(`|${r.id}#${r.version}`);
    const key = h.digest('base64');
    if (this.memoCache.has(key)) {
      const v = this.memoCache.get(key) as T;
      this.memoCache.delete(key);
      this.memoCache.set(key, v);
      return v;
    }
    const pending = this.memoPending.get(key) as Promise<T> | undefined;
    if (pending) return pending;
    const p = compute();
    this.memoPending.set(key, p);
    try {
      const v = await p;
      this.memoCache.set(key, v);
      while (this.memoCache.size > MERGE_CACHE_ENTRIES)
        this.memoCache.delete(this.memoCache.keys().next().value as string);
      return v;
    } finally {
      this.memoPending.delete(key);
    }
  }

  /**
   * Rows covering [from, to): whole hours inside the range come from the 1 h tier where it has rows (when
   * `hourTier`), everything else from the 1 min tier. Hour rows merge every partition, so host-filtered answers
   * pass hourTier = false.
   */
  async select(range: TimeRange, options: { hourTier: boolean; withHosts?: boolean }): Promise<RowSelection> {
    const hFrom = Math.ceil(range.from / HOUR) * HOUR;
    const hTo = Math.floor(range.to / HOUR) * HOUR;
    const useHours = options.hourTier && hTo > hFrom;
    let list: PartialRow[];
    if (!options.withHosts && this.indexFresh()) {
      list = [];
      for (const r of this.index.values()) {
        if (
          r.tier === MINUTE_TIER
            ? r.windowStart >= range.from && r.windowStart < range.to
            : useHours && r.tier === HOUR_TIER && r.windowStart >= hFrom && r.windowStart < hTo
        )
          list.push(r);
      }
    } else {
      const t0 = performance.now();
      const rows = await this.storage.query<ListRow>(
        `SELECT ${LIST_COLUMNS} ${options.withHosts ? ', hosts' : ''}
         FROM {database}.agg_partials FINAL
         WHERE (tier = {minute:String} AND window_start >= {from:DateTime} AND window_start < {to:DateTime})
            ${useHours ? 'OR (tier = {hour:String} AND window_start >= {hfrom:DateTime} AND window_start < {hto:DateTime})' : ''}`,
        {
          minute: MINUTE_TIER,
          hour: HOUR_TIER,
          from: new Date(range.from),
          to: new Date(range.to),
          hfrom: new Date(hFrom),
          hto: new Date(hTo),
        },
      );
      this.metrics?.queryTime('list', (performance.now() - t0) / 1000);
      list = rows.map(toRow);
    }
    const coveredHours = new Set<number>();
    for (const r of list) if (r.tier === HOUR_TIER) coveredHours.add(r.windowStart);
    const rows: PartialRow[] = [];
    const tiers: Record<string, number> = {};
    const windows = new Set<string>();
    for (const r of list) {
      if (r.tier === MINUTE_TIER && coveredHours.has(Math.floor(r.windowStart / HOUR) * HOUR)) continue;
      const key = `${r.tier}|${r.windowStart}`;
      if (!windows.has(key)) {
        windows.add(key);
        tiers[r.tier] = (tiers[r.tier] ?? 0) + 1;
      }
      rows.push(r);
    }
    rows.sort((a, b) => a.windowStart - b.windowStart || (a.id < b.id ? -1 : 1));
    return { rows, tiers, windows: windows.size };
  }

  /** Decoded sketches of `column` for every row, in row order (cached; missing ones read in chunks). */
  async sketches<C extends SketchColumn>(rows: readonly PartialRow[], column: C): Promise<Decoded<C>[]> {
    const keyOf = (r: PartialRow) => `${r.id}#${r.version}#${column}`;
    const out = new Array<unknown>(rows.length);
    const missing: PartialRow[] = [];
    const waits: Promise<void>[] = [];
    rows.forEach((r, i) => {
      const k = keyOf(r);
      const hit = this.cache.get(k);
      if (hit) {
        // Refresh recency: Map iteration order is insertion order, so re-insert.
        this.cache.delete(k);
        this.cache.set(k, hit);
        out[i] = hit.value;
        return;
      }
      const p = this.pending.get(k);
      if (p) waits.push(p.then((v) => void (out[i] = v)));
      else missing.push(r);
    });
    this.metrics?.cacheHit(rows.length - missing.length - waits.length);
    this.metrics?.cacheMiss(missing.length);
    // Chunks hold one tier each, so a chunk's query reads only its own windows (the key starts with tier, window).
    const byTier = new Map<string, PartialRow[]>();
    for (const r of missing) (byTier.get(r.tier) ?? byTier.set(r.tier, []).get(r.tier)!).push(r);
    for (const list of byTier.values()) {
      for (let i = 0; i < list.length; i += 64) {
        const chunk = list.slice(i, i + 64);
        const fetch = this.fetch(chunk, column);
        for (const r of chunk) {
          const k = keyOf(r);
          const p = fetch.then((m) => m.get(r.id));
          this.pending.set(k, p);
          void p.finally(() => this.pending.delete(k)).catch(() => undefined);
        }
      }
    }
    const position = new Map(rows.map((r, i) => [r, i]));
    for (const r of missing) {
      const i = position.get(r)!;
      waits.push((this.pending.get(keyOf(r)) as Promise<unknown>).then((v) => void (out[i] = v)));
    }
    await Promise.all(waits);
    for (let i = 0; i < rows.length; i++) {
      if (out[i] === undefined)
        throw new Error(`partial row ${rows[i].id} vanished while being read (TTL or rewrite); retry`);
    }
    return out as Decoded<C>[];
  }

  private async fetch(rows: readonly PartialRow[], column: SketchColumn): Promise<Map<string, unknown>> {
    const t0 = performance.now();
    const found = await this.storage.query<{ id: string; version: string; blob: Uint8Array }>(
      `SELECT ${ID_SQL} AS id, toString(version) AS version, hex(${column}) AS blob
       FROM {database}.agg_partials FINAL
       WHERE tier = {tier:String} AND window_start IN {starts:Array(DateTime)} AND ${ID_SQL} IN {ids:Array(String)}`,
      {
        tier: rows[0].tier,
        starts: [...new Set(rows.map((r) => r.windowStart))].map((ms) => new Date(ms)),
        ids: rows.map((r) => r.id),
      },
      { binaryColumns: ['blob'] },
    );
    this.metrics?.queryTime(`sketch:${column}`, (performance.now() - t0) / 1000);
    const byId = new Map<string, unknown>();
    const wanted = new Map(rows.map((r) => [r.id, r.version]));
    for (const f of found) {
      const value = decodeColumn(column, f.blob);
      byId.set(f.id, value);
      // Cache under the version actually read: a newer version is simply a new entry.
      if (wanted.has(f.id)) this.remember(`${f.id}#${f.version}#${column}`, value);
    }
    return byId;
  }

  private remember(key: string, value: unknown): void {
    const size = sizeOf(value);
    if (size > this.cacheBytes) return;
    const old = this.cache.get(key);
    if (old) this.cacheSize -= old.size;
    this.cache.set(key, { value, size });
    this.cacheSize += size;
    for (const [k, e] of this.cache) {
      if (this.cacheSize <= this.cacheBytes) break;
      this.cache.delete(k);
      this.cacheSize -= e.size;
    }
  }
}

function toRow(r: ListRow): PartialRow {
  return {
    id: `${r.tier}|${r.ws}|${r.topic}|${r.partition}|${r.first_offset}`,
    tier: r.tier,
    windowStart: Number(r.ws) * 1000,
    windowSeconds: Number(r.window_seconds),
    version: r.version,
    packets: Number(r.packets),
    bytes: Number(r.bytes),
    snapshots: Number(r.snapshots),
    gaps: Number(r.gaps),
    protocols: r.protocols,
    protocolPackets: r.protocol_packets.map(Number),
    protocolBytes: r.protocol_bytes.map(Number),
    hosts: r.hosts,
  };
}

function decodeColumn(column: SketchColumn, blob: Uint8Array): unknown {
  if (column === 'cms_packets' || column === 'cms_bytes') return decodeCountMinSketch(blob);
  // Hashed once here: every union and ranking of this row reuses them.
  if (column === 'candidates') return CandidateBlock.from(decodeCandidates(blob));
  return decodeHyperLogLog(blob);
}

/** Merged CMS of many rows (a fresh sketch: cached inputs stay untouched). */
export function mergeCms(list: readonly CountMinSketch[]): CountMinSketch {
  const out = new CountMinSketch(list[0] ? { depth: list[0].depth, widthBits: list[0].widthBits } : {});
  for (const s of list) out.merge(s);
  return out;
}

export function mergeHll(list: readonly HyperLogLog[]): HyperLogLog {
  const out = new HyperLogLog(list[0] ? { precision: list[0].p } : {});
  for (const s of list) out.merge(s);
  return out;
}
