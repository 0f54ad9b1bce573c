// Candidate flow lists in a form that unions and ranks fast: keys with their fleet hashes computed once, counts in
// typed arrays. A fleet day holds 10^5–10^6 candidate entries across its rows; a Map keyed by strings or by 53-bit
// numbers spent seconds there, an open-addressing table on the 64-bit hash (keys compared byte for byte on a hash
// match) does the same union in tens of milliseconds.
import { hashKeyInto, type Candidate, type CountMinSketch } from '@tma/sketch';

const scratch = new Uint32Array(2);

export class CandidateBlock {
  /** Parallel arrays of one length; build with `from`, `pick` or `unionBlocks`. */
  constructor(
    /** Canonical flow keys (views into a decoded blob are fine: never written to). */
    readonly keys: Uint8Array[],
    /** The fleet hash of each key (the CMS column inputs). */
    readonly hi: Uint32Array,
    readonly lo: Uint32Array,
    /** Kernel counts summed over hosts (lower bounds of each flow's traffic while it was tracked). */
    readonly packets: Float64Array,
    readonly bytes: Float64Array,
  ) {}

  static readonly empty = new CandidateBlock(
    [],
    new Uint32Array(0),
    new Uint32Array(0),
    new Float64Array(0),
    new Float64Array(0),
  );

  static from(list: readonly Candidate[]): CandidateBlock {
    const n = list.length;
    const b = new CandidateBlock(
      new Array<Uint8Array>(n),
      new Uint32Array(n),
      new Uint32Array(n),
      new Float64Array(n),
      new Float64Array(n),
    );
    for (let i = 0; i < n; i++) {
      const c = list[i];
      hashKeyInto(c.key, scratch);
      b.keys[i] = c.key;
      b.hi[i] = scratch[0];
      b.lo[i] = scratch[1];
      b.packets[i] = c.packets;
      b.bytes[i] = c.bytes;
    }
    return b;
  }

  get size(): number {
    return this.keys.length;
  }

  /** Approximate heap size, for byte-bounded caches. */
  get byteSize(): number {
    return this.keys.length * (this.keys[0]?.length ?? 40) + this.keys.length * 120 + 64;
  }

  candidate(i: number): Candidate {
    return { key: this.keys[i], packets: this.packets[i], bytes: this.bytes[i] };
  }

  toArray(): Candidate[] {
    const out = new Array<Candidate>(this.size);
    for (let i = 0; i < out.length; i++) out[i] = this.candidate(i);
    return out;
  }

  /** The entries at `indices`, in that order. */
  pick(indices: ArrayLike<number>): CandidateBlock {
    const n = indices.length;
    const b = new CandidateBlock(
      new Array<Uint8Array>(n),
      new Uint32Array(n),
      new Uint32Array(n),
      new Float64Array(n),
      new Float64Array(n),
    );
    for (let j = 0; j < n; j++) {
      const i = indices[j];
      b.keys[j] = this.keys[i];
      b.hi[j] = this.hi[i];
      b.lo[j] = this.lo[i];
      b.packets[j] = this.packets[i];
      b.bytes[j] = this.bytes[i];
    }
    return b;
  }

  /** Plain CMS estimate (minimum over rows) of every entry: an upper bound of each flow's traffic in `cms`. */
  estimates(cms: CountMinSketch): Float64Array {
    const out = new Float64Array(this.size);
    for (let i = 0; i < out.length; i++) out[i] = cms.estimate(this.hi[i], this.lo[i]);
    return out;
  }
}

function sameKey(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Table slot of a hash: both words mixed (murmur3's finalizer), since linear probing degrades on clustered bits. */
function slotOf(hi: number, lo: number): number {
  let x = (lo ^ Math.imul(hi, 0x9e3779b1)) >>> 0;
  x ^= x >>> 16;
  x = Math.imul(x, 0x85ebca6b);
  x ^= x >>> 13;
  x = Math.imul(x, 0xc2b2ae35);
  return (x ^ (x >>> 16)) >>> 0;
}

/** Key union of many blocks, kernel counts summed; entries in order of first appearance. Inputs are not modified. */
export function unionBlocks(blocks: readonly CandidateBlock[]): CandidateBlock {
  const nonEmpty = blocks.filter((b) => b.size > 0);
  if (nonEmpty.length === 0) return CandidateBlock.empty;
  if (nonEmpty.length === 1) return nonEmpty[0];
  // Sized for the distinct keys, not the sum of the inputs (a day's rows repeat the same keys many times): a small
  // table stays in cache; it doubles when half full.
  let cap = 1024;
  for (const b of nonEmpty) while (cap < b.size * 2) cap *= 2;
  let mask = cap - 1;
  let slots = new Int32Array(cap); // 1 + union index, 0 = free
  const keys: Uint8Array[] = [];
  let hi = new Uint32Array(cap >> 1);
  let lo = new Uint32Array(cap >> 1);
  let packets = new Float64Array(cap >> 1);
  let bytes = new Float64Array(cap >> 1);
  let n = 0;
  const grow = () => {
    cap *= 2;
    mask = cap - 1;
    slots = new Int32Array(cap);
    for (let j = 0; j < n; j++) {
      let s = slotOf(hi[j], lo[j]) & mask;
      while (slots[s] !== 0) s = (s + 1) & mask;
      slots[s] = j + 1;
    }
    const more = <T extends Uint32Array | Float64Array>(a: T): T => {
      const b = new (a.constructor as new (n: number) => T)(cap >> 1);
      b.set(a);
      return b;
    };
    hi = more(hi);
    lo = more(lo);
    packets = more(packets);
    bytes = more(bytes);
  };
  for (const b of nonEmpty) {
    for (let i = 0; i < b.size; i++) {
      const h = b.hi[i];
      const l = b.lo[i];
      let s = slotOf(h, l) & mask;
      for (;;) {
        const at = slots[s];
        if (at === 0) {
          if (n + 1 > cap >> 1) {
            grow();
            s = slotOf(h, l) & mask;
            while (slots[s] !== 0) s = (s + 1) & mask;
          }
          slots[s] = n + 1;
          keys.push(b.keys[i]);
          hi[n] = h;
          lo[n] = l;
          packets[n] = b.packets[i];
          bytes[n] = b.bytes[i];
          n++;
          break;
        }
        const j = at - 1;
        // A 64-bit hash match with different keys is possible in principle: both kept.
        if (hi[j] === h && lo[j] === l && sameKey(keys[j], b.keys[i])) {
          packets[j] += b.packets[i];
          bytes[j] += b.bytes[i];
          break;
        }
        s = (s + 1) & mask;
      }
    }
  }
  return new CandidateBlock(keys, hi.slice(0, n), lo.slice(0, n), packets.slice(0, n), bytes.slice(0, n));
}

/**
 * Indices of the `n` entries with the largest plain CMS estimates on `cms` (ties broken by position), largest
 * first. The collision-corrected estimate of a flow is never above its plain estimate, so an entry left out ranks
 * below every kept one on the plain estimate; estimates computed later on any subset remain upper bounds.
 */
export function topByEstimate(block: CandidateBlock, cms: CountMinSketch, n: number): Uint32Array {
  const est = block.estimates(cms);
  const m = Math.min(n, block.size);
  if (m <= 0) return new Uint32Array(0);
  let order: Uint32Array;
  if (block.size > 4 * m) {
    // Cut at the m-th largest value first (a native numeric sort), then order the few above it.
    const sorted = Float64Array.from(est).sort();
    const cut = sorted[sorted.length - m];
    const above: number[] = [];
    for (let i = 0; i < est.length; i++) if (est[i] >= cut) above.push(i);
    order = Uint32Array.from(above);
  } else {
    order = new Uint32Array(est.length);
    for (let i = 0; i < order.length; i++) order[i] = i;
  }
  order.sort((a, b) => est[b] - est[a] || a - b);
  return order.subarray(0, m);
}

/**
 * Keeps the `n` entries ranked highest by packets and the `n` by bytes (plain estimates), in block order. This is
 * what a coarse-tier row stores: see docs/aggregator.md for the completeness it guarantees.
 */
export function shortlistBlock(
  block: CandidateBlock,
  cmsPackets: CountMinSketch,
  cmsBytes: CountMinSketch,
  n: number,
): CandidateBlock {
  if (block.size <= n) return block;
  const keep = new Uint8Array(block.size);
  for (const i of topByEstimate(block, cmsPackets, n)) keep[i] = 1;
  for (const i of topByEstimate(block, cmsBytes, n)) keep[i] = 1;
  const idx: number[] = [];
  for (let i = 0; i < keep.length; i++) if (keep[i]) idx.push(i);
  return block.pick(idx);
}
