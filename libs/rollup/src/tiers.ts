// Windows and the storage tiers of agg_partials: 1 min rows per (window, partition, offset range), 1 h rows merged
// from them and 1 d rows merged from 1 h rows (days aligned to the epoch: UTC days); and, beside the 1 min rows, one
// fleet row per 1 min window merging all of them (what a whole-fleet answer reads instead of one row per partition).
export type Tier = '1m' | '1h' | '1d' | '1m-fleet';
export const MINUTE_TIER = '1m' satisfies Tier;
/**
 * A 1 min window's rows merged into one (every partition, every offset range; candidates as their full union, so an
 * answer from it equals one from the rows it merged). Its version is the sum of the merged rows' versions: a reader
 * uses it only while that sum equals the sum over the 1 min rows it sees for the window (a late row makes them differ
 * until the fleet row is rebuilt).
 */
export const FLEET_MINUTE_TIER = '1m-fleet' satisfies Tier;
export const HOUR_TIER = '1h' satisfies Tier;
export const DAY_TIER = '1d' satisfies Tier;
export const HOUR_MS = 3_600_000;
export const DAY_MS = 86_400_000;

/** The coarse tiers, finest first: rows merged from the tier before them, each carrying a frequent-items summary. */
export const COARSE_TIERS = [
  { tier: HOUR_TIER, ms: HOUR_MS },
  { tier: DAY_TIER, ms: DAY_MS },
] as const;

/**
 * Start of the window holding an interval that ends at `endMs` (the window of its last millisecond), windows
 * aligned to the epoch. The aggregator files snapshots by it; the fleet simulator keeps its ground truth by it.
 */
export function windowOf(endMs: number, windowMs: number): number {
  return Math.floor((endMs - 1) / windowMs) * windowMs;
}

/**
 * Counters a coarse-tier row (1 h, 1 d) keeps per ranking (packets, bytes): the k of its frequent-items summary
 * (frequent.ts). A flow the row does not keep had at most ⌊(n − Σ counters)/(k + 1)⌋ + G there (n: since-entry
 * counts fed, G: the merged windows' slack), so at most ≈ 0.01 % of the counted traffic plus G: a bound, not an
 * expectation (docs/sketch.md, "Coarse tiers"). 1 min windows listed for SQL are cut to the same size.
 */
export const HOUR_CANDIDATES = 10_000;
/** The same k for the 1 d tier (a merge keeps at most the smallest k of its inputs). */
export const DAY_CANDIDATES = HOUR_CANDIDATES;
