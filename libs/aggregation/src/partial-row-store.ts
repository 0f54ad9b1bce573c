// Everything the aggregator reads from and writes to ClickHouse (through libs/storage): partial rows written, the
// ranges and sequences a restart resumes from, and the readable rollups and 1 h tier rebuilt from stored rows.
import { createHash } from 'node:crypto';
import type { Storage } from '@tma/storage';
import type { RetentionConfig } from './config';
import type { CoveredRange } from './window-merger';
import {
  OWNERS_SELECT,
  HOUR_CANDIDATES,
  HOUR_MS,
  STORED_PARTIAL_BINARY,
  STORED_PARTIAL_SELECT,
  emptyMerged,
  mergeStoredPartial,
  mergedCandidates,
  ownerChainOf,
  partialRow,
  readableRows,
  rollupVersion,
  shortlistBlock,
  type MergedWindow,
  type OwnerChain,
  type OwnerEpoch,
  type StoredOwner,
  type PartialRow,
  type StoredPartial,
  type Tier,
} from '@tma/rollup';

export { HOUR_CANDIDATES, HOUR_MS };

/** Where a stored row sits in its partition's owner chain (read beside its content). */
interface FenceColumns {
  topic: string;
  partition: number | string;
  epoch: number | string;
  first_offset: string;
}

export class PartialRowStore {
  constructor(
    readonly storage: Storage,
    private readonly retention: RetentionConfig,
    private readonly topK: number,
  ) {}

  /**
   * One INSERT for all rows of a flush. The dedup token is derived from the row ids (epoch included: a new owner's
   * row for the same offsets as a fenced one must not be taken for its retry) and versions, so a retried write of
   * the same rows is dropped by the engine even before ReplacingMergeTree merges.
   */
  async writePartials(rows: readonly PartialRow[]): Promise<void> {
    if (rows.length === 0) return;
    const h = createHash('sha256');
    for (const r of rows)
      h.update(`${r.tier}|${r.window_start}|${r.topic}|${r.partition}|${r.first_offset}|${r.epoch}|${r.version};`);
    await this.storage.insertRows('agg_partials', rows as unknown as Record<string, unknown>[], {
      dedupToken: `agg-partials-${h.digest('hex')}`,
    });
  }

  /** The owner chains of `topic` (every partition), or of every topic: what the fence rule reads. */
  async ownerChain(topic?: string): Promise<OwnerChain> {
    const rows = await this.storage.query<StoredOwner>(
      `${OWNERS_SELECT} ${topic === undefined ? '' : 'WHERE topic = {topic:String}'}`,
      topic === undefined ? {} : { topic },
    );
    return ownerChainOf(rows);
  }

  /**
   * Records assignments (acknowledged before the new owner merges anything). Kept as long as any partial row they
   * could fence: those are at most the partials' retention old when written, plus the allowed future (a day).
   */
  async writeOwners(owners: readonly OwnerEpoch[], owner: string, now = new Date()): Promise<void> {
    if (owners.length === 0) return;
    const expires = Math.floor(now.getTime() / 1000) + this.retention.partials + 86_400;
    await this.storage.insertRows(
      'agg_partition_owners',
      owners.map((o) => ({
        topic: o.topic,
        partition: o.partition,
        epoch: o.epoch,
        owner,
        from_offset: o.fromOffset,
        kept: [...o.kept],
        at: now,
        expires_at: expires,
      })),
    );
  }

  /** Rows already stored for a partition at or after an offset: what a restart must not merge again. */
  async coveredRanges(
    topic: string,
    partition: number,
    fromOffset: number,
    chain?: OwnerChain,
  ): Promise<CoveredRange[]> {
    return (await this.coveredRangesMany(topic, new Map([[partition, fromOffset]]), chain)).get(partition)!;
  }

  /**
   * coveredRanges() for several partitions of a topic in one query (after a rebalance). Rows the ownership fence
   * drops are not covered: their messages are merged again.
   */
  async coveredRangesMany(
    topic: string,
    from: ReadonlyMap<number, number>,
    chain?: OwnerChain,
  ): Promise<Map<number, CoveredRange[]>> {
    const out = new Map<number, CoveredRange[]>([...from.keys()].map((p) => [p, []]));
    if (from.size === 0) return out;
    const fence = chain ?? (await this.ownerChain(topic));
    const rows = await this.storage.query<{
      p: number | string;
      e: number | string;
      ws: string | number;
      first: string;
      last: string;
    }>(
      `SELECT partition AS p, epoch AS e, toUnixTimestamp(window_start) AS ws, first_offset AS first, last_offset AS last
       FROM {database}.agg_partials FINAL
       WHERE tier = '1m' AND topic = {topic:String} AND partition IN {partitions:Array(UInt32)} AND last_offset >= {min:UInt64}
       ORDER BY partition, first_offset`,
      { topic, partitions: [...from.keys()], min: Math.min(...from.values()) },
    );
    for (const r of rows) {
      const p = Number(r.p);
      const first = Number(r.first);
      if (Number(r.last) < from.get(p)!) continue;
      if (fence.fenced({ topic, partition: p, epoch: Number(r.e), firstOffset: first })) continue;
      out.get(p)!.push({ windowStart: Number(r.ws) * 1000, first, last: Number(r.last) });
    }
    return out;
  }

  /**
   * Last sequence per (host, boot) in the recent rows of some partitions of a topic (duplicates resent after a
   * restart are still caught). Fenced rows are left out: their snapshots are merged again.
   */
  async recentSequencesMany(
    topic: string,
    partitions: readonly number[],
    lookbackSeconds = 3600,
    chain?: OwnerChain,
  ): Promise<{ host: string; boot: string; last: number }[]> {
    if (partitions.length === 0) return [];
    const fence = chain ?? (await this.ownerChain(topic));
    const rows = await this.storage.query<{
      p: number | string;
      e: number | string;
      first: string;
      hosts: string[];
      boots: string[];
      seqs: string[];
    }>(
      `SELECT partition AS p, epoch AS e, first_offset AS first, hosts, host_boot AS boots, host_last_seq AS seqs
       FROM {database}.agg_partials
       WHERE tier = '1m' AND topic = {topic:String} AND partition IN {partitions:Array(UInt32)}
         AND window_start >= (SELECT max(window_start) FROM {database}.agg_partials
                              WHERE tier = '1m' AND topic = {topic:String} AND partition IN {partitions:Array(UInt32)}) - {lookback:UInt32}`,
      { topic, partitions: [...partitions], lookback: lookbackSeconds },
    );
    const last = new Map<string, { host: string; boot: string; last: number }>();
    for (const r of rows) {
      if (fence.fenced({ topic, partition: Number(r.p), epoch: Number(r.e), firstOffset: Number(r.first) })) continue;
      r.hosts.forEach((host, i) => {
        const k = `${host}\u0000${r.boots[i]}`;
        const seq = Number(r.seqs[i]);
        const seen = last.get(k);
        if (!seen) last.set(k, { host, boot: r.boots[i], last: seq });
        else if (seq > seen.last) seen.last = seq;
      });
    }
    return [...last.values()];
  }

  /** recentSequencesMany() of one partition. */
  async recentSequences(
    topic: string,
    partition: number,
    lookbackSeconds = 3600,
    chain?: OwnerChain,
  ): Promise<{ host: string; boot: string; last: number }[]> {
    return this.recentSequencesMany(topic, [partition], lookbackSeconds, chain);
  }

  private async readMerged(tier: Tier, fromMs: number, toMs: number, windowSeconds: number): Promise<MergedWindow> {
    // Owners first: a row landing after this read is read below with the fence that drops it, if any.
    const fence = await this.ownerChain();
    const rows = await this.storage.query<StoredPartial & FenceColumns>(
      `SELECT topic, partition, epoch, toString(first_offset) AS first_offset, ${STORED_PARTIAL_SELECT}
       FROM {database}.agg_partials FINAL
       WHERE tier = {tier:String} AND window_start >= {from:UInt32} AND window_start < {to:UInt32}`,
      { tier, from: Math.floor(fromMs / 1000), to: Math.floor(toMs / 1000) },
      { binaryColumns: [...STORED_PARTIAL_BINARY] },
    );
    const m = emptyMerged(fromMs, windowSeconds);
    for (const r of rows) {
      const key = {
        topic: r.topic,
        partition: Number(r.partition),
        epoch: Number(r.epoch),
        firstOffset: Number(r.first_offset),
      };
      if (fence.fenced(key)) m.fencedRows++;
      else mergeStoredPartial(m, r);
    }
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
      dedupToken: `agg-hour-${hourStartMs}-${rollupVersion(m)}`,
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
    const token = (t: string) => ({ dedupToken: `agg-${t}-${tier}-${m.windowStart}-${rollupVersion(m)}` });
    await this.storage.insertRows('agg_window_totals', r.windowTotals, token('totals'));
    await this.storage.insertRows('agg_top_flows', r.topFlows, token('top'));
    await this.storage.insertRows('agg_host_totals', r.hostTotals, token('hosts'));
    await this.storage.insertRows('agg_protocol_totals', r.protocolTotals, token('protocols'));
    // Flows before the sketches row that names their version (docs/sql.md).
    await this.storage.insertRows('agg_window_flows', r.windowFlows, token('flows'));
    await this.storage.insertRows('agg_window_sketches', r.windowSketches, token('sketches'));
  }
}

/** The 1 h tier row of an hour merged from its 1 min rows (writer "rollup"; version = rows read, so the most complete rebuild wins). */
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
      epoch: 0,
      lastOffset: 0,
      version: rollupVersion(m),
      writer: 'rollup',
      late: false,
    },
    ttlSeconds,
    now,
  );
}
