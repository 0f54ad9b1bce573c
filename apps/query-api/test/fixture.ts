// Test data: simulated hosts' snapshots (tools/fleet-sim, exact ground truth) merged into partial rows exactly as the
// aggregator stores them in agg_partials — 1 min rows per (window, partition), plus 1 h rows for complete hours with
// the aggregator's candidate shortlist — built with @tma/rollup (the aggregator's own row builder) and written
// through @tma/storage.
import {
  CandidateBlock,
  HOUR_CANDIDATES,
  addHostTotals,
  partialRow,
  shortlistBlock,
  type PartialRow,
  type WindowContent,
} from '@tma/rollup';
import { CandidateSet, CountMinSketch, HyperLogLog, decodeCountMinSketch, decodeHyperLogLog } from '@tma/sketch';
import type { SketchSnapshot } from '@tma/schema';
import type { Storage } from '@tma/storage';

export const TOPIC = 'tma.snapshots.v1';
const TTL_SECONDS = 30 * 86_400;

export class PartialAccumulator implements WindowContent {
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
    readonly tier: '1m' | '1h',
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
    for (const p of s.totals.protocols) {
      const t = this.protocols.get(p.protocol) ?? { packets: 0, bytes: 0 };
      t.packets += p.packets;
      t.bytes += p.bytes;
      this.protocols.set(p.protocol, t);
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

  /** Folds another accumulator in (building the 1 h tier from 1 min rows). */
  absorb(o: PartialAccumulator): void {
    this.snapshots += o.snapshots;
    this.packets += o.packets;
    this.bytes += o.bytes;
    this.cmsPackets.merge(o.cmsPackets);
    this.cmsBytes.merge(o.cmsBytes);
    this.hllFlows.merge(o.hllFlows);
    this.hllSources.merge(o.hllSources);
    this.hllDestinations.merge(o.hllDestinations);
    this.hllPorts.merge(o.hllPorts);
    this.candidates.addAll(o.candidates);
    for (const [p, t] of o.protocols) {
      const m = this.protocols.get(p) ?? { packets: 0, bytes: 0 };
      m.packets += t.packets;
      m.bytes += t.bytes;
      this.protocols.set(p, m);
    }
    for (const [id, h] of o.hosts) addHostTotals(this.hosts, id, h);
  }

  row(offset: number): PartialRow {
    const hour = this.tier === '1h';
    const candidates = hour
      ? shortlistBlock(CandidateBlock.from(this.candidates.toArray()), this.cmsPackets, this.cmsBytes, HOUR_CANDIDATES)
      : this.candidates.toArray();
    return partialRow(
      this,
      candidates,
      {
        tier: this.tier,
        windowStartMs: this.windowStart,
        windowSeconds: this.windowSeconds,
        topic: hour ? '' : TOPIC,
        partition: this.partition,
        firstOffset: hour ? 0 : offset,
        lastOffset: hour ? 0 : offset + this.snapshots - 1,
        version: 1,
        writer: hour ? 'rollup' : 'test-writer',
        late: false,
      },
      TTL_SECONDS,
    );
  }
}

/** Kafka's default partitioner is murmur2 of the key; any stable host → partition map serves the tests (FNV-1a). */
export function partitionOf(hostId: string, partitions: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < hostId.length; i++) h = Math.imul(h ^ hostId.charCodeAt(i), 0x01000193) >>> 0;
  return h % partitions;
}

const HOUR = 3_600_000;

/** Groups snapshots into 1 min partial rows per partition and 1 h rollups for complete hours; returns the rows. */
export function buildPartials(
  snapshots: Iterable<SketchSnapshot>,
  partitions: number,
  windowMs = 60_000,
): PartialAccumulator[] {
  const minute = new Map<string, PartialAccumulator>();
  for (const s of snapshots) {
    const ws = Math.floor((s.intervalEndMs - 1) / windowMs) * windowMs;
    const p = partitionOf(s.hostId, partitions);
    const key = `${ws}|${p}`;
    let acc = minute.get(key);
    if (!acc) minute.set(key, (acc = new PartialAccumulator('1m', ws, windowMs / 1000, p)));
    acc.add(s);
  }
  const rows = [...minute.values()];
  const byHour = new Map<number, PartialAccumulator[]>();
  for (const r of rows) {
    const h = Math.floor(r.windowStart / HOUR) * HOUR;
    (byHour.get(h) ?? byHour.set(h, []).get(h)!).push(r);
  }
  for (const [h, list] of byHour) {
    const windows = new Set(list.map((r) => r.windowStart));
    if (windows.size !== HOUR / windowMs) continue; // only complete hours get a rollup
    const acc = new PartialAccumulator('1h', h, 3600, 0);
    for (const r of list) acc.absorb(r);
    rows.push(acc);
  }
  return rows;
}

export async function writePartials(storage: Storage, rows: readonly PartialAccumulator[], batch = 50): Promise<void> {
  for (let i = 0; i < rows.length; i += batch) {
    await storage.insertRows(
      'agg_partials',
      rows.slice(i, i + batch).map((r, j) => r.row(i + j) as unknown as Record<string, unknown>),
    );
  }
}
