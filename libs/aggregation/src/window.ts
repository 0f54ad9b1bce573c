// One window's merged sketches for one Kafka partition over a contiguous stretch of offsets: the unit that becomes
// one partial row. Merging: CMS cell sum, HLL register max, candidate key union (libs/sketch).
import { CountMinSketch, HyperLogLog, mergeEncodedCountMinSketch, mergeEncodedHyperLogLog, type Candidate } from '@tma/sketch';
import type { HostTotals } from '@tma/rollup';
import type { ValidSnapshot } from './validate';

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
  /** Candidate union by key (hex of the 40-byte key), kernel counts summed. */
  readonly candidates = new Map<string, Candidate>();
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
    const s = v.snapshot;
    // The blobs were checked by validateMessage(): these merges cannot fail half way.
    if (v.scaled) {
      this.cmsPackets.merge(v.scaled.cmsPackets);
      this.cmsBytes.merge(v.scaled.cmsBytes);
    } else {
      mergeEncodedCountMinSketch(this.cmsPackets, s.cmsPackets);
      mergeEncodedCountMinSketch(this.cmsBytes, s.cmsBytes);
    }
    mergeEncodedHyperLogLog(this.hllFlows, s.hllFlows);
    mergeEncodedHyperLogLog(this.hllSources, s.hllSources);
    mergeEncodedHyperLogLog(this.hllDestinations, s.hllDestinations);
    mergeEncodedHyperLogLog(this.hllPorts, s.hllDestinationPorts);
    for (const c of v.candidates) {
      const id = Buffer.from(c.key.buffer, c.key.byteOffset, c.key.byteLength).toString('hex');
      const seen = this.candidates.get(id);
      if (seen) {
        seen.packets += c.packets;
        seen.bytes += c.bytes;
      } else {
        // Copied: the key is a view into the Kafka message, which must not be kept alive.
        this.candidates.set(id, { key: Uint8Array.from(c.key), packets: c.packets, bytes: c.bytes });
      }
    }
    const rate = s.samplingRate;
    for (const p of v.snapshot.totals.protocols) {
      const t = this.protocols.get(p.protocol);
      if (t) {
        t.packets += p.packets * rate;
        t.bytes += p.bytes * rate;
      } else {
        this.protocols.set(p.protocol, { packets: p.packets * rate, bytes: p.bytes * rate });
      }
    }
    const h = this.hosts.get(s.hostId);
    if (h) {
      if (h.boot !== s.bootId || s.sequence > h.lastSeq) {
        h.boot = s.bootId;
        h.lastSeq = s.sequence;
        h.agentVersion = s.agentVersion;
      }
      h.packets += v.packets;
      h.bytes += v.bytes;
      h.snapshots++;
      h.gaps += gap;
    } else {
      this.hosts.set(s.hostId, { boot: s.bootId, lastSeq: s.sequence, agentVersion: s.agentVersion, packets: v.packets, bytes: v.bytes, snapshots: 1, gaps: gap });
    }
  }
}
