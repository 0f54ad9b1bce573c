// Duplicate and gap detection per stream: (host, agent id, boot id) as the schema defines it, sequences 0, 1, 2 …
// Memory is bounded: per host the last few streams, per stream a few runs, per run the highest sequence seen and a
// 64-bit mask of which of the 64 sequences below it arrived, so a resent or reordered snapshot within 64 intervals
// is recognised.
//
// A run covers the sequences within `maxJump` of its position. A sequence further away from every run starts a
// run of its own instead of moving the stream: one message with a hostile (or corrupted) sequence far ahead would
// otherwise make every later snapshot of the host look like an old duplicate, silencing it.

export type SequenceVerdict = { kind: 'new'; gap: number; jump?: true } | { kind: 'duplicate' } | { kind: 'fill' };

interface Run {
  last: number;
  /** Bit i set: sequence last − 1 − i was seen. */
  mask: bigint;
}

const MASK_BITS = 64n;
const FULL = (1n << MASK_BITS) - 1n;
/** Runs kept per stream (the most recently used first). */
const RUNS_PER_STREAM = 4;
/** Default of TMA_AGG_MAX_SEQUENCE_JUMP: ~2.8 h of 10 s intervals. */
export const DEFAULT_MAX_SEQUENCE_JUMP = 1000;

export class SequenceTracker {
  private readonly hosts = new Map<string, Map<string, Run[]>>();
  /**
   * Positions reloaded from stored rows, per host then stream key (agent, boot). A stream key with an empty agent
   * (rows written before agent ids were stored) is adopted by the first stream of that boot seen.
   */
  private readonly restored = new Map<string, Map<string, number>>();

  constructor(
    private readonly streamsPerHost = 4,
    private readonly maxJump = DEFAULT_MAX_SEQUENCE_JUMP,
  ) {}

  get size(): number {
    return this.hosts.size;
  }

  /** The highest sequence of the most recently used run of (host, agent, boot), if any. */
  last(host: string, agent: string, boot: string): number | undefined {
    return this.hosts.get(host)?.get(streamKey(agent, boot))?.[0]?.last;
  }

  /**
   * Records a sequence. The first sequence of an unknown stream is never a gap (this instance may have started
   * mid-stream); later steps forward are, by the number of sequences skipped. A step beyond `maxJump` from every
   * run is a new run (`jump`), no gap counted.
   */
  observe(host: string, agent: string, boot: string, seq: number): SequenceVerdict {
    const runs = this.runsOf(host, agent, boot);
    if (runs.length === 0) {
      runs.push({ last: seq, mask: 0n });
      return { kind: 'new', gap: 0 };
    }
    const i = runs.findIndex((r) => seq >= r.last - this.maxJump && seq <= r.last + this.maxJump);
    if (i < 0) {
      runs.unshift({ last: seq, mask: 0n });
      if (runs.length > RUNS_PER_STREAM) runs.pop();
      return { kind: 'new', gap: 0, jump: true };
    }
    const st = runs[i];
    if (i > 0) runs.unshift(...runs.splice(i, 1));
    if (seq > st.last) {
      const shift = BigInt(Math.min(seq - st.last, 65));
      st.mask = shift >= MASK_BITS + 1n ? 0n : ((st.mask << shift) | (1n << (shift - 1n))) & FULL;
      const gap = seq - st.last - 1;
      st.last = seq;
      return { kind: 'new', gap };
    }
    if (seq === st.last) return { kind: 'duplicate' };
    const back = BigInt(st.last - seq - 1);
    if (back >= MASK_BITS) return { kind: 'duplicate' };
    const bit = 1n << back;
    if (st.mask & bit) return { kind: 'duplicate' };
    st.mask |= bit;
    return { kind: 'fill' };
  }

  /**
   * Seeds state recovered from stored rows (after a restart or a rebalance): sequences ≤ last count as seen for the
   * stream (host, agent, boot). Another agent id on the same boot (an agent that lost its state) is another stream.
   * An empty `agent` (rows written before agent ids were stored) is adopted by the first stream of that boot seen
   * that has no position of its own.
   */
  restore(host: string, boot: string, agent: string, last: number): void {
    let byStream = this.restored.get(host);
    if (!byStream) {
      byStream = new Map();
      this.restored.set(host, byStream);
    }
    const key = streamKey(agent, boot);
    const before = byStream.get(key);
    if (before === undefined || before < last) byStream.set(key, last);
  }

  private runsOf(host: string, agent: string, boot: string): Run[] {
    let streams = this.hosts.get(host);
    if (!streams) {
      streams = new Map();
      this.hosts.set(host, streams);
    }
    const key = streamKey(agent, boot);
    let runs = streams.get(key);
    if (!runs) {
      runs = [];
      const byStream = this.restored.get(host);
      if (byStream) {
        const own = byStream.get(key);
        const legacy = streamKey('', boot);
        const last = own ?? byStream.get(legacy);
        if (last !== undefined) {
          runs.push({ last, mask: FULL });
          byStream.delete(own !== undefined ? key : legacy);
          if (byStream.size === 0) this.restored.delete(host);
        }
      }
      streams.set(key, runs);
      if (streams.size > this.streamsPerHost) streams.delete(streams.keys().next().value as string);
    }
    return runs;
  }
}

const streamKey = (agent: string, boot: string) => `${agent}\u0000${boot}`;
