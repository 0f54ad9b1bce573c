import { existsSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';

/** Raised when the storage settings are unusable; the message names the variable and the fix. */
export class StorageConfigError extends Error {
  override name = 'StorageConfigError';
}

/** Embedded ClickHouse (chDB) in this process, data kept in `path`. */
export interface ChdbStorageConfig {
  kind: 'chdb';
  /** Absolute data directory; one process at a time may open it. */
  path: string;
  database: string;
}

/** Any ClickHouse server ≥ 24.8 over HTTP(S). */
export interface ServerStorageConfig {
  kind: 'server';
  /** Scheme, host and port only: credentials and database are kept apart so they never reach logs. */
  url: string;
  username: string;
  password: string;
  database: string;
  requestTimeoutMs: number;
}

export type StorageConfig = ChdbStorageConfig | ServerStorageConfig;

export const DEFAULT_DATABASE = 'tma';
const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;

// Database names end up in SQL as identifiers (never as values), so they are held to a strict
// alphabet instead of being escaped.
const DATABASE_RE = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;

export function isValidIdentifier(name: string): boolean {
  return DATABASE_RE.test(name);
}

function read(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const v = env[name];
  return v === undefined || v.trim() === '' ? undefined : v.trim();
}

function checkDatabase(name: string, source: string): string {
  if (!DATABASE_RE.test(name)) {
    throw new StorageConfigError(
      `${source}: "${name}" is not a usable database name (letters, digits and "_", not starting with a digit, ≤ 64 characters)`,
    );
  }
  return name;
}

/** The repository root (the nearest folder holding nx.json), or `cwd` when run elsewhere. */
export function findStateRoot(cwd: string): string {
  let dir = resolve(cwd);
  for (;;) {
    if (existsSync(join(dir, 'nx.json'))) return dir;
    const parent = dirname(dir);
    if (parent === dir) return resolve(cwd);
    dir = parent;
  }
}

/**
 * Storage settings from the environment, validated once at start-up. One setting chooses the connection:
 *   TMA_CLICKHOUSE_URL       http(s)://[user[:password]@]host[:port][/database] of a ClickHouse server ≥ 24.8;
 *                            TMA_CLICKHOUSE_USER / _PASSWORD / _DATABASE may be given instead of the URL parts
 *   otherwise embedded chDB: TMA_CHDB_PATH (default <repo or cwd>/.state/chdb, or $TMA_STATE_DIR/chdb)
 *   TMA_CLICKHOUSE_DATABASE  database for both kinds (default "tma")
 *   TMA_CLICKHOUSE_REQUEST_TIMEOUT_MS  server request timeout (default 30000)
 */
export function loadStorageConfig(env: NodeJS.ProcessEnv = process.env, cwd: string = process.cwd()): StorageConfig {
  const rawUrl = read(env, 'TMA_CLICKHOUSE_URL');
  const envDatabase = read(env, 'TMA_CLICKHOUSE_DATABASE');
  if (envDatabase !== undefined) checkDatabase(envDatabase, 'TMA_CLICKHOUSE_DATABASE');

  if (rawUrl === undefined) {
    for (const name of ['TMA_CLICKHOUSE_USER', 'TMA_CLICKHOUSE_PASSWORD', 'TMA_CLICKHOUSE_REQUEST_TIMEOUT_MS']) {
      if (read(env, name) !== undefined) {
        throw new StorageConfigError(
          `${name} is set but TMA_CLICKHOUSE_URL is not: it only applies to a ClickHouse server (unset it, or set TMA_CLICKHOUSE_URL)`,
        );
      }
    }
    const chdbPath = read(env, 'TMA_CHDB_PATH');
    let path: string;
    if (chdbPath === undefined) {
      const stateDir = read(env, 'TMA_STATE_DIR');
      path = join(stateDir ? resolve(cwd, stateDir) : join(findStateRoot(cwd), '.state'), 'chdb');
    } else {
      if (chdbPath === ':memory:') {
        throw new StorageConfigError(
          'TMA_CHDB_PATH=:memory: is not supported: give a directory (data must survive restarts; tests use a temporary one)',
        );
      }
      path = isAbsolute(chdbPath) ? chdbPath : resolve(cwd, chdbPath);
    }
    return { kind: 'chdb', path, database: envDatabase ?? DEFAULT_DATABASE };
  }

  if (read(env, 'TMA_CHDB_PATH') !== undefined) {
    throw new StorageConfigError(
      'TMA_CLICKHOUSE_URL and TMA_CHDB_PATH are both set: the URL selects a server, the path embedded chDB — keep one',
    );
  }
  let url: URL;
  try {
    url = new URL(rawUrl);
  } catch {
    throw new StorageConfigError(
      `TMA_CLICKHOUSE_URL: "${redact(rawUrl)}" is not a URL (expected e.g. http://user:password@clickhouse:8123/tma)`,
    );
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new StorageConfigError(
      `TMA_CLICKHOUSE_URL: scheme "${url.protocol.replace(/:$/, '')}" is not supported; use http:// or https:// (the HTTP interface, port 8123 or 8443)`,
    );
  }
  if (url.search !== '' || url.hash !== '') {
    throw new StorageConfigError(
      'TMA_CLICKHOUSE_URL: query strings and fragments are not accepted; give settings through TMA_CLICKHOUSE_* variables',
    );
  }
  const pathParts = url.pathname.split('/').filter(Boolean);
  if (pathParts.length > 1) {
    throw new StorageConfigError(
      `TMA_CLICKHOUSE_URL: path "${url.pathname}" has more than one segment; only /<database> is understood`,
    );
  }

  const pick = (fromUrl: string | undefined, name: string, what: string): string | undefined => {
    const fromEnv = read(env, name);
    if (fromUrl !== undefined && fromEnv !== undefined && fromUrl !== fromEnv) {
      throw new StorageConfigError(
        `the ${what} is given twice, differently, in TMA_CLICKHOUSE_URL and in ${name}: keep one`,
      );
    }
    return fromUrl ?? fromEnv;
  };
  const decode = (s: string): string | undefined => (s === '' ? undefined : decodeURIComponent(s));
  const username = pick(decode(url.username), 'TMA_CLICKHOUSE_USER', 'user') ?? 'default';
  // A password is read raw from the environment: it may legitimately be surrounded by spaces.
  const envPassword = env.TMA_CLICKHOUSE_PASSWORD === '' ? undefined : env.TMA_CLICKHOUSE_PASSWORD;
  const urlPassword = decode(url.password);
  if (urlPassword !== undefined && envPassword !== undefined && urlPassword !== envPassword) {
    throw new StorageConfigError(
      'the password is given twice, differently, in TMA_CLICKHOUSE_URL and in TMA_CLICKHOUSE_PASSWORD: keep one',
    );
  }
  const password = urlPassword ?? envPassword ?? '';
  const urlDatabase = pathParts[0] === undefined ? undefined : decodeURIComponent(pathParts[0]);
  if (urlDatabase !== undefined) checkDatabase(urlDatabase, 'TMA_CLICKHOUSE_URL database');
  const database = pick(urlDatabase, 'TMA_CLICKHOUSE_DATABASE', 'database') ?? DEFAULT_DATABASE;

  const rawTimeout = read(env, 'TMA_CLICKHOUSE_REQUEST_TIMEOUT_MS');
  let requestTimeoutMs = DEFAULT_REQUEST_TIMEOUT_MS;
  if (rawTimeout !== undefined) {
    requestTimeoutMs = Number(rawTimeout);
    if (!/^\d+$/.test(rawTimeout) || requestTimeoutMs < 100 || requestTimeoutMs > 3_600_000) {
      throw new StorageConfigError(
        `TMA_CLICKHOUSE_REQUEST_TIMEOUT_MS: "${rawTimeout}" must be a whole number of milliseconds between 100 and 3600000`,
      );
    }
  }
  return { kind: 'server', url: `${url.protocol}//${url.host}`, username, password, database, requestTimeoutMs };
}

/** The URL with any password replaced, for messages and logs. */
export function redact(rawUrl: string): string {
  return rawUrl.replace(/^([a-z]+:\/\/[^:/@]*:)[^@/]*@/i, '$1***@');
}

/** One line describing where the data lives, safe to log (no password). */
export function describeStorageConfig(config: StorageConfig): string {
  return config.kind === 'chdb'
    ? `embedded chDB at ${config.path}, database ${config.database}`
    : `ClickHouse server ${config.url} as ${config.username}, database ${config.database}`;
}
