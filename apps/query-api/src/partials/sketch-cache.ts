// Decoded sketches of partial rows through a byte-bounded LRU. A stored row never changes under the same key and
// version (a rewrite bumps the version), so a decoded sketch is reused until it is evicted; missing ones are read in
// chunks of one tier and decoded once, and concurrent requests for the same row share one read.
import { CandidateBlock, decodeSketchColumn, type DecodedSketch, type SketchColumn } from '@tma/rollup';
import { CountMinSketch, HyperLogLog } from '@tma/sketch';
import type { Storage } from '@tma/storage';
import { ID_SQL, type PartialRef } from './partial-row';
import { ByteLru } from './byte-lru';
import type { StoreMetrics } from './store-metrics';

function sizeOf(v: unknown): number {
  if (v instanceof CountMinSketch) return v.cells.byteLength + 64;
  if (v instanceof HyperLogLog) return v.registers.byteLength + 64;
  if (v instanceof CandidateBlock) return v.byteSize;
  return 64;
}

/** The table a cache reads and the SQL of its rows' ids (PartialRef.id). */
export interface SketchSource {
  table: string;
  idSql: string;
}

export const FINAL_ROWS: SketchSource = { table: 'agg_partials', idSql: ID_SQL };

export class SketchCache {
  private readonly cache: ByteLru<unknown>;
  private readonly pending = new Map<string, Promise<unknown>>();

  constructor(
    private readonly storage: Storage,
    maxBytes: number,
    private readonly metrics?: StoreMetrics,
    private readonly source: SketchSource = FINAL_ROWS,
  ) {
    this.cache = new ByteLru(maxBytes, sizeOf);
  }

  get bytes(): number {
    return this.cache.bytes;
  }

  /** Decoded sketches of `column` for every row, in row order (cached; missing ones read in chunks). */
  async sketches<C extends SketchColumn>(rows: readonly PartialRef[], column: C): Promise<DecodedSketch<C>[]> {
    const keyOf = (r: PartialRef) => `${r.id}#${r.version}#${column}`;
    const out = new Array<unknown>(rows.length);
    const missing: PartialRef[] = [];
    const waits: Promise<void>[] = [];
    rows.forEach((r, i) => {
      const k = keyOf(r);
      const hit = this.cache.get(k);
      if (hit !== undefined) {
        out[i] = hit;
        return;
      }
      const p = this.pending.get(k);
      if (p) waits.push(p.then((v) => void (out[i] = v)));
      else missing.push(r);
    });
    this.metrics?.cacheHit(rows.length - missing.length - waits.length);
    this.metrics?.cacheMiss(missing.length);
    // Chunks hold one tier each, so a chunk's query reads only its own windows (the key starts with tier, window).
    const byTier = new Map<string, PartialRef[]>();
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
    return out as DecodedSketch<C>[];
  }

  private async fetch(rows: readonly PartialRef[], column: SketchColumn): Promise<Map<string, unknown>> {
    const t0 = performance.now();
    const found = await this.storage.query<{ id: string; version: string; blob: Uint8Array }>(
      `SELECT ${this.source.idSql} AS id, toString(version) AS version, hex(${column}) AS blob
       FROM {database}.${this.source.table} FINAL
       WHERE tier = {tier:String} AND window_start IN {starts:Array(DateTime)} AND ${this.source.idSql} IN {ids:Array(String)}`,
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
      const value = decodeSketchColumn(column, f.blob);
      byId.set(f.id, value);
      // Cache under the version actually read: a newer version is simply a new entry.
      if (wanted.has(f.id)) this.cache.set(`${f.id}#${f.version}#${column}`, value);
    }
    return byId;
  }
}
