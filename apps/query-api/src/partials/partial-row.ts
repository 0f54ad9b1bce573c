// What the query API knows of a stored agg_partials row without its sketches (the row's layout: @tma/rollup's
// PartialRow). Listed from ClickHouse or from the in-memory index; sketches are read per column on demand.
import type { Tier } from '@tma/rollup';

export interface PartialRef {
  /** tier|window start (s)|topic|partition|first offset|epoch: the table's key. */
  id: string;
  tier: Tier;
  /** Where the row sits in its partition's owner chain (libs/rollup fence.ts). */
  topic: string;
  partition: number;
  epoch: number;
  firstOffset: number;
  windowStart: number;
  windowSeconds: number;
  version: string;
  /** Exact (UInt64 columns; sums of them pass 2^53). */
  packets: bigint;
  bytes: bigint;
  snapshots: number;
  gaps: number;
  protocols: number[];
  protocolPackets: bigint[];
  protocolBytes: bigint[];
  /** Hash seed identity of the row's sketches (migration 0115). */
  seedId: number;
  /** Only when asked for (host filters, host tables). */
  hosts?: string[];
}

/** Rows of the light listing: every scalar and the protocol arrays, never the sketches. */
export interface ListRow {
  tier: Tier;
  ws: string | number;
  window_seconds: string | number;
  topic: string;
  partition: string | number;
  first_offset: string;
  epoch: string | number;
  version: string;
  packets: string;
  bytes: string;
  snapshots: string;
  gaps: string;
  protocols: number[];
  protocol_packets: string[];
  protocol_bytes: string[];
  seed_id: string | number;
  hosts?: string[];
}

export const LIST_COLUMNS = `tier, toUnixTimestamp(window_start) AS ws, window_seconds, topic, partition, toString(first_offset) AS first_offset,
  epoch, toString(version) AS version, packets, bytes, snapshots, gaps, protocols, protocol_packets, protocol_bytes, seed_id`;

/** The row key as text, in SQL (the same as PartialRef.id). */
export const ID_SQL =
  "concat(tier, '|', toString(toUnixTimestamp(window_start)), '|', topic, '|', toString(partition), '|', toString(first_offset), '|', toString(epoch))";

export function toRef(r: ListRow): PartialRef {
  return {
    id: `${r.tier}|${r.ws}|${r.topic}|${r.partition}|${r.first_offset}|${r.epoch}`,
    tier: r.tier,
    topic: r.topic,
    partition: Number(r.partition),
    epoch: Number(r.epoch),
    firstOffset: Number(r.first_offset),
    windowStart: Number(r.ws) * 1000,
    windowSeconds: Number(r.window_seconds),
    version: r.version,
    packets: BigInt(r.packets),
    bytes: BigInt(r.bytes),
    snapshots: Number(r.snapshots),
    gaps: Number(r.gaps),
    protocols: r.protocols,
    protocolPackets: r.protocol_packets.map(BigInt),
    protocolBytes: r.protocol_bytes.map(BigInt),
    seedId: Number(r.seed_id),
    hosts: r.hosts,
  };
}
