// One window's merged sketches for one Kafka partition over a contiguous stretch of offsets: the unit that becomes
// one partial row. Merging: CMS cell sum, HLL register max, candidate key union (libs/sketch).
import { CandidateSet, CountMinSketch, HyperLogLog } from '@tma/sketch';
import type { ValidSnapshot } from './validate';

export interface HostTotals {
  boot: string;
  lastSeq: number;
  packets: number;
  bytes: number;
  snapshots: number;
  gaps: number;
}

export class WindowAccumulator {
  firstOffset = -1;
  lastOffset = -1;
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
  readonly hosts = new Map<string, HostTotals>();

  constructor(
    readonly topic: string,
    readonly partition: number,
    readonly windowStart: number,
    readonly windowMs: number,
    /** True when this window had already been written for this partition: the row is a late correction. */
    readonly late: boolean,
  ) {}

  get windowEnd(): number {
    return this.windowStart + this.windowMs;
  }

  add(v: ValidSnapshot, offset: number, gap: number): void {
    if (this.firstOffset < 0) this.firstOffset = offset;
    this.lastOffset = offset;
    this.snapshots++;
    this.packets += v.packets;
    this.bytes += v.bytes;
    this.gaps += gap;
    this.cmsPackets.merge(v.cmsPackets);
    this.cmsBytes.merge(v.cmsBytes);
    this.hllFlows.merge(v.hllFlows);
    this.hllSources.merge(v.hllSources);
    this.hllDestinations.merge(v.hllDestinations);
    this.hllPorts.merge(v.hllPorts);
    this.candidates.addAll(v.candidates);
    const rate = v.snapshot.samplingRate;
    for (const p of v.snapshot.totals.protocols) {
      const t = this.protocols.get(p.protocol);
      if (t) {
        t.packets += p.packets * rate;
        t.bytes += p.bytes * rate;
      } else {
        this.protocols.set(p.protocol, { packets: p.packets * rate, bytes: p.bytes * rate });
      }
    }
    const s = v.snapshot;
    const h = this.hosts.get(s.hostId);
    if (h) {
      if (h.boot !== s.bootId || s.sequence > h.lastSeq) {
        h.boot = s.bootId;
        h.lastSeq = s.sequence;
      }
      h.packets += v.packets;
      h.bytes += v.bytes;
      h.snapshots++;
      h.gaps += gap;
    } else {
      this.hosts.set(s.hostId, { boot: s.bootId, lastSeq: s.sequence, packets: v.packets, bytes: v.bytes, snapshots: 1, gaps: gap });
    }
  }
}
