// The detectors: pure functions of one fleet-wide window, the window before it (for sketch differences) and the
// baselines so far. Each returns detections with evidence and bounds; evaluateWindow() also folds the window into
// the baselines and runs the alert lifecycle. docs/threats.md gives the math and the limits.
import { parseFlowKey, formatAddress, toHex, type HyperLogLog, type SpreadSource, type SynCounts } from '@tma/sketch';
import { type Stat, newStat, update, zScore } from './baseline';
import type { ThreatConfig } from './config';
import { SketchDifference } from './kary';
import { type AlertEvent, type OpenAlert, advanceAlerts } from './lifecycle';
import { type SourceStats, learnSources, lowAndSlow, sourceSpreads, spreadEvidence } from './sources';
import type { Detection, Evidence, HostGroup, WindowData } from './window';

interface SpreadStats {
  packets: Stat;
  sources: Stat;
  destinations: Stat;
  ports: Stat;
}

/** Everything carried from one window to the next (JSON: stored after each window, read back after a restart). */
export interface ThreatState {
  /** Start of the last window folded in (null: cold). */
  lastWindow: number | null;
  fleet: SpreadStats;
  /** Per host: packets (exact). */
  hosts: Record<string, Stat & { last: number }>;
  /** Per host group (a partition's hosts, comma-joined): packets and distinct counts. */
  groups: Record<string, SpreadStats & { last: number }>;
  /** Per destination address: packets of its candidate flows. */
  destinations: Record<string, Stat>;
  /** Per source address named by the spread sketches: its distinct destinations and ports (absent in older state). */
  sources?: Record<string, SourceStats>;
  /** Per server address: SYNs not matched by ACKs (lower bound; syn-flood). Absent in state stored before it. */
  synDestinations?: Record<string, Stat>;
  open: OpenAlert[];
}

const spreadStats = (): SpreadStats => ({
  packets: newStat(),
  sources: newStat(),
  destinations: newStat(),
  ports: newStat(),
});

export function emptyState(): ThreatState {
  return {
    lastWindow: null,
    fleet: spreadStats(),
    hosts: {},
    groups: {},
    destinations: {},
    sources: {},
    synDestinations: {},
    open: [],
  };
}

/** Weight of a window that alerted when folded into its baseline: slow enough that an attack stays visible. */
const ALERTING_WEIGHT = 0.1;
/** Hosts and groups not seen for this many windows are forgotten. */
const FORGET_AFTER_WINDOWS = 60;
/** Named sources or flows kept per detection. */
const RELATED = 5;

const round = (x: number, digits = 3) => Number(x.toFixed(digits));

/** An HLL estimate with ±3 standard errors. */
function hllEvidence(name: string, h: HyperLogLog): Evidence & { estimate: number; error: number } {
  const value = h.estimate();
  const error = value * h.standardError;
  return {
    name,
    value: round(value, 1),
    lower: round(Math.max(0, value - 3 * error), 1),
    upper: round(value + 3 * error, 1),
    estimate: value,
    error,
  };
}

const baselineEvidence = (name: string, s: Stat): Evidence => ({
  name,
  value: round(s.m, 1),
  lower: round(Math.max(0, s.m - Math.sqrt(s.v)), 1),
  upper: round(s.m + Math.sqrt(s.v), 1),
});

const flowText = (f: ReturnType<typeof parseFlowKey>) => `${f.src}:${f.sport} → ${f.dst}:${f.dport}/${f.proto}`;

/** A value rises against its baseline: warm, z above the threshold, and at least `riseFactor` times the mean. */
function rises(s: Stat | undefined, x: number, c: ThreatConfig, estimateError = 0): number | null {
  const st = s ?? newStat();
  if (st.n > 0 && st.n < c.warmupWindows) return null;
  const z = zScore(st, x, c.relativeFloor, estimateError);
  if (z < c.zThreshold || x < c.riseFactor * st.m) return null;
  return z;
}

/** A candidate flow of the window with its bounds on the window's CMS. */
export interface CandidateView {
  key: Uint8Array;
  hex: string;
  dst: string;
  hi: number;
  lo: number;
  /** CMS estimate: never under the truth. */
  upper: number;
  /** Kernel count or estimate − bound, whichever is larger: never over the truth (at the CMS confidence). */
  lower: number;
}

function candidateViews(w: WindowData): CandidateView[] {
  const c = w.candidates;
  const bound = w.cmsPackets.errorBound();
  const out: CandidateView[] = [];
  for (let i = 0; i < c.size; i++) {
    const upper = w.cmsPackets.estimate(c.hi[i], c.lo[i]);
    const key = c.key(i);
    out.push({
      key,
      hex: toHex(key),
      dst: dstOf(key),
      hi: c.hi[i],
      lo: c.lo[i],
      upper,
      lower: Math.max(c.packets[i], upper - bound),
    });
  }
  return out;
}

const dstOf = (key: Uint8Array) => formatAddress(key, 16);

/** Each group's candidate keys (hex) and destinations, computed once per window. */
interface GroupIndex {
  group: HostGroup;
  keys: Set<string>;
  destinations: Set<string>;
}

/** Each group's key sets, built on first use: a window without detections never needs them. */
function lazyIndex(groups: readonly HostGroup[]): () => GroupIndex[] {
  let index: GroupIndex[] | undefined;
  return () => (index ??= indexGroups(groups));
}

function indexGroups(groups: readonly HostGroup[]): GroupIndex[] {
  return groups.map((group) => {
    const keys = new Set<string>();
    const destinations = new Set<string>();
    for (let i = 0; i < group.candidates.size; i++) {
      const k = group.candidates.key(i);
      keys.add(toHex(k));
      destinations.add(dstOf(k));
    }
    return { group, keys, destinations };
  });
}

/** Hosts of the groups that `has` the flow or destination. */
function groupHosts(index: () => readonly GroupIndex[], has: (g: GroupIndex) => boolean): string[] {
  const out = new Set<string>();
  for (const g of index()) if (has(g)) for (const h of g.group.hosts) out.add(h);
  return [...out].sort();
}

/** Floods: per destination, the packets of its candidate flows against that destination's baseline. */
function floods(w: WindowData, views: CandidateView[], index: () => GroupIndex[], state: ThreatState, c: ThreatConfig) {
  const perDst = new Map<string, { lower: number; upper: number }>();
  for (const v of views) {
    const e = perDst.get(v.dst);
    if (e) {
      e.lower += v.lower;
      e.upper += v.upper;
    } else perDst.set(v.dst, { lower: v.lower, upper: v.upper });
  }
  const detections: Detection[] = [];
  const fleetWarm = state.fleet.packets.n >= c.warmupWindows;
  for (const [dst, e] of perDst) {
    // Decided on the lower bound: CMS noise alone can never raise an alarm.
    if (!fleetWarm || e.lower < c.floodMinPackets || e.lower < c.floodMinShare * w.packets) continue;
    const base = state.destinations[dst];
    const z = rises(base, e.lower, c);
    if (z === null) continue;
    const flows = views.filter((v) => v.dst === dst).sort((a, b) => b.upper - a.upper);
    const sources = new Set(flows.map((f) => parseFlowKey(f.key).src));
    detections.push({
      kind: 'flood',
      subject: dst,
      score: round(z, 2),
      windowStart: w.windowStart,
      evidence: [
        { name: 'packets', value: round(e.lower, 0), lower: round(e.lower, 0), upper: round(e.upper, 0) },
        baselineEvidence('baseline packets', base ?? newStat()),
        { name: 'share of window packets', value: round(e.lower / Math.max(1, w.packets), 4) },
        { name: 'candidate flows', value: flows.length },
        { name: 'candidate sources', value: sources.size },
      ],
      hosts: groupHosts(index, (g) => g.destinations.has(dst)),
      related: flows.slice(0, RELATED).map((f) => flowText(parseFlowKey(f.key))),
    });
  }
  return { detections };
}

/** One server address's TCP flag counts in a window, with bounds (docs/threats.md, syn-flood). */
export interface SynView {
  addr: string;
  /** CMS estimates per class: never under the truth; minus the class's ε·N: never over it (at the CMS confidence). */
  syn: { lower: number; upper: number };
  synAck: { lower: number; upper: number };
  rst: { lower: number; upper: number };
  ack: { lower: number; upper: number };
  /** SYNs not matched by ACKs to the address: lower = SYN lower − ACK upper (clipped at 0). */
  unanswered: { lower: number; upper: number };
}

/** The window's SYN candidate addresses with their counts and bounds. */
export function synViews(syn: SynCounts | undefined): SynView[] {
  if (!syn) return [];
  const bound = {
    syn: syn.errorBound('syn'),
    synAck: syn.errorBound('synAck'),
    rst: syn.errorBound('rst'),
    ack: syn.errorBound('ack'),
  };
  return syn.candidateAddresses().map((addr) => {
    const e = syn.estimate(addr);
    const range = (k: keyof typeof bound) => ({ lower: Math.max(0, e[k] - bound[k]), upper: e[k] });
    const v = { addr, syn: range('syn'), synAck: range('synAck'), rst: range('rst'), ack: range('ack') };
    return {
      ...v,
      unanswered: { lower: Math.max(0, v.syn.lower - v.ack.upper), upper: Math.max(0, v.syn.upper - v.ack.lower) },
    };
  });
}

const rangeEvidence = (name: string, r: { lower: number; upper: number }, value = r.lower): Evidence => ({
  name,
  value: round(value, 0),
  lower: round(r.lower, 0),
  upper: round(r.upper, 0),
});

/**
 * SYN floods: per server address, the SYNs it received that its clients' ACKs do not match (a completed handshake
 * sends one ACK, so ACKs bound completions from above), decided on bounds — SYN lower bound minus ACK upper bound —
 * against the address's baseline of that value, with an absolute minimum and a SYN/ACK ratio.
 */
function synFloods(w: WindowData, views: SynView[], state: ThreatState, c: ThreatConfig): Detection[] {
  const out: Detection[] = [];
  if (state.fleet.packets.n < c.warmupWindows) return out;
  for (const v of views) {
    const x = v.unanswered.lower;
    if (x < c.synFloodMinPackets || v.syn.lower < c.synFloodMinRatio * Math.max(1, v.ack.upper)) continue;
    const base = state.synDestinations?.[v.addr];
    const z = rises(base, x, c);
    if (z === null) continue;
    const answered = v.synAck.upper / Math.max(1, v.syn.lower);
    out.push({
      kind: 'syn-flood',
      subject: v.addr,
      score: round(z, 2),
      windowStart: w.windowStart,
      evidence: [
        rangeEvidence('SYNs not matched by ACKs', v.unanswered),
        rangeEvidence('SYN packets', v.syn),
        rangeEvidence('ACK packets', v.ack, v.ack.upper),
        rangeEvidence('SYN-ACK packets', v.synAck, v.synAck.upper),
        rangeEvidence('RST packets', v.rst, v.rst.upper),
        { name: 'SYN / ACK (lower / upper)', value: round(v.syn.lower / Math.max(1, v.ack.upper), 2) },
        { name: 'SYN-ACK per SYN (upper)', value: round(Math.min(answered, 1e6), 3) },
        baselineEvidence('baseline SYNs not matched', base ?? newStat()),
      ],
      hosts: [
        ...new Set(
          w.groups.filter((g) => g.syn?.candidates.size && hasSynCandidate(g.syn, v.addr)).flatMap((g) => g.hosts),
        ),
      ].sort(),
      related: [],
    });
  }
  return out;
}

const hasSynCandidate = (syn: SynCounts, addr: string) => syn.candidateAddresses().includes(addr);

/** Heavy changers: k-ary change estimates of candidate flows on the difference of this window's CMS and the last. */
function heavyChanges(
  w: WindowData,
  before: WindowData,
  views: CandidateView[],
  index: () => GroupIndex[],
  c: ThreatConfig,
): Detection[] {
  if (w.windowStart - before.windowStart !== w.windowMs) return [];
  const diff = new SketchDifference(w.cmsPackets, before.cmsPackets);
  const out: Detection[] = [];
  for (const v of views) {
    // A flow's change is at most its packets now (estimate: never under): most candidates cannot qualify.
    if (v.upper < c.changeMinShare * w.packets) continue;
    const change = diff.change(v.hi, v.lo);
    if (change < c.changePhi * diff.norm || change < c.changeMinShare * w.packets) continue;
    const was = before.cmsPackets.estimate(v.hi, v.lo);
    if (v.upper < c.riseFactor * Math.max(1, was)) continue;
    const f = parseFlowKey(v.key);
    const bound = w.cmsPackets.errorBound() + before.cmsPackets.errorBound();
    out.push({
      kind: 'heavy-change',
      subject: flowText(f),
      score: round(change / Math.max(1, diff.norm), 3),
      windowStart: w.windowStart,
      evidence: [
        {
          name: 'change (packets)',
          value: round(change, 0),
          lower: round(change - bound, 0),
          upper: round(change + bound, 0),
        },
        { name: 'L2 norm of all changes', value: round(diff.norm, 0) },
        { name: 'packets now', value: round(v.upper, 0), lower: round(v.lower, 0), upper: round(v.upper, 0) },
        { name: 'packets window before', value: round(was, 0) },
      ],
      hosts: groupHosts(index, (g) => g.keys.has(v.hex)),
      related: [f.dst],
    });
  }
  return out;
}

/** The candidate sources with the most distinct destination ports (scan) or destinations (superspreader). */
function spreadingSources(views: CandidateView[], by: 'ports' | 'destinations'): string[] {
  const per = new Map<string, Set<string>>();
  for (const v of views) {
    const f = parseFlowKey(v.key);
    const s = per.get(f.src) ?? new Set<string>();
    s.add(by === 'ports' ? `${f.dst}:${f.dport}/${f.proto}` : f.dst);
    per.set(f.src, s);
  }
  return [...per]
    .filter(([, s]) => s.size > 1)
    .sort((a, b) => b[1].size - a[1].size)
    .slice(0, RELATED)
    .map(([src, s]) => `${src} (${s.size} ${by} among candidates)`);
}

/** Volume and spread rises of one subject (the fleet or a host group) against its baselines. */
function spreads(
  subject: string,
  packets: number,
  d: { sources: HyperLogLog; destinations: HyperLogLog; ports: HyperLogLog },
  st: SpreadStats,
  w: WindowData,
  views: () => CandidateView[],
  hosts: string[],
  c: ThreatConfig,
  named?: () => SpreadSource[],
): Detection[] {
  const out: Detection[] = [];
  const packetRatio = packets / Math.max(1, st.packets.m);
  const packetsEv: Evidence = { name: 'packets (exact)', value: packets };
  const warm = st.packets.n >= c.warmupWindows;
  if (!warm) return out;
  const spreadKinds = [
    ['port-scan', 'ports', 'distinct destination ports'],
    ['superspreader', 'destinations', 'distinct destinations'],
  ] as const;
  for (const [kind, key, label] of spreadKinds) {
    const ev = hllEvidence(label, d[key]);
    const base = st[key];
    if (packetRatio >= c.spreadMaxPacketRise || ev.estimate - base.m < c.spreadMinRise) continue;
    const z = rises(base, ev.estimate, c, ev.error);
    if (z === null) continue;
    // The spread sketch names the sources behind the rise, with their own spreads; the candidates otherwise.
    const top = (named?.() ?? [])
      .filter((s) => s[key].lower > 0)
      .sort((a, b) => b[key].lower - a[key].lower)
      .slice(0, RELATED);
    out.push({
      kind,
      subject,
      score: round(z, 2),
      windowStart: w.windowStart,
      evidence: [
        strip(ev),
        baselineEvidence(`baseline ${label}`, base),
        packetsEv,
        baselineEvidence('baseline packets', st.packets),
        ...top.slice(0, 3).map((s) => spreadEvidence(`${label} of ${s.address}`, s[key])),
      ],
      hosts,
      related: top.length > 0 ? top.map((s) => s.address) : spreadingSources(views(), key),
    });
  }
  // Many new sources at once: a distributed (possibly spoofed) flood, whose flows are each too small to be
  // candidates, so no per-destination view shows it.
  const src = hllEvidence('distinct sources', d.sources);
  if (src.estimate - st.sources.m >= c.spreadMinRise) {
    const z = rises(st.sources, src.estimate, c, src.error);
    if (z !== null)
      out.push({
        kind: 'source-surge',
        subject,
        score: round(z, 2),
        windowStart: w.windowStart,
        evidence: [
          strip(src),
          baselineEvidence('baseline distinct sources', st.sources),
          packetsEv,
          baselineEvidence('baseline packets', st.packets),
        ],
        hosts,
        related: [],
      });
  }
  return out;
}

const strip = ({ name, value, lower, upper }: Evidence): Evidence => ({ name, value, lower, upper });

function surge(subject: string, packets: number, base: Stat, w: WindowData, hosts: string[], c: ThreatConfig) {
  if (packets < c.surgeMinPackets || base.n < c.warmupWindows) return [];
  const z = rises(base, packets, c);
  if (z === null) return [];
  return [
    {
      kind: 'traffic-surge',
      subject,
      score: round(z, 2),
      windowStart: w.windowStart,
      evidence: [{ name: 'packets (exact)', value: packets }, baselineEvidence('baseline packets', base)],
      hosts,
      related: [],
    } satisfies Detection,
  ];
}

const groupKey = (g: HostGroup) => [...g.hosts].sort().join(',');

/** Every detector over one window; `before` is the previous window when it was stored (for sketch differences). */
export function detect(
  w: WindowData,
  before: WindowData | undefined,
  state: ThreatState,
  c: ThreatConfig,
  views: CandidateView[] = candidateViews(w),
  named: SpreadSource[] = w.spread?.sources() ?? [],
): Detection[] {
  const allHosts = [...w.hosts.keys()].sort();
  const index = lazyIndex(w.groups);
  const { detections: flood } = floods(w, views, index, state, c);
  const flooded = new Set(flood.map((d) => d.subject));
  const out: Detection[] = [...flood, ...synFloods(w, synViews(w.syn), state, c)];
  if (before && state.fleet.packets.n >= c.warmupWindows)
    // A flow to a flooded destination is already evidence of that flood (its related flows).
    out.push(...heavyChanges(w, before, views, index, c).filter((d) => !flooded.has(d.related[0])));
  out.push(...surge('fleet', w.packets, state.fleet.packets, w, allHosts, c));
  for (const [h, t] of w.hosts) {
    const base = state.hosts[h];
    if (base) out.push(...surge(`host:${h}`, t.packets, base, w, [h], c));
  }
  out.push(
    ...spreads(
      'fleet',
      w.packets,
      w.distinct,
      state.fleet,
      w,
      () => views,
      allHosts,
      c,
      () => named,
    ),
  );
  w.groups.forEach((g, i) => {
    const st = state.groups[groupKey(g)];
    if (!st) return;
    const subject = g.hosts.length === 1 ? `host:${g.hosts[0]}` : `hosts:${groupKey(g)}`;
    // The group's candidates, only when a detection names sources.
    const groupViews = () => views.filter((v) => index()[i].keys.has(v.hex));
    const groupNamed = () => g.spread?.sources() ?? [];
    out.push(...spreads(subject, g.packets, g.distinct, st, w, groupViews, [...g.hosts].sort(), c, groupNamed));
  });
  // Per source, from the spread sketches: the scanner or superspreader itself, named with its spread.
  const history = state.fleet.packets.n;
  if (named.length > 0 && history >= c.warmupWindows)
    out.push(...sourceSpreads(w.windowStart, named, w.groups, state.sources ?? {}, history, c));
  if (w.spreadHistory) out.push(...lowAndSlow(w.windowStart, w.spreadHistory, allHosts, c));
  return out.sort((a, b) => b.score - a.score || (a.kind + a.subject < b.kind + b.subject ? -1 : 1));
}

/** Folds the window into the baselines (values that alerted with a small weight). */
export function learn(
  w: WindowData,
  detections: readonly Detection[],
  state: ThreatState,
  c: ThreatConfig,
  views: CandidateView[] = candidateViews(w),
  named: SpreadSource[] = w.spread?.sources() ?? [],
): void {
  const alerted = new Set(detections.map((d) => `${d.kind}|${d.subject}`));
  const weight = (kind: string, subject: string) => (alerted.has(`${kind}|${subject}`) ? ALERTING_WEIGHT : 1);
  const learnSpread = (st: SpreadStats, subject: string, packets: number, d: WindowData['distinct']) => {
    update(st.packets, packets, c.alpha, weight('traffic-surge', subject));
    update(st.sources, d.sources.estimate(), c.alpha, weight('source-surge', subject));
    update(st.destinations, d.destinations.estimate(), c.alpha, weight('superspreader', subject));
    update(st.ports, d.ports.estimate(), c.alpha, weight('port-scan', subject));
  };
  learnSpread(state.fleet, 'fleet', w.packets, w.distinct);
  for (const [h, t] of w.hosts) {
    const s = (state.hosts[h] ??= { ...newStat(), last: w.windowStart });
    update(s, t.packets, c.alpha, weight('traffic-surge', `host:${h}`));
    s.last = w.windowStart;
  }
  for (const g of w.groups) {
    const key = groupKey(g);
    const s = (state.groups[key] ??= { ...spreadStats(), last: w.windowStart });
    learnSpread(s, g.hosts.length === 1 ? `host:${g.hosts[0]}` : `hosts:${key}`, g.packets, g.distinct);
    s.last = w.windowStart;
  }
  const forgetBefore = w.windowStart - FORGET_AFTER_WINDOWS * w.windowMs;
  for (const [k, s] of Object.entries(state.hosts)) if (s.last < forgetBefore) delete state.hosts[k];
  for (const [k, s] of Object.entries(state.groups)) if (s.last < forgetBefore) delete state.groups[k];
  // Destinations: this window's candidate packets; a tracked destination absent from the candidates counts 0.
  const perDst = new Map<string, number>();
  for (const v of views) perDst.set(v.dst, (perDst.get(v.dst) ?? 0) + v.lower);
  for (const k of Object.keys(state.destinations)) if (!perDst.has(k)) perDst.set(k, 0);
  // A destination first seen now had 0 packets among the candidates in every window before: it starts from there.
  const history = state.fleet.packets.n;
  // A destination is tracked from its first window with floodMinPackets / riseFactor packets: an untracked one has
  // the baseline 0, which for a flood (≥ floodMinPackets, so ≥ riseFactor × any smaller mean) decides almost as its
  // own small baseline would, and the candidates' long tail stays out of the stored state.
  const admit = c.floodMinPackets / c.riseFactor;
  for (const [d, x] of perDst) {
    const s = state.destinations[d] ?? (x >= admit ? (state.destinations[d] = { m: 0, v: 0, n: history }) : undefined);
    if (s) update(s, x, c.alpha, weight('flood', d));
  }
  const kept = Object.entries(state.destinations)
    .filter(([, s]) => s.m >= 1)
    .sort((a, b) => b[1].m - a[1].m)
    .slice(0, c.maxTrackedDestinations);
  state.destinations = Object.fromEntries(kept);
  state.sources = learnSources(named, state.sources ?? {}, history, weight, c);
  learnSyn(w, state, c, weight);
  state.lastWindow = w.windowStart;
}

/**
 * SYN baselines: each candidate address's unmatched SYNs (lower bound); a tracked address absent this window counts
 * 0. Tracked from its first window with synFloodMinPackets / riseFactor, starting from 0 over the fleet's history
 * (as destinations for floods), the largest maxTrackedDestinations kept.
 */
function learnSyn(
  w: WindowData,
  state: ThreatState,
  c: ThreatConfig,
  weight: (kind: string, subject: string) => number,
): void {
  const tracked = (state.synDestinations ??= {});
  const now = new Map(synViews(w.syn).map((v) => [v.addr, v.unanswered.lower]));
  for (const k of Object.keys(tracked)) if (!now.has(k)) now.set(k, 0);
  const history = state.fleet.packets.n;
  const admit = c.synFloodMinPackets / c.riseFactor;
  for (const [a, x] of now) {
    const s = tracked[a] ?? (x >= admit ? (tracked[a] = { m: 0, v: 0, n: history }) : undefined);
    if (s) update(s, x, c.alpha, weight('syn-flood', a));
  }
  state.synDestinations = Object.fromEntries(
    Object.entries(tracked)
      .filter(([, s]) => s.m >= 1)
      .sort((a, b) => b[1].m - a[1].m)
      .slice(0, c.maxTrackedDestinations),
  );
}

export interface WindowResult {
  detections: Detection[];
  events: AlertEvent[];
  state: ThreatState;
}

/** One window end to end: detect against the baselines so far, advance the alerts, then learn the window. */
export function evaluateWindow(
  w: WindowData,
  before: WindowData | undefined,
  previous: ThreatState,
  c: ThreatConfig,
): WindowResult {
  const state = structuredClone(previous);
  const views = candidateViews(w);
  const named = w.spread?.sources() ?? [];
  const detections = detect(w, before, state, c, views, named);
  const { open, events } = advanceAlerts(state.open, detections, w.windowStart, c.resolveAfterWindows);
  state.open = open;
  learn(w, detections, state, c, views, named);
  return { detections, events, state };
}
