// Heavy hitters: a CMS cannot list its keys, so every host ships a bounded list of candidate flow keys (the kernel's
// candidate table); the window merges the candidate lists by key union, re-estimates every key on the merged CMS,
// ranks them (top-K by packets or bytes) and rolls them up into hierarchical heavy hitters over address prefixes.
import { CountMinSketch } from './cms';
import { hashKeyInto } from './hash';
import { FlowKeyMap, FlowTupleText, formatAddress, isFlowKey, isIPv4Mapped, parseFlowKey, toHex } from './keys';
import { FLOW_KEY_BYTES } from './spec.generated';

/**
 * Largest wire frame a packet can be (IPv4/IPv6 65,535 bytes + Ethernet and two VLAN tags): bounds the bytes of a
 * flow that never reached the packet entry threshold of the candidate table. IPv6 jumbograms are not covered.
 */
export const MAX_FRAME_BYTES = 65_535 + 14 + 8;

/** A candidate flow as a host reports it: the 40-byte canonical flow key and the kernel's counts for it. */
export interface Candidate {
  key: Uint8Array;
  packets: number;
  bytes: number;
  /**
   * True when `packets` and `bytes` are upper bounds of the flow's traffic over the whole scope of the list: the
   * flow sat in every kernel table (every CPU) that counted traffic in it. A table starts a flow at its CMS
   * estimate, which never undercounts, and then counts every packet, so its count bounds the truth from above;
   * a table the flow is missing from bounds nothing. Absent = unknown (the v1 snapshot does not say).
   */
  complete?: boolean;
  /**
   * Counted exactly since the flow entered a kernel table (packets and bytes, summed over tables): a lower bound of
   * its traffic in the list's scope whenever every packet was counted (no sampling). Absent = 0.
   */
  sincePackets?: number;
  sinceBytes?: number;
}

/**
 * What a candidate list leaves out: every flow not in the list had at most `packets` packets and `bytes` bytes in
 * the list's scope (its entry threshold, what its tables evicted or refused, and any cut to a shortlist). Summed
 * when lists of disjoint scopes are merged.
 */
export interface CandidateFloor {
  packets: number;
  bytes: number;
}

interface Entry extends Candidate {
  /** Lists the key appeared in, and the last one (a key twice in one list counts once). */
  lists: number;
  lastList: number;
  allComplete: boolean;
}

/**
 * Union of candidate lists by key; kernel counts of the same key are summed. A merged key is `complete` when it was
 * complete in every list added (each `addAll` is one list, each loose `add` a list of its own).
 */
export class CandidateSet implements Iterable<Candidate> {
  private readonly byKey = new FlowKeyMap<Entry>();
  private readonly order: Entry[] = [];
  private lists = 0;

  constructor(candidates?: Iterable<Candidate>) {
    if (candidates) this.addAll(candidates);
  }

  add(c: Candidate): void {
    this.lists++;
    this.put(c);
  }

  private put(c: Candidate): void {
    if (c.key.length !== FLOW_KEY_BYTES || !isFlowKey(c.key))
      throw new RangeError('a candidate key is a 40-byte canonical flow key');
    const seen = this.byKey.get(c.key);
    if (seen) {
      seen.packets += c.packets;
      seen.bytes += c.bytes;
      seen.sincePackets = (seen.sincePackets ?? 0) + (c.sincePackets ?? 0);
      seen.sinceBytes = (seen.sinceBytes ?? 0) + (c.sinceBytes ?? 0);
      if (seen.lastList !== this.lists) {
        seen.lists++;
        seen.lastList = this.lists;
      }
      seen.allComplete &&= c.complete === true;
    } else {
      const own: Entry = {
        key: c.key.slice(),
        packets: c.packets,
        bytes: c.bytes,
        sincePackets: c.sincePackets ?? 0,
        sinceBytes: c.sinceBytes ?? 0,
        lists: 1,
        lastList: this.lists,
        allComplete: c.complete === true,
      };
      this.byKey.set(own.key, own);
      this.order.push(own);
    }
  }

  /** Adds one list (one host's, or one table's, candidates). */
  addAll(list: Iterable<Candidate>): this {
    this.lists++;
    for (const c of list) this.put(c);
    return this;
  }

  has(key: Uint8Array): boolean {
    return this.byKey.get(key) !== undefined;
  }

  get size(): number {
    return this.order.length;
  }

  [Symbol.iterator](): Iterator<Candidate> {
    return this.toArray()[Symbol.iterator]();
  }

  /** The merged candidates, in order of first appearance (`complete` set where it holds). */
  toArray(): Candidate[] {
    return this.order.map((e) => {
      const c: Candidate = { key: e.key, packets: e.packets, bytes: e.bytes };
      if (e.allComplete && e.lists === this.lists) c.complete = true;
      if (e.sincePackets || e.sinceBytes) {
        c.sincePackets = e.sincePackets;
        c.sinceBytes = e.sinceBytes;
      }
      return c;
    });
  }
}

/** Merges candidate lists from many hosts (key union, kernel counts summed). */
export function mergeCandidates(lists: Iterable<Iterable<Candidate>>): Candidate[] {
  const set = new CandidateSet();
  for (const l of lists) set.addAll(l);
  return set.toArray();
}

export type RankBy = 'packets' | 'bytes';

/** A flow re-estimated on the merged sketches. Estimates never undercount; each exceeds the truth by at most its bound with probability `confidence`. */
export interface HeavyHitter {
  key: Uint8Array;
  tuple: FlowTupleText;
  packets: number;
  packetsBound: number;
  bytes: number;
  bytesBound: number;
  /** Upper counts of the candidate lists summed over the lists that name the flow (see Candidate). */
  kernelPackets: number;
  kernelBytes: number;
  /** Counted exactly since entry, summed: the flow's traffic is at least this (certain unless sampled). */
  sincePackets: number;
  sinceBytes: number;
  confidence: number;
}

export interface HeavyHitterOptions {
  by?: RankBy;
  /** Keep at most k flows (after ranking). */
  k?: number;
  /** Keep only flows whose estimate is at least phi × total of the ranking sketch (0 < phi < 1). */
  phi?: number;
}

/**
 * Upper bounds for every candidate on a merged CMS (the minimum over rows), optionally tightened with the other
 * candidates' counts: a cell holds the candidate's own count plus everything else that hashed there, and when the
 * candidates' counts are lower bounds of their true traffic (`correct`), the counts of other candidates sharing the
 * cell can be taken out while the result still never undercounts.
 * Returns estimates in candidate order; allocates per call, not per cell.
 */
export function candidateUpperBounds(
  candidates: readonly Candidate[],
  cms: CountMinSketch,
  weight: RankBy,
  correct = true,
): Float64Array {
  const n = candidates.length;
  const d = cms.depth;
  const shift = 32 - cms.widthBits;
  const cols = new Uint32Array(n * d);
  const h = new Uint32Array(2);
  for (let i = 0; i < n; i++) {
    hashKeyInto(candidates[i].key, h);
    for (let r = 0; r < d; r++) cols[i * d + r] = ((h[1] + Math.imul(r, h[0])) >>> 0) >>> shift;
  }
  // Σ of kernel lower bounds per occupied cell.
  const known = new Map<number, number>();
  if (correct) {
    for (let i = 0; i < n; i++) {
      const lb = weight === 'packets' ? candidates[i].packets : candidates[i].bytes;
      if (!(lb > 0)) continue;
      for (let r = 0; r < d; r++) {
        const cell = r * cms.width + cols[i * d + r];
        known.set(cell, (known.get(cell) ?? 0) + lb);
      }
    }
  }
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const own = weight === 'packets' ? candidates[i].packets : candidates[i].bytes;
    let best = Infinity;
    for (let r = 0; r < d; r++) {
      const cell = r * cms.width + cols[i * d + r];
      let v = cms.cells[cell];
      if (correct) v -= (known.get(cell) ?? 0) - (own > 0 ? own : 0);
      if (v < best) best = v;
    }
    // With lower-bound counts, never below the candidate's own count. Without correction the counts are not used:
    // kernel counts start at a CMS estimate and bound nothing from below.
    out[i] = correct && own > best ? own : best;
  }
  return out;
}

export interface HeavyHitterEstimateOptions extends HeavyHitterOptions {
  /**
   * Take colliding candidates' counts out of the cells they share (default false). Sound only when candidate counts
   * never exceed the flows' true traffic (counted from zero at insertion). The v1 kernel table starts a key at its
   * CMS estimate, which can exceed the truth, so leave this off for kernel snapshots.
   */
  correctCollisions?: boolean;
  /**
   * Cap the estimate of a `complete` candidate at its summed kernel counts (default true): then each of them is an
   * upper bound too, usually far tighter than the CMS cell, whose excess is the mice that share it.
   */
  completeCounts?: boolean;
  /**
   * The floor of the candidate lists (every flow a list does not name had at most this in its scope): a flow's
   * summed upper counts plus the floor bound it from above, so estimates are capped there too.
   */
  floor?: CandidateFloor;
}

/**
 * Re-estimates candidates on the merged CMS by packets and by bytes and ranks them.
 * With `phi`, every flow whose true count is ≥ φ·N and whose key is among the candidates is reported (estimates
 * never undercount); false positives are flows less than ε·N below the threshold.
 */
export function heavyHitters(
  candidates: Iterable<Candidate>,
  cmsPackets: CountMinSketch,
  cmsBytes: CountMinSketch,
  options: HeavyHitterEstimateOptions = {},
): HeavyHitter[] {
  const by = options.by ?? 'packets';
  const rankSketch = by === 'packets' ? cmsPackets : cmsBytes;
  if (options.phi !== undefined && !(options.phi > 0 && options.phi < 1))
    throw new RangeError(`phi must be in (0, 1), got ${options.phi}`);
  const threshold = options.phi === undefined ? 0 : options.phi * rankSketch.total;
  const list = Array.isArray(candidates) ? (candidates as Candidate[]) : [...candidates];
  const correct = options.correctCollisions ?? false;
  const pk = candidateUpperBounds(list, cmsPackets, 'packets', correct);
  const by_ = candidateUpperBounds(list, cmsBytes, 'bytes', correct);
  if (options.completeCounts ?? true) {
    for (let i = 0; i < list.length; i++) {
      const c = list[i];
      if (c.complete !== true) continue;
      if (c.packets < pk[i]) pk[i] = c.packets;
      if (c.bytes < by_[i]) by_[i] = c.bytes;
    }
  }
  if (options.floor) {
    const f = options.floor;
    for (let i = 0; i < list.length; i++) {
      pk[i] = Math.min(pk[i], list[i].packets + f.packets);
      by_[i] = Math.min(by_[i], list[i].bytes + f.bytes);
    }
  }
  const out: HeavyHitter[] = [];
  const packetsBound = cmsPackets.errorBound();
  const bytesBound = cmsBytes.errorBound();
  for (let i = 0; i < list.length; i++) {
    const c = list[i];
    const packets = pk[i];
    const bytes = by_[i];
    const rank = by === 'packets' ? packets : bytes;
    if (rank === 0 || rank < threshold) continue;
    out.push({
      key: c.key,
      tuple: parseFlowKey(c.key),
      packets,
      packetsBound,
      bytes,
      bytesBound,
      kernelPackets: c.packets,
      kernelBytes: c.bytes,
      sincePackets: c.sincePackets ?? 0,
      sinceBytes: c.sinceBytes ?? 0,
      confidence: 1 - cmsPackets.delta,
    });
  }
  // Equal counts are ordered by key, so a ranking does not depend on the order candidates were merged in.
  out.sort(
    by === 'packets'
      ? (a, b) => b.packets - a.packets || b.bytes - a.bytes || compareKeys(a.key, b.key)
      : (a, b) => b.bytes - a.bytes || b.packets - a.packets || compareKeys(a.key, b.key),
  );
  return options.k === undefined ? out : out.slice(0, options.k);
}

/** The split of a top-k answer into flows certainly in it and flows possibly in it (indices into the input). */
export interface TopKSplit {
  certain: number[];
  possible: number[];
  /** the k-th largest lower bound (0 with fewer than k flows) */
  kthLower: number;
  /** the k-th largest lower bound is above the floor: no flow outside the list can be in the top k */
  complete: boolean;
}

/**
 * Splits flows with deterministic bounds (lower[i] ≤ truth ≤ upper[i]) for the top k, given that every flow not in
 * the list had at most `floor` (undefined: unknown). A flow is certain when its lower bound is above the floor and
 * fewer than k others have an upper bound above it: at most k − 1 flows can beat it (precision 100 %). It is possible
 * (and not certain) when fewer than k flows have a lower bound above its upper bound: every true top-k flow in the
 * list is certain or possible (recall 100 %), and every flow above the floor is in the list.
 */
export function splitTopK(
  lower: ArrayLike<number>,
  upper: ArrayLike<number>,
  k: number,
  floor: number | undefined,
): TopKSplit {
  const n = lower.length;
  const ups = Float64Array.from(upper).sort().reverse();
  const lows = Float64Array.from(lower).sort().reverse();
  /** how many values of a descending array are strictly above x */
  const above = (a: Float64Array, x: number) => {
    let lo = 0;
    let hi = a.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (a[mid] > x) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
  const certain: number[] = [];
  const possible: number[] = [];
  for (let i = 0; i < n; i++) {
    const rivals = above(ups, lower[i]) - (upper[i] > lower[i] ? 1 : 0);
    if (floor !== undefined && lower[i] > floor && rivals < k) certain.push(i);
    else if (above(lows, upper[i]) < k) possible.push(i);
  }
  const kthLower = n >= k ? lows[k - 1] : 0;
  return { certain, possible, kthLower, complete: floor !== undefined && n >= k && kthLower > floor };
}

/** Prefix lengths rolled up, most specific first. */
export const IPV4_PREFIXES: readonly number[] = [32, 24, 16, 8];
export const IPV6_PREFIXES: readonly number[] = [128, 64, 48, 32, 16];

export interface HierarchicalHeavyHitter {
  /** CIDR text, e.g. 10.1.0.0/16 or 2001:db8::/32. */
  prefix: string;
  family: 4 | 6;
  length: number;
  /** Estimated traffic of every candidate flow under the prefix. */
  weight: number;
  /** Weight not already explained by a more specific reported prefix (what crossed the threshold). */
  discounted: number;
  /** weight / total. */
  share: number;
}

export interface HierarchicalOptions {
  side: 'src' | 'dst';
  /** Report a prefix when its discounted weight is at least phi × total. */
  phi: number;
  /** N: total traffic of the window (usually the merged CMS total). */
  total: number;
  by?: RankBy;
}

interface PrefixNode {
  family: 4 | 6;
  addr: Uint8Array;
  weight: number;
  discounted: number;
}

function maskAddress(addr: Uint8Array, family: 4 | 6, length: number): Uint8Array {
  const out = addr.slice();
  const bits = family === 4 ? 96 + length : length; // IPv4 lives in the last 32 bits of the mapped address
  for (let i = 0; i < 16; i++) {
    const keep = Math.max(0, Math.min(8, bits - 8 * i));
    out[i] &= (0xff00 >> keep) & 0xff;
  }
  return out;
}

/**
 * Hierarchical heavy hitters (discounted): walking from /32 (/128) up to /8 (/16), a prefix is reported when the
 * weight under it that no reported more specific prefix already accounts for is at least φ·N.
 */
export function hierarchicalHeavyHitters(
  flows: Iterable<HeavyHitter>,
  options: HierarchicalOptions,
): HierarchicalHeavyHitter[] {
  if (!(options.phi > 0 && options.phi < 1)) throw new RangeError(`phi must be in (0, 1), got ${options.phi}`);
  const by = options.by ?? 'packets';
  const threshold = options.phi * options.total;
  const offset = options.side === 'src' ? 0 : 16;
  const out: HierarchicalHeavyHitter[] = [];
  const list = [...flows];
  for (const family of [4, 6] as const) {
    const levels = family === 4 ? IPV4_PREFIXES : IPV6_PREFIXES;
    let nodes = new Map<string, PrefixNode>();
    for (const f of list) {
      if (isIPv4Mapped(f.key, offset) !== (family === 4)) continue;
      const addr = maskAddress(f.key.subarray(offset, offset + 16), family, levels[0]);
      const id = toHex(addr);
      const w = by === 'packets' ? f.packets : f.bytes;
      const n = nodes.get(id);
      if (n) {
        n.weight += w;
        n.discounted += w;
      } else {
        nodes.set(id, { family, addr, weight: w, discounted: w });
      }
    }
    for (let li = 0; li < levels.length; li++) {
      const length = levels[li];
      for (const n of nodes.values()) {
        if (n.discounted >= threshold && n.discounted > 0) {
          const text = formatAddress(n.addr);
          out.push({
            prefix: `${text}/${length}`,
            family,
            length,
            weight: n.weight,
            discounted: n.discounted,
            share: options.total > 0 ? n.weight / options.total : 0,
          });
          n.discounted = 0;
        }
      }
      if (li + 1 === levels.length) break;
      const parents = new Map<string, PrefixNode>();
      for (const n of nodes.values()) {
        const addr = maskAddress(n.addr, family, levels[li + 1]);
        const id = toHex(addr);
        const p = parents.get(id);
        if (p) {
          p.weight += n.weight;
          p.discounted += n.discounted;
        } else {
          parents.set(id, { family, addr, weight: n.weight, discounted: n.discounted });
        }
      }
      nodes = parents;
    }
  }
  return out.sort((a, b) => b.length - a.length || b.weight - a.weight);
}

function compareKeys(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i] - b[i];
  return a.length - b.length;
}
