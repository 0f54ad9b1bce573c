// Windows and the storage tiers of agg_partials: 1 min rows per (window, partition, offset range) and 1 h rows
// merged from them.
export type Tier = '1m' | '1h';
export const MINUTE_TIER = '1m' satisfies Tier;
export const HOUR_TIER = '1h' satisfies Tier;
export const HOUR_MS = 3_600_000;

/**
 * Start of the window holding an interval that ends at `endMs` (the window of its last millisecond), windows
 * aligned to the epoch. The aggregator files snapshots by it; the fleet simulator keeps its ground truth by it.
 */
export function windowOf(endMs: number, windowMs: number): number {
  return Math.floor((endMs - 1) / windowMs) * windowMs;
}

/**
 * Candidate keys a 1 h row keeps per ranking (packets, bytes): the ones with the largest estimates on the hour's
 * merged CMS. A flow left out of hour h has at most t_h there (t_h: the smallest kept estimate), so any flow above
 * Σ t_h over a range's hours is in the union of their lists; with n kept, t_h ≤ N_h / n + N_h / w in expectation
 * (w: CMS width), so any flow above ≈ 0.035 % of a range is listed (docs/aggregator.md).
 */
export const HOUR_CANDIDATES = 10_000;
