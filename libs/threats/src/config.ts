// Threat detection settings from the environment, validated once at start-up (one ConfigError naming every bad
// variable). Defaults are the ones docs/threats.md states and the benign-mix tests hold them to.
import { ConfigError, loadSettings, rule, rules, setting } from '@tma/config';

export interface ThreatConfig {
  /** Run the detectors at all (default on). */
  enabled: boolean;
  /** EWMA weight of the newest window (default 0.2: about the last 5–10 windows dominate). */
  alpha: number;
  /** Windows a baseline must have seen before it can alert (default 5). */
  warmupWindows: number;
  /** Standard deviations above the baseline a value must reach to alert (default 6). */
  zThreshold: number;
  /** Relative spread assumed on top of the EWMA variance (default 0.1): ordinary swings a short history misses. */
  relativeFloor: number;
  /** A volume must be at least this many times its baseline mean (default 3). */
  riseFactor: number;
  /** Flood: destination packets in the window at least this (default 1000) … */
  floodMinPackets: number;
  /** … and at least this share of the window's packets (default 0.05). */
  floodMinShare: number;
  /** SYN flood: SYNs to the address not matched by ACKs from its clients, lower bound, at least this (default 500) … */
  synFloodMinPackets: number;
  /** … and the SYNs (lower bound) at least this many times the ACKs (upper bound) (default 3). */
  synFloodMinRatio: number;
  /** Traffic surge (fleet and per host): packets in the window at least this (default 1000). */
  surgeMinPackets: number;
  /** Scan / superspreader: distinct ports or destinations must rise by at least this many (default 100) … */
  spreadMinRise: number;
  /** … while packets stay below this many times their baseline (default 1.5): many targets, little traffic. */
  spreadMaxPacketRise: number;
  /** Heavy change (k-ary): the change must be at least this fraction of the L2 norm of all changes (default 0.3) … */
  changePhi: number;
  /** … and at least this share of the window's packets (default 0.05). */
  changeMinShare: number;
  /** An open alert resolves after this many windows without a detection (default 2). */
  resolveAfterWindows: number;
  /** Destinations whose baseline is tracked (largest means kept; default 5000). */
  maxTrackedDestinations: number;
  /** Windows evaluated at most after a cold start or a gap (default 60): older stored windows are not replayed. */
  backfillWindows: number;
  /** Per-source scan / superspreader: least spread of the source (lower bound) to alert (default 100). */
  sourceMinSpread: number;
  /** Sources whose spread baselines are tracked (largest kept; default 5000). */
  maxTrackedSources: number;
  /** Low and slow: windows whose spreads are united (default 240: 4 h of 1 min windows). */
  lowSlowWindows: number;
  /** Low and slow: least spread of a source over those windows (lower bound; default 200) … */
  lowSlowMinSpread: number;
  /** … while its spread in every one of them stays below this (default 50). */
  lowSlowMaxWindowSpread: number;
  /** Publish every alert event to the Kafka topic <prefix>.alerts.v1 (default on; docs/threats.md). */
  publishAlerts: boolean;
  /** Retention of stored alert events (default 90 d), seconds. */
  ttlSeconds: number;
}

const DAY = 86_400_000;

function parseFraction(min: number, max: number) {
  return rule((v) => {
    const n = typeof v === 'number' ? v : Number(String(v).trim());
    if (!Number.isFinite(n) || n < min || n > max)
      throw new ConfigError({ name: 'value', message: `"${String(v)}" must be a number from ${min} to ${max}` });
    return n;
  });
}
const num = (env: string, fallback: number, min: number, max: number) =>
  setting({ env, schema: parseFraction(min, max), default: fallback });
const integer = (env: string, fallback: number, min: number, max: number) =>
  setting({ env, schema: rules.integer({ min, max }), default: fallback });

/**
 *   TMA_THREATS (on) TMA_THREATS_ALPHA (0.2) TMA_THREATS_WARMUP (5) TMA_THREATS_Z (6) TMA_THREATS_RELATIVE_FLOOR (0.1)
 *   TMA_THREATS_RISE (3) TMA_THREATS_FLOOD_MIN_PACKETS (1000) TMA_THREATS_FLOOD_MIN_SHARE (0.05)
 *   TMA_THREATS_SYN_MIN_PACKETS (500) TMA_THREATS_SYN_MIN_RATIO (3) TMA_THREATS_SURGE_MIN_PACKETS (1000) TMA_THREATS_SPREAD_MIN_RISE (100) TMA_THREATS_SPREAD_MAX_PACKET_RISE (1.5)
 *   TMA_THREATS_CHANGE_PHI (0.3) TMA_THREATS_CHANGE_MIN_SHARE (0.05) TMA_THREATS_RESOLVE_AFTER (2)
 *   TMA_THREATS_MAX_DESTINATIONS (5000) TMA_THREATS_BACKFILL (60) TMA_THREATS_TTL (90d)
 *   TMA_THREATS_SOURCE_MIN_SPREAD (100) TMA_THREATS_MAX_SOURCES (5000) TMA_THREATS_LOW_SLOW_WINDOWS (240)
 *   TMA_THREATS_LOW_SLOW_MIN_SPREAD (200) TMA_THREATS_LOW_SLOW_MAX_WINDOW_SPREAD (50) TMA_THREATS_KAFKA (on)
 */
export function loadThreatConfig(env: NodeJS.ProcessEnv = process.env): ThreatConfig {
  const { values } = loadSettings(
    {
      enabled: setting({ env: 'TMA_THREATS', schema: rules.onOff(), default: true }),
      alpha: num('TMA_THREATS_ALPHA', 0.2, 0.01, 1),
      warmupWindows: integer('TMA_THREATS_WARMUP', 5, 1, 10_000),
      zThreshold: num('TMA_THREATS_Z', 6, 1, 1000),
      relativeFloor: num('TMA_THREATS_RELATIVE_FLOOR', 0.1, 0, 10),
      riseFactor: num('TMA_THREATS_RISE', 3, 1, 1000),
      floodMinPackets: integer('TMA_THREATS_FLOOD_MIN_PACKETS', 1000, 1, Number.MAX_SAFE_INTEGER),
      floodMinShare: num('TMA_THREATS_FLOOD_MIN_SHARE', 0.05, 0, 1),
      synFloodMinPackets: integer('TMA_THREATS_SYN_MIN_PACKETS', 500, 1, Number.MAX_SAFE_INTEGER),
      synFloodMinRatio: num('TMA_THREATS_SYN_MIN_RATIO', 3, 1, 1_000_000),
      surgeMinPackets: integer('TMA_THREATS_SURGE_MIN_PACKETS', 1000, 1, Number.MAX_SAFE_INTEGER),
      spreadMinRise: integer('TMA_THREATS_SPREAD_MIN_RISE', 100, 1, 1_000_000_000),
      spreadMaxPacketRise: num('TMA_THREATS_SPREAD_MAX_PACKET_RISE', 1.5, 1, 1000),
      changePhi: num('TMA_THREATS_CHANGE_PHI', 0.3, 0.001, 1),
      changeMinShare: num('TMA_THREATS_CHANGE_MIN_SHARE', 0.05, 0, 1),
      resolveAfterWindows: integer('TMA_THREATS_RESOLVE_AFTER', 2, 1, 10_000),
      maxTrackedDestinations: integer('TMA_THREATS_MAX_DESTINATIONS', 5000, 1, 1_000_000),
      publishAlerts: setting({ env: 'TMA_THREATS_KAFKA', schema: rules.onOff(), default: true }),
      backfillWindows: integer('TMA_THREATS_BACKFILL', 60, 1, 100_000),
      sourceMinSpread: integer('TMA_THREATS_SOURCE_MIN_SPREAD', 100, 1, 1_000_000_000),
      maxTrackedSources: integer('TMA_THREATS_MAX_SOURCES', 5000, 1, 1_000_000),
      lowSlowWindows: integer('TMA_THREATS_LOW_SLOW_WINDOWS', 240, 2, 10_000),
      lowSlowMinSpread: integer('TMA_THREATS_LOW_SLOW_MIN_SPREAD', 200, 1, 1_000_000_000),
      lowSlowMaxWindowSpread: integer('TMA_THREATS_LOW_SLOW_MAX_WINDOW_SPREAD', 50, 1, 1_000_000_000),
      ttlMs: setting({
        env: 'TMA_THREATS_TTL',
        schema: rules.duration({ min: 3_600_000, max: 3650 * DAY }),
        default: 90 * DAY,
      }),
    },
    { env },
  );
  const { ttlMs, ...rest } = values;
  return { ...rest, ttlSeconds: ttlMs / 1000 };
}

/** The defaults, for tests and tools that build detectors without an environment. */
export const DEFAULT_THREAT_CONFIG: ThreatConfig = loadThreatConfig({});
