// Duplicate and gap detection per host: (host, boot id, sequence). Memory is bounded: per host, per boot id (the
// last few boots only), the highest sequence seen and a 64-bit mask of which of the 64 sequences below it arrived,
// so a resent or reordered snapshot within 64 intervals is recognised.

export type SequenceVerdict = { kind: 'new'; gap: number } | { kind: 'duplicate' } | { kind: 'fill' };

interface BootState {
  last: number;
  /** Bit i set: sequence last − 1 − i was seen. */
  mask: bigint;
}

const MASK_BITS = 64n;
const FULL = (1n << MASK_BITS) - 1n;

export class SequenceTracker {
  private readonly hosts = new Map<string, Map<string, BootState>>();

  constructor(private readonly bootsPerHost = 4) {}

  get size(): number {
    return this.hosts.size;
  }

  /** The highest sequence seen for (host, boot), if any. */
  last(host: string, boot: string): number | undefined {
    return this.hosts.get(host)?.get(boot)?.last;
  }

  /**
   * Records a sequence. The first sequence of an unknown boot is never a gap (this instance may have started
   * mid-stream); later jumps are, by the number of sequences skipped.
   */
  observe(host: string, boot: string, seq: number): SequenceVerdict {
    const boots = this.bootsOf(host);
    const st = boots.get(boot);
    if (!st) {
      boots.set(boot, { last: seq, mask: 0n });
      if (boots.size > this.bootsPerHost) boots.delete(boots.keys().next().value as string);
      return { kind: 'new', gap: 0 };
    }
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

  /** Seeds state recovered from stored rows (after a restart or a rebalance): sequences ≤ last count as seen. */
  restore(host: string, boot: string, last: number): void {
    const boots = this.bootsOf(host);
    const st = boots.get(boot);
    if (!st || st.last < last) boots.set(boot, { last, mask: FULL });
  }
  private bootsOf(host: string): Map<string, BootState> {
    let boots = this.hosts.get(host);
    if (!boots) {
      boots = new Map();
      this.hosts.set(host, boots);
    }
    return boots;
  }
}
