// Candidate flow lists in a form that unions and ranks fast: keys with their fleet hashes computed once, counts in
// typed arrays. A fleet day holds 10^5–10^6 candidate entries across its rows; a Map keyed by strings or by 53-bit
// numbers spent seconds there, an open-addressing table on the 64-bit hash (keys compared byte for byte on a hash
// match) does the same union in tens of milliseconds.
import { hashKeyInto, type Candidate, type CandidateFloor, type CandidateList, type CountMinSketch } from '@tma/sketch';

const scratch = new Uint32Array(2);

export class CandidateBlock {
  /**
   * Parallel arrays of one length n; build with `from`, `pick` or `unionBlocks`. Keys sit back to back in one buffer
   * (no object per key: a day of rows holds 10^5–10^6 of them, and per-key views cost more in GC than the union).
   */
  constructor(
    /** n × keyBytes: the canonical flow keys, back to back. */
    readonly keyData: Uint8Array,
    readonly keyBytes: number,
    /** The fleet hash of each key (the CMS column inputs). */
    readonly hi: Uint32Array,
    readonly lo: Uint32Array,
    /**
     * Upper counts summed over the lists that name each flow (per host: the estimate when it entered the kernel's
     * table plus everything since). With `floor` (the flows' traffic where a list did not name them), packets +
     * floor bounds a flow's traffic from above.
     */
    readonly packets: Float64Array,
    readonly bytes: Float64Array,
    /** Counted exactly since entry, summed: lower bounds of each flow's traffic (certain unless `sampled`). */
    readonly sincePackets: Float64Array,
    readonly sinceBytes: Float64Array,
    /** Every flow not in the block had at most this in the block's scope; undefined when unknown (older lists). */
    readonly floor: CandidateFloor | undefined = undefined,
    /** Some list was scaled up from sampled packets: bounds are estimates, not certain. */
    readonly sampled = false,
  ) {
    if (keyBytes % 4 !== 0 || keyData.byteOffset % 4 !== 0)
      throw new RangeError('candidate keys are compared as 32-bit words: whole words, aligned');
    this.keyWords = new Uint32Array(keyData.buffer, keyData.byteOffset, keyData.byteLength / 4);
  }

  /** The same key bytes as 32-bit words: comparing 10 words instead of 40 bytes was most of the union's time. */
  readonly keyWords: Uint32Array;

  /** The hash table of the union that built this block, when asked to keep it: extending the union reuses it. */
  unionIndex?: Int32Array;

  /**
   * The part of `floor` that is the error of coarse-tier frequent-items summaries (Σ ⌊Δ⌋ over the 1 h and 1 d lists
   * merged, libs/rollup frequent.ts); undefined when none was merged.
   */
  summaryError?: CandidateFloor;

  /** The same entries (arrays shared) with another summaryError. */
  withSummaryError(e: CandidateFloor | undefined): CandidateBlock {
    if (e === this.summaryError) return this;
    return this.sharing(this.floor, this.sampled, e);
  }

  /** A block over this one's arrays (and union index) with the given bounds. */
  private sharing(floor: CandidateFloor | undefined, sampled: boolean, e: CandidateFloor | undefined): CandidateBlock {
    const b = new CandidateBlock(
      this.keyData,
      this.keyBytes,
      this.hi,
      this.lo,
      this.packets,
      this.bytes,
      this.sincePackets,
      this.sinceBytes,
      floor,
      sampled,
    );
    b.unionIndex = this.unionIndex;
    b.summaryError = e;
    return b;
  }

  /** A zeroed block of `n` entries with `keyBytes`-byte keys. */
  static allocate(
    n: number,
    keyBytes: number,
    floor: CandidateFloor | undefined = undefined,
    sampled = false,
  ): CandidateBlock {
    return new CandidateBlock(
      new Uint8Array(n * keyBytes),
      keyBytes,
      new Uint32Array(n),
      new Uint32Array(n),
      new Float64Array(n),
      new Float64Array(n),
      new Float64Array(n),
      new Float64Array(n),
      floor,
      sampled,
    );
  }

  /** No candidates, floor unknown. */
  static readonly empty = CandidateBlock.allocate(0, 40);

  /** The same entries (arrays shared) with another floor and sampled mark. */
  withBounds(floor: CandidateFloor | undefined, sampled: boolean): CandidateBlock {
    if (floor === this.floor && sampled === this.sampled) return this;
    return this.sharing(floor, sampled, this.summaryError);
  }

  /** A plain list (floor unknown, not sampled) or a decoded list with its floor and sampled mark. */
  static from(input: readonly Candidate[] | CandidateList): CandidateBlock {
    const list = Array.isArray(input) ? (input as readonly Candidate[]) : (input as CandidateList).candidates;
    const bounds = Array.isArray(input) ? undefined : (input as CandidateList);
    const n = list.length;
    const kb = n > 0 ? list[0].key.length : 40;
    const b = CandidateBlock.allocate(n, kb, bounds?.floor, bounds?.sampled ?? false);
    fillEntries(b, list);
    const f = bounds?.frequent;
    if (f) {
      // ⌊(n − Σ counters)/(k + 1)⌋ per ranking: the summary's share of the list's floor.
      const err = (fed: number, counters: readonly number[]) =>
        Math.floor(Math.max(0, fed - counters.reduce((a, v) => a + v, 0)) / (f.k + 1));
      b.summaryError = { packets: err(f.fed.packets, f.packets), bytes: err(f.fed.bytes, f.bytes) };
    }
    return b;
  }

  get size(): number {
    return this.hi.length;
  }

  /** Approximate heap size, for byte-bounded caches. */
  get byteSize(): number {
    return this.keyData.byteLength + this.size * 40 + 200;
  }

  /** The i-th key (a view: do not modify). */
  key(i: number): Uint8Array {
    return this.keyData.subarray(i * this.keyBytes, (i + 1) * this.keyBytes);
  }

  candidate(i: number): Candidate {
    const c: Candidate = { key: this.key(i), packets: this.packets[i], bytes: this.bytes[i] };
    if (this.sincePackets[i] || this.sinceBytes[i]) {
      c.sincePackets = this.sincePackets[i];
      c.sinceBytes = this.sinceBytes[i];
    }
    return c;
  }

  toArray(): Candidate[] {
    const out = new Array<Candidate>(this.size);
    for (let i = 0; i < out.length; i++) out[i] = this.candidate(i);
    return out;
  }

  /**
   * The entries at `indices`, in that order; the floor is unknown (raising it for what was left out is the caller's),
   * the summary error kept.
   */
  pick(indices: ArrayLike<number>): CandidateBlock {
    const n = indices.length;
    const kb = this.keyBytes;
    const b = CandidateBlock.allocate(n, kb, undefined, this.sampled);
    b.summaryError = this.summaryError;
    for (let j = 0; j < n; j++) {
      const i = indices[j];
      b.keyData.set(this.keyData.subarray(i * kb, (i + 1) * kb), j * kb);
      b.hi[j] = this.hi[i];
      b.lo[j] = this.lo[i];
      b.packets[j] = this.packets[i];
      b.bytes[j] = this.bytes[i];
      b.sincePackets[j] = this.sincePackets[i];
      b.sinceBytes[j] = this.sinceBytes[i];
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

/** Entries 0..list.length-1 of `b` from `list`: keys copied and hashed, counts (since-entry 0 when absent). */
function fillEntries(b: CandidateBlock, list: readonly Candidate[]): void {
  const kb = b.keyBytes;
  for (let i = 0; i < list.length; i++) {
    const c = list[i];
    if (c.key.length !== kb) throw new RangeError(`candidate keys differ in length (${c.key.length} vs ${kb})`);
    hashKeyInto(c.key, scratch);
    b.keyData.set(c.key, i * kb);
    b.hi[i] = scratch[0];
    b.lo[i] = scratch[1];
    b.packets[i] = c.packets;
    b.bytes[i] = c.bytes;
    b.sincePackets[i] = c.sincePackets ?? 0;
    b.sinceBytes[i] = c.sinceBytes ?? 0;
  }
}

/** The block CandidateUnion.addList fills with each list (reused: one list at a time, copied into the union). */
let listScratch = CandidateBlock.allocate(0, 40);

/** `list` as the first list.length entries of listScratch (valid until the next call). */
function scratchBlockOf(list: readonly Candidate[]): CandidateBlock {
  const n = list.length;
  const kb = list[0].key.length;
  if (listScratch.size < n || listScratch.keyBytes !== kb) {
    let room = 64;
    while (room < n) room *= 2;
    listScratch = CandidateBlock.allocate(room, kb);
  }
  fillEntries(listScratch, list);
  return listScratch;
}

function sameKey(a: Uint32Array, ao: number, b: Uint32Array, bo: number, n: number): boolean {
  for (let i = 0; i < n; i++) if (a[ao + i] !== b[bo + i]) return false;
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

/**
 * The union's open-addressing table and columns (grown by doubling; the hot loop keeps them in locals). Laid out for
 * few cache misses per input entry, the union's whole cost on a day of rows (10^6 entries into a table of 10^5–10^6
 * keys): a slot holds the entry's index and its hash's high word side by side (a mismatch is told apart without
 * touching the entry), and the four counts of an entry sit together (one line instead of four arrays).
 */
interface UnionTable {
  cap: number;
  /** 2 × cap: [1 + union index (0 = free), hash high word] per slot */
  slots: Int32Array;
  keys: Uint32Array;
  hi: Uint32Array;
  lo: Uint32Array;
  /** 4 × room: packets, bytes, sincePackets, sinceBytes per entry */
  counts: Float64Array;
}

function unionTable(cap: number, kw: number): UnionTable {
  const room = cap >> 1;
  return {
    cap,
    slots: new Int32Array(cap * 2),
    keys: new Uint32Array(room * kw),
    hi: new Uint32Array(room),
    lo: new Uint32Array(room),
    counts: new Float64Array(room * 4),
  };
}

/** Slots for entries 0..n-1 of `t` (whose columns are filled). */
function indexEntries(t: UnionTable, n: number): void {
  const mask = t.cap - 1;
  const { slots, hi, lo } = t;
  for (let j = 0; j < n; j++) {
    let s = slotOf(hi[j], lo[j]) & mask;
    while (slots[2 * s] !== 0) s = (s + 1) & mask;
    slots[2 * s] = j + 1;
    slots[2 * s + 1] = hi[j] | 0;
  }
}

function grown(t: UnionTable, n: number, kw: number): UnionTable {
  const g = unionTable(t.cap * 2, kw);
  g.keys.set(t.keys);
  g.hi.set(t.hi);
  g.lo.set(t.lo);
  g.counts.set(t.counts);
  indexEntries(g, n);
  return g;
}

/**
 * Key union of many blocks, counts summed (upper and since-entry alike), floors summed (CandidateUnion); entries in
 * order of first appearance. Inputs are not modified.
 * `base`, when given, must already hold distinct keys (an earlier union): its entries go in first without key
 * comparisons, so extending a reused union (a day's hours) with a few more blocks (its minutes) costs little more
 * than those blocks.
 */
export function unionBlocks(
  blocks: readonly CandidateBlock[],
  base?: CandidateBlock,
  options: { keepIndex?: boolean } = {},
): CandidateBlock {
  return new CandidateUnion(base).add(blocks).finish(options);
}

/**
 * unionBlocks fed in parts: `add` as many lists of blocks as come (a merge streaming its rows in batches), `finish`
 * once. The same result as one unionBlocks call over every block added, without copying the union at each part.
 * The aggregator's open windows feed it each snapshot's list as it comes (`addList`) and read it with `soFar`.
 */
export class CandidateUnion {
  private t: UnionTable | undefined;
  private n = 0;
  private kw = 0;
  private kb = 0;
  /** The only non-empty block so far, when there is no base: returned as it is unless another one comes. */
  private single: CandidateBlock | undefined;
  /**
   * The floor of a union of blocks of disjoint scopes: a flow in none of them had at most each one's floor in each,
   * so the floors add up; unknown when any is. Sampled when any is. Summed as blocks come (none is held for it).
   */
  private floorPackets = 0;
  private floorBytes = 0;
  private floorKnown = true;
  private anySampled = false;
  /** Σ of the blocks' frequent-items summary errors (undefined while none had one). */
  private summaryError: CandidateFloor | undefined;
  private blocks = 0;
  private readonly base: CandidateBlock | undefined;
  private done = false;

  constructor(base?: CandidateBlock) {
    if (base) this.bound(base.floor, base.sampled, base.summaryError);
    this.base = base && base.size > 0 ? base : undefined;
  }

  add(blocks: readonly CandidateBlock[]): this {
    if (this.done) throw new Error('CandidateUnion: add after finish');
    this.blocks += blocks.length;
    for (const b of blocks) this.bound(b.floor, b.sampled, b.summaryError);
    const nonEmpty = blocks.filter((b) => b.size > 0);
    if (nonEmpty.length === 0) return this;
    if (!this.t && !this.base && !this.single && nonEmpty.length === 1) {
      this.single = nonEmpty[0];
      return this;
    }
    this.ready(
      nonEmpty[0].keyBytes,
      nonEmpty.reduce((m, b) => Math.max(m, b.size), 0),
    );
    for (const b of nonEmpty) this.insert(b, b.size);
    return this;
  }

  /**
   * Adds one plain list (a snapshot's candidates) with its bounds: what `add([CandidateBlock.from(list)])` with that
   * floor and sampled mark does, without a block per list (keys are hashed and copied straight into the union, which
   * keeps no reference to `list`).
   */
  addList(list: readonly Candidate[], floor: CandidateFloor | undefined, sampled = false): this {
    if (this.done) throw new Error('CandidateUnion: add after finish');
    this.blocks++;
    this.bound(floor, sampled, undefined);
    if (list.length === 0) return this;
    const b = scratchBlockOf(list);
    this.ready(b.keyBytes, list.length);
    this.insert(b, list.length);
    return this;
  }

  /** What the blocks and lists added so far leave out (floors summed, unknown when any is), and whether any was sampled. */
  get bounds(): { floor: CandidateFloor | undefined; sampled: boolean } {
    return {
      floor: this.floorKnown ? { packets: this.floorPackets, bytes: this.floorBytes } : undefined,
      sampled: this.anySampled,
    };
  }

  /** The union; the table is kept on it with `keepIndex` (a union that will be extended). */
  finish(options: { keepIndex?: boolean } = {}): CandidateBlock {
    this.done = true;
    return this.union(options).withSummaryError(this.summaryError);
  }

  /** The union of what was added so far, while adding goes on: a copy, which later adds leave as it is. */
  soFar(): CandidateBlock {
    if (this.done) throw new Error('CandidateUnion: soFar after finish');
    return this.union({}).withSummaryError(this.summaryError);
  }

  private union(options: { keepIndex?: boolean }): CandidateBlock {
    const { floor, sampled } = this.bounds;
    if (!this.t) {
      if (this.single) return this.single.withBounds(floor, sampled);
      if (this.base) return this.base.withBounds(floor, sampled);
      return this.blocks === 0 ? CandidateBlock.empty : CandidateBlock.empty.withBounds(floor, sampled);
    }
    const { keys, hi, lo, counts, slots } = this.t;
    const n = this.n;
    const out = new CandidateBlock(
      new Uint8Array(keys.buffer.slice(0, n * this.kb)),
      this.kb,
      hi.slice(0, n),
      lo.slice(0, n),
      new Float64Array(n),
      new Float64Array(n),
      new Float64Array(n),
      new Float64Array(n),
      floor,
      sampled,
    );
    for (let j = 0, c = 0; j < n; j++, c += 4) {
      out.packets[j] = counts[c];
      out.bytes[j] = counts[c + 1];
      out.sincePackets[j] = counts[c + 2];
      out.sinceBytes[j] = counts[c + 3];
    }
    if (options.keepIndex) out.unionIndex = slots;
    return out;
  }

  private bound(floor: CandidateFloor | undefined, sampled: boolean, e: CandidateFloor | undefined): void {
    this.anySampled ||= sampled;
    if (e)
      this.summaryError = {
        packets: (this.summaryError?.packets ?? 0) + e.packets,
        bytes: (this.summaryError?.bytes ?? 0) + e.bytes,
      };
    if (!floor) this.floorKnown = false;
    else {
      this.floorPackets += floor.packets;
      this.floorBytes += floor.bytes;
    }
  }

  /**
   * Opens the table, if not yet open, for keys of `kb` bytes and a first input of up to `largest` entries; the single
   * block held so far goes in first.
   */
  private ready(kb: number, largest: number): void {
    if (this.t) return;
    const first = this.single;
    this.open(first?.keyBytes ?? kb, Math.max(largest, first?.size ?? 0));
    if (first) {
      this.single = undefined;
      this.insert(first, first.size);
    }
  }

  /**
   * The table, sized for the distinct keys rather than the sum of the inputs (a day's rows repeat the same keys
   * many times): a small table stays in cache; it doubles when half full. The base's entries go in first.
   */
  private open(firstKeyBytes: number, largest: number): void {
    const base = this.base;
    const kb = base?.keyBytes ?? firstKeyBytes;
    this.kb = kb;
    this.kw = kb / 4;
    let cap = 1024;
    while (cap < largest * 4) cap *= 2;
    if (base?.unionIndex) cap = Math.max(cap, base.unionIndex.length >> 1);
    else while (base && cap < base.size * 4) cap *= 2;
    const t = unionTable(cap, this.kw);
    this.t = t;
    if (!base) return;
    const n = base.size;
    this.n = n;
    t.keys.set(base.keyWords);
    t.hi.set(base.hi);
    t.lo.set(base.lo);
    for (let j = 0, c = 0; j < n; j++, c += 4) {
      t.counts[c] = base.packets[j];
      t.counts[c + 1] = base.bytes[j];
      t.counts[c + 2] = base.sincePackets[j];
      t.counts[c + 3] = base.sinceBytes[j];
    }
    if (base.unionIndex?.length === 2 * cap) t.slots.set(base.unionIndex);
    else indexEntries(t, n);
  }

  /** Entries 0..size-1 of `b` into the table. */
  private insert(b: CandidateBlock, size: number): void {
    const kw = this.kw;
    if (b.keyBytes !== this.kb) throw new RangeError('candidate blocks with different key lengths');
    let t = this.t!;
    let { slots, keys, hi, lo, counts } = t;
    let mask = t.cap - 1;
    let room = t.cap >> 1;
    let n = this.n;
    const bk = b.keyWords;
    const bh = b.hi;
    const bl = b.lo;
    const bp = b.packets;
    const bb = b.bytes;
    const bsp = b.sincePackets;
    const bsb = b.sinceBytes;
    for (let i = 0; i < size; i++) {
      const h = bh[i];
      const l = bl[i];
      const h32 = h | 0;
      let s = slotOf(h, l) & mask;
      for (;;) {
        const at = slots[2 * s];
        if (at === 0) {
          if (n >= room) {
            t = grown(t, n, kw);
            ({ slots, keys, hi, lo, counts } = t);
            mask = t.cap - 1;
            room = t.cap >> 1;
            s = slotOf(h, l) & mask;
            while (slots[2 * s] !== 0) s = (s + 1) & mask;
          }
          slots[2 * s] = n + 1;
          slots[2 * s + 1] = h32;
          for (let x = 0, o = n * kw, f = i * kw; x < kw; x++) keys[o + x] = bk[f + x];
          hi[n] = h;
          lo[n] = l;
          const c = 4 * n;
          counts[c] = bp[i];
          counts[c + 1] = bb[i];
          counts[c + 2] = bsp[i];
          counts[c + 3] = bsb[i];
          n++;
          break;
        }
        // The same key has the same hash; a 64-bit hash match with different keys is possible in principle: both kept.
        if (slots[2 * s + 1] === h32) {
          const j = at - 1;
          if (lo[j] === l && sameKey(keys, j * kw, bk, i * kw, kw)) {
            const c = 4 * j;
            counts[c] += bp[i];
            counts[c + 1] += bb[i];
            counts[c + 2] += bsp[i];
            counts[c + 3] += bsb[i];
            break;
          }
        }
        s = (s + 1) & mask;
      }
    }
    this.t = t;
    this.n = n;
  }
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
    // Cut at the m-th largest value first (selection, linear on average), then order the few above it.
    const cut = kthLargest(Float64Array.from(est), m);
    const above: number[] = [];
    for (let i = 0; i < est.length; i++) if (est[i] >= cut) above.push(i);
    order = Uint32Array.from(above);
  } else {
    order = new Uint32Array(est.length);
    for (let i = 0; i < order.length; i++) order[i] = i;
  }
  // Ties broken by the key's hash, not by position: the same candidates rank alike however their rows were grouped
  // into unions (1 min rows, fleet rows, hours).
  const { hi, lo } = block;
  order.sort((a, b) => est[b] - est[a] || hi[a] - hi[b] || lo[a] - lo[b] || a - b);
  return order.subarray(0, m);
}

/** The k-th largest value (1-based) of `a`, which is reordered (Hoare's selection, median-of-three pivots). */
export function kthLargest(a: Float64Array, k: number): number {
  let lo = 0;
  let hi = a.length - 1;
  const want = a.length - k; // index of the k-th largest in ascending order
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    // median of three as the pivot value
    let x = a[lo];
    let y = a[mid];
    let z = a[hi];
    if (x > y) [x, y] = [y, x];
    if (y > z) [y, z] = [z, y];
    if (x > y) [x, y] = [y, x];
    const pivot = y;
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (a[i] < pivot) i++;
      while (a[j] > pivot) j--;
      if (i <= j) {
        const t = a[i];
        a[i] = a[j];
        a[j] = t;
        i++;
        j--;
      }
    }
    if (want <= j) hi = j;
    else if (want >= i) lo = i;
    else return a[want];
  }
  return a[want];
}

/**
 * Keeps the `n` entries ranked highest by packets and the `n` by bytes (plain estimates), in block order. This is
 * what a coarse-tier row stores: see docs/aggregator.md for the completeness it guarantees. A flow cut had at most
 * its estimate, so the floor rises to the largest estimate cut (by packets and by bytes).
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
  let cutP = 0;
  let cutB = 0;
  for (let i = 0; i < keep.length; i++) {
    if (keep[i]) idx.push(i);
    else {
      cutP = Math.max(cutP, cmsPackets.estimate(block.hi[i], block.lo[i]));
      cutB = Math.max(cutB, cmsBytes.estimate(block.hi[i], block.lo[i]));
    }
  }
  const floor = block.floor && {
    packets: Math.max(block.floor.packets, cutP),
    bytes: Math.max(block.floor.bytes, cutB),
  };
  return block.pick(idx).withBounds(floor, block.sampled);
}
