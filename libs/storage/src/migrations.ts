import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { clusterBootstrap, clusterMigrations } from './cluster-ddl';
import { MigrationError } from './errors';
import type { Storage } from './storage';

/** libs/storage/migrations, from src/ (tests) and from dist/ (built code) alike. */
export const DEFAULT_MIGRATIONS_DIR = join(__dirname, '..', 'migrations');

export const MIGRATIONS_TABLE = 'tma_migrations';

/** The migrator's bookkeeping table (run through the cluster DDL generator too when a cluster is configured). */
export const MIGRATIONS_TABLE_SQL = `CREATE TABLE IF NOT EXISTS {database}.${MIGRATIONS_TABLE}
(
    version UInt32,
    name String,
    checksum String,
    applied_at DateTime64(3, 'UTC')
)
ENGINE = MergeTree
ORDER BY version`;

export interface Migration {
  version: number;
  /** File name, e.g. 0001_init.sql. */
  name: string;
  /** sha256 of the file text (line endings normalised), recorded when applied. */
  checksum: string;
  statements: string[];
}

export interface AppliedMigration {
  version: number;
  name: string;
  checksum: string;
  applied_at: string;
}

export interface MigrationReport {
  /** Files applied by this run, in order. */
  applied: string[];
  /** Files that were already applied (checksum verified). */
  alreadyApplied: string[];
  /** Versions recorded in the database with no file here: the schema is newer than this build. */
  unknown: AppliedMigration[];
}

const FILE_RE = /^(\d{4})_([a-z0-9_]+)\.sql$/;

/**
 * Statements end with `;` as the last character of a line (so a `;` inside a string literal mid-line is
 * safe); a final statement may omit it. Lines holding only a `--` comment are kept: ClickHouse ignores them.
 */
export function splitStatements(sql: string): string[] {
  const statements: string[] = [];
  let current: string[] = [];
  const flush = (): void => {
    const text = current.join('\n').trim();
    const meaningful = text.split('\n').some((line) => line.trim() !== '' && !line.trim().startsWith('--'));
    if (meaningful) statements.push(text.replace(/;\s*$/, ''));
    current = [];
  };
  for (const line of sql.split('\n')) {
    current.push(line);
    if (/;\s*$/.test(line)) flush();
  }
  flush();
  return statements;
}

export function checksumOf(text: string): string {
  return createHash('sha256').update(text.replace(/\r\n/g, '\n')).digest('hex');
}

/** Reads NNNN_name.sql files in version order; anything else in the folder is an error, not silently skipped. */
export function loadMigrations(dir: string = DEFAULT_MIGRATIONS_DIR): Migration[] {
  const migrations: Migration[] = [];
  const seen = new Map<number, string>();
  for (const name of readdirSync(dir).sort()) {
    if (name.startsWith('.') || name.toLowerCase() === 'readme.md') continue;
    const m = FILE_RE.exec(name);
    if (!m) {
      throw new MigrationError(
        `${dir}/${name}: migration files are named NNNN_lower_snake_case.sql (e.g. 0002_flow_rollups.sql)`,
      );
    }
    const version = Number(m[1]);
    const clash = seen.get(version);
    if (clash) throw new MigrationError(`${name} and ${clash} share version ${m[1]}: give each file its own number`);
    seen.set(version, name);
    const text = readFileSync(join(dir, name), 'utf8');
    const statements = splitStatements(text.replace(/\r\n/g, '\n'));
    if (statements.length === 0) throw new MigrationError(`${name} holds no SQL statement`);
    migrations.push({ version, name, checksum: checksumOf(text), statements });
  }
  return migrations.sort((a, b) => a.version - b.version);
}

/**
 * Brings the database up to date: creates it and the tma_migrations table when missing, checks that applied
 * files are unchanged, then applies pending files in version order, each statement in turn, recording a file
 * once all its statements succeeded. A file interrupted half-way is re-run from its first statement, so
 * statements are written to be repeatable (CREATE … IF NOT EXISTS, ADD COLUMN IF NOT EXISTS).
 */
export async function applyMigrations(
  storage: Storage,
  options: { dir?: string; migrations?: Migration[] } = {},
): Promise<MigrationReport> {
  const migrations = options.migrations ?? loadMigrations(options.dir);
  // On a cluster every file becomes replicated + Distributed tables created ON CLUSTER (cluster-ddl.ts); the
  // generator reads all files, so a construct it does not know fails here, before anything is changed.
  const cluster = storage.cluster ? { cluster: storage.cluster, database: storage.database } : undefined;
  const statementsOf = new Map(
    cluster
      ? clusterMigrations(migrations, cluster).map((m) => [m.version, m.statements.map((s) => s.sql)])
      : migrations.map((m) => [m.version, m.statements]),
  );
  const bootstrap = cluster ? clusterBootstrap(cluster, MIGRATIONS_TABLE_SQL).map((s) => s.sql) : undefined;
  const exists = await storage.query<{ n: number }>(
    'SELECT toUInt32(count()) AS n FROM system.databases WHERE name = {db:String}',
    { db: storage.database },
  );
  // Checked first so a user allowed to use, but not to create, the database can still migrate.
  if (Number(exists[0]?.n) === 0) await storage.command(bootstrap?.[0] ?? 'CREATE DATABASE IF NOT EXISTS {database}');
  for (const sql of bootstrap?.slice(1) ?? [MIGRATIONS_TABLE_SQL]) await storage.command(sql);
  const rows = await storage.query<AppliedMigration>(
    `SELECT version, name, checksum, toString(applied_at) AS applied_at FROM {database}.${MIGRATIONS_TABLE} ORDER BY version`,
  );
  const applied = new Map(rows.map((r) => [Number(r.version), { ...r, version: Number(r.version) }]));

  const report: MigrationReport = { applied: [], alreadyApplied: [], unknown: [] };
  const known = new Set(migrations.map((m) => m.version));
  report.unknown = [...applied.values()].filter((r) => !known.has(r.version));

  // Verify every applied file before changing anything.
  for (const m of migrations) {
    const done = applied.get(m.version);
    if (done && done.checksum !== m.checksum) {
      throw new MigrationError(
        `migration ${m.name} was applied to ${storage.database} on ${done.applied_at} UTC` +
          (done.name !== m.name ? ` as ${done.name}` : '') +
          ` with checksum ${done.checksum.slice(0, 12)}…, but the file now has checksum ${m.checksum.slice(0, 12)}…. ` +
          `Applied migrations must never change: restore the file and put the change in a new numbered file`,
      );
    }
  }

  for (const m of migrations) {
    if (applied.has(m.version)) {
      report.alreadyApplied.push(m.name);
      continue;
    }
    const statements = statementsOf.get(m.version)!;
    for (const [i, statement] of statements.entries()) {
      try {
        await storage.command(statement);
      } catch (err) {
        throw new MigrationError(
          `migration ${m.name}, ${cluster ? 'cluster ' : ''}statement ${i + 1} of ${statements.length} failed: ${(err as Error).message}`,
          { cause: err },
        );
      }
    }
    await storage.insertRows(MIGRATIONS_TABLE, [
      { version: m.version, name: m.name, checksum: m.checksum, applied_at: new Date() },
    ]);
    report.applied.push(m.name);
  }
  return report;
}
