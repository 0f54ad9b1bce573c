// A user-space model of the kernel's bounded candidate table, for the accuracy tests.
import { Candidate, CandidateFloor, MAX_FRAME_BYTES } from '../heavy-hitters';
import {
  CAND_NOISE_SHIFT_DEFAULT,
  CAND_SLOTS,
  CAND_THRESHOLD_DEFAULT,
  CAND_WAYS,
  CMS_WIDTH_BITS,
  FLOW_KEY_BYTES,
} from '../spec.generated';

export interface CandidateTableOptions {
  slots?: number;
  ways?: number;
  /** A flow enters the table when its CMS packet estimate reaches this many packets (the configured minimum). */
  thresholdPackets?: number;
  /**
   * The threshold is at least (packets so far >> CMS width bits) << noiseShift, the kernel's noise floor (its
   * default shift is 1: twice the mean count other flows add to a cell). Negative: no noise floor.
   */
  noiseShift?: number;
  /** CMS width bits for the noise floor (default from the spec). */
  widthBits?: number;
}

/**
 * A user-space model of the kernel's bounded candidate table (bpf/tma.bpf.c, per CPU): sets chosen by the low bits
 * of the hash's lo word, TMA_CAND_WAYS ways each. Every packet of a flow in the table counts in its way; a flow not in
 * it whose CMS estimate reaches the threshold enters, starting from its CMS estimates, in a free way or in place of
 * the way with the fewest packets when its estimate is higher (an eviction; else it is refused and stays in the CMS).
 * So every count bounds its flow from above, and what it counted since entry bounds it from below; what evictions
 * and refusals let go bounds, with the threshold, every flow the table does not list (`floor`). (The kernel keeps a
 * member's later packets out of its CMS cells until they are read; its entry estimates can be lower than the
 * model's by other members' packets, never below the flow's own.) Used by the accuracy tests.
 */
export class CandidateTable {
  readonly slots: number;
  readonly ways: number;
  readonly thresholdPackets: number;
  readonly noiseShift: number;
  readonly widthBits: number;
  readonly keys: Uint8Array;
  readonly packets: Float64Array;
  readonly bytes: Float64Array;
  /** each way's counts when its flow entered (the entry estimate: the slack of its count) */
  readonly basePackets: Float64Array;
  readonly baseBytes: Float64Array;
  evictions = 0;
  inserts = 0;
  /** since-entry counts of evicted ways, summed */
  evictedPackets = 0;
  evictedBytes = 0;
  /** the largest count let go: an evicted way's, or a refused flow's estimate */
  droppedMaxPackets = 0;
  droppedMaxBytes = 0;
  /** Packets observed (every packet of the table's scope, below the threshold or not). */
  observed = 0;

  constructor(options: CandidateTableOptions = {}) {
    this.slots = options.slots ?? CAND_SLOTS;
    this.ways = options.ways ?? CAND_WAYS;
    this.thresholdPackets = options.thresholdPackets ?? CAND_THRESHOLD_DEFAULT;
    this.noiseShift = options.noiseShift ?? CAND_NOISE_SHIFT_DEFAULT;
    this.widthBits = options.widthBits ?? CMS_WIDTH_BITS;
    const sets = this.slots / this.ways;
    if (!Number.isInteger(sets) || (sets & (sets - 1)) !== 0)
      throw new RangeError('slots / ways must be a power of two');
    this.keys = new Uint8Array(this.slots * FLOW_KEY_BYTES);
    this.packets = new Float64Array(this.slots);
    this.bytes = new Float64Array(this.slots);
    this.basePackets = new Float64Array(this.slots);
    this.baseBytes = new Float64Array(this.slots);
  }

  /** The entry threshold after `n` packets: the configured minimum or the CMS noise floor, whichever is higher. */
  threshold(n: number): number {
    if (this.noiseShift < 0) return this.thresholdPackets;
    const noise = Math.floor(n / 2 ** this.widthBits) * 2 ** this.noiseShift;
    return noise > this.thresholdPackets ? noise : this.thresholdPackets;
  }

  /**
   * Records one packet of `bytes` bytes of a flow (hash low word `lo`) after the host's CMS was updated with it;
   * `estimatePackets` / `estimateBytes` are the flow's CMS estimates including this packet. Call it for every
   * packet of the table's scope: the noise floor follows the count.
   */
  observe(key: Uint8Array, lo: number, bytes: number, estimatePackets: number, estimateBytes: number): void {
    const entry = this.threshold(++this.observed);
    const base = (lo & (this.slots / this.ways - 1)) * this.ways;
    let victim = base;
    let least = Infinity;
    for (let s = base; s < base + this.ways; s++) {
      if (this.packets[s] > 0 && this.sameKey(s, key)) {
        this.packets[s] += 1;
        this.bytes[s] += bytes;
        return;
      }
      if (this.packets[s] < least) {
        least = this.packets[s];
        victim = s;
      }
    }
    if (estimatePackets < entry) return;
    if (least > 0) {
      const refused = estimatePackets <= least;
      this.droppedMaxPackets = Math.max(this.droppedMaxPackets, refused ? estimatePackets : least);
      this.droppedMaxBytes = Math.max(this.droppedMaxBytes, refused ? estimateBytes : this.bytes[victim]);
      if (refused) return;
      this.evictions++;
      this.evictedPackets += least - this.basePackets[victim];
      this.evictedBytes += this.bytes[victim] - this.baseBytes[victim];
    }
    this.inserts++;
    this.keys.set(key, victim * FLOW_KEY_BYTES);
    this.packets[victim] = estimatePackets;
    this.bytes[victim] = estimateBytes;
    this.basePackets[victim] = estimatePackets;
    this.baseBytes[victim] = estimateBytes;
  }

  /**
   * Bound of every flow the table does not list: below the entry threshold (never entered, or back under it since),
   * or let go with at most the dropped maximum. Bytes of a flow that never entered are bounded by its packets at the
   * largest frame.
   */
  floor(): CandidateFloor {
    if (this.observed === 0) return { packets: 0, bytes: 0 };
    const below = this.threshold(this.observed) - 1;
    return {
      packets: Math.max(below, this.droppedMaxPackets),
      bytes: Math.max(below * MAX_FRAME_BYTES, this.droppedMaxBytes),
    };
  }

  private sameKey(slot: number, key: Uint8Array): boolean {
    const o = slot * FLOW_KEY_BYTES;
    for (let i = 0; i < FLOW_KEY_BYTES; i++) if (this.keys[o + i] !== key[i]) return false;
    return true;
  }

  /**
   * The flows in the table with their counts. With `complete`, each is marked complete: the caller vouches that this
   * table saw all of the flow's traffic in its scope, so its count (CMS estimate at entry, then every packet) bounds
   * that traffic from above.
   */
  candidates(options: { complete?: boolean } = {}): Candidate[] {
    const out: Candidate[] = [];
    for (let s = 0; s < this.slots; s++) {
      if (this.packets[s] > 0) {
        const c: Candidate = {
          key: this.keys.slice(s * FLOW_KEY_BYTES, (s + 1) * FLOW_KEY_BYTES),
          packets: this.packets[s],
          bytes: this.bytes[s],
          sincePackets: this.packets[s] - this.basePackets[s],
          sinceBytes: this.bytes[s] - this.baseBytes[s],
        };
        if (options.complete) c.complete = true;
        out.push(c);
      }
    }
    return out;
  }

  clear(): void {
    this.packets.fill(0);
    this.bytes.fill(0);
    this.basePackets.fill(0);
    this.baseBytes.fill(0);
    this.evictions = 0;
    this.inserts = 0;
    this.evictedPackets = 0;
    this.evictedBytes = 0;
    this.droppedMaxPackets = 0;
    this.droppedMaxBytes = 0;
    this.observed = 0;
  }
}
