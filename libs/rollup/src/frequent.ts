// The coarse tiers' candidate lists (1 h, 1 d): a deterministic mergeable frequent-items summary per ranking
// (Misra–Gries with k counters, merged as in Agarwal et al., "Mergeable Summaries", PODS 2012) instead of a
// top-by-estimate shortlist, so the error of a long range's list is bounded by construction (docs/sketch.md,
// "Coarse tiers").
//
// What a summary is fed: per window (a stored row), each listed flow's since-entry count s_w(x), exact since the flow
// entered a kernel table and so a lower bound of its traffic t_w(x) there. Every flow, listed or not, has
// t_w(x) − s_w(x) ≤ G_w, the window's slack (windowSlack: the floor for a flow the window does not list, and for a
// listed one what its upper bound min(CMS estimate, upper count + floor) leaves above its since-entry count).
// With S(x) = Σ_w s_w(x), n = Σ_x S(x) (fed), c(x) the counter (0 when not kept) and Δ = (n − Σ c)/(k + 1):
//
//   c(x) ≤ S(x) ≤ c(x) + Δ   (Misra–Gries, also after any number of merges)
//   so  c(x) ≤ t(x) ≤ c(x) + Δ + G,  G = Σ_w G_w,
//
// and every flow the summary does not keep had at most ⌊Δ⌋ + G (truths and counters are integers): that is the
// list's floor. A merge of windows' own lists that reduces no counter (Δ = 0) keeps their union as it is instead, with
// its tighter bounds (upper counts summed, floor = Σ floors). Bytes are a second summary with their own counters, Δ and G.
import type { CandidateFloor, CountMinSketch, FrequentState } from '@tma/sketch';
import { CandidateBlock, kthLargest, unionBlocks } from './candidates';

/** A frequent-items summary pair (packets, bytes) over a block of candidates. */
export interface FrequentSummary {
  /**
   * The kept flows: since-entry counts summed over the windows merged (lower bounds, at least the counters), upper
   * counts such that upper + floor bounds each from above, and floor = ⌊Δ⌋ + G (undefined: some window's floor was
   * unknown).
   */
  block: CandidateBlock;
  /** Counters per ranking (each at most `k` above 0). Infinity: an exact summary (every flow of the scope listed). */
  k: number;
  /** Σ of the since-entry counts fed (n). */
  fed: CandidateFloor;
  /** Σ over the windows merged of their slack (G); undefined when some window's was unknown. */
  slack: CandidateFloor | undefined;
  /** The counters, one per block entry (0: not counted in that ranking). */
  packets: Float64Array;
  bytes: Float64Array;
}

function sum(a: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i];
  return s;
}

/**
 * The most any flow had in a window beyond its since-entry count there (G_w): the window's floor for a flow it does not
 * list; for a listed flow its upper bound (the smaller of the CMS estimate and upper count + floor) less its
 * since-entry count. Undefined when the window's floor is unknown.
 */
export function windowSlack(
  block: CandidateBlock,
  cmsPackets: CountMinSketch,
  cmsBytes: CountMinSketch,
): CandidateFloor | undefined {
  const f = block.floor;
  if (!f) return undefined;
  let sp = f.packets;
  let sb = f.bytes;
  for (let i = 0; i < block.size; i++) {
    const h = block.hi[i];
    const l = block.lo[i];
    const up = Math.min(block.packets[i] + f.packets, cmsPackets.estimate(h, l));
    const ub = Math.min(block.bytes[i] + f.bytes, cmsBytes.estimate(h, l));
    if (up - block.sincePackets[i] > sp) sp = up - block.sincePackets[i];
    if (ub - block.sinceBytes[i] > sb) sb = ub - block.sinceBytes[i];
  }
  return { packets: sp, bytes: sb };
}

/**
 * One window's list as an exact summary: every flow of the window not listed had since-entry count 0 there, so the
 * counters are the since-entry counts and Δ = 0; the slack is windowSlack's.
 */
export function exactSummary(block: CandidateBlock, slack: CandidateFloor | undefined): FrequentSummary {
  return {
    block,
    k: Infinity,
    fed: { packets: sum(block.sincePackets), bytes: sum(block.sinceBytes) },
    slack,
    packets: block.sincePackets,
    bytes: block.sinceBytes,
  };
}

/** A stored coarse-tier list's summary (the list's entries and its FrequentState, in the same order). */
export function storedSummary(block: CandidateBlock, state: FrequentState): FrequentSummary {
  if (state.packets.length !== block.size || state.bytes.length !== block.size)
    throw new RangeError('frequent-items counters must match the candidates one to one');
  return {
    block,
    k: state.k,
    fed: { ...state.fed },
    // A stored summary written without a known floor has none: its slack is unknown too.
    slack: block.floor ? { ...state.slack } : undefined,
    packets: Float64Array.from(state.packets),
    bytes: Float64Array.from(state.bytes),
  };
}

/** The summary's state as stored beside its list (encodeCandidates' `frequent`). */
export function frequentState(s: FrequentSummary): FrequentState {
  if (!Number.isFinite(s.k)) throw new RangeError('an exact summary is stored as a plain list');
  return {
    k: s.k,
    fed: { ...s.fed },
    slack: s.slack ? { ...s.slack } : { packets: 0, bytes: 0 },
    packets: Array.from(s.packets),
    bytes: Array.from(s.bytes),
  };
}

/** Δ = (n − Σ counters)/(k + 1) per ranking: how far S(x) can be above its counter (0 for an exact summary). */
export function summaryError(s: FrequentSummary): CandidateFloor {
  if (!Number.isFinite(s.k)) return { packets: 0, bytes: 0 };
  return {
    packets: Math.max(0, s.fed.packets - sum(s.packets)) / (s.k + 1),
    bytes: Math.max(0, s.fed.bytes - sum(s.bytes)) / (s.k + 1),
  };
}

/** The (k+1)-th largest counter, 0 when at most k are above 0. */
function cutValue(c: Float64Array, k: number): number {
  let positive = 0;
  for (let i = 0; i < c.length; i++) if (c[i] > 0) positive++;
  if (positive <= k) return 0;
  return kthLargest(Float64Array.from(c), k + 1);
}

/**
 * Reduces counters to at most k per ranking: subtracts the (k+1)-th largest from every counter and drops entries left
 * at 0 in both rankings (Agarwal et al.'s merge step; deterministic, whatever the order of the entries). Each counter
 * loses at most that value while Σ counters loses at least k + 1 times it, so c ≤ S ≤ c + Δ still holds.
 */
function prune(
  block: CandidateBlock,
  cp: Float64Array,
  cb: Float64Array,
  k: number,
  fed: CandidateFloor,
  slack: CandidateFloor | undefined,
): FrequentSummary {
  const cutP = Number.isFinite(k) ? cutValue(cp, k) : 0;
  const cutB = Number.isFinite(k) ? cutValue(cb, k) : 0;
  const keep: number[] = [];
  for (let i = 0; i < block.size; i++) if (cp[i] > cutP || cb[i] > cutB) keep.push(i);
  const out = block.pick(keep);
  const packets = new Float64Array(keep.length);
  const bytes = new Float64Array(keep.length);
  for (let j = 0; j < keep.length; j++) {
    const i = keep[j];
    packets[j] = Math.max(0, cp[i] - cutP);
    bytes[j] = Math.max(0, cb[i] - cutB);
    // Lower bounds: the since-entry sums, never below the counter (c ≤ S; kept exact where both are known).
    out.sincePackets[j] = Math.max(out.sincePackets[j], packets[j]);
    out.sinceBytes[j] = Math.max(out.sinceBytes[j], bytes[j]);
    // t ≤ c + Δ + G ≤ since + ⌊Δ⌋ + G: the upper count is the lower one, the floor carries the rest.
    out.packets[j] = out.sincePackets[j];
    out.bytes[j] = out.sinceBytes[j];
  }
  const s: FrequentSummary = { block: out, k, fed, slack, packets, bytes };
  const err = summaryError(s);
  const floor = slack && {
    packets: Math.floor(err.packets) + slack.packets,
    bytes: Math.floor(err.bytes) + slack.bytes,
  };
  s.block = out
    .withBounds(floor, block.sampled)
    .withSummaryError({ packets: Math.floor(err.packets), bytes: Math.floor(err.bytes) });
  return s;
}

/**
 * Merges summaries of disjoint scopes (windows, hours) into one of at most `k` counters per ranking (fewer when an
 * input has fewer: a summary's bound holds for any smaller k). Counters, since-entry counts, fed totals and slacks
 * add up; then prune. Associative and commutative up to the bound: any grouping gives c ≤ S ≤ c + Δ.
 */
export function mergeSummaries(parts: readonly FrequentSummary[], k: number): FrequentSummary {
  let kk = k;
  let slack: CandidateFloor | undefined = { packets: 0, bytes: 0 };
  const fed = { packets: 0, bytes: 0 };
  let sampled = false;
  const blocks: CandidateBlock[] = [];
  for (const p of parts) {
    kk = Math.min(kk, p.k);
    fed.packets += p.fed.packets;
    fed.bytes += p.fed.bytes;
    slack = slack && p.slack && { packets: slack.packets + p.slack.packets, bytes: slack.bytes + p.slack.bytes };
    sampled ||= p.block.sampled;
    // The union adds "upper" counts: carry the counters there (the entries' upper counts are rebuilt by prune).
    blocks.push(
      new CandidateBlock(
        p.block.keyData,
        p.block.keyBytes,
        p.block.hi,
        p.block.lo,
        p.packets,
        p.bytes,
        p.block.sincePackets,
        p.block.sinceBytes,
        undefined,
        p.block.sampled,
      ),
    );
  }
  // Windows' own lists (exact summaries: counters = since-entry counts) union as they are, upper counts and floors
  // included: when the merge drops nothing, that union is still exact and keeps its tighter bounds (t ≤ Σ upper +
  // Σ floors; every flow not listed ≤ Σ floors), the summary state beside it for later merges.
  const allExact = parts.length > 0 && parts.every((p) => !Number.isFinite(p.k));
  if (allExact) {
    const u = unionBlocks(parts.map((p) => p.block));
    const s = prune(u, Float64Array.from(u.sincePackets), Float64Array.from(u.sinceBytes), kk, fed, slack);
    // Δ = 0: no counter was reduced (at most k flows per ranking counted anything); only zero counters were dropped.
    if (summaryError(s).packets === 0 && summaryError(s).bytes === 0) {
      s.block = u.withBounds(u.floor, sampled).withSummaryError({ packets: 0, bytes: 0 });
      s.packets = Float64Array.from(u.sincePackets);
      s.bytes = Float64Array.from(u.sinceBytes);
    }
    return s;
  }
  const u = unionBlocks(blocks);
  // The union may hand back an input's arrays: counters are copied before prune reads them.
  const base = u.withBounds(undefined, sampled);
  return prune(base, Float64Array.from(u.packets), Float64Array.from(u.bytes), kk, fed, slack);
}
