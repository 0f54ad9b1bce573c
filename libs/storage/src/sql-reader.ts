// Read-only SQL from people (docs/sql.md): any SELECT over the store, with the engine refusing every write, DDL,
// file or network table function and setting change (readonly = 1), and limits on time, result size and memory.
// On chDB the statements run on a session of their own: readonly = 1 can never be lifted on a session, so setting it
// on the shared one would lock the aggregator's writes out for good (measured); the engine is shared, the settings
// are not. On a server every request carries the settings.
import type { ClickHouseClient } from '@clickhouse/client';
import { Session } from 'chdb';
import { StorageError } from './errors';
import { PINNED_SETTINGS } from './settings';

export interface SqlLimits {
  /** max_execution_time: the engine stops the statement after this many seconds. */
  maxExecutionSeconds: number;
  /** max_result_rows / max_result_bytes, with result_overflow_mode = throw: a larger answer is an error. */
  maxResultRows: number;
  maxResultBytes: number;
  /** max_memory_usage of one statement. */
  maxMemoryBytes: number;
}

export const DEFAULT_SQL_LIMITS: SqlLimits = {
  maxExecutionSeconds: 30,
  maxResultRows: 100_000,
  maxResultBytes: 64 * 1024 * 1024,
  maxMemoryBytes: 2 * 1024 * 1024 * 1024,
};

export interface SqlResult {
  columns: { name: string; type: string }[];
  /** One array per row, in column order; 64-bit integers as strings (exact). */
  rows: unknown[][];
  elapsedSeconds: number;
  rowsRead: number;
  bytesRead: number;
}

/** The engine refused the statement (syntax, unknown table, read-only, a limit): the caller's SQL, not a fault. */
export class SqlRefusedError extends StorageError {
  override name = 'SqlRefusedError';
  constructor(
    message: string,
    /** ClickHouse's error name, e.g. READONLY, SYNTAX_ERROR, TOO_MANY_ROWS_OR_BYTES, TIMEOUT_EXCEEDED. */
    readonly code: string,
  ) {
    super(message);
  }
}

/** Query parameters ({name:Type} in the SQL) as text, the way clickhouse-client's --param_name takes them. */
export type SqlParams = Record<string, string>;

export interface SqlReader {
  query(sql: string, params?: SqlParams): Promise<SqlResult>;
  close(): Promise<void>;
}

function limitSettings(l: SqlLimits): Record<string, string | number> {
  for (const [k, v] of Object.entries(l))
    if (!Number.isSafeInteger(v) || v <= 0) throw new StorageError(`SQL limit ${k} must be a positive integer`);
  return {
    ...PINNED_SETTINGS,
    max_execution_time: l.maxExecutionSeconds,
    max_result_rows: l.maxResultRows,
    max_result_bytes: l.maxResultBytes,
    result_overflow_mode: 'throw',
    max_memory_usage: l.maxMemoryBytes,
  };
}

/** `Code: 164. DB::Exception: …: Cannot execute query in readonly mode. (READONLY)` → message and READONLY. */
function refused(err: unknown): SqlRefusedError {
  const text = err instanceof Error ? err.message : String(err);
  const code = /\(([A-Z_]+)\)\s*(\(version [^)]*\))?\s*$/m.exec(text)?.[1] ?? 'UNKNOWN';
  const message = text
    .replace(/^Query failed:\s*/, '')
    .replace(/^Code: \d+\. DB::Exception: /, '')
    .split('\n')[0]
    .replace(/\s*\([A-Z_]+\)\s*(\(version [^)]*\))?\s*$/, '')
    .trim();
  return new SqlRefusedError(message, code);
}

interface CompactJson {
  meta: { name: string; type: string }[];
  data: unknown[][];
  statistics?: { elapsed?: number; rows_read?: number; bytes_read?: number };
}

function toResult(json: CompactJson): SqlResult {
  return {
    columns: json.meta.map((m) => ({ name: m.name, type: m.type })),
    rows: json.data,
    elapsedSeconds: json.statistics?.elapsed ?? 0,
    rowsRead: Number(json.statistics?.rows_read ?? 0),
    bytesRead: Number(json.statistics?.bytes_read ?? 0),
  };
}

function checkParams(params: SqlParams): void {
  for (const [k, v] of Object.entries(params)) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k))
      throw new SqlRefusedError(`parameter name "${k}" is not an identifier`, 'BAD_ARGUMENTS');
    if (typeof v !== 'string') throw new SqlRefusedError(`parameter ${k} must be text`, 'BAD_ARGUMENTS');
  }
}

const quote = (v: string | number) => (typeof v === 'number' ? String(v) : `'${v.replace(/'/g, "''")}'`);

/**
 * A read-only session on an open chDB data directory. `exclusive` runs one operation at a time with the process's
 * other statements on the engine (the storage's own queue), so a person's query never overlaps the writers'.
 */
export function openChdbSqlReader(
  path: string,
  limits: SqlLimits,
  exclusive: <T>(op: () => Promise<T>) => Promise<T>,
): SqlReader {
  const settings = limitSettings(limits);
  const open = (): Session => {
    const session = new Session(path);
    try {
      for (const [k, v] of Object.entries(settings)) session.query(`SET ${k} = ${quote(v)}`);
      // Last: after it, nothing on this session can change a setting, including readonly itself.
      session.query('SET readonly = 1');
      return session;
    } catch (err) {
      session.close();
      throw new StorageError(`cannot open a read-only chDB session: ${(err as Error).message}`, { cause: err });
    }
  };
  let session: Session | undefined = open();
  let closed = false;
  return {
    async query(sql: string, params: SqlParams = {}): Promise<SqlResult> {
      if (closed) throw new StorageError('the SQL reader is closed');
      checkParams(params);
      const text = await exclusive(async () => {
        session ??= open();
        try {
          const r =
            Object.keys(params).length > 0
              ? await session.queryBindAsync(sql, params, { format: 'JSONCompact' })
              : await session.queryAsync(sql, { format: 'JSONCompact' });
          return r.text();
        } catch (err) {
          // A statement that fails after output began (e.g. a result limit) leaves that output in the session,
          // and chDB hands it out ahead of the next statement's (measured on 3.4.0): the next one gets a new session.
          session.close();
          session = undefined;
          throw refused(err);
        }
      });
      if (text.trim() === '') return { columns: [], rows: [], elapsedSeconds: 0, rowsRead: 0, bytesRead: 0 };
      try {
        return toResult(JSON.parse(text) as CompactJson);
      } catch {
        throw new SqlRefusedError(
          'the statement did not return one JSONCompact result (one SELECT per request)',
          'BAD_RESULT',
        );
      }
    },
    async close() {
      if (closed) return;
      closed = true;
      await exclusive(async () => session?.close());
    },
  };
}

/** The same on a server: every request carries readonly = 1 and the limits. */
export function serverSqlReader(client: ClickHouseClient, limits: SqlLimits): SqlReader {
  const settings = { ...limitSettings(limits), readonly: '1' } as Record<string, string | number>;
  return {
    async query(sql: string, params: SqlParams = {}): Promise<SqlResult> {
      checkParams(params);
      try {
        const rs = await client.query({
          query: sql,
          query_params: params,
          format: 'JSONCompact',
          clickhouse_settings: settings,
        });
        return toResult((await rs.json()) as unknown as CompactJson);
      } catch (err) {
        throw refused(err);
      }
    },
    async close() {},
  };
}
