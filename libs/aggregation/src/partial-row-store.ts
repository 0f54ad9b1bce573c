// Everything the aggregator reads from and writes to ClickHouse (through libs/storage): partial rows written, the
// ranges and sequences a restart resumes from, and the readable rollups and 1 h tier rebuilt from stored rows.
import { createHash } from 'node:crypto';
import type { Storage } from '@tma/storage';
import { currentHashSeed } from '@tma/sketch';
import type { RetentionConfig } from './config';
import type { CoveredRange } from './window-merger';
import {
  OWNERS_SELECT,
  DAY_CANDIDATES,
  DAY_MS,
  DAY_TIER,
  FLEET_MINUTE_TIER,
  HOUR_CANDIDATES,
  HOUR_MS,
  HOUR_TIER,
  MINUTE_TIER,
  STORED_PARTIAL_BINARY,
  STORED_PARTIAL_SELECT,
  emptyMerged,
  frequentState,
  mergeStoredPartial,
  mergeSummaries,
  mergedCandidates,
  ownerChainOf,
  partialRow,
  readableRows,
  rollupVersion,
  type MergedWindow,
  type OwnerChain,
  type OwnerEpoch,
  type StoredOwner,
  type PartialRow,
  type StoredPartial,
  type Tier,
} from '@tma/rollup';

export { DAY_MS, HOUR_CANDIDATES, HOUR_MS };

/** The last stored sequence of a stream; `agent` '' when the rows holding it predate stored agent ids. */
export interface StreamPosition {
  host: string;
  boot: string;
  agent: string;
  last: number;
}

/** Where a stored row sits in its partition's owner chain (read beside its content). */
interface FenceColumns {
  row_version: string;
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
   * Last sequence per stream (host, boot, agent id) in the recent rows of some partitions of a topic (duplicates
   * resent after a restart are still caught). `agent` is '' for rows written before agent ids were stored. Fenced
   * rows are left out: their snapshots are merged again.
   */
  async recentSequencesMany(
    topic: string,
    partitions: readonly number[],
    lookbackSeconds = 3600,
    chain?: OwnerChain,
  ): Promise<StreamPosition[]> {
    if (partitions.length === 0) return [];
    const fence = chain ?? (await this.ownerChain(topic));
    const rows = await this.storage.query<{
      p: number | string;
      e: number | string;
      first: string;
      hosts: string[];
      boots: string[];
      seqs: string[];
      agents: string[];
      eh: string[];
      eb: string[];
      ea: string[];
      es: string[];
    }>(
      `SELECT partition AS p, epoch AS e, first_offset AS first, hosts, host_boot AS boots, host_last_seq AS seqs,
              arrayResize(host_agent, length(hosts), '') AS agents, earlier_stream_host AS eh,
              earlier_stream_boot AS eb, earlier_stream_agent AS ea, earlier_stream_last_seq AS es
       FROM {database}.agg_partials
       WHERE tier = '1m' AND topic = {topic:String} AND partition IN {partitions:Array(UInt32)}
         AND window_start >= (SELECT max(window_start) FROM {database}.agg_partials
                              WHERE tier = '1m' AND topic = {topic:String} AND partition IN {partitions:Array(UInt32)}) - {lookback:UInt32}`,
      { topic, partitions: [...partitions], lookback: lookbackSeconds },
    );
    const last = new Map<string, StreamPosition>();
    for (const r of rows) {
      if (fence.fenced({ topic, partition: Number(r.p), epoch: Number(r.e), firstOffset: Number(r.first) })) continue;
      const add = (host: string, boot: string, agent: string, seq: number) => {
        const k = `${host}\u0000${boot}\u0000${agent}`;
        const seen = last.get(k);
        if (!seen) last.set(k, { host, boot, agent, last: seq });
        else if (seq > seen.last) seen.last = seq;
      };
      r.hosts.forEach((host, i) => add(host, r.boots[i], r.agents[i] ?? '', Number(r.seqs[i])));
      r.eh.forEach((host, i) => add(host, r.eb[i], r.ea[i], Number(r.es[i])));
    }
    return [...last.values()];
  }

  /** recentSequencesMany() of one partition. */
  async recentSequences(
    topic: string,
    partition: number,
    lookbackSeconds = 3600,
    chain?: OwnerChain,
  ): Promise<StreamPosition[]> {
    return this.recentSequencesMany(topic, [partition], lookbackSeconds, chain);
  }

  private async readMerged(tier: Tier, fromMs: number, toMs: number, windowSeconds: number): Promise<MergedWindow> {
    // Owners first: a row landing after this read is read below with the fence that drops it, if any.
    const fence = await this.ownerChain();
    // Only rows of this deployment's hash seed (migration 0115): sketches of two seeds never merge, so after a seed
    // rotation an hour or day spanning it is built from the new seed's rows, as the query API answers it.
    // In the sorting key's order: the candidate union lists flows in the order rows are merged (so do the window's
    // flows and a coarse tier's summary), and without ORDER BY the order is the engine's (shards answering in any
    // order behind a Distributed table, FINAL on several threads). With it a rebuild gives the same rollups whichever
    // instances wrote the rows (bench/aggregator/scale.js: 1, 2 and 3 instances identical).
    const rows = await this.storage.query<StoredPartial & FenceColumns>(
      `SELECT topic, partition, epoch, toString(first_offset) AS first_offset, toString(version) AS row_version, ${STORED_PARTIAL_SELECT}
       FROM {database}.agg_partials FINAL
       WHERE tier = {tier:String} AND window_start >= {from:UInt32} AND window_start < {to:UInt32}
         AND seed_id = {seed:UInt32}
       ORDER BY window_start, topic, partition, first_offset`,
      { tier, from: Math.floor(fromMs / 1000), to: Math.floor(toMs / 1000), seed: currentHashSeed().seedHash },
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
      else {
        mergeStoredPartial(m, r);
        m.inputVersions = (m.inputVersions ?? 0) + Number(r.row_version);
      }
    }
    return m;
  }

  /**
   * Rebuilds the readable rollups of one window from every partial row stored for it (any writer, any partition), and
   * its fleet row (FLEET_MINUTE_TIER) when it has more than one row.
   */
  async finalizeWindow(tier: Tier, windowStartMs: number, windowMs: number): Promise<MergedWindow> {
    const m = await this.readMerged(tier, windowStartMs, windowStartMs + windowMs, windowMs / 1000);
    await this.writeReadable(m, tier);
    if (tier === MINUTE_TIER && m.partials > 1) {
      const row = fleetRow(m, this.retention.partials);
      await this.storage.insertRows('agg_partials', [row as unknown as Record<string, unknown>], {
        dedupToken: `agg-fleet-${windowStartMs}-${rollupVersion(m)}`,
      });
    }
    return m;
  }

  /** Builds (or rebuilds, after late rows) the 1 h tier row and rollups of one hour from its 1 min partials. */
  buildHour(hourStartMs: number): Promise<MergedWindow> {
    return this.buildCoarse(HOUR_TIER, hourStartMs);
  }

  /** Builds (or rebuilds) the 1 d tier row and rollups of one UTC day from its 1 h rows. */
  buildDay(dayStartMs: number): Promise<MergedWindow> {
    return this.buildCoarse(DAY_TIER, dayStartMs);
  }

  /**
   * A coarse-tier row (1 h from 1 min rows, 1 d from 1 h rows): sketches and totals merged, candidates as the
   * frequent-items summary merged from every row's (libs/rollup frequent.ts), which bounds the row and every query
   * that reads it with a deterministic floor.
   */
  private async buildCoarse(tier: typeof HOUR_TIER | typeof DAY_TIER, startMs: number): Promise<MergedWindow> {
    const day = tier === DAY_TIER;
    const ms = day ? DAY_MS : HOUR_MS;
    const m = await this.readMerged(day ? HOUR_TIER : '1m', startMs, startMs + ms, ms / 1000);
    if (m.partials === 0) return m;
    // A day's version is the sum of its hours' (each only grows: an hour rebuilt after late rows raises it), an hour's
    // the rows read.
    if (!day) m.inputVersions = undefined;
    const summary = mergeSummaries(m.frequentParts, day ? DAY_CANDIDATES : HOUR_CANDIDATES);
    m.frequentParts = [summary];
    m.candidateParts = [summary.block];
    m.frequent = frequentState(summary);
    const row = coarseRow(m, tier, day ? this.retention.dayTier : this.retention.hourTier);
    await this.storage.insertRows('agg_partials', [row as unknown as Record<string, unknown>], {
      dedupToken: `agg-${day ? 'day' : 'hour'}-${startMs}-${rollupVersion(m)}`,
    });
    await this.writeReadable(m, tier);
    return m;
  }

  private async writeReadable(m: MergedWindow, tier: Tier): Promise<void> {
    if (m.partials === 0) return;
    const hour = tier === HOUR_TIER ? this.retention.hourTier : tier === DAY_TIER ? this.retention.dayTier : undefined;
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
  return coarseRow(m, HOUR_TIER, ttlSeconds, now);
}

/**
 * The fleet row of a 1 min window: its rows merged, candidates as their full union (no summary: the same bounds as
 * the rows), version = the sum of the rows' versions (readMerged's inputVersions).
 */
export function fleetRow(m: MergedWindow, ttlSeconds: number, now = new Date()): PartialRow {
  return coarseRow(m, FLEET_MINUTE_TIER, ttlSeconds, now);
}

/** A coarse-tier row (1 h or 1 d) of a merged window, its candidates and summary state as `m` holds them. */
export function coarseRow(m: MergedWindow, tier: Tier, ttlSeconds: number, now = new Date()): PartialRow {
  return partialRow(
    m,
    mergedCandidates(m),
    {
      tier,
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
