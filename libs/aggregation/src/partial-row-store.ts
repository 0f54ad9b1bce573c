// Everything the aggregator reads from and writes to ClickHouse (through libs/storage): partial rows written, the
// ranges and sequences a restart resumes from, and the readable rollups and 1 h tier rebuilt from stored rows.
import { createHash } from 'node:crypto';
import type { Storage } from '@tma/storage';
import type { RetentionConfig } from './config';
import type { CoveredRange } from './window-merger';
import {
  HOUR_CANDIDATES,
  HOUR_MS,
  SKETCH_COLUMNS,
  STORED_PARTIAL_SELECT,
  emptyMerged,
  mergeStoredPartial,
  mergedCandidates,
  partialRow,
  readableRows,
  shortlistBlock,
  type MergedWindow,
  type PartialRow,
  type StoredPartial,
  type Tier,
} from '@tma/rollup';

export { HOUR_CANDIDATES, HOUR_MS };

export class PartialRowStore {
  constructor(
    readonly storage: Storage,
    private readonly retention: RetentionConfig,
    private readonly topK: number,
  ) {}

  /**
   * One INSERT for all rows of a flush. The dedup token is derived from the row ids and versions, so a retried
   * write of the same rows is dropped by the engine even before ReplacingMergeTree merges.
   */
  async writePartials(rows: readonly PartialRow[]): Promise<void> {
    if (rows.length === 0) return;
    const h = createHash('sha256');
    for (const r of rows)
      h.update(`${r.tier}|${r.window_start}|${r.topic}|${r.partition}|${r.first_offset}|${r.version};`);
    await this.storage.insertRows('agg_partials', rows as unknown as Record<string, unknown>[], {
      dedupToken: `agg-partials-${h.digest('hex')}`,
    });
  }

  /** Rows already stored for a partition at or after an offset: what a restart must not merge again. */
  async coveredRanges(topic: string, partition: number, fromOffset: number): Promise<CoveredRange[]> {
    const rows = await this.storage.query<{ ws: string | number; first: string; last: string }>(
      `SELECT toUnixTimestamp(window_start) AS ws, first_offset AS first, last_offset AS last
       FROM {database}.agg_partials FINAL
       WHERE tier = '1m' AND topic = {topic:String} AND partition = {partition:UInt32} AND last_offset >= {from:UInt64}
       ORDER BY first_offset`,
      { topic, partition, from: fromOffset },
    );
    return rows.map((r) => ({ windowStart: Number(r.ws) * 1000, first: Number(r.first), last: Number(r.last) }));
  }

  /** coveredRanges() for several partitions of a topic in one query (after a rebalance). */
  async coveredRangesMany(topic: string, from: ReadonlyMap<number, number>): Promise<Map<number, CoveredRange[]>> {
    const out = new Map<number, CoveredRange[]>([...from.keys()].map((p) => [p, []]));
    if (from.size === 0) return out;
    const rows = await this.storage.query<{ p: number | string; ws: string | number; first: string; last: string }>(
      `SELECT partition AS p, toUnixTimestamp(window_start) AS ws, first_offset AS first, last_offset AS last
       FROM {database}.agg_partials FINAL
       WHERE tier = '1m' AND topic = {topic:String} AND partition IN {partitions:Array(UInt32)} AND last_offset >= {min:UInt64}
       ORDER BY partition, first_offset`,
      { topic, partitions: [...from.keys()], min: Math.min(...from.values()) },
    );
    for (const r of rows) {
      const p = Number(r.p);
      if (Number(r.last) >= from.get(p)!)
        out.get(p)!.push({ windowStart: Number(r.ws) * 1000, first: Number(r.first), last: Number(r.last) });
    }
    return out;
  }

  /** recentSequences() for several partitions of a topic in one query. */
  async recentSequencesMany(
    topic: string,
    partitions: readonly number[],
    lookbackSeconds = 3600,
  ): Promise<{ host: string; boot: string; last: number }[]> {
    if (partitions.length === 0) return [];
    const rows = await this.storage.query<{ host: string; boot: string; last: string }>(
      `SELECT h AS host, b AS boot, max(s) AS last
       FROM {database}.agg_partials
       ARRAY JOIN hosts AS h, host_boot AS b, host_last_seq AS s
       WHERE tier = '1m' AND topic = {topic:String} AND partition IN {partitions:Array(UInt32)}
         AND window_start >= (SELECT max(window_start) FROM {database}.agg_partials
                              WHERE tier = '1m' AND topic = {topic:String} AND partition IN {partitions:Array(UInt32)}) - {lookback:UInt32}
       GROUP BY h, b`,
      { topic, partitions: [...partitions], lookback: lookbackSeconds },
    );
    return rows.map((r) => ({ host: r.host, boot: r.boot, last: Number(r.last) }));
  }

  /** Last sequence per (host, boot) in the partition's recent rows: duplicates resent after a restart are still caught. */
  async recentSequences(
    topic: string,
    partition: number,
    lookbackSeconds = 3600,
  ): Promise<{ host: string; boot: string; last: number }[]> {
    const rows = await this.storage.query<{ host: string; boot: string; last: string }>(
      `SELECT h AS host, b AS boot, max(s) AS last
       FROM {database}.agg_partials
       ARRAY JOIN hosts AS h, host_boot AS b, host_last_seq AS s
       WHERE tier = '1m' AND topic = {topic:String} AND partition = {partition:UInt32}
         AND window_start >= (SELECT max(window_start) FROM {database}.agg_partials
                              WHERE tier = '1m' AND topic = {topic:String} AND partition = {partition:UInt32}) - {lookback:UInt32}
       GROUP BY h, b`,
      { topic, partition, lookback: lookbackSeconds },
    );
    return rows.map((r) => ({ host: r.host, boot: r.boot, last: Number(r.last) }));
  }

  private async readMerged(tier: Tier, fromMs: number, toMs: number, windowSeconds: number): Promise<MergedWindow> {
    const rows = await this.storage.query<StoredPartial>(
      `SELECT ${STORED_PARTIAL_SELECT} FROM {database}.agg_partials FINAL
       WHERE tier = {tier:String} AND window_start >= {from:UInt32} AND window_start < {to:UInt32}`,
      { tier, from: Math.floor(fromMs / 1000), to: Math.floor(toMs / 1000) },
      { binaryColumns: [...SKETCH_COLUMNS] },
    );
    const m = emptyMerged(fromMs, windowSeconds);
    for (const r of rows) mergeStoredPartial(m, r);
    return m;
  }

  /** Rebuilds the readable rollups of one window from every partial row stored for it (any writer, any partition). */
  async finalizeWindow(tier: Tier, windowStartMs: number, windowMs: number): Promise<MergedWindow> {
    const m = await this.readMerged(tier, windowStartMs, windowStartMs + windowMs, windowMs / 1000);
    await this.writeReadable(m, tier);
    return m;
  }

  /** Builds (or rebuilds, after late rows) the 1 h tier row and rollups of one hour from its 1 min partials. */
  async buildHour(hourStartMs: number): Promise<MergedWindow> {
    const m = await this.readMerged('1m', hourStartMs, hourStartMs + HOUR_MS, HOUR_MS / 1000);
    if (m.partials === 0) return m;
    // The hour's candidate union can reach millions of keys at fleet scale; keep the ones ranked highest on the
    // hour's merged sketches (by packets and by bytes), which bounds the row and every query that reads it.
    const kept = shortlistBlock(mergedCandidates(m), m.cmsPackets, m.cmsBytes, HOUR_CANDIDATES);
    m.candidateParts = [kept];
    const row = hourRow(m, this.retention.hourTier);
    await this.storage.insertRows('agg_partials', [row as unknown as Record<string, unknown>], {
      dedupToken: `agg-hour-${hourStartMs}-${m.partials}`,
    });
    await this.writeReadable(m, '1h');
    return m;
  }

  private async writeReadable(m: MergedWindow, tier: Tier): Promise<void> {
    if (m.partials === 0) return;
    const hour = tier === '1h' ? this.retention.hourTier : undefined;
    const r = readableRows(m, tier, this.topK, {
      windowTotals: hour ?? this.retention.windowTotals,
      topFlows: hour ?? this.retention.topFlows,
      hostTotals: hour ?? this.retention.hostTotals,
      protocolTotals: hour ?? this.retention.protocolTotals,
      // The 1 min tier's native sketches live as long as its partial rows: SQL answers the ranges the API answers.
      sketches: hour ?? this.retention.partials,
    });
    const token = (t: string) => ({ dedupToken: `agg-${t}-${tier}-${m.windowStart}-${m.partials}` });
    await this.storage.insertRows('agg_window_totals', r.windowTotals, token('totals'));
    await this.storage.insertRows('agg_top_flows', r.topFlows, token('top'));
    await this.storage.insertRows('agg_host_totals', r.hostTotals, token('hosts'));
    await this.storage.insertRows('agg_protocol_totals', r.protocolTotals, token('protocols'));
    // Flows before the sketches row that names their version (docs/sql.md).
    await this.storage.insertRows('agg_window_flows', r.windowFlows, token('flows'));
    await this.storage.insertRows('agg_window_sketches', r.windowSketches, token('sketches'));
  }
}

/** The 1 h tier row of an hour merged from its 1 min rows (writer "rollup"; version = rows merged, so the most complete rebuild wins). */
export function hourRow(m: MergedWindow, ttlSeconds: number, now = new Date()): PartialRow {
  return partialRow(
    m,
    mergedCandidates(m),
    {
      tier: '1h',
      windowStartMs: m.windowStart,
      windowSeconds: m.windowSeconds,
      topic: '',
      partition: 0,
      firstOffset: 0,
      lastOffset: 0,
      version: m.partials,
      writer: 'rollup',
      late: false,
    },
    ttlSeconds,
    now,
  );
}
