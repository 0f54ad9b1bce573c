// What an answer covers: the range, the windows merged per tier and the host set (every answer carries it).
import type { TimeRange } from '../common/params';
import type { PartialRef } from './partial-row';
import type { PartialStore } from './partial-store';
import { provisionalFrom } from './provisional-index';

export interface Scope {
  /** The time range answered: windows whose start lies in [from, to). */
  from: string;
  to: string;
  /** Distinct windows merged per tier (1m, 1h, 1d). */
  tiers: Record<string, number>;
  /** Hosts the answer is restricted to, or null for the whole fleet. */
  hosts: string[] | null;
  /**
   * False when a host filter was given but some stored partials merge the requested hosts with others (partials are
   * per Kafka partition): the answer then covers `coveredHosts`, a superset.
   */
  exact: boolean;
  coveredHosts?: string[];
  /**
   * Start of the earliest window merged from provisional rows (an aggregator's open window, docs/query-api.md
   * "Provisional windows"): figures from there on still grow until the windows are final. Null when all were final.
   */
  provisionalFrom: string | null;
  /** Windows whose rows (all or some partitions) were stored under another hash seed and left out; absent when none. */
  otherSeedWindows?: number;
}

export const iso = (ms: number): string => new Date(ms).toISOString();

/** The start of every step-wide bucket of the range, the first aligned at or before `from`. */
export function stepStarts(range: TimeRange, step: number): number[] {
  const out: number[] = [];
  for (let t = Math.floor(range.from / step) * step; t < range.to; t += step) out.push(t);
  return out;
}

/**
 * Rows for the range and host set, with their scope; 1 h and 1 d rows only without a host filter (`dayTier`: days may
 * stand for their hours, false for series whose steps are not whole days).
 */
export async function scopedRows(
  store: PartialStore,
  range: TimeRange,
  hosts: string[] | undefined,
  hourTier = true,
  dayTier = hourTier,
): Promise<{ rows: PartialRef[]; scope: Scope }> {
  const sel = await store.select(range, {
    hourTier: hourTier && !hosts,
    dayTier: dayTier && hourTier && !hosts,
    withHosts: !!hosts,
  });
  const scope: Scope = {
    from: iso(range.from),
    to: iso(range.to),
    tiers: sel.tiers,
    hosts: hosts ?? null,
    exact: true,
    provisionalFrom: provisionalFrom(sel.rows),
    ...(sel.otherSeedWindows ? { otherSeedWindows: sel.otherSeedWindows } : {}),
  };
  if (!hosts) return { rows: sel.rows, scope };
  const wanted = new Set(hosts);
  const covered = new Set<string>();
  const rows = sel.rows.filter((r) => (r.hosts ?? []).some((h) => wanted.has(h)));
  for (const r of rows) for (const h of r.hosts ?? []) covered.add(h);
  scope.exact = [...covered].every((h) => wanted.has(h));
  scope.provisionalFrom = provisionalFrom(rows);
  if (!scope.exact) scope.coveredHosts = [...covered].sort();
  const windows = new Set(rows.map((r) => `${r.tier}|${r.windowStart}`));
  scope.tiers = {};
  for (const w of windows) {
    const t = w.split('|')[0];
    scope.tiers[t] = (scope.tiers[t] ?? 0) + 1;
  }
  return { rows, scope };
}
