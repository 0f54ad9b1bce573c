// One window's merged sketches for one Kafka partition over a contiguous stretch of offsets: the unit that becomes
// one partial row. Merging: CMS cell sum, HLL register max, candidate key union (libs/sketch).
//
// While the window is open its sketches are CmsWindow / HllWindow: counters in WebAssembly memory, merged with SIMD
// in place (about half the cost of merging into CountMinSketch / HyperLogLog; docs/aggregator.md "Benchmark").
// seal() copies them out into plain sketches for the row (encoding, candidate re-estimation, retried writes) and
// returns the memory; dispose() returns it for a window dropped unwritten (revoke, rebalance).
import {
  CmsWindow,
  CountMinSketch,
  decodeSpread,
  HLL_SKETCHES,
  HllWindow,
  HyperLogLog,
  perHll,
  SpreadSketch,
  PrefixCounts,
  SynCounts,
  type CandidateFloor,
  type HllProperty,
} from '@tma/sketch';
import { CandidateUnion, type HostTotals, type WindowContent } from '@tma/rollup';
import type { ValidSnapshot } from './validate';

/** Earlier streams of a host kept per window (a host cycling agent ids cannot grow a row). */
const EARLIER_STREAMS = 4;

interface OpenSketches extends Record<HllProperty, HllWindow> {
  cmsPackets: CmsWindow;
  cmsBytes: CmsWindow;
}

type SealedSketches = Pick<WindowContent, 'cmsPackets' | 'cmsBytes' | HllProperty>;

export class WindowAccumulator implements WindowContent {
  firstOffset = -1;
  lastOffset = -1;
  snapshots = 0;
  packets = 0;
  bytes = 0;
  gaps = 0;
  /** Upper bounds of what merging added up so far (CMS totals, any candidate or protocol count): overflow checks. */
  private readonly bounds = { cmsPackets: 0, cmsBytes: 0, candidate: 0, protocol: 0 };
  private open: OpenSketches | null = {
    cmsPackets: new CmsWindow(),
    cmsBytes: new CmsWindow(),
    ...perHll('property', () => new HllWindow()),
  };
  private sealed: SealedSketches | null = null;
  private dropped = false;
  /**
   * Candidate union by key (libs/rollup, as the query API's), kernel counts (upper and since-entry) summed, in the
   * order flows were first seen; with the sum of the snapshots' candidate floors (a flow in no snapshot's list had at
   * most that in the window; unknown as soon as one snapshot gives none), sampled when any snapshot was.
   */
  readonly candidates = new CandidateUnion();
  /** heavy-prefix counts of the snapshots merged so far (docs/sketch.md, "Heavy prefixes") */
  readonly prefixCounts = new PrefixCounts();
  /** TCP flag counts per server address (SYN floods), summed; undefined until a snapshot carries them. */
  syn?: SynCounts;
  readonly protocols = new Map<number, { packets: number; bytes: number }>();
  readonly hosts = new Map<string, HostTotals>();
  /** Per-source spreads of the snapshots that carried them (union: registers by max). */
  spread: SpreadSketch | undefined;

  get candidateFloor(): CandidateFloor | undefined {
    return this.candidates.bounds.floor;
  }

  get candidatesSampled(): boolean {
    return this.candidates.bounds.sampled;
  }

  constructor(
    readonly topic: string,
    readonly partition: number,
    readonly windowStart: number,
    readonly windowMs: number,
    /** True when this window had already been written for this partition: the row is a late correction. */
    readonly late: boolean,
    /** Ownership epoch of the partition's owner that merges it (written in the row; libs/rollup fence.ts). */
    readonly epoch = 0,
  ) {}

  get windowEnd(): number {
    return this.windowStart + this.windowMs;
  }

  /** Whether the window still merges (not sealed, not disposed). */
  get isOpen(): boolean {
    return this.open !== null;
  }

  /**
   * Ends merging: the sketches become plain CountMinSketch / HyperLogLog copies (what the row is built from, the
   * same on every retry) and the windows' memory goes back at once. Idempotent.
   */
  seal(): this {
    if (this.open) {
      const o = this.open;
      this.open = null;
      this.sealed = {
        cmsPackets: o.cmsPackets.toSketch(),
        cmsBytes: o.cmsBytes.toSketch(),
        ...perHll('property', (h) => o[h.property].toSketch()),
      };
      for (const w of Object.values(o)) w.dispose();
    }
    if (!this.sealed) throw new Error('WindowAccumulator sealed after dispose()');
    return this;
  }

  /**
   * Drops the window (its unwritten data is read again from Kafka): returns the windows' memory. A sealed window
   * keeps its plain sketches (garbage collected; a write already under way may still read them). Idempotent.
   */
  dispose(): void {
    if (!this.open) return;
    for (const w of Object.values(this.open)) w.dispose();
    this.open = null;
    this.dropped = true;
  }

  /**
   * The window's content so far while it keeps merging (sketches copied out of its memory; counters, protocols
   * and hosts as they are, to be read before the next merge): what a provisional row is built from.
   */
  contentSoFar(): WindowContent {
    const o = this.open;
    if (!o) throw new Error(`WindowAccumulator ${this.sealed ? 'sealed' : 'disposed'}: no content so far`);
    return {
      snapshots: this.snapshots,
      packets: this.packets,
      bytes: this.bytes,
      gaps: this.gaps,
      cmsPackets: o.cmsPackets.toSketch(),
      cmsBytes: o.cmsBytes.toSketch(),
      ...perHll('property', (h) => o[h.property].toSketch()),
      protocols: this.protocols,
      hosts: this.hosts,
      // what the candidates leave out so far: without it a provisional row would make every floor unknown
      candidateFloor: this.candidateFloor,
      candidatesSampled: this.candidatesSampled,
      spread: this.spread?.clone(),
      prefixCounts: this.prefixCounts.clone(),
      syn: this.syn,
    };
  }

  private content(): SealedSketches {
    if (this.sealed) return this.sealed;
    throw new Error(
      this.dropped ? 'WindowAccumulator read after dispose()' : 'WindowAccumulator sketches read before seal()',
    );
  }

  get cmsPackets(): CountMinSketch {
    return this.content().cmsPackets;
  }
  get cmsBytes(): CountMinSketch {
    return this.content().cmsBytes;
  }
  get hllFlows(): HyperLogLog {
    return this.content().hllFlows;
  }
  get hllSources(): HyperLogLog {
    return this.content().hllSources;
  }
  get hllDestinations(): HyperLogLog {
    return this.content().hllDestinations;
  }
  get hllPorts(): HyperLogLog {
    return this.content().hllPorts;
  }

  /**
   * Why merging `v` would carry a count of this window past 2^53 − 1 (no longer exact; the row could not be encoded),
   * or null. Conservative for candidates and protocols (sums of each snapshot's largest count). Host totals are
   * bounded by the window totals.
   */
  overflow(v: ValidSnapshot): string | null {
    const MAX = Number.MAX_SAFE_INTEGER;
    const b = this.bounds;
    if (this.packets + v.packets > MAX || this.bytes + v.bytes > MAX) return 'window totals';
    if (b.cmsPackets + v.bounds.cmsPackets > MAX || b.cmsBytes + v.bounds.cmsBytes > MAX) return 'CMS cells';
    if (b.candidate + v.bounds.candidate > MAX) return 'candidate counts';
    if (b.protocol + v.bounds.protocol > MAX) return 'protocol totals';
    return null;
  }

  add(v: ValidSnapshot, offset: number, gap: number): void {
    const o = this.open;
    if (!o) throw new Error(`WindowAccumulator ${this.sealed ? 'sealed' : 'disposed'}: no more merges`);
    if (this.firstOffset < 0) this.firstOffset = offset;
    this.lastOffset = offset;
    this.snapshots++;
    this.packets += v.packets;
    this.bytes += v.bytes;
    this.gaps += gap;
    const b = this.bounds;
    b.cmsPackets += v.bounds.cmsPackets;
    b.cmsBytes += v.bounds.cmsBytes;
    b.candidate += v.bounds.candidate;
    b.protocol += v.bounds.protocol;
    const s = v.snapshot;
    // The blobs were checked by validateMessage(): these merges cannot fail half way.
    if (v.scaled) {
      o.cmsPackets.merge(v.scaled.cmsPackets);
      o.cmsBytes.merge(v.scaled.cmsBytes);
    } else {
      o.cmsPackets.mergeEncoded(s.cmsPackets);
      o.cmsBytes.mergeEncoded(s.cmsBytes);
    }
    for (const h of HLL_SKETCHES) o[h.property].mergeEncoded(s[h.wireField]);
    if (v.spreadBytes)
      this.spread = this.spread ? this.spread.mergeEncoded(v.spreadBytes) : decodeSpread(v.spreadBytes);
    this.candidates.addList(v.candidates, v.candidateFloor, v.sampled);
    this.prefixCounts.add(v.prefixCounts);
    if (v.syn) (this.syn ??= new SynCounts(v.syn.depth, v.syn.widthBits)).merge(v.syn);
    // Protocol totals are exact (counted before the sampling draw; validate.ts scaleSampled).
    for (const p of v.snapshot.totals.protocols) {
      const t = this.protocols.get(p.protocol);
      if (t) {
        t.packets += p.packets;
        t.bytes += p.bytes;
      } else {
        this.protocols.set(p.protocol, { packets: p.packets, bytes: p.bytes });
      }
    }
    const h = this.hosts.get(s.hostId);
    if (h) {
      if (h.boot !== s.bootId || h.agent !== s.agentId) {
        // Another stream of the host (a new boot, or an agent that lost its state) takes over the position; the
        // one it replaces is kept in `earlier` (a stream coming back takes its position from there).
        const earlier = (h.earlier ??= []);
        earlier.push({ boot: h.boot, agent: h.agent ?? '', lastSeq: h.lastSeq });
        const back = earlier.findIndex((e) => e.boot === s.bootId && e.agent === s.agentId);
        const before = back >= 0 ? earlier.splice(back, 1)[0].lastSeq : -1;
        if (earlier.length > EARLIER_STREAMS) earlier.shift();
        h.boot = s.bootId;
        h.agent = s.agentId;
        h.lastSeq = Math.max(before, s.sequence);
        h.agentVersion = s.agentVersion;
      } else if (s.sequence > h.lastSeq) {
        h.lastSeq = s.sequence;
        h.agentVersion = s.agentVersion;
      }
      h.packets += v.packets;
      h.bytes += v.bytes;
      h.snapshots++;
      h.gaps += gap;
    } else {
      this.hosts.set(s.hostId, {
        boot: s.bootId,
        agent: s.agentId,
        lastSeq: s.sequence,
        agentVersion: s.agentVersion,
        packets: v.packets,
        bytes: v.bytes,
        snapshots: 1,
        gaps: gap,
      });
    }
  }
}
