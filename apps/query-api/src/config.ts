// Query API settings from the environment, validated once at boot; every error names the variable and the fix.
// Tokens are secrets: they never appear in messages or logs (only their names do).
import { readFileSync } from 'node:fs';
import { DEFAULT_SQL_LIMITS, type SqlLimits } from '@tma/storage';
import {
  ConfigError,
  loadSettings,
  optional,
  parseDuration,
  parseList,
  parseName,
  rule,
  rules,
  setting,
} from '@tma/config';
import { loadKafkaSettings } from '@tma/kafka';
import { parseAddress, resolveHashSeed, type ResolvedHashSeed } from '@tma/sketch';
import { protectedHosts } from '@tma/threats';

export type TokenScope = 'read' | 'admin';

export interface ApiToken {
  /** Shown in logs and metrics instead of the secret. */
  name: string;
  secret: string;
  scopes: TokenScope[];
}

export interface QueryApiConfig {
  host: string;
  port: number;
  /** false only when TMA_API_AUTH=off was set explicitly (local development). */
  authEnabled: boolean;
  tokens: ApiToken[];
  /** Longest time range one request may cover, ms. */
  maxRangeMs: number;
  /** Most points a time series may have. */
  maxPoints: number;
  /** Largest k for top flows. */
  maxK: number;
  /** Memory given to decoded sketches of stored partial rows (bytes). */
  cacheBytes: number;
  /** How often the in-memory index of stored rows picks up newly written rows (ms); 0 = list rows in ClickHouse on every request. */
  indexRefreshMs: number;
  /** Keep merged sketches per exact set of rows (a new or rewritten row changes the set, so nothing goes stale). */
  mergeCache: boolean;
  /** Memory given to those kept merges (bytes; least recently used out first). */
  mergeCacheBytes: number;
  /** Worker threads that merge sketches off the event loop; 0 = merge on the event loop. */
  mergeWorkers: number;
  /** Merge tasks that may wait for a worker; more are refused with 503. */
  mergeQueue: number;
  /** Whole-fleet answers read a 1 min window's fleet row instead of its rows per partition, while it holds them all. */
  fleetRows: boolean;
  /** The deployment's hash seed: point lookups hash flow keys with it; stored sketches of another seed are refused. */
  hashSeed: ResolvedHashSeed;
  /** Limits of POST /v1/sql (time, result rows and bytes, memory). */
  sqlLimits: SqlLimits;
  /** Block rules (docs/threats.md, "Mitigation"); absent: the defaults, with no commands topic. */
  mitigation?: MitigationSettings;
}

export interface MitigationSettings {
  /** publish approved rules on the commands topic and audit the agents' reports */
  commands: boolean;
  topicPrefix: string;
  /** rules proposed or in force at once */
  maxRules: number;
  /** addresses no rule may hold: the brokers', the API's own, TMA_MITIGATION_PROTECT */
  protect: string[];
  /** how long rules, audit rows and counters are kept, ms */
  auditTtlMs: number;
}

export const DEFAULT_MITIGATION: MitigationSettings = {
  commands: false,
  topicPrefix: 'tma',
  maxRules: 256,
  protect: [],
  auditTtlMs: 365 * 86_400_000,
};

/**
 * Mitigation settings, validated at start-up with the rest:
 *   TMA_MITIGATION (on) TMA_MITIGATION_MAX_RULES (256, 1..1024) TMA_MITIGATION_PROTECT (addresses)
 *   TMA_MITIGATION_TOPIC_PREFIX (tma) TMA_MITIGATION_AUDIT_TTL (365d)
 */
export function loadMitigationSettings(env: NodeJS.ProcessEnv, apiHost: string): MitigationSettings {
  const { values: v } = loadSettings(
    {
      commands: setting({ env: 'TMA_MITIGATION', schema: rules.onOff(), default: true }),
      topicPrefix: setting({ env: 'TMA_MITIGATION_TOPIC_PREFIX', schema: rules.name(), default: 'tma' }),
      maxRules: integer('TMA_MITIGATION_MAX_RULES', 256, 1, 1024),
      protect: setting<string[]>({
        env: 'TMA_MITIGATION_PROTECT',
        schema: rule((text) => {
          const list = parseList(text);
          for (const a of list) {
            try {
              parseAddress(a);
            } catch {
              throw new ConfigError(`"${a}" is not an IPv4 or IPv6 address`);
            }
          }
          return list;
        }),
        default: [],
      }),
      auditTtlMs: setting({
        env: 'TMA_MITIGATION_AUDIT_TTL',
        schema: rules.duration({ min: 86_400_000 }),
        default: 365 * 86_400_000,
      }),
    },
    { env },
  );
  let brokers: string[] = [];
  try {
    brokers = loadKafkaSettings(env, 'tma-query-api').brokers;
  } catch (e) {
    if (v.commands) throw e;
  }
  const own = ['0.0.0.0', '::', ''].includes(apiHost) ? [] : [apiHost];
  return { ...v, protect: [...new Set([...protectedHosts(brokers), ...own, ...v.protect])] };
}

/**
 * Merge threads by default: none (merges on the event loop). Measured on 2 shared cores, a worker kept the event
 * loop free but cost ~3× the CPU of an uncached top-K merge (its inputs are copied to it), so it is opted into
 * (docs/scale.md, "Query API at 10,000 hosts").
 */
export const DEFAULT_MERGE_WORKERS = 0;

/** Durations here are at least 1 ms; units are required. */
const duration = (env: string, fallback: number) =>
  setting({ env, schema: rules.duration({ min: 1 }), default: fallback });
const integer = (env: string, fallback: number, min: number, max: number) =>
  setting({ env, schema: rules.integer({ min, max }), default: fallback });

/**
 * Tokens: `name:secret[:scope+scope]` entries separated by commas or newlines, from TMA_API_TOKENS or the file named by
 * TMA_API_TOKENS_FILE (one per line). A comment starts with `#` at the start of a line or after a space: secrets
 * hold no spaces but may hold `#`. Scope defaults to read; admin implies read.
 */
export function parseTokens(text: string, source: string): ApiToken[] {
  const out: ApiToken[] = [];
  const names = new Set<string>();
  const secrets = new Set<string>();
  const entries = text
    .split(/[\n,]/)
    .map((l) => l.replace(/(^|\s)#.*$/, '').trim())
    .filter(Boolean);
  entries.forEach((entry, i) => {
    const parts = entry.split(':');
    const where = source ? `${source} entry ${i + 1}` : `entry ${i + 1}`;
    if (parts.length < 2 || parts.length > 3)
      throw new ConfigError(`${where}: expected name:secret or name:secret:scope`);
    const [name, secret, scopeText = 'read'] = parts;
    try {
      parseName(name, 64);
    } catch {
      throw new ConfigError(`${where}: token name "${name}" may hold only letters, digits, ".", "_" and "-"`);
    }
    // Length only: the secret itself must never reach a message.
    if (secret.length < 16 || /\s/.test(secret))
      throw new ConfigError(`${where} (${name}): the secret must be at least 16 characters without spaces`);
    const scopes = scopeText.split('+').map((s) => s.trim());
    for (const s of scopes)
      if (s !== 'read' && s !== 'admin')
        throw new ConfigError(`${where} (${name}): unknown scope "${s}" (read or admin)`);
    if (names.has(name)) throw new ConfigError(`${where}: token name "${name}" is used twice`);
    if (secrets.has(secret)) throw new ConfigError(`${where} (${name}): the same secret is given to two tokens`);
    names.add(name);
    secrets.add(secret);
    const set = new Set<TokenScope>(scopes as TokenScope[]);
    if (set.has('admin')) set.add('read');
    out.push({ name, secret, scopes: [...set] });
  });
  return out;
}

/**
 *   TMA_API_HOST (127.0.0.1) TMA_API_PORT (8080)
 *   TMA_API_TOKENS (name:secret[:scope],…) or TMA_API_TOKENS_FILE; TMA_API_AUTH=off switches authentication off
 *   TMA_API_MAX_RANGE (31d) TMA_API_MAX_POINTS (1000) TMA_API_MAX_K (1000) TMA_API_CACHE_MB (256)
 *   TMA_API_INDEX_REFRESH (1s; 0 = no index) TMA_API_MERGE_CACHE (on) TMA_API_MERGE_CACHE_MB (128)
 *   TMA_API_MERGE_WORKERS (0 = merge on the event loop) TMA_API_MERGE_QUEUE (256) TMA_API_FLEET_ROWS (on)
 *   TMA_HASH_SEED or TMA_HASH_SEED_FILE (the public seed, with a warning)
 *   TMA_API_SQL_TIMEOUT (30s) TMA_API_SQL_MAX_ROWS (100000) TMA_API_SQL_MAX_RESULT_MB (64) TMA_API_SQL_MAX_MEMORY_MB (2048)
 */
export function loadQueryApiConfig(env: NodeJS.ProcessEnv = process.env): QueryApiConfig {
  const tokensFile = rule((file) => {
    const path = String(file).trim();
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (e) {
      throw new ConfigError(`cannot read ${path} (${(e as NodeJS.ErrnoException).code})`);
    }
    return parseTokens(text, '');
  });
  const { values: v } = loadSettings(
    {
      auth: setting({ env: 'TMA_API_AUTH', schema: rules.onOff(), default: true }),
      tokens: optional(
        'TMA_API_TOKENS',
        rule((text) => parseTokens(String(text), '')),
      ),
      tokenFile: optional('TMA_API_TOKENS_FILE', tokensFile),
      host: setting({ env: 'TMA_API_HOST', schema: rules.text(), default: '127.0.0.1' }),
      port: integer('TMA_API_PORT', 8080, 0, 65535),
      maxRangeMs: duration('TMA_API_MAX_RANGE', 31 * 86_400_000),
      maxPoints: integer('TMA_API_MAX_POINTS', 1000, 10, 100_000),
      maxK: integer('TMA_API_MAX_K', 1000, 1, 1000),
      cacheMb: integer('TMA_API_CACHE_MB', 256, 0, 65_536),
      // 0 = no index: rows are listed in ClickHouse on every request.
      indexRefreshMs: setting({
        env: 'TMA_API_INDEX_REFRESH',
        schema: rule((text) => (String(text).trim() === '0' ? 0 : parseDuration(text, { min: 1 }))),
        default: 1000,
      }),
      mergeCache: setting({ env: 'TMA_API_MERGE_CACHE', schema: rules.onOff(), default: true }),
      mergeCacheMb: integer('TMA_API_MERGE_CACHE_MB', 128, 0, 65_536),
      mergeWorkers: integer('TMA_API_MERGE_WORKERS', DEFAULT_MERGE_WORKERS, 0, 64),
      mergeQueue: integer('TMA_API_MERGE_QUEUE', 256, 1, 100_000),
      fleetRows: setting({ env: 'TMA_API_FLEET_ROWS', schema: rules.onOff(), default: true }),
      sqlTimeoutMs: setting({
        env: 'TMA_API_SQL_TIMEOUT',
        schema: rules.duration({ min: 1000, max: 3_600_000 }),
        default: DEFAULT_SQL_LIMITS.maxExecutionSeconds * 1000,
      }),
      sqlMaxRows: integer('TMA_API_SQL_MAX_ROWS', DEFAULT_SQL_LIMITS.maxResultRows, 1, 100_000_000),
      sqlMaxResultMb: integer('TMA_API_SQL_MAX_RESULT_MB', DEFAULT_SQL_LIMITS.maxResultBytes / 2 ** 20, 1, 65_536),
      sqlMaxMemoryMb: integer('TMA_API_SQL_MAX_MEMORY_MB', DEFAULT_SQL_LIMITS.maxMemoryBytes / 2 ** 20, 64, 1_048_576),
    },
    { env },
    ({ values, from }, report) => {
      if (from.tokens && from.tokenFile)
        report('', 'TMA_API_TOKENS and TMA_API_TOKENS_FILE are both set: give the tokens one way');
      else if (values.auth && !from.tokens && !from.tokenFile)
        report(
          '',
          'no API tokens: set TMA_API_TOKENS=name:secret (16+ characters) or TMA_API_TOKENS_FILE, or TMA_API_AUTH=off for local development only',
        );
      else if (values.auth && (values.tokens ?? values.tokenFile)?.length === 0)
        report(
          from.tokens ? 'TMA_API_TOKENS' : 'TMA_API_TOKENS_FILE',
          'no API tokens: give name:secret (16+ characters) entries, or TMA_API_AUTH=off for local development only',
        );
    },
  );
  let hashSeed: ResolvedHashSeed;
  try {
    hashSeed = resolveHashSeed(env);
  } catch (e) {
    throw new ConfigError((e as Error).message);
  }
  return {
    host: v.host,
    port: v.port,
    authEnabled: v.auth,
    tokens: v.tokens ?? v.tokenFile ?? [],
    maxRangeMs: v.maxRangeMs,
    maxPoints: v.maxPoints,
    maxK: v.maxK,
    cacheBytes: v.cacheMb * 1024 * 1024,
    indexRefreshMs: v.indexRefreshMs,
    mergeCache: v.mergeCache,
    mergeCacheBytes: v.mergeCacheMb * 1024 * 1024,
    mergeWorkers: v.mergeWorkers,
    mergeQueue: v.mergeQueue,
    fleetRows: v.fleetRows,
    hashSeed,
    sqlLimits: {
      maxExecutionSeconds: Math.ceil(v.sqlTimeoutMs / 1000),
      maxResultRows: v.sqlMaxRows,
      maxResultBytes: v.sqlMaxResultMb * 2 ** 20,
      maxMemoryBytes: v.sqlMaxMemoryMb * 2 ** 20,
    },
    mitigation: loadMitigationSettings(env, v.host),
  };
}
