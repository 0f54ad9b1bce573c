// Per-window baselines: an exponentially weighted mean and variance per tracked value (fleet, host, host group,
// destination), kept as plain JSON so the state after each window can be stored and a restart resumes from it.

/** EWMA of one value over windows: mean m, variance v, windows seen n. */
export interface Stat {
  m: number;
  v: number;
  n: number;
}

export const newStat = (): Stat => ({ m: 0, v: 0, n: 0 });

/**
 * Folds x into the statistic with weight alpha (West's incremental EWMA variance). The first value sets the mean.
 * `weight` < 1 learns the mean more slowly and leaves the variance alone (used while the value alerts, so a sustained
 * attack does not become the norm at once but a lasting change of level still does, eventually).
 */
export function update(s: Stat, x: number, alpha: number, weight = 1): void {
  if (s.n === 0) {
    s.m = x;
    s.v = 0;
    s.n = 1;
    return;
  }
  const a = alpha * weight;
  const d = x - s.m;
  s.m += a * d;
  // An alerting value moves the mean only: widening the spread by it would hide the rest of the attack.
  if (weight === 1) s.v = (1 - a) * (s.v + a * d * d);
  s.n++;
}

/**
 * The spread a value is compared with: the EWMA deviation, plus a relative floor (ordinary swings a short history
 * misses), plus the estimate's own error (HLL relative standard error × value, or a CMS bound), plus a Poisson
 * floor √m so a small count never divides by nearly nothing.
 */
export function spread(s: Stat, relativeFloor: number, estimateError = 0): number {
  return Math.sqrt(s.v + (relativeFloor * s.m) ** 2 + estimateError ** 2 + Math.max(1, s.m));
}

/** How far x is above the baseline, in spreads (the detectors' score). */
export function zScore(s: Stat, x: number, relativeFloor: number, estimateError = 0): number {
  return (x - s.m) / spread(s, relativeFloor, estimateError);
}
