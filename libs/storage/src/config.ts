import { existsSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { ConfigError, loadSettings, optional, rule, rules, setting } from '@tma/config';

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
  /**
   * ClickHouse cluster (remote_servers) the tables are spread over: the migrator then applies the cluster DDL
   * (replicated local tables + Distributed tables, docs/scale.md). Unset: plain tables on this one server.
   */
  cluster?: string;
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

const databaseName = rule((name) => {
  if (typeof name !== 'string' || !DATABASE_RE.test(name.trim()))
    throw new ConfigError(
      `"${String(name)}" is not a usable database name (letters, digits and "_", not starting with a digit, ≤ 64 characters)`,
    );
  return name.trim();
});

// Cluster names are written into ON CLUSTER clauses and Keeper paths; remote_servers names are XML tags.
const clusterName = rule((name) => {
  if (typeof name !== 'string' || !/^[A-Za-z_][A-Za-z0-9_-]{0,63}$/.test(name.trim()))
    throw new ConfigError(
      `"${String(name)}" is not a usable cluster name (the <remote_servers> name: letters, digits, "_" and "-", not starting with a digit)`,
    );
  return name.trim();
});

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
 *   TMA_CLICKHOUSE_CLUSTER   cluster name: migrations create replicated + Distributed tables ON CLUSTER
 */
export function loadStorageConfig(env: NodeJS.ProcessEnv = process.env, cwd: string = process.cwd()): StorageConfig {
  const { values: v } = loadSettings(
    {
      url: optional('TMA_CLICKHOUSE_URL', rules.text()),
      database: optional('TMA_CLICKHOUSE_DATABASE', databaseName),
      chdbPath: optional('TMA_CHDB_PATH', rules.text()),
      stateDir: optional('TMA_STATE_DIR', rules.text()),
      username: optional('TMA_CLICKHOUSE_USER', rules.text()),
      cluster: optional('TMA_CLICKHOUSE_CLUSTER', clusterName),
      // A password is taken as given: it may legitimately be surrounded by spaces.
      password: setting<string | undefined>({
        env: 'TMA_CLICKHOUSE_PASSWORD',
        keepBlank: true,
        schema: rules.raw(),
        default: undefined,
      }),
      requestTimeoutMs: setting({
        env: 'TMA_CLICKHOUSE_REQUEST_TIMEOUT_MS',
        schema: rules.integer({ min: 100, max: 3_600_000, unit: 'milliseconds' }),
        default: DEFAULT_REQUEST_TIMEOUT_MS,
      }),
    },
    { env },
    ({ values, from }, report) => {
      if (values.url === undefined) {
        for (const [key, name] of [
          ['username', 'TMA_CLICKHOUSE_USER'],
          ['password', 'TMA_CLICKHOUSE_PASSWORD'],
          ['requestTimeoutMs', 'TMA_CLICKHOUSE_REQUEST_TIMEOUT_MS'],
          ['cluster', 'TMA_CLICKHOUSE_CLUSTER'],
        ] as const)
          if (from[key] !== undefined)
            report(
              '',
              `${name} is set but TMA_CLICKHOUSE_URL is not: it only applies to a ClickHouse server (unset it, or set TMA_CLICKHOUSE_URL)`,
            );
        if (values.chdbPath === ':memory:')
          report(
            'TMA_CHDB_PATH',
            ':memory: is not supported: give a directory (data must survive restarts; tests use a temporary one)',
          );
      } else if (values.chdbPath !== undefined) {
        report(
          '',
          'TMA_CLICKHOUSE_URL and TMA_CHDB_PATH are both set: the URL selects a server, the path embedded chDB — keep one',
        );
      }
    },
  );

  if (v.url === undefined) {
    const path =
      v.chdbPath === undefined
        ? join(v.stateDir ? resolve(cwd, v.stateDir) : join(findStateRoot(cwd), '.state'), 'chdb')
        : isAbsolute(v.chdbPath)
          ? v.chdbPath
          : resolve(cwd, v.chdbPath);
    return { kind: 'chdb', path, database: v.database ?? DEFAULT_DATABASE };
  }
  const fail = (message: string): never => {
    throw new ConfigError({ name: 'TMA_CLICKHOUSE_URL', message });
  };
  let url: URL;
  try {
    url = new URL(v.url);
  } catch {
    return fail(`"${redact(v.url)}" is not a URL (expected e.g. http://user:password@clickhouse:8123/tma)`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    fail(
      `scheme "${url.protocol.replace(/:$/, '')}" is not supported; use http:// or https:// (the HTTP interface, port 8123 or 8443)`,
    );
  if (url.search !== '' || url.hash !== '')
    fail('query strings and fragments are not accepted; give settings through TMA_CLICKHOUSE_* variables');
  const pathParts = url.pathname.split('/').filter(Boolean);
  if (pathParts.length > 1) fail(`path "${url.pathname}" has more than one segment; only /<database> is understood`);

  const pick = (fromUrl: string | undefined, fromEnv: string | undefined, name: string, what: string) => {
    if (fromUrl !== undefined && fromEnv !== undefined && fromUrl !== fromEnv)
      fail(`the ${what} is given twice, differently, in TMA_CLICKHOUSE_URL and in ${name}: keep one`);
    return fromUrl ?? fromEnv;
  };
  const decode = (s: string): string | undefined => (s === '' ? undefined : decodeURIComponent(s));
  const username = pick(decode(url.username), v.username, 'TMA_CLICKHOUSE_USER', 'user') ?? 'default';
  const password = pick(decode(url.password), v.password, 'TMA_CLICKHOUSE_PASSWORD', 'password') ?? '';
  const urlDatabase = pathParts[0] === undefined ? undefined : decodeURIComponent(pathParts[0]);
  if (urlDatabase !== undefined && !DATABASE_RE.test(urlDatabase))
    fail(
      `database "${urlDatabase}" is not a usable database name (letters, digits and "_", not starting with a digit, ≤ 64 characters)`,
    );
  const database = pick(urlDatabase, v.database, 'TMA_CLICKHOUSE_DATABASE', 'database') ?? DEFAULT_DATABASE;
  return {
    kind: 'server',
    url: `${url.protocol}//${url.host}`,
    username,
    password,
    database,
    requestTimeoutMs: v.requestTimeoutMs,
    ...(v.cluster === undefined ? {} : { cluster: v.cluster }),
  };
}

/** The URL with any password replaced, for messages and logs. */
export function redact(rawUrl: string): string {
  return rawUrl.replace(/^([a-z]+:\/\/[^:/@]*:)[^@/]*@/i, '$1***@');
}

/** One line describing where the data lives, safe to log (no password). */
export function describeStorageConfig(config: StorageConfig): string {
  return config.kind === 'chdb'
    ? `embedded chDB at ${config.path}, database ${config.database}`
    : `ClickHouse server ${config.url} as ${config.username}, database ${config.database}` +
        (config.cluster ? `, cluster ${config.cluster}` : '');
}
