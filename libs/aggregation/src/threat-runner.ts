// Runs the threat detectors (libs/threats) once per fleet-wide window, where windows are finalized (the rollup
// chain). Once per window across instances: only the member that owns partition 0 of the first snapshot topic
// evaluates (Kafka gives that partition to one member at a time), windows are taken in order after the last one
// whose state is stored, and every row is keyed per window, so a window evaluated twice (ownership moving during
// a pass, a crash between the writes) replaces its own rows with the same ones. The baselines and open alerts after
// each window are stored (threat_state): a restart or a new owner continues from the last stored window.
import { HLL_SKETCHES, SpreadSketch, SynCounts, decodeSpread, type HyperLogLog } from '@tma/sketch';
import {
  MINUTE_TIER,
  STORED_PARTIAL_BINARY,
  STORED_PARTIAL_SELECT,
  addHostTotals,
  emptyMerged,
  mergeStoredPartial,
  mergedCandidates,
  unionBlocks,
  type MergedWindow,
  type StoredPartial,
} from '@tma/rollup';
import { alertKey, encodeAlert, type ThreatAlertMessage } from '@tma/schema';
import type { Storage } from '@tma/storage';
import {
  THREAT_KINDS,
  emptyState,
  evaluateWindow,
  type AlertEvent,
  type ThreatConfig,
  type ThreatState,
  type WindowData,
} from '@tma/threats';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { AggregatorConfig } from './config';
import type { ConsumerLogger } from './consumer-stats';

const sec = (ms: number) => Math.floor(ms / 1000);

/** A window's data for the detectors, from its stored partial rows: one host group per partition. */
export async function readWindowData(
  storage: Storage,
  windowStart: number,
  windowMs: number,
): Promise<{ data: WindowData; partials: number } | null> {
  const rows = await storage.query<StoredPartial & { topic: string; partition: number | string }>(
    `SELECT ${STORED_PARTIAL_SELECT}, topic, partition FROM {database}.agg_partials FINAL
     WHERE tier = {tier:String} AND window_start = {w:UInt32}`,
    { tier: MINUTE_TIER, w: sec(windowStart) },
    { binaryColumns: [...STORED_PARTIAL_BINARY] },
  );
  if (rows.length === 0) return null;
  const groups = new Map<string, MergedWindow>();
  for (const r of rows) {
    const key = `${r.topic}/${r.partition}`;
    const g = groups.get(key) ?? emptyMerged(windowStart, windowMs / 1000);
    mergeStoredPartial(g, r);
    groups.set(key, g);
  }
  const fleet = emptyMerged(windowStart, windowMs / 1000);
  const parts = [...groups.values()];
  for (const g of parts) {
    if (g.spread) fleet.spread = (fleet.spread ??= new SpreadSketch()).merge(g.spread);
    fleet.packets += g.packets;
    fleet.bytes += g.bytes;
    fleet.cmsPackets.merge(g.cmsPackets);
    for (const h of HLL_SKETCHES) fleet[h.property].merge(g[h.property]);
    if (g.syn) (fleet.syn ??= new SynCounts(g.syn.depth, g.syn.widthBits)).merge(g.syn);
    for (const [host, t] of g.hosts) addHostTotals(fleet.hosts, host, t);
  }
  const distinct = (m: MergedWindow): WindowData['distinct'] => ({
    flows: m.hllFlows as HyperLogLog,
    sources: m.hllSources,
    destinations: m.hllDestinations,
    ports: m.hllPorts,
  });
  const groupViews = parts.map((g) => ({
    hosts: [...g.hosts.keys()].sort(),
    packets: Number(g.packets), // merged sums are exact bigints; detectors score magnitudes
    distinct: distinct(g),
    candidates: mergedCandidates(g),
    spread: g.spread,
    syn: g.syn,
  }));
  return {
    partials: rows.length,
    data: {
      windowStart,
      windowMs,
      packets: Number(fleet.packets),
      bytes: Number(fleet.bytes),
      cmsPackets: fleet.cmsPackets,
      distinct: distinct(fleet),
      candidates: unionBlocks(groupViews.map((g) => g.candidates)),
      hosts: new Map([...fleet.hosts].map(([h, t]) => [h, { packets: Number(t.packets), bytes: Number(t.bytes) }])),
      groups: groupViews,
      spread: fleet.spread,
      syn: fleet.syn,
    },
  };
}

/** Partial rows stored for a window (as readWindowData counts them). */
export async function storedPartials(storage: Storage, windowStart: number): Promise<number> {
  const [r] = await storage.query<{ n: string | number }>(
    `SELECT count() AS n FROM {database}.agg_partials FINAL WHERE tier = {tier:String} AND window_start = {w:UInt32}`,
    { tier: MINUTE_TIER, w: sec(windowStart) },
  );
  return Number(r?.n ?? 0);
}

/** The fleet's per-source spreads of every stored window in [from, to) that has them, by window start (ms). */
export async function readSpreadWindows(
  storage: Storage,
  from: number,
  to: number,
): Promise<Map<number, SpreadSketch>> {
  const rows = await storage.query<{ w: string | number; spread: Uint8Array }>(
    `SELECT toUnixTimestamp(window_start) AS w, hex(spread) AS spread FROM {database}.agg_partials FINAL
     WHERE tier = {tier:String} AND window_start >= {from:UInt32} AND window_start < {to:UInt32} AND spread != ''`,
    { tier: MINUTE_TIER, from: Math.max(0, sec(from)), to: Math.max(0, sec(to)) },
    { binaryColumns: ['spread'] },
  );
  const out = new Map<number, SpreadSketch>();
  for (const r of rows) {
    const s = decodeSpread(r.spread);
    if (!s) continue;
    const w = Number(r.w) * 1000;
    const had = out.get(w);
    out.set(w, had ? had.merge(s) : s);
  }
  return out;
}

export class ThreatRunner {
  /**
   * The fleet's spreads of the last TMA_THREATS_LOW_SLOW_WINDOWS windows (oldest first), for the low-and-slow
   * detector; read from storage when this instance starts evaluating.
   */
  private spreadRing?: { windowStart: number; spread: SpreadSketch }[];
  /** State after the last evaluated window; undefined until read (again) from storage. */
  private last?: { windowStart: number; state: ThreatState };
  /**
   * The last window's data and its partial rows, reused as the next window's "before" (sketch differences) while no
   * row was added to it since (a late row: it is read again).
   */
  private previous?: { data: WindowData; partials: number };
  private readonly opened: Counter<'kind'>;
  private readonly open: Gauge<'kind'>;
  private readonly windows: Counter;
  private readonly published: Counter;

  constructor(
    private readonly config: AggregatorConfig,
    private readonly threats: ThreatConfig,
    private readonly storage: Storage,
    registry: Registry,
    private readonly logger: ConsumerLogger,
    /** True while this instance is the one that evaluates (owns partition 0 of the first snapshot topic). */
    private readonly isLeader: () => boolean,
    /** Sends alert events to the alert topic (<prefix>.alerts.v1); absent: alerts are only stored. */
    private readonly publish?: (messages: { key: string; value: Buffer }[]) => Promise<void>,
  ) {
    this.opened = new Counter({
      name: 'tma_threats_alerts_opened_total',
      help: 'Threat alerts opened, by kind (docs/threats.md)',
      labelNames: ['kind'],
      registers: [registry],
    });
    this.open = new Gauge({
      name: 'tma_threats_open_alerts',
      help: 'Threat alerts open after the last evaluated window, by kind (0 on instances that do not evaluate)',
      labelNames: ['kind'],
      registers: [registry],
    });
    this.windows = new Counter({
      name: 'tma_threats_windows_evaluated_total',
      help: 'Fleet-wide windows the threat detectors evaluated',
      registers: [registry],
    });
    this.published = new Counter({
      name: 'tma_threats_alerts_published_total',
      help: 'Alert events published to the alert topic (a window evaluated again publishes its events again)',
      registers: [registry],
    });
    for (const k of THREAT_KINDS) this.open.set({ kind: k }, 0);
  }

  /**
   * Evaluates every window that is complete, in order, unless its rollups are still pending here:
   * - `writtenWatermark` (event time up to which every partition this instance holds has written its rows: the
   *   merger's low watermark as of the last flush that was stored, not the live one, whose windows may still sit in
   *   memory) passed the window's end plus the lateness; or
   * - a newer window is stored (other instances' partitions progressed; `idle`: the newest stored window itself) and
   *   the wall clock `nowMs` passed the window's end plus the lateness, the idle close and a flush interval: by then
   *   every on-time snapshot of it is written, by watermark or by idle close. An idle close writes open windows
   *   early (memory, not completeness): a window evaluated from such rows would be judged on part of its intervals,
   *   and never again.
   * `shutdown`: every stored window (this instance writes everything it holds first).
   */
  async runDue(
    pass: 'due' | 'idle' | 'shutdown',
    writtenWatermark: number,
    pending: (windowStart: number) => boolean,
    nowMs = Date.now(),
  ): Promise<void> {
    if (!this.threats.enabled) return;
    if (!this.isLeader()) {
      // Another member evaluates now; if this one becomes leader again it starts from what is stored.
      this.last = undefined;
      this.previous = undefined;
      this.spreadRing = undefined;
      for (const k of THREAT_KINDS) this.open.set({ kind: k }, 0);
      return;
    }
    const windowMs = this.config.windowMs;
    const [newest] = await this.storage.query<{ w: string | number | null }>(
      `SELECT toUnixTimestamp(max(window_start)) AS w FROM {database}.agg_partials WHERE tier = {tier:String}`,
      { tier: MINUTE_TIER },
    );
    const newestMs = Number(newest?.w ?? 0) * 1000;
    if (newestMs <= 0) return;
    const byWatermark = writtenWatermark - this.config.allowedLatenessMs - windowMs;
    const byWallClock =
      nowMs -
      windowMs -
      this.config.allowedLatenessMs -
      (this.config.idleCloseMs ?? 0) -
      (this.config.flushIntervalMs ?? 0);
    const force = pass === 'shutdown';
    const bound = force
      ? newestMs
      : Math.max(byWatermark, Math.min(pass === 'idle' ? newestMs : newestMs - windowMs, byWallClock));
    this.last ??= await this.loadState();
    const floor = bound - this.threats.backfillWindows * windowMs;
    const after = Math.max(this.last?.windowStart ?? -Infinity, floor);
    const due = await this.storage.query<{ w: string | number }>(
      `SELECT DISTINCT toUnixTimestamp(window_start) AS w FROM {database}.agg_partials
       WHERE tier = {tier:String} AND window_start > {after:UInt32} AND window_start <= {bound:UInt32} ORDER BY w`,
      { tier: MINUTE_TIER, after: Math.max(0, sec(after)), bound: Math.max(0, sec(bound)) },
    );
    for (const { w } of due) {
      const windowStart = Number(w) * 1000;
      if (!force && pending(windowStart)) break; // in order: a later window waits for this one
      if (!this.isLeader()) return;
      await this.evaluate(windowStart);
    }
  }

  /**
   * The low-and-slow range ending with this window: the ring gets the window's spreads and loses windows past the
   * range (read from storage when the ring is new), and their union is taken. Undefined with fewer than 2 windows.
   */
  private async spreadHistory(windowStart: number, spread: SpreadSketch | undefined) {
    const windowMs = this.config.windowMs;
    const from = windowStart - (this.threats.lowSlowWindows - 1) * windowMs;
    if (!this.spreadRing) {
      const stored = await readSpreadWindows(this.storage, from, windowStart);
      this.spreadRing = [...stored].sort((a, b) => a[0] - b[0]).map(([w, s]) => ({ windowStart: w, spread: s }));
    }
    const ring = this.spreadRing.filter((e) => e.windowStart >= from && e.windowStart < windowStart);
    if (spread) ring.push({ windowStart, spread });
    this.spreadRing = ring;
    if (ring.length < 2) return undefined;
    const union = new SpreadSketch();
    for (const e of ring) union.merge(e.spread);
    return { union, windows: ring.map((e) => e.spread) };
  }

  private async loadState(): Promise<{ windowStart: number; state: ThreatState } | undefined> {
    const [row] = await this.storage.query<{ w: string | number; state: string }>(
      `SELECT toUnixTimestamp(window_start) AS w, state FROM {database}.threat_state FINAL ORDER BY window_start DESC LIMIT 1`,
    );
    if (!row) return undefined;
    return { windowStart: Number(row.w) * 1000, state: JSON.parse(row.state) as ThreatState };
  }

  private async evaluate(windowStart: number): Promise<void> {
    const windowMs = this.config.windowMs;
    const read = await readWindowData(this.storage, windowStart, windowMs);
    if (!read) return;
    const prev = this.previous?.data.windowStart === windowStart - windowMs ? this.previous : undefined;
    let before =
      prev && (await storedPartials(this.storage, prev.data.windowStart)) === prev.partials ? prev.data : undefined;
    before ??= (await readWindowData(this.storage, windowStart - windowMs, windowMs))?.data;
    read.data.spreadHistory = await this.spreadHistory(windowStart, read.data.spread);
    const r = evaluateWindow(read.data, before, this.last?.state ?? emptyState(), this.threats);
    const now = new Date();
    const expires = sec(windowStart) + this.threats.ttlSeconds;
    // Alert rows first, then the state: a crash between them re-evaluates the window and writes the same rows.
    if (r.events.length > 0)
      await this.storage.insertRows(
        'threat_alerts',
        r.events.map((e) => alertRow(e, windowMs, read.partials, now, expires)),
        {
          dedupToken: `threats-${windowStart}-${read.partials}`,
        },
      );
    // Then the alert topic, keyed per alert and window: a failure here leaves the state unwritten, so the window is
    // evaluated again and its rows and messages repeat with the same keys (at least once, idempotent per key).
    if (r.events.length > 0 && this.publish) {
      await this.publish(
        r.events.map((e) => {
          const m = alertMessage(e, windowMs, now);
          return { key: alertKey(m), value: encodeAlert(m) };
        }),
      );
      this.published.inc(r.events.length);
    }
    await this.storage.insertRows(
      'threat_state',
      [
        {
          window_start: sec(windowStart),
          window_seconds: windowMs / 1000,
          version: read.partials,
          state: JSON.stringify(r.state),
          updated_at: now,
          // Only the newest state is ever read; a few days cover any restart or gap the backfill replays.
          expires_at: sec(windowStart) + 7 * 86_400,
        },
      ],
      { dedupToken: `threat-state-${windowStart}-${read.partials}` },
    );
    this.last = { windowStart, state: r.state };
    this.previous = { data: read.data, partials: read.partials };
    this.windows.inc();
    for (const e of r.events) {
      if (e.event === 'opened') {
        this.opened.inc({ kind: e.kind });
        this.logger.warn(
          `threat opened: ${e.kind} ${e.subject} score ${e.score} in window ${new Date(windowStart).toISOString()} (hosts ${e.hosts.slice(0, 5).join(', ')})`,
        );
      } else if (e.event === 'resolved') this.logger.log(`threat resolved: ${e.kind} ${e.subject}`);
    }
    for (const k of THREAT_KINDS) this.open.set({ kind: k }, r.state.open.filter((a) => a.kind === k).length);
  }
}

/** An alert event as published on the alert topic (libs/schema alerts.ts). */
export function alertMessage(e: AlertEvent, windowMs: number, now: Date): ThreatAlertMessage {
  return {
    alertId: e.alertId,
    windowStartMs: e.windowStart,
    windowSeconds: windowMs / 1000,
    kind: e.kind,
    subject: e.subject,
    event: e.event.toUpperCase() as ThreatAlertMessage['event'],
    openedAtMs: e.openedAt,
    score: e.score,
    evidence: e.evidence.map((v) => ({ name: v.name, value: v.value, lower: v.lower ?? null, upper: v.upper ?? null })),
    hosts: e.hosts,
    related: e.related,
    detectedAtMs: now.getTime(),
  };
}

function alertRow(e: AlertEvent, windowMs: number, version: number, now: Date, expires: number) {
  return {
    window_start: sec(e.windowStart),
    alert_id: e.alertId,
    window_seconds: windowMs / 1000,
    kind: e.kind,
    subject: e.subject,
    event: e.event,
    opened_at: sec(e.openedAt),
    score: e.score,
    evidence: JSON.stringify(e.evidence),
    hosts: e.hosts,
    related: e.related,
    version,
    detected_at: now,
    expires_at: expires,
  };
}
