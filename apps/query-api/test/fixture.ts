// Test and benchmark data: simulated hosts' snapshots (tools/fleet-sim, exact ground truth) merged into partial rows
// exactly as the aggregator stores them in agg_partials — 1 min rows per (window, partition), plus 1 h rollup rows
// for complete hours — written through @tma/storage with the libs/sketch serialization.
import {
  CandidateSet,
  CountMinSketch,
  HyperLogLog,
  decodeCountMinSketch,
  decodeHyperLogLog,
  encodeCandidates,
  encodeCountMinSketch,
  encodeHyperLogLog,
} from '@tma/sketch';
import type { SketchSnapshot } from '@tma/schema';
import type { Storage } from '@tma/storage';

export const TOPIC = 'tma.snapshots.v1';

export class PartialAccumulator {
  snapshots = 0;
  packets = 0;
  bytes = 0;
  readonly cmsPackets = new CountMinSketch();
  readonly cmsBytes = new CountMinSketch();
  readonly hll = {
    flows: new HyperLogLog(),
    sources: new HyperLogLog(),
    destinations: new HyperLogLog(),
    ports: new HyperLogLog(),
  };
  readonly candidates = new CandidateSet();
  readonly protocols = new Map<number, { packets: number; bytes: number }>();
  readonly hosts = new Map<
    string,
    { boot: string; seq: number; version: string; packets: number; bytes: number; snapshots: number }
  >();

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
    this.hll.flows.merge(decodeHyperLogLog(s.hllFlows));
    this.hll.sources.merge(decodeHyperLogLog(s.hllSources));
    this.hll.destinations.merge(decodeHyperLogLog(s.hllDestinations));
    this.hll.ports.merge(decodeHyperLogLog(s.hllDestinationPorts));
    this.candidates.addAll(s.candidates);
    for (const p of s.totals.protocols) {
      const t = this.protocols.get(p.protocol) ?? { packets: 0, bytes: 0 };
      t.packets += p.packets;
      t.bytes += p.bytes;
      this.protocols.set(p.protocol, t);
    }
    const h = this.hosts.get(s.hostId) ?? {
      boot: s.bootId,
      seq: s.sequence,
      version: s.agentVersion,
      packets: 0,
      bytes: 0,
      snapshots: 0,
    };
    h.seq = Math.max(h.seq, s.sequence);
    h.packets += s.totals.packets;
    h.bytes += s.totals.bytes;
    h.snapshots++;
    this.hosts.set(s.hostId, h);
  }

  /** Folds another accumulator in (building the 1 h tier from 1 min rows). */
  absorb(o: PartialAccumulator): void {
    this.snapshots += o.snapshots;
    this.packets += o.packets;
    this.bytes += o.bytes;
    this.cmsPackets.merge(o.cmsPackets);
    this.cmsBytes.merge(o.cmsBytes);
    for (const k of ['flows', 'sources', 'destinations', 'ports'] as const) this.hll[k].merge(o.hll[k]);
    this.candidates.addAll(o.candidates);
    for (const [p, t] of o.protocols) {
      const m = this.protocols.get(p) ?? { packets: 0, bytes: 0 };
      m.packets += t.packets;
      m.bytes += t.bytes;
      this.protocols.set(p, m);
    }
    for (const [id, h] of o.hosts) {
      const m = this.hosts.get(id) ?? { ...h, packets: 0, bytes: 0, snapshots: 0 };
      m.seq = Math.max(m.seq, h.seq);
      m.packets += h.packets;
      m.bytes += h.bytes;
      m.snapshots += h.snapshots;
      this.hosts.set(id, m);
    }
  }

  row(offset: number): Record<string, unknown> {
    const protocols = [...this.protocols.keys()].sort((a, b) => a - b);
    const hosts = [...this.hosts.keys()].sort();
    return {
      tier: this.tier,
      window_start: new Date(this.windowStart),
      window_seconds: this.windowSeconds,
      topic: TOPIC,
      partition: this.partition,
      first_offset: offset,
      last_offset: offset + this.snapshots - 1,
      version: 1,
      writer: this.tier === '1h' ? 'rollup' : 'test-writer',
      late: 0,
      snapshots: this.snapshots,
      packets: this.packets,
      bytes: this.bytes,
      cms_packets: encodeCountMinSketch(this.cmsPackets),
      cms_bytes: encodeCountMinSketch(this.cmsBytes),
      hll_flows: encodeHyperLogLog(this.hll.flows),
      hll_sources: encodeHyperLogLog(this.hll.sources),
      hll_destinations: encodeHyperLogLog(this.hll.destinations),
      hll_ports: encodeHyperLogLog(this.hll.ports),
      candidates: encodeCandidates(this.candidates.toArray()),
      protocols,
      protocol_packets: protocols.map((p) => this.protocols.get(p)!.packets),
      protocol_bytes: protocols.map((p) => this.protocols.get(p)!.bytes),
      hosts,
      host_boot: hosts.map((h) => this.hosts.get(h)!.boot),
      host_last_seq: hosts.map((h) => this.hosts.get(h)!.seq),
      host_agent_version: hosts.map((h) => this.hosts.get(h)!.version),
      host_packets: hosts.map((h) => this.hosts.get(h)!.packets),
      host_bytes: hosts.map((h) => this.hosts.get(h)!.bytes),
      host_snapshots: hosts.map((h) => this.hosts.get(h)!.snapshots),
      host_gaps: hosts.map(() => 0),
      gaps: 0,
      written_at: new Date(),
      expires_at: new Date(Date.now() + 30 * 86_400_000),
    };
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
      rows.slice(i, i + batch).map((r, j) => r.row(i + j)),
    );
  }
}
