// Test data: simulated hosts' snapshots (tools/fleet-sim, exact ground truth) merged into partial rows exactly as the
// aggregator stores them in agg_partials — 1 min rows per (window, partition), plus 1 h rows for complete hours with
// the aggregator's frequent-items summary of their candidates — built with @tma/rollup (the aggregator's own row builder) and written
// through @tma/storage.
import {
  HOUR_CANDIDATES,
  emptyMerged,
  frequentState,
  mergeStoredPartial,
  mergeSummaries,
  mergedCandidates,
  partialRow,
  type MergedWindow,
  type PartialRow,
  type RowIdentity,
  type StoredPartial,
} from '@tma/rollup';
import { encodeCandidates, perHll, prefixCountsFromWire, PUBLIC_HASH_KEY } from '@tma/sketch';
import { snapshotTopic, type SketchSnapshot } from '@tma/schema';
import { DEFAULT_SQL_LIMITS, type Storage } from '@tma/storage';
import { rmSync } from 'node:fs';
import { FleetSimulator, type ExtraFlow } from '@tma/fleet-sim';
import { fleetRow, ThreatRunner, type AggregatorConfig } from '@tma/aggregation';
import { DEFAULT_THREAT_CONFIG } from '@tma/threats';
import { Registry } from 'prom-client';
import type { QueryApi } from '../src/app';
import { parseTokens, type QueryApiConfig } from '../src/config';

export const TOPIC = snapshotTopic();
const TTL_SECONDS = 30 * 86_400;
const HOUR = 3_600_000;

/** A snapshot as a stored row of its own, so every window merges through @tma/rollup as the aggregator's do. */
function snapshotRow(s: SketchSnapshot): StoredPartial {
  const t = s.totals;
  return {
    window_start: 0,
    window_seconds: 0,
    late: 0,
    snapshots: 1,
    packets: t.packets,
    bytes: t.bytes,
    gaps: 0,
    cms_packets: s.cmsPackets,
    cms_bytes: s.cmsBytes,
    ...perHll('column', (h) => s[h.wireField]),
    candidates: encodeCandidates(
      s.candidates,
      undefined,
      s.candidateBounds
        ? { floor: { packets: s.candidateFloorPackets, bytes: s.candidateFloorBytes }, sampled: s.samplingRate > 1 }
        : { sampled: s.samplingRate > 1 },
    ),
    protocols: t.protocols.map((p) => p.protocol),
    protocol_packets: t.protocols.map((p) => p.packets),
    protocol_bytes: t.protocols.map((p) => p.bytes),
    hosts: [s.hostId],
    host_boot: [s.bootId],
    host_last_seq: [s.sequence],
    host_agent_version: [s.agentVersion],
    host_packets: [t.packets],
    host_bytes: [t.bytes],
    host_snapshots: [1],
    host_gaps: [0],
    prefixes: s.prefixCounts ? prefixCountsFromWire(s).encode() : '',
  };
}

function identity(
  tier: '1m' | '1h',
  windowStartMs: number,
  windowSeconds: number,
  partition: number,
  offset: number,
  snapshots: number,
): RowIdentity {
  const hour = tier === '1h';
  return {
    tier,
    windowStartMs,
    windowSeconds,
    topic: hour ? '' : TOPIC,
    partition,
    firstOffset: hour ? 0 : offset,
    epoch: 0,
    lastOffset: hour ? 0 : offset + snapshots - 1,
    version: 1,
    writer: hour ? 'rollup' : 'test-writer',
    late: false,
  };
}

/** A 1 h row merged from its minutes' rows, candidates summarized as the aggregator's rollup does. */
function hourRow(hourStart: number, minutes: readonly PartialRow[]): PartialRow {
  const m = emptyMerged(hourStart, 3600);
  for (const r of minutes) mergeStoredPartial(m, r);
  const summary = mergeSummaries(m.frequentParts, HOUR_CANDIDATES);
  m.frequent = frequentState(summary);
  return partialRow(m, summary.block, identity('1h', hourStart, 3600, 0, 0, m.snapshots), TTL_SECONDS);
}

/** Kafka's default partitioner is murmur2 of the key; any stable host → partition map serves the tests (FNV-1a). */
export function partitionOf(hostId: string, partitions: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < hostId.length; i++) h = Math.imul(h ^ hostId.charCodeAt(i), 0x01000193) >>> 0;
  return h % partitions;
}

/** Groups snapshots into 1 min partial rows per partition and 1 h rollups for complete hours; returns the rows. */
export function buildPartials(
  snapshots: Iterable<SketchSnapshot>,
  partitions: number,
  windowMs = 60_000,
): PartialRow[] {
  const minute = new Map<string, { window: MergedWindow; partition: number }>();
  for (const s of snapshots) {
    const ws = Math.floor((s.intervalEndMs - 1) / windowMs) * windowMs;
    const partition = partitionOf(s.hostId, partitions);
    const key = `${ws}|${partition}`;
    let acc = minute.get(key);
    if (!acc) minute.set(key, (acc = { window: emptyMerged(ws, windowMs / 1000), partition }));
    mergeStoredPartial(acc.window, snapshotRow(s));
  }
  const rows = [...minute.values()].map(({ window: m, partition }, offset) =>
    partialRow(
      m,
      mergedCandidates(m),
      identity('1m', m.windowStart, m.windowSeconds, partition, offset, m.snapshots),
      TTL_SECONDS,
    ),
  );
  const byHour = new Map<number, PartialRow[]>();
  for (const r of [...rows]) {
    const h = Math.floor((r.window_start * 1000) / HOUR) * HOUR;
    (byHour.get(h) ?? byHour.set(h, []).get(h)!).push(r);
  }
  for (const [h, list] of byHour) {
    const windows = new Set(list.map((r) => r.window_start));
    if (windows.size !== HOUR / windowMs) continue; // only complete hours get a rollup
    rows.push(hourRow(h, list));
  }
  // Each window's fleet row, as the aggregator writes it once the window's rows are stored (version: their sum).
  const byWindow = new Map<number, PartialRow[]>();
  for (const r of rows)
    if (r.tier === '1m')
      (byWindow.get(r.window_start) ?? byWindow.set(r.window_start, []).get(r.window_start)!).push(r);
  for (const [ws, list] of byWindow) {
    if (list.length < 2) continue;
    const m = emptyMerged(ws * 1000, list[0].window_seconds);
    for (const r of list) mergeStoredPartial(m, r);
    m.inputVersions = list.reduce((s, r) => s + r.version, 0);
    rows.push(fleetRow(m, TTL_SECONDS));
  }
  return rows;
}

export async function writePartials(storage: Storage, rows: readonly PartialRow[], batch = 50): Promise<void> {
  for (let i = 0; i < rows.length; i += batch)
    await storage.insertRows('agg_partials', rows.slice(i, i + batch) as unknown as Record<string, unknown>[]);
}

/** Limits the API specs share; each spec names its own tokens and may change any field. */
export function testConfig(tokens: string, overrides: Partial<QueryApiConfig> = {}): QueryApiConfig {
  return {
    host: '127.0.0.1',
    port: 0,
    authEnabled: true,
    tokens: parseTokens(tokens, 'test'),
    maxRangeMs: 31 * 86_400_000,
    maxPoints: 1000,
    maxK: 1000,
    cacheBytes: 64 * 1024 * 1024,
    indexRefreshMs: 1000,
    mergeCache: true,
    mergeCacheBytes: 64 * 1024 * 1024,
    // Merges on worker threads, as deployed by default (answers are the same as on the event loop).
    mergeWorkers: 2,
    mergeQueue: 256,
    fleetRows: true,
    hashSeed: { seed: PUBLIC_HASH_KEY, source: 'test', warnings: [] },
    sqlLimits: DEFAULT_SQL_LIMITS,
    ...overrides,
  };
}

/** Stores `rounds` one-minute rounds of a simulated fleet from `startMs`; the simulator is returned as ground truth. */
export async function seedFleet(
  storage: Storage,
  o: { hosts: number; seed: number; startMs: number; rounds: number; packetsPerInterval: number; partitions: number },
): Promise<FleetSimulator> {
  const sim = new FleetSimulator({
    hosts: o.hosts,
    seed: o.seed,
    intervalMs: 60_000,
    startMs: o.startMs,
    packetsPerInterval: o.packetsPerInterval,
  });
  const snaps = [];
  for (let r = 0; r < o.rounds; r++) snaps.push(...sim.nextRoundSnapshots());
  await writePartials(storage, buildPartials(snaps, o.partitions));
  return sim;
}

/** Closes the API, drops the spec's database and removes its data directory. */
export async function tearDown(
  api: QueryApi | undefined,
  storage: Storage | undefined,
  dataDir: string,
): Promise<void> {
  await api?.app.close();
  if (storage) {
    await storage.command('DROP DATABASE IF EXISTS {database}');
    await storage.close();
  }
  rmSync(dataDir, { recursive: true, force: true });
}

/** A flood to `victim` from three sources on `host` during the given rounds, for FleetSimulator.extraTraffic. */
export function floodTraffic(host: string, victim: string, rounds: readonly number[], packets = 20_000) {
  return (hostId: string, round: number): ExtraFlow[] =>
    hostId === host && rounds.includes(round)
      ? [1, 2, 3].map((s) => ({ src: `203.0.113.${s}`, dst: victim, sport: 4000 + s, dport: 80, proto: 17, packets }))
      : [];
}

/** Runs the aggregator's threat detectors over every stored window, as the rollup chain does (default settings). */
export async function detectThreats(storage: Storage, windowMs = 60_000): Promise<void> {
  const config = { windowMs, allowedLatenessMs: 0 } as AggregatorConfig;
  const quiet = { log: () => undefined, warn: () => undefined, error: () => undefined };
  const runner = new ThreatRunner(config, DEFAULT_THREAT_CONFIG, storage, new Registry(), quiet, () => true);
  await runner.runDue('shutdown', 0, () => false);
}
