// Aggregator settings from the environment, validated once at boot; errors name the variable and the fix.
import { hostname } from 'node:os';
import { ConfigError, loadSettings, parseDuration as parseDurationValue, rules, setting } from '@tma/config';
import { DEFAULT_TOPIC_PREFIX } from '@tma/schema';
import { resolveHashSeed, type ResolvedHashSeed } from '@tma/sketch';
import { DEFAULT_MAX_SEQUENCE_JUMP } from './dedup';
import { DEFAULT_MAX_PAST_MS } from './validate';

/** Retention of each table (1 min tier) and of every 1 h tier row, in seconds. */
export interface RetentionConfig {
  partials: number;
  windowTotals: number;
  topFlows: number;
  hostTotals: number;
  protocolTotals: number;
  /** Rows of the 1 h tier in every table. */
  hourTier: number;
  /** Rows of the 1 d tier in every table. */
  dayTier: number;
}

export interface AggregatorConfig {
  /** Tumbling window width, ms (default 60,000); divides one hour. */
  windowMs: number;
  /** A window is written once the watermark (newest interval end seen) passes its end by this much (default 30 s). */
  allowedLatenessMs: number;
  /** Open windows are also written when no snapshot arrived for this long (wall clock; default 15 s). */
  idleCloseMs: number;
  /** Late rows and closed windows are written at most this often (default 1 s). */
  flushIntervalMs: number;
  /** Readable rollups of a window are rebuilt once no new row arrived for it for this long (default 5 s). */
  rollupDelayMs: number;
  /** Open windows that changed are written as provisional rows this often (default 2 s; 0s = never). */
  provisionalIntervalMs: number;
  /** Retention of provisional rows (agg_provisional) from their window's start, in seconds (default 1 h). */
  provisionalTtlSeconds: number;
  /** Snapshots whose interval ends further than this in the future (wall clock) go to the DLQ (default 10 min). */
  maxFutureMs: number;
  /** Snapshots whose interval ended longer ago than this (wall clock) go to the DLQ (default 7 d). */
  maxPastMs: number;
  /** A sequence further than this from a host stream's position starts a run of its own (default 1000). */
  maxSequenceJump: number;
  /** Open windows kept per partition before the oldest is written early (bounds memory; default 6). */
  maxOpenWindows: number;
  topK: number;
  /** Kafka group session timeout: how long a dead instance holds its partitions (default 30 s). */
  sessionTimeoutMs: number;
  groupId: string;
  topicPrefix: string;
  /** Partitions given to the snapshot topic when the aggregator has to create it (default 12). */
  topicPartitions: number;
  writerId: string;
  /** Address of the unauthenticated /metrics, /health, /ready listener (default loopback only). */
  httpHost: string;
  httpPort: number;
  retention: RetentionConfig;
  /** The deployment's hash seed (TMA_HASH_SEED or TMA_HASH_SEED_FILE): snapshots of another seed identity are refused. */
  hashSeed: ResolvedHashSeed;
}

/** A duration such as 500ms, 30s, 1m, 12h or 7d, in ms; the ConfigError names `name`. */
export function parseDuration(name: string, text: string): number {
  try {
    return parseDurationValue(text);
  } catch (e) {
    throw e instanceof ConfigError ? new ConfigError(e.problems.map((p) => ({ ...p, name }))) : e;
  }
}

const DAY = 86_400_000;
const duration = (env: string, fallback: number, min: number, max: number) =>
  setting({ env, schema: rules.duration({ min, max }), default: fallback });
const integer = (env: string, fallback: number, min: number, max: number) =>
  setting({ env, schema: rules.integer({ min, max }), default: fallback });
const name = (env: string, fallback: string) => setting({ env, schema: rules.name(), default: fallback });
/** Retention in seconds, given as a duration from 1h to 10 years. */
const ttl = (env: string, fallbackDays: number) => duration(env, fallbackDays * DAY, 3_600_000, 3650 * DAY);

/**
 *   TMA_AGG_WINDOW (1m) TMA_AGG_ALLOWED_LATENESS (30s) TMA_AGG_IDLE_CLOSE (15s) TMA_AGG_FLUSH_INTERVAL (1s)
 *   TMA_AGG_ROLLUP_DELAY (5s) TMA_AGG_PROVISIONAL_INTERVAL (2s; 0s = off) TMA_AGG_TTL_PROVISIONAL (1h)
 *   TMA_AGG_MAX_FUTURE (10m) TMA_AGG_MAX_PAST (7d) TMA_AGG_MAX_OPEN_WINDOWS (6) TMA_AGG_MAX_SEQUENCE_JUMP (1000) TMA_AGG_TOP_K (100) TMA_AGG_SESSION_TIMEOUT (30s)
 *   TMA_AGG_GROUP_ID (tma-aggregator) TMA_TOPIC_PREFIX (tma) TMA_AGG_TOPIC_PARTITIONS (12) TMA_AGG_WRITER_ID (host-pid)
 *   TMA_AGG_HTTP_HOST (127.0.0.1) TMA_AGG_HTTP_PORT (9464: /metrics, /health, /ready)
 *   TMA_AGG_TTL_PARTIALS (7d) _WINDOW_TOTALS (30d) _TOP_FLOWS (30d) _HOST_TOTALS (30d) _PROTOCOL_TOTALS (30d)
 *   TMA_AGG_TTL_HOUR_TIER (400d) TMA_AGG_TTL_DAY_TIER (1100d)
 *   TMA_HASH_SEED or TMA_HASH_SEED_FILE (the public seed, with a warning)
 */
export function loadAggregatorConfig(env: NodeJS.ProcessEnv = process.env): AggregatorConfig {
  const { values: v } = loadSettings(
    {
      windowMs: duration('TMA_AGG_WINDOW', 60_000, 1000, 3_600_000),
      allowedLatenessMs: duration('TMA_AGG_ALLOWED_LATENESS', 30_000, 0, DAY),
      idleCloseMs: duration('TMA_AGG_IDLE_CLOSE', 15_000, 100, 3_600_000),
      flushIntervalMs: duration('TMA_AGG_FLUSH_INTERVAL', 1000, 50, 600_000),
      rollupDelayMs: duration('TMA_AGG_ROLLUP_DELAY', 5000, 0, 3_600_000),
      provisionalIntervalMs: duration('TMA_AGG_PROVISIONAL_INTERVAL', 2000, 0, 600_000),
      ttlProvisional: duration('TMA_AGG_TTL_PROVISIONAL', 3_600_000, 60_000, DAY),
      maxFutureMs: duration('TMA_AGG_MAX_FUTURE', 600_000, 1000, 7 * DAY),
      maxPastMs: duration('TMA_AGG_MAX_PAST', DEFAULT_MAX_PAST_MS, 60_000, 3650 * DAY),
      maxSequenceJump: integer('TMA_AGG_MAX_SEQUENCE_JUMP', DEFAULT_MAX_SEQUENCE_JUMP, 1, 1_000_000_000),
      maxOpenWindows: integer('TMA_AGG_MAX_OPEN_WINDOWS', 6, 1, 1000),
      topK: integer('TMA_AGG_TOP_K', 100, 1, 10_000),
      sessionTimeoutMs: duration('TMA_AGG_SESSION_TIMEOUT', 30_000, 6000, 300_000),
      groupId: name('TMA_AGG_GROUP_ID', 'tma-aggregator'),
      topicPrefix: name('TMA_TOPIC_PREFIX', DEFAULT_TOPIC_PREFIX),
      topicPartitions: integer('TMA_AGG_TOPIC_PARTITIONS', 12, 1, 10_000),
      writerId: name('TMA_AGG_WRITER_ID', `${hostname().replace(/[^A-Za-z0-9._-]/g, '_')}-${process.pid}`),
      // Unauthenticated metrics and health: loopback unless the operator opens them on purpose (e.g. 0.0.0.0).
      httpHost: setting({ env: 'TMA_AGG_HTTP_HOST', schema: rules.text(), default: '127.0.0.1' }),
      httpPort: integer('TMA_AGG_HTTP_PORT', 9464, 0, 65535),
      ttlPartials: ttl('TMA_AGG_TTL_PARTIALS', 7),
      ttlWindowTotals: ttl('TMA_AGG_TTL_WINDOW_TOTALS', 30),
      ttlTopFlows: ttl('TMA_AGG_TTL_TOP_FLOWS', 30),
      ttlHostTotals: ttl('TMA_AGG_TTL_HOST_TOTALS', 30),
      ttlProtocolTotals: ttl('TMA_AGG_TTL_PROTOCOL_TOTALS', 30),
      ttlHourTier: ttl('TMA_AGG_TTL_HOUR_TIER', 400),
      ttlDayTier: ttl('TMA_AGG_TTL_DAY_TIER', 1100),
    },
    { env },
    ({ values }, report) => {
      if (values.windowMs % 1000 !== 0 || 3_600_000 % values.windowMs !== 0)
        report(
          'TMA_AGG_WINDOW',
          `${values.windowMs} ms must be whole seconds that divide one hour (e.g. 10s, 1m, 5m) so the 1 h tier is built from whole windows`,
        );
      if (values.provisionalIntervalMs > 0 && values.provisionalIntervalMs < 200)
        report('TMA_AGG_PROVISIONAL_INTERVAL', `${values.provisionalIntervalMs} ms: use 0s (off) or at least 200ms`);
      // A provisional row must outlive the time its window stays open, or the window vanishes before it is final.
      const open = values.windowMs + values.allowedLatenessMs + values.idleCloseMs;
      if (values.provisionalIntervalMs > 0 && values.ttlProvisional <= open)
        report(
          'TMA_AGG_TTL_PROVISIONAL',
          `${values.ttlProvisional} ms must exceed the window plus the allowed lateness plus the idle close (${open} ms)`,
        );
    },
  );
  const {
    ttlPartials,
    ttlWindowTotals,
    ttlTopFlows,
    ttlHostTotals,
    ttlProtocolTotals,
    ttlHourTier,
    ttlDayTier,
    ttlProvisional,
    ...rest
  } = v;
  let hashSeed: ResolvedHashSeed;
  try {
    hashSeed = resolveHashSeed(env);
  } catch (e) {
    throw new ConfigError((e as Error).message);
  }
  return {
    ...rest,
    hashSeed,
    provisionalTtlSeconds: ttlProvisional / 1000,
    retention: {
      partials: ttlPartials / 1000,
      windowTotals: ttlWindowTotals / 1000,
      topFlows: ttlTopFlows / 1000,
      hostTotals: ttlHostTotals / 1000,
      protocolTotals: ttlProtocolTotals / 1000,
      hourTier: ttlHourTier / 1000,
      dayTier: ttlDayTier / 1000,
    },
  };
}
