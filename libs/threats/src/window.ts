// What the detectors read of one fleet-wide window: the merged sketches every snapshot already carries, plus the
// same per host group (the rows of one Kafka partition: one host when the partition holds one, which is how per-host
// distinct counts are available without a kernel change), and what they produce.
import type { CandidateBlock } from '@tma/rollup';
import type { CountMinSketch, HyperLogLog, SpreadSketch, SynCounts } from '@tma/sketch';
import type { SpreadHistory } from './sources';

/** The four distinct counts of a window (or a host group). */
export interface Distinct {
  flows?: HyperLogLog;
  sources: HyperLogLog;
  destinations: HyperLogLog;
  ports: HyperLogLog;
}

/** The rows of one partition in a window: its hosts, their exact packets, their own HLLs and candidates. */
export interface HostGroup {
  hosts: string[];
  packets: number;
  distinct: Distinct;
  candidates: CandidateBlock;
  /** The group's per-source spreads (undefined: its snapshots carried none). */
  spread?: SpreadSketch;
  /** The group's TCP flag counts per server address (SYN floods), when its snapshots carried them. */
  syn?: SynCounts;
}

/** One fleet-wide window, merged from every partial row stored for it. */
export interface WindowData {
  windowStart: number;
  windowMs: number;
  /** Exact totals. */
  packets: number;
  bytes: number;
  cmsPackets: CountMinSketch;
  distinct: Distinct;
  /** Union of every row's candidates (kernel counts summed): the flows that were ever in a kernel's top table. */
  candidates: CandidateBlock;
  /** Exact per-host totals. */
  hosts: ReadonlyMap<string, { packets: number; bytes: number }>;
  groups: HostGroup[];
  /** Per-source spreads merged over the fleet (undefined: no snapshot carried them). */
  spread?: SpreadSketch;
  /** The last windows' spreads and their union, for the low-and-slow detector (kept by the caller). */
  spreadHistory?: SpreadHistory;
  /** TCP flag counts per server address merged over the fleet (SYN floods); undefined when no snapshot had them. */
  syn?: SynCounts;
}

/** One measured value behind a detection: estimate with its bounds, or a baseline. */
export interface Evidence {
  name: string;
  value: number;
  /** Lower and upper bound of the value when it is an estimate (CMS: never under the truth; HLL: ±3 standard errors). */
  lower?: number;
  upper?: number;
}

export const THREAT_KINDS = [
  'flood',
  'heavy-change',
  'traffic-surge',
  'source-surge',
  'port-scan',
  'superspreader',
  'low-and-slow',
  'syn-flood',
] as const;
export type ThreatKind = (typeof THREAT_KINDS)[number];

export interface Detection {
  kind: ThreatKind;
  /**
   * What the detection is about: a destination address (flood), a source address (per-source port-scan,
   * superspreader, low-and-slow), a flow, `fleet`, `host:<id>` or `hosts:<id>,<id>`.
   */
  subject: string;
  /** Strength: standard deviations above the baseline (heavy change: change / L2 norm of all changes). */
  score: number;
  windowStart: number;
  evidence: Evidence[];
  /** Hosts whose rows held the evidence (for fleet-wide detections: every host of the window). */
  hosts: string[];
  /** Named sources or flows, when candidates allow. */
  related: string[];
}
