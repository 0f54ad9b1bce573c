// The demo's attack scenario (`--attacks`): quiet traffic long enough for the threat detectors' baselines to warm up
// (5 one-minute windows by default, docs/threats.md), then a port scan and a spoofed SYN flood against host 0 for two
// minutes, repeated every ten minutes, so a dashboard shows alerts open and resolve on a schedule.
// Without --attacks every round carries the default small scan and flood of generateTraffic, as before.
import type { TrafficOptions } from './traffic';

export const ATTACK_SCHEDULE = {
  /** First attack after this long: the warm-up windows plus one, so the baselines have seen quiet traffic. */
  firstMs: 6 * 60_000,
  periodMs: 10 * 60_000,
  lengthMs: 2 * 60_000,
  /** Per round on the victim host: ports probed by one scanner, spoofed sources sending SYNs (one each). */
  scanPorts: 1000,
  floodSources: 6000,
} as const;

/** Whether the scenario attacks at `elapsedMs` after the start. */
export function attacking(elapsedMs: number, s: typeof ATTACK_SCHEDULE = ATTACK_SCHEDULE): boolean {
  if (elapsedMs < s.firstMs) return false;
  return (elapsedMs - s.firstMs) % s.periodMs < s.lengthMs;
}

/** The scan and flood options of one host's round: attacks only on host 0 and only while attacking. */
export function roundAttacks(
  elapsedMs: number,
  hostIndex: number,
): Required<Pick<TrafficOptions, 'scanPorts' | 'floodSources'>> {
  const on = hostIndex === 0 && attacking(elapsedMs);
  return {
    scanPorts: on ? ATTACK_SCHEDULE.scanPorts : 0,
    floodSources: on ? ATTACK_SCHEDULE.floodSources : 0,
  };
}
