// Per-source detectors over the windows' spread sketches (libs/sketch spread.ts, docs/threats.md "Per-source
// spreads"): the sketch names the sources with the most distinct destinations (superspreaders, host scans) and
// destination ports (port scans) and estimates each, so a detection names the scanner itself with its spread and
// the bounds of that estimate, whether or not any of its flows was a heavy-hitter candidate. Low and slow: the union
// of the last windows' sketches names a source whose spread over hours is large while every window's stays low.
import type { SpreadEstimate, SpreadKind, SpreadSketch, SpreadSource } from '@tma/sketch';
import { type Stat, update } from './baseline';
import type { ThreatConfig } from './config';
import type { Detection, Evidence, HostGroup } from './window';

/** Baselines of a source's two spreads (tracked once it reaches the admission level, largest kept). */
export interface SourceStats {
  destinations: Stat;
  ports: Stat;
}

const round = (x: number, digits = 1) => Number(x.toFixed(digits));

export const spreadEvidence = (name: string, e: SpreadEstimate): Evidence => ({
  name,
  value: round(e.value),
  lower: round(e.lower),
  upper: round(e.upper),
});

const KINDS = [
  ['port-scan', 'ports', 'distinct destination ports'],
  ['superspreader', 'destinations', 'distinct destinations'],
] as const;

/** The hosts (groups) whose own sketch names `address` among its buckets' sources. */
function hostsNaming(groups: readonly HostGroup[], named: () => Set<string>[], address: string): string[] {
  const out: string[] = [];
  named().forEach((s, i) => {
    if (s.has(address)) out.push(...groups[i].hosts);
  });
  return [...new Set(out)].sort();
}

/** Sources of the window's spread sketch whose spread is high and rises above their baseline (0 when untracked). */
export function sourceSpreads(
  windowStart: number,
  sources: readonly SpreadSource[],
  groups: readonly HostGroup[],
  tracked: Record<string, SourceStats>,
  history: number,
  c: ThreatConfig,
): Detection[] {
  const out: Detection[] = [];
  let named: Set<string>[] | undefined;
  const namedSets = () =>
    (named ??= groups.map((g) => new Set((g.spread?.sourcesNamed() ?? []).map((s) => s.address))));
  for (const s of sources) {
    for (const [kind, key, label] of KINDS) {
      const e = s[key];
      // the rise is judged on the lower bound (noise of colliding sources taken off)
      if (e.lower < c.sourceMinSpread) continue;
      // an untracked source had (about) no spread in every window so far
      const base = tracked[s.address]?.[key] ?? { m: 0, v: 0, n: history };
      if (base.n < c.warmupWindows) continue;
      // Thresholds, not a z-score: a 32-register HLL's error (18 %) keeps any spread within ~5.4 standard errors
      // of zero; the lower bound already takes off that error three times over and the colliding sources' share.
      if (e.lower - base.m < c.spreadMinRise || e.lower < c.riseFactor * base.m) continue;
      const score = e.lower / Math.max(base.m, c.sourceMinSpread / c.riseFactor);
      out.push({
        kind,
        subject: s.address,
        score: round(score, 2),
        windowStart,
        evidence: [
          spreadEvidence(`${label} of ${s.address}`, e),
          { name: `baseline ${label} of ${s.address}`, value: round(base.m) },
          spreadEvidence(
            `${key === 'ports' ? 'distinct destinations' : 'distinct destination ports'} of ${s.address}`,
            s[key === 'ports' ? 'destinations' : 'ports'],
          ),
        ],
        hosts: hostsNaming(groups, namedSets, s.address),
        related: [s.address],
      });
    }
  }
  return out;
}

/** Folds the window's named sources into their baselines; admits sources above the admission level, keeps the largest. */
export function learnSources(
  sources: readonly SpreadSource[],
  tracked: Record<string, SourceStats>,
  history: number,
  alerted: (kind: string, subject: string) => number,
  c: ThreatConfig,
): Record<string, SourceStats> {
  const admit = c.sourceMinSpread / c.riseFactor;
  const seen = new Set<string>();
  for (const s of sources) {
    let st = tracked[s.address];
    if (!st && Math.max(s.destinations.lower, s.ports.lower) >= admit)
      st = tracked[s.address] = { destinations: { m: 0, v: 0, n: history }, ports: { m: 0, v: 0, n: history } };
    if (!st) continue;
    seen.add(s.address);
    update(st.destinations, s.destinations.lower, c.alpha, alerted('superspreader', s.address));
    update(st.ports, s.ports.lower, c.alpha, alerted('port-scan', s.address));
  }
  // a tracked source the sketch does not name this window spread to (about) nothing
  for (const [a, st] of Object.entries(tracked))
    if (!seen.has(a)) {
      update(st.destinations, 0, c.alpha);
      update(st.ports, 0, c.alpha);
    }
  const top = (st: SourceStats) => Math.max(st.destinations.m, st.ports.m);
  return Object.fromEntries(
    Object.entries(tracked)
      .filter(([, st]) => top(st) >= 1)
      .sort((a, b) => top(b[1]) - top(a[1]))
      .slice(0, c.maxTrackedSources),
  );
}

/** The last windows' spread sketches and their union (the aggregator keeps them; docs/threats.md "Low and slow"). */
export interface SpreadHistory {
  union: SpreadSketch;
  windows: readonly SpreadSketch[];
}

/**
 * Low and slow: a source whose distinct destinations (or ports) over the history pass the threshold while its
 * spread in every single window stayed below the per-window limit (what the per-window detectors would catch).
 */
export function lowAndSlow(windowStart: number, h: SpreadHistory, hosts: string[], c: ThreatConfig): Detection[] {
  const out: Detection[] = [];
  if (h.windows.length < 2) return out;
  for (const s of h.union.sources()) {
    const kinds: [SpreadKind, string][] = [
      ['destinations', 'distinct destinations'],
      ['ports', 'distinct destination ports'],
    ];
    for (const [key, label] of kinds) {
      const e = s[key];
      if (e.lower < c.lowSlowMinSpread) continue;
      let most = 0;
      for (const w of h.windows) most = Math.max(most, w.estimate(s.src)[key].value);
      if (most >= c.lowSlowMaxWindowSpread) continue;
      out.push({
        kind: 'low-and-slow',
        subject: s.address,
        // how many times the per-window limit the long-range spread is
        score: round(e.lower / c.lowSlowMaxWindowSpread, 2),
        windowStart,
        evidence: [
          spreadEvidence(`${label} of ${s.address} over ${h.windows.length} windows`, e),
          { name: `largest ${label} of ${s.address} in one window`, value: round(most) },
        ],
        hosts,
        related: [s.address],
      });
      break;
    }
  }
  return out;
}
