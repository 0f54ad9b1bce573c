import { ClickHouseLogLevel, createClient, type ClickHouseClient } from '@clickhouse/client';
import { createChdbConnection } from 'chdb/connection';
import { HEX_SUFFIX, bytesToHex, hexToBytes } from './binary';
import {
  SerialChdbConnection,
  claimChdbPath,
  openChdb,
  readBaselineSettings,
  releaseChdbPath,
  type ClientConnection,
} from './chdb';
import { isValidIdentifier, type StorageConfig } from './config';
import { StorageError, StorageVersionError } from './errors';
import { PINNED_SETTINGS } from './settings';
import { DEFAULT_SQL_LIMITS, openChdbSqlReader, serverSqlReader, type SqlLimits, type SqlReader } from './sql-reader';

/** Oldest ClickHouse server accepted: TTL, IPv4/IPv6, DateTime64, query parameters and every pinned setting exist there. */
export const MIN_SERVER_VERSION: readonly [number, number] = [24, 8];

/** Written in SQL where the configured database belongs: `SELECT … FROM {database}.flows`. */
export const DATABASE_PLACEHOLDER = '{database}';

export type ParamValue =
  string | number | boolean | bigint | Date | null | readonly ParamValue[] | { readonly [key: string]: ParamValue };

export type QueryParams = Record<string, ParamValue>;

export interface QueryOptions {
  /** Columns selected as hex(col) AS col, handed back as Buffers. */
  binaryColumns?: readonly string[];
}

export interface InsertOptions {
  /**
   * Same token + same rows = written once, however often retried. Needs insert_deduplicate (pinned on) and, on a
   * non-replicated MergeTree, the table setting non_replicated_deduplication_window > 0.
   */
  dedupToken?: string;
}

export interface Storage {
  readonly kind: 'chdb' | 'server';
  /** The @clickhouse/client client; the same code runs on chDB and on a server. Qualify tables with `database`. */
  readonly client: ClickHouseClient;
  readonly database: string;
  /** Cluster the tables are spread over (server only, TMA_CLICKHOUSE_CLUSTER); migrations then run ON CLUSTER. */
  readonly cluster?: string;
  /** ClickHouse version of the engine answering, e.g. 26.7.2.1. */
  readonly serverVersion: string;
  /** Rows of a SELECT as objects (JSONEachRow); values only through `{name:Type}` parameters. */
  query<T = Record<string, unknown>>(sql: string, params?: QueryParams, options?: QueryOptions): Promise<T[]>;
  /** A statement without result rows (DDL, INSERT … SELECT, ALTER). */
  command(sql: string, params?: QueryParams): Promise<void>;
  /** Writes rows into `database.table`; Uint8Array values go to the `<column>_hex` EPHEMERAL column as hex. */
  insertRows(table: string, rows: readonly Record<string, unknown>[], options?: InsertOptions): Promise<void>;
  /** A reader for people's SQL: read-only (readonly = 1), limited in time, result size and memory (docs/sql.md). */
  sqlReader(limits?: SqlLimits): SqlReader;
  close(): Promise<void>;
}

const quoteIdent = (name: string): string => `\`${name}\``;

function checkIdentifier(name: string, what: string): string {
  if (!isValidIdentifier(name)) {
    throw new StorageError(`${what} "${name}" is not a plain identifier (letters, digits, "_")`);
  }
  return name;
}

/** Text the engine parses as DateTime (whole seconds) or DateTime64; read in UTC because session_timezone is pinned. */
export function formatDateParam(d: Date): string {
  if (Number.isNaN(d.getTime())) throw new StorageError('query parameter holds an invalid Date');
  const iso = d.toISOString(); // 2026-01-02T03:04:05.678Z
  const base = `${iso.slice(0, 10)} ${iso.slice(11, 19)}`;
  // Whole seconds stay parseable as DateTime; a fraction is kept (for DateTime64) rather than silently cut.
  return d.getUTCMilliseconds() === 0 ? base : `${base}.${iso.slice(20, 23)}`;
}

function toParam(value: ParamValue, name: string): unknown {
  if (value instanceof Uint8Array) {
    throw new StorageError(
      `query parameter "${name}" holds bytes: pass hexParam(bytes) and write unhex({${name}:String}) in the SQL`,
    );
  }
  if (value instanceof Date) return formatDateParam(value);
  if (Array.isArray(value)) return value.map((v: ParamValue) => toParam(v, name));
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, toParam(v, name)]));
  }
  return value;
}

/** A row value for JSONEachRow: bigints (UInt64 counts past 2^53 − 1) as decimal text, which ClickHouse parses exactly. */
function jsonValue(value: unknown): unknown {
  if (typeof value === 'bigint') return value.toString();
  if (Array.isArray(value) && value.some((v) => typeof v === 'bigint')) return value.map(jsonValue);
  return value;
}

function toParams(params: QueryParams | undefined): Record<string, unknown> | undefined {
  if (params === undefined) return undefined;
  const out: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(params)) out[name] = toParam(value, name);
  return out;
}

export function parseVersion(version: string): [number, number] {
  const m = /^(\d+)\.(\d+)/.exec(version.trim());
  if (!m) throw new StorageError(`cannot read the ClickHouse version "${version}"`);
  return [Number(m[1]), Number(m[2])];
}

export function checkServerVersion(version: string, where: string): void {
  const [major, minor] = parseVersion(version);
  const [minMajor, minMinor] = MIN_SERVER_VERSION;
  if (major < minMajor || (major === minMajor && minor < minMinor)) {
    throw new StorageVersionError(
      `ClickHouse at ${where} is version ${version}; TMA needs ${minMajor}.${minMinor} or newer ` +
        `(TTL, IPv4/IPv6 types, DateTime64, query parameters and the pinned settings). Upgrade the server, ` +
        `or unset TMA_CLICKHOUSE_URL to use the embedded chDB`,
    );
  }
}

async function selectVersion(client: ClickHouseClient): Promise<string> {
  const rs = await client.query({ query: 'SELECT version() AS v', format: 'JSONEachRow' });
  const rows = await rs.json<{ v: string }>();
  const v = rows[0]?.v;
  if (typeof v !== 'string') throw new StorageError('the server did not answer SELECT version()');
  return v;
}

class ClickHouseStorage implements Storage {
  #closed = false;

  constructor(
    readonly kind: 'chdb' | 'server',
    readonly client: ClickHouseClient,
    readonly database: string,
    readonly serverVersion: string,
    private readonly onClose: () => void,
    readonly cluster?: string,
    /** chDB only: the data directory and the connection's queue. */
    private readonly chdb?: { path: string; connection: SerialChdbConnection },
  ) {}

  sqlReader(limits: SqlLimits = DEFAULT_SQL_LIMITS): SqlReader {
    if (this.#closed) throw new StorageError('the storage is closed');
    if (!this.chdb) return serverSqlReader(this.client, limits);
    const { path, connection } = this.chdb;
    return openChdbSqlReader(path, limits, (op) => connection.exclusive(op));
  }

  #sql(sql: string): string {
    return sql.split(DATABASE_PLACEHOLDER).join(quoteIdent(this.database));
  }

  async query<T = Record<string, unknown>>(sql: string, params?: QueryParams, options?: QueryOptions): Promise<T[]> {
    const rs = await this.client.query({
      query: this.#sql(sql),
      query_params: toParams(params),
      format: 'JSONEachRow',
    });
    const rows = await rs.json<Record<string, unknown>>();
    for (const column of options?.binaryColumns ?? []) {
      for (const row of rows) {
        const v = row[column];
        if (typeof v === 'string') row[column] = hexToBytes(v);
        else if (v !== null && v !== undefined) {
          throw new StorageError(
            `binary column "${column}" did not come back as hex text: select hex(${column}) AS ${column}`,
          );
        }
      }
    }
    return rows as T[];
  }

  async command(sql: string, params?: QueryParams): Promise<void> {
    await this.client.command({ query: this.#sql(sql), query_params: toParams(params) });
  }

  async insertRows(
    table: string,
    rows: readonly Record<string, unknown>[],
    options: InsertOptions = {},
  ): Promise<void> {
    checkIdentifier(table, 'table');
    if (rows.length === 0) return;
    const columns = new Set<string>();
    const binary = new Set<string>();
    const values = rows.map((row) => {
      const out: Record<string, unknown> = {};
      for (const [key, value] of Object.entries(row)) {
        if (value === undefined) continue;
        if (value instanceof Uint8Array) {
          const hexColumn = key + HEX_SUFFIX;
          out[hexColumn] = bytesToHex(value);
          binary.add(key);
          columns.add(checkIdentifier(hexColumn, 'column'));
        } else {
          out[key] = jsonValue(value);
          columns.add(checkIdentifier(key, 'column'));
        }
      }
      return out;
    });
    try {
      await this.client.insert({
        table: `${quoteIdent(this.database)}.${quoteIdent(table)}`,
        // Listed explicitly: EPHEMERAL columns are only written when named.
        columns: [...columns].map(quoteIdent) as [string, ...string[]],
        values,
        format: 'JSONEachRow',
        // Always sent, also when empty, so no token lingers from an earlier insert.
        clickhouse_settings: { insert_deduplication_token: options.dedupToken ?? '' },
      });
    } catch (err) {
      if (binary.size > 0 && /_hex/.test((err as Error).message)) {
        const names = [...binary];
        throw new StorageError(
          `insert into ${this.database}.${table} failed (${(err as Error).message.split('\n')[0]}); binary columns ` +
            `${names.join(', ')} need ${names.map((n) => `${n}${HEX_SUFFIX} String EPHEMERAL`).join(', ')} ` +
            `with ${names.map((n) => `${n} String DEFAULT unhex(${n}${HEX_SUFFIX})`).join(', ')}`,
          { cause: err },
        );
      }
      throw err;
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    try {
      await this.client.close();
    } finally {
      this.onClose();
    }
  }
}

/**
 * Connects as the configuration says. Servers are checked for version ≥ 24.8 before anything else is sent
 * (the pinned settings would make an older server fail with a less helpful message); chDB opens its data
 * directory in this process. Run applyMigrations() next to create the database and tables.
 */
export async function createStorage(config: StorageConfig): Promise<Storage> {
  if (config.kind === 'server') {
    const base = {
      url: config.url,
      username: config.username,
      password: config.password,
      request_timeout: config.requestTimeoutMs,
    };
    // Version first, without the pinned settings, and without a database that may not exist yet.
    // Its failure is reported once, by the error thrown below, not also by the client's logger.
    const probe = createClient({ ...base, log: { level: ClickHouseLogLevel.OFF } });
    let version: string;
    try {
      version = await selectVersion(probe);
    } catch (err) {
      throw new StorageError(
        `cannot reach ClickHouse at ${config.url} as ${config.username}: ${(err as Error).message}`,
        { cause: err },
      );
    } finally {
      await probe.close();
    }
    checkServerVersion(version, config.url);
    // Tables are always qualified with the database ({database}), so the client keeps the user's default
    // database: the database need not exist until migrations create it.
    const client = createClient({
      ...base,
      // Through a Distributed table, an insert returns once every shard has its rows (not when they are queued
      // for background sending): the same "readable when the INSERT returns" the pinned settings give one server.
      clickhouse_settings: { ...PINNED_SETTINGS, ...(config.cluster ? { distributed_foreground_insert: 1 } : {}) },
      // Large parameters (e.g. hex blobs for unhex()) go in the request body instead of the URL.
      use_multipart_params_auto: true,
    });
    return new ClickHouseStorage('server', client, config.database, version, () => undefined, config.cluster);
  }

  claimChdbPath(config.path);
  let inner: ClientConnection | undefined;
  let client: ClickHouseClient | undefined;
  try {
    // chdb declares its own copy of the same Connection contract; the shapes are identical at run time.
    inner = openChdb(config.path, (path) => createChdbConnection({ path }) as unknown as ClientConnection);
    const baseline = await readBaselineSettings(inner);
    const connection = new SerialChdbConnection(inner, baseline);
    client = createClient({ connection, clickhouse_settings: { ...PINNED_SETTINGS } });
    const version = await selectVersion(client);
    return new ClickHouseStorage('chdb', client, config.database, version, releaseChdbPath, undefined, {
      path: config.path,
      connection,
    });
  } catch (err) {
    await (client ?? inner)?.close().catch(() => undefined);
    releaseChdbPath();
    throw err;
  }
}
