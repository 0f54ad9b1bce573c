// Query API settings from the environment, validated once at boot; every error names the variable and the fix.
// Tokens are secrets: they never appear in messages or logs (only their names do).
import { readFileSync } from 'node:fs';

export class QueryApiConfigError extends Error {
  override name = 'QueryApiConfigError';
}

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
}

const UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

function duration(env: NodeJS.ProcessEnv, key: string, fallback: string): number {
  const text = env[key]?.trim() || fallback;
  const m = /^(\d+)(s|m|h|d)$/.exec(text);
  if (!m || Number(m[1]) === 0)
    throw new QueryApiConfigError(`${key}: "${text}" is not a duration like 90s, 15m, 24h or 31d`);
  return Number(m[1]) * UNITS[m[2]];
}

function integer(env: NodeJS.ProcessEnv, key: string, fallback: number, min: number, max: number): number {
  const raw = env[key]?.trim();
  if (!raw) return fallback;
  if (!/^\d+$/.test(raw) || Number(raw) < min || Number(raw) > max) {
    throw new QueryApiConfigError(`${key}: "${raw}" must be a whole number between ${min} and ${max}`);
  }
  return Number(raw);
}

function onOff(env: NodeJS.ProcessEnv, key: string, fallback: boolean): boolean {
  const v = env[key]?.trim();
  if (!v) return fallback;
  if (v !== 'on' && v !== 'off') throw new QueryApiConfigError(`${key}: "${v}" must be on or off`);
  return v === 'on';
}

/**
 * Tokens: `name:secret[:scope+scope]` entries separated by commas or newlines, from TMA_API_TOKENS or the file named by
 * TMA_API_TOKENS_FILE (one per line, # comments). Scope defaults to read; admin implies read.
 */
export function parseTokens(text: string, source: string): ApiToken[] {
  const out: ApiToken[] = [];
  const names = new Set<string>();
  const secrets = new Set<string>();
  const entries = text
    .split(/[\n,]/)
    .map((l) => l.replace(/#.*$/, '').trim())
    .filter(Boolean);
  entries.forEach((entry, i) => {
    const parts = entry.split(':');
    const where = `${source} entry ${i + 1}`;
    if (parts.length < 2 || parts.length > 3)
      throw new QueryApiConfigError(`${where}: expected name:secret or name:secret:scope`);
    const [name, secret, scopeText = 'read'] = parts;
    if (!/^[A-Za-z0-9._-]{1,64}$/.test(name))
      throw new QueryApiConfigError(`${where}: token name "${name}" may hold only letters, digits, ".", "_" and "-"`);
    // Length only: the secret itself must never reach a message.
    if (secret.length < 16 || /\s/.test(secret))
      throw new QueryApiConfigError(`${where} (${name}): the secret must be at least 16 characters without spaces`);
    const scopes = scopeText.split('+').map((s) => s.trim());
    for (const s of scopes)
      if (s !== 'read' && s !== 'admin')
        throw new QueryApiConfigError(`${where} (${name}): unknown scope "${s}" (read or admin)`);
    if (names.has(name)) throw new QueryApiConfigError(`${where}: token name "${name}" is used twice`);
    if (secrets.has(secret))
      throw new QueryApiConfigError(`${where} (${name}): the same secret is given to two tokens`);
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
 *   TMA_API_INDEX_REFRESH (1s; 0 = no index) TMA_API_MERGE_CACHE (on)
 */
export function loadQueryApiConfig(env: NodeJS.ProcessEnv = process.env): QueryApiConfig {
  const auth = env.TMA_API_AUTH?.trim() || 'on';
  if (auth !== 'on' && auth !== 'off') throw new QueryApiConfigError(`TMA_API_AUTH: "${auth}" must be on or off`);
  let tokens: ApiToken[] = [];
  if (env.TMA_API_TOKENS?.trim() && env.TMA_API_TOKENS_FILE?.trim()) {
    throw new QueryApiConfigError('TMA_API_TOKENS and TMA_API_TOKENS_FILE are both set: give the tokens one way');
  }
  if (env.TMA_API_TOKENS?.trim()) tokens = parseTokens(env.TMA_API_TOKENS, 'TMA_API_TOKENS');
  else if (env.TMA_API_TOKENS_FILE?.trim()) {
    let text: string;
    try {
      text = readFileSync(env.TMA_API_TOKENS_FILE.trim(), 'utf8');
    } catch (e) {
      throw new QueryApiConfigError(
        `TMA_API_TOKENS_FILE: cannot read ${env.TMA_API_TOKENS_FILE} (${(e as NodeJS.ErrnoException).code})`,
      );
    }
    tokens = parseTokens(text, 'TMA_API_TOKENS_FILE');
  }
  if (auth === 'on' && tokens.length === 0) {
    throw new QueryApiConfigError(
      'no API tokens: set TMA_API_TOKENS=name:secret (16+ characters) or TMA_API_TOKENS_FILE, or TMA_API_AUTH=off for local development only',
    );
  }
  const maxRangeMs = duration(env, 'TMA_API_MAX_RANGE', '31d');
  return {
    host: env.TMA_API_HOST?.trim() || '127.0.0.1',
    port: integer(env, 'TMA_API_PORT', 8080, 0, 65535),
    authEnabled: auth === 'on',
    tokens,
    maxRangeMs,
    maxPoints: integer(env, 'TMA_API_MAX_POINTS', 1000, 10, 100_000),
    maxK: integer(env, 'TMA_API_MAX_K', 1000, 1, 1000),
    cacheBytes: integer(env, 'TMA_API_CACHE_MB', 256, 0, 65_536) * 1024 * 1024,
    indexRefreshMs: env.TMA_API_INDEX_REFRESH?.trim() === '0' ? 0 : duration(env, 'TMA_API_INDEX_REFRESH', '1s'),
    mergeCache: onOff(env, 'TMA_API_MERGE_CACHE', true),
  };
}
