import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import type { createClient } from '@clickhouse/client';
import { StorageError } from './errors';

/** The Connection contract exactly as this @clickhouse/client version declares it (chdb ships its own copy). */
export type ClientConnection = NonNullable<NonNullable<Parameters<typeof createClient>[0]>['connection']>;
type Op<K extends keyof ClientConnection> = ClientConnection[K] extends (p: infer P) => infer R ? [P, R] : never;
type Settings = NonNullable<Op<'query'>[0]['clickhouse_settings']>;

/**
 * Wraps chDB's @clickhouse/client connection for two differences from a server, both measured:
 *  - chDB applies per-query settings as `SET k = v; <query>` on a long-lived session, so a setting given to
 *    one query stays in force for the next ones (an insert_deduplication_token leaked this way silently
 *    dropped the next insert). Any setting a query used that the next query does not give is put back to
 *    the engine's value from before the first query.
 *  - Those SETs race when statements run at once on one session; statements therefore run one at a time
 *    (each is still multi-threaded inside the engine).
 */
export class SerialChdbConnection implements ClientConnection {
  #tail: Promise<unknown> = Promise.resolve();
  readonly #touched = new Set<string>();

  constructor(
    private readonly inner: ClientConnection,
    private readonly baseline: ReadonlyMap<string, string>,
  ) {}

  #withResets<P extends { clickhouse_settings?: Settings }>(params: P): P {
    const given = params.clickhouse_settings ?? {};
    const settings: Settings = { ...given };
    for (const name of this.#touched) {
      const base = this.baseline.get(name);
      if (!(name in given) && base !== undefined) settings[name] = base;
    }
    for (const name of Object.keys(given)) this.#touched.add(name);
    return { ...params, clickhouse_settings: settings };
  }

  #serial<T>(op: () => Promise<T>): Promise<T> {
    const run = this.#tail.then(op, op);
    this.#tail = run.catch(() => undefined);
    return run;
  }

  /** Runs `op` in this connection's queue: nothing else on the engine from this process runs meanwhile. */
  exclusive<T>(op: () => Promise<T>): Promise<T> {
    return this.#serial(op);
  }

  ping(params: Op<'ping'>[0]): Op<'ping'>[1] {
    return this.#serial(() => this.inner.ping(params));
  }
  query(params: Op<'query'>[0]): Op<'query'>[1] {
    return this.#serial(() => this.inner.query(this.#withResets(params)));
  }
  insert(params: Op<'insert'>[0]): Op<'insert'>[1] {
    return this.#serial(() => this.inner.insert(this.#withResets(params)));
  }
  command(params: Op<'command'>[0]): Op<'command'>[1] {
    return this.#serial(() => this.inner.command(this.#withResets(params)));
  }
  exec(params: Op<'exec'>[0]): Op<'exec'>[1] {
    return this.#serial(() => this.inner.exec(this.#withResets(params)));
  }
  close(): Promise<void> {
    return this.#serial(() => this.inner.close());
  }
}

async function readAll(stream: Readable): Promise<string> {
  let text = '';
  for await (const chunk of stream) text += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
  return text;
}

/** The engine's setting values before this session changed any, to put leaked per-query settings back. */
export async function readBaselineSettings(conn: ClientConnection): Promise<Map<string, string>> {
  const { stream } = await conn.query({ query: 'SELECT name, value FROM system.settings FORMAT JSONEachRow' });
  const text = await readAll(stream);
  const map = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const row = JSON.parse(line) as { name: string; value: string };
    map.set(row.name, row.value);
  }
  return map;
}

// The engine binds one data directory per process. Tracked here so a second directory gets a message that
// says which one is open, and so same-directory storages can share it.
let openPath: string | undefined;
let openCount = 0;

export function claimChdbPath(path: string): void {
  const wanted = resolve(path);
  if (openPath !== undefined && openPath !== wanted) {
    throw new StorageError(
      `embedded chDB already has ${openPath} open in this process and can open only one data directory per process; ` +
        `close that storage first, or use the same TMA_CHDB_PATH`,
    );
  }
  openPath = wanted;
  openCount++;
}

export function releaseChdbPath(): void {
  if (openCount > 0 && --openCount === 0) openPath = undefined;
}

/** Creates the data directory and opens chDB on it, explaining the failure when another process holds it. */
export function openChdb<C>(path: string, open: (path: string) => C): C {
  mkdirSync(path, { recursive: true });
  const before = new Set(readdirSync(path));
  try {
    return open(path);
  } catch (err) {
    // On a failed start chDB leaves a folder named after its error message in the data directory.
    for (const entry of readdirSync(path)) {
      if (!before.has(entry) && entry.startsWith('tmpCode: '))
        rmSync(join(path, entry), { recursive: true, force: true });
    }
    const holder = lockHolder(path);
    if (holder !== undefined && holder.pid !== process.pid) {
      throw new StorageError(
        `embedded chDB data directory ${path} is in use by process ${holder.pid}` +
          (holder.started ? ` (started ${holder.started})` : '') +
          `; only one process may open it. Stop that process, point TMA_CHDB_PATH at another directory, ` +
          `or share one ClickHouse server through TMA_CLICKHOUSE_URL`,
        { cause: err },
      );
    }
    throw new StorageError(`cannot open embedded chDB at ${path}: ${(err as Error).message}`, { cause: err });
  }
}

/** The live process named in ClickHouse's `status` lock file, if any. */
export function lockHolder(path: string): { pid: number; started?: string } | undefined {
  const statusFile = join(path, 'status');
  if (!existsSync(statusFile)) return undefined;
  const text = readFileSync(statusFile, 'utf8');
  const pid = Number(/^PID:\s*(\d+)/m.exec(text)?.[1]);
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  try {
    process.kill(pid, 0);
  } catch (err) {
    // EPERM means the process exists but belongs to someone else: still a holder.
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return undefined;
  }
  return { pid, started: /^Started at:\s*(.+)$/m.exec(text)?.[1]?.trim() };
}
