// Test data: simulated hosts' snapshots (tools/fleet-sim, exact ground truth) merged into partial rows exactly as the
// aggregator stores them in agg_partials — 1 min rows per (window, partition), plus 1 h rows for complete hours with
// the aggregator's candidate shortlist — built with @tma/rollup (the aggregator's own row builder) and written
// through @tma/storage.
import {
  HOUR_CANDIDATES,
  addHostTotals,
  emptyMerged,
  mergeStoredPartial,
  mergedCandidates,
  partialRow,
  shortlistBlock,
  type PartialRow,
  type RowIdentity,
  type WindowContent,
} from '@tma/rollup';
import { CandidateSet, CountMinSketch, HyperLogLog, decodeCountMinSketch, decodeHyperLogLog } from '@tma/sketch';
import type { SketchSnapshot } from '@tma/schema';
import type { Storage } from '@tma/storage';

export const TOPIC = 'tma.snapshots.v1';
const TTL_SECONDS = 30 * 86_400;
const HOUR = 3_600_000;

/** One 1 min window of one partition, merged from snapshots. */
class MinuteAccumulator implements WindowContent {
  snapshots = 0;
  packets = 0;
  bytes = 0;
  gaps = 0;
  readonly cmsPackets = new CountMinSketch();
  readonly cmsBytes = new CountMinSketch();
  readonly hllFlows = new HyperLogLog();
  readonly hllSources = new HyperLogLog();
  readonly hllDestinations = new HyperLogLog();
  readonly hllPorts = new HyperLogLog();
  readonly candidates = new CandidateSet();
  readonly protocols = new Map<number, { packets: number; bytes: number }>();
  readonly hosts: WindowContent['hosts'] = new Map();

  constructor(
    readonly windowStart: number,
    readonly windowSeconds: number,
    readonly partition: number,
  ) {}

  add(s: SketchSnapshot): void {
    this.snapshots++;
    this.packets += s.totals.packets;
    this.bytes += s.totals.bytes;
    this.cmsPackets.merge(decodeCountMinSketch(s.cmsPackets));
    this.cmsBytes.merge(decodeCountMinSketch(s.cmsBytes));
    this.hllFlows.merge(decodeHyperLogLog(s.hllFlows));
    this.hllSources.merge(decodeHyperLogLog(s.hllSources));
    this.hllDestinations.merge(decodeHyperLogLog(s.hllDestinations));
    this.hllPorts.merge(decodeHyperLogLog(s.hllDestinationPorts));
    this.candidates.addAll(s.candidates);
    for (const { protocol, packets, bytes } of s.totals.protocols) {
      const t = this.protocols.get(protocol) ?? this.protocols.set(protocol, { packets: 0, bytes: 0 }).get(protocol)!;
      t.packets += packets;
      t.bytes += bytes;
    }
    addHostTotals(this.hosts, s.hostId, {
      boot: s.bootId,
      lastSeq: s.sequence,
      agentVersion: s.agentVersion,
      packets: s.totals.packets,
      bytes: s.totals.bytes,
      snapshots: 1,
      gaps: 0,
    });
  }

  row(offset: number): PartialRow {
    return partialRow(
      this,
      this.candidates.toArray(),
      identity('1m', this.windowStart, this.windowSeconds, this.partition, offset, this.snapshots),
      TTL_SECONDS,
    );
  }
}

function identity(
  tier: '1m' | '1h',
  windowStartMs: number,
  windowSeconds: number,
  partition: number,
  offset: number,
  snapshots: number,
): RowIdentity {
  const hour = tier === '1h';
  return {
    tier,
    windowStartMs,
    windowSeconds,
    topic: hour ? '' : TOPIC,
    partition,
    firstOffset: hour ? 0 : offset,
    lastOffset: hour ? 0 : offset + snapshots - 1,
    version: 1,
    writer: hour ? 'rollup' : 'test-writer',
    late: false,
  };
}

/** A 1 h row merged from its minutes' rows, candidates shortlisted as the aggregator's rollup does. */
function hourRow(hourStart: number, minutes: readonly PartialRow[]): PartialRow {
  const m = emptyMerged(hourStart, 3600);
  for (const r of minutes) mergeStoredPartial(m, r);
  const candidates = shortlistBlock(mergedCandidates(m), m.cmsPackets, m.cmsBytes, HOUR_CANDIDATES);
  return partialRow(m, candidates, identity('1h', hourStart, 3600, 0, 0, m.snapshots), TTL_SECONDS);
}

/** Kafka's default partitioner is murmur2 of the key; any stable host → partition map serves the tests (FNV-1a). */
export function partitionOf(hostId: string, partitions: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < hostId.length; i++) h = Math.imul(h ^ hostId.charCodeAt(i), 0x01000193) >>> 0;
  return h % partitions;
}

/** Groups snapshots into 1 min partial rows per partition and 1 h rollups for complete hours; returns the rows. */
export function buildPartials(
  snapshots: Iterable<SketchSnapshot>,
  partitions: number,
  windowMs = 60_000,
): PartialRow[] {
  const minute = new Map<string, MinuteAccumulator>();
  for (const s of snapshots) {
    const ws = Math.floor((s.intervalEndMs - 1) / windowMs) * windowMs;
    const p = partitionOf(s.hostId, partitions);
    const key = `${ws}|${p}`;
    let acc = minute.get(key);
    if (!acc) minute.set(key, (acc = new MinuteAccumulator(ws, windowMs / 1000, p)));
    acc.add(s);
  }
  const rows = [...minute.values()].map((acc, i) => acc.row(i));
  const byHour = new Map<number, PartialRow[]>();
  for (const r of [...rows]) {
    const h = Math.floor((r.window_start * 1000) / HOUR) * HOUR;
    (byHour.get(h) ?? byHour.set(h, []).get(h)!).push(r);
  }
  for (const [h, list] of byHour) {
    const windows = new Set(list.map((r) => r.window_start));
    if (windows.size !== HOUR / windowMs) continue; // only complete hours get a rollup
    rows.push(hourRow(h, list));
  }
  return rows;
}

export async function writePartials(storage: Storage, rows: readonly PartialRow[], batch = 50): Promise<void> {
  for (let i = 0; i < rows.length; i += batch)
    await storage.insertRows('agg_partials', rows.slice(i, i + batch) as unknown as Record<string, unknown>[]);
}
