// Aggregator settings from the environment, validated once at boot; errors name the variable and the fix.
import { hostname } from 'node:os';
import { DEFAULT_TOPIC_PREFIX } from '@tma/schema';

export class AggregatorConfigError extends Error {
  override name = 'AggregatorConfigError';
}

/** Retention of each table (1 min tier) and of every 1 h tier row, in seconds. */
export interface RetentionConfig {
  partials: number;
  windowTotals: number;
  topFlows: number;
  hostTotals: number;
  protocolTotals: number;
  /** Rows of the 1 h tier in every table. */
  hourTier: number;
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
  /** Snapshots whose interval ends further than this in the future (wall clock) go to the DLQ (default 10 min). */
  maxFutureMs: number;
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
  httpHost: string;
  httpPort: number;
  retention: RetentionConfig;
  /**
   * Fault injection for the crash tests: SIGKILL this process right after the N-th partial-row write, before its
   * offsets are committed (TMA_AGG_FAULT_KILL_AFTER_WRITES; 0 = off). Never set it in production.
   */
  faultKillAfterWrites: number;
  /**
   * Fault injection for the restart test: the first batch of each of the first N consumers fails with an error
   * kafkajs will not retry, which stops that consumer for good (TMA_AGG_FAULT_CRASH_BATCHES; 0 = off). Never set it
   * in production.
   */
  faultCrashBatches: number;
}

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

export function parseDuration(name: string, text: string): number {
  const m = /^(\d+)(ms|s|m|h|d)$/.exec(text.trim());
  if (!m) throw new AggregatorConfigError(`${name}: "${text}" is not a duration like 500ms, 30s, 1m, 12h or 7d`);
  return Number(m[1]) * UNITS[m[2]];
}

function duration(env: NodeJS.ProcessEnv, name: string, fallback: string, min: number, max: number): number {
  const v = parseDuration(name, env[name]?.trim() || fallback);
  if (v < min || v > max)
    throw new AggregatorConfigError(`${name}: ${env[name]} must be between ${min} ms and ${max} ms`);
  return v;
}

function integer(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name]?.trim();
  if (!raw) return fallback;
  if (!/^\d+$/.test(raw) || Number(raw) < min || Number(raw) > max) {
    throw new AggregatorConfigError(`${name}: "${raw}" must be a whole number between ${min} and ${max}`);
  }
  return Number(raw);
}

function name(env: NodeJS.ProcessEnv, key: string, fallback: string): string {
  const v = env[key]?.trim() || fallback;
  if (!/^[A-Za-z0-9._-]{1,200}$/.test(v))
    throw new AggregatorConfigError(`${key}: "${v}" may hold only letters, digits, ".", "_" and "-"`);
  return v;
}

/**
 *   TMA_AGG_WINDOW (1m) TMA_AGG_ALLOWED_LATENESS (30s) TMA_AGG_IDLE_CLOSE (15s) TMA_AGG_FLUSH_INTERVAL (1s)
 *   TMA_AGG_ROLLUP_DELAY (5s)
 *   TMA_AGG_MAX_FUTURE (10m) TMA_AGG_MAX_OPEN_WINDOWS (6) TMA_AGG_TOP_K (100) TMA_AGG_SESSION_TIMEOUT (30s)
 *   TMA_AGG_GROUP_ID (tma-aggregator) TMA_TOPIC_PREFIX (tma) TMA_AGG_TOPIC_PARTITIONS (12) TMA_AGG_WRITER_ID (host-pid)
 *   TMA_AGG_HTTP_HOST (0.0.0.0) TMA_AGG_HTTP_PORT (9464: /metrics, /health, /ready)
 *   TMA_AGG_TTL_PARTIALS (7d) _WINDOW_TOTALS (30d) _TOP_FLOWS (30d) _HOST_TOTALS (30d) _PROTOCOL_TOTALS (30d)
 *   TMA_AGG_TTL_HOUR_TIER (400d)
 */
export function loadAggregatorConfig(env: NodeJS.ProcessEnv = process.env): AggregatorConfig {
  const windowMs = duration(env, 'TMA_AGG_WINDOW', '1m', 1000, 3_600_000);
  if (windowMs % 1000 !== 0 || 3_600_000 % windowMs !== 0) {
    throw new AggregatorConfigError(
      `TMA_AGG_WINDOW: ${windowMs} ms must be whole seconds that divide one hour (e.g. 10s, 1m, 5m) so the 1 h tier is built from whole windows`,
    );
  }
  const day = 86_400_000;
  const ttl = (key: string, fallback: string) => duration(env, key, fallback, 3_600_000, 3650 * day) / 1000;
  return {
    windowMs,
    allowedLatenessMs: duration(env, 'TMA_AGG_ALLOWED_LATENESS', '30s', 0, 86_400_000),
    idleCloseMs: duration(env, 'TMA_AGG_IDLE_CLOSE', '15s', 100, 3_600_000),
    flushIntervalMs: duration(env, 'TMA_AGG_FLUSH_INTERVAL', '1s', 50, 600_000),
    rollupDelayMs: duration(env, 'TMA_AGG_ROLLUP_DELAY', '5s', 0, 3_600_000),
    maxFutureMs: duration(env, 'TMA_AGG_MAX_FUTURE', '10m', 1000, 7 * day),
    maxOpenWindows: integer(env, 'TMA_AGG_MAX_OPEN_WINDOWS', 6, 1, 1000),
    topK: integer(env, 'TMA_AGG_TOP_K', 100, 1, 10_000),
    sessionTimeoutMs: duration(env, 'TMA_AGG_SESSION_TIMEOUT', '30s', 6000, 300_000),
    groupId: name(env, 'TMA_AGG_GROUP_ID', 'tma-aggregator'),
    topicPrefix: name(env, 'TMA_TOPIC_PREFIX', DEFAULT_TOPIC_PREFIX),
    topicPartitions: integer(env, 'TMA_AGG_TOPIC_PARTITIONS', 12, 1, 10_000),
    writerId: name(env, 'TMA_AGG_WRITER_ID', `${hostname().replace(/[^A-Za-z0-9._-]/g, '_')}-${process.pid}`),
    httpHost: env.TMA_AGG_HTTP_HOST?.trim() || '0.0.0.0',
    httpPort: integer(env, 'TMA_AGG_HTTP_PORT', 9464, 0, 65535),
    faultKillAfterWrites: integer(env, 'TMA_AGG_FAULT_KILL_AFTER_WRITES', 0, 0, 1_000_000),
    faultCrashBatches: integer(env, 'TMA_AGG_FAULT_CRASH_BATCHES', 0, 0, 1_000_000),
    retention: {
      partials: ttl('TMA_AGG_TTL_PARTIALS', '7d'),
      windowTotals: ttl('TMA_AGG_TTL_WINDOW_TOTALS', '30d'),
      topFlows: ttl('TMA_AGG_TTL_TOP_FLOWS', '30d'),
      hostTotals: ttl('TMA_AGG_TTL_HOST_TOTALS', '30d'),
      protocolTotals: ttl('TMA_AGG_TTL_PROTOCOL_TOTALS', '30d'),
      hourTier: ttl('TMA_AGG_TTL_HOUR_TIER', '400d'),
    },
  };
}
