import { appendFileSync, copyFileSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MigrationError } from './errors';
import {
  DEFAULT_MIGRATIONS_DIR,
  MIGRATIONS_TABLE,
  applyMigrations,
  checksumOf,
  loadMigrations,
  splitStatements,
} from './migrations';
import { type Storage } from './storage';
import { openTestStore, type TestStore } from './testing';

// A database of its own, not yet created: the first migration run creates it.
let store: TestStore;
let storage: Storage;
let database: string;

beforeAll(async () => {
  store = await openTestStore('migrations-spec', { migrate: false });
  ({ storage, database } = store);
}, 60_000);

afterAll(() => store?.close());

/** Runs `test` on a private copy of the shipped migrations (so it can add or edit files), removed afterwards. */
async function withCopyOfMigrations(test: (dir: string) => unknown): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'tma-migrations-dir-'));
  try {
    for (const f of readdirSync(DEFAULT_MIGRATIONS_DIR)) copyFileSync(join(DEFAULT_MIGRATIONS_DIR, f), join(dir, f));
    await test(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('splitStatements', () => {
  it('splits at a semicolon ending a line, keeps mid-line semicolons, drops comment-only pieces', () => {
    const sql = [
      '-- header comment;',
      "CREATE TABLE a (s String DEFAULT ';') ENGINE = Memory;",
      '',
      'INSERT INTO a',
      "SELECT 'x;y' ;  ",
      '-- trailing comment only',
      'SELECT 1',
    ].join('\n');
    expect(splitStatements(sql)).toEqual([
      "CREATE TABLE a (s String DEFAULT ';') ENGINE = Memory",
      "INSERT INTO a\nSELECT 'x;y' ",
      '-- trailing comment only\nSELECT 1',
    ]);
  });
});

describe('loadMigrations', () => {
  it('reads the shipped files in order with stable checksums', () => {
    const migrations = loadMigrations();
    expect(migrations[0]).toMatchObject({ version: 1, name: '0001_init.sql' });
    expect(migrations.map((m) => m.version)).toEqual([...migrations.map((m) => m.version)].sort((a, b) => a - b));
    expect(checksumOf('a\r\nb')).toBe(checksumOf('a\nb'));
  });

  it('rejects badly named files and duplicate versions', () =>
    withCopyOfMigrations(async (dir) => {
      writeFileSync(join(dir, '2_bad.sql'), 'SELECT 1;');
      expect(() => loadMigrations(dir)).toThrow(/NNNN_lower_snake_case\.sql/);
      rmSync(join(dir, '2_bad.sql'));
      writeFileSync(join(dir, '0001_again.sql'), 'SELECT 1;');
      expect(() => loadMigrations(dir)).toThrow(/share version 0001/);
    }));
});

describe('applyMigrations on chDB', () => {
  it('creates the database and tables, records each file, and a second run is a no-op', async () => {
    const first = await applyMigrations(storage);
    expect(first.applied).toEqual(loadMigrations().map((m) => m.name));
    expect(first.alreadyApplied).toEqual([]);

    const tables = await storage.query<{ name: string }>(
      'SELECT name FROM system.tables WHERE database = {db:String} ORDER BY name',
      { db: database },
    );
    expect(tables.map((t) => t.name)).toEqual(expect.arrayContaining([MIGRATIONS_TABLE, 'tma_meta']));

    const recorded = await storage.query<{ version: number; name: string; checksum: string }>(
      `SELECT version, name, checksum FROM {database}.${MIGRATIONS_TABLE} ORDER BY version`,
    );
    expect(recorded).toEqual(loadMigrations().map((m) => ({ version: m.version, name: m.name, checksum: m.checksum })));

    const second = await applyMigrations(storage);
    expect(second.applied).toEqual([]);
    expect(second.alreadyApplied).toEqual(first.applied);
    const [count] = await storage.query<{ n: string }>(`SELECT count() AS n FROM {database}.${MIGRATIONS_TABLE}`);
    expect(Number(count?.n)).toBe(recorded.length);
  });

  // agg_provisional is created AS agg_partials (0108), which copies the columns of that moment only: a later
  // migration adding a column to agg_partials must add it to agg_provisional too (one row builder writes both).
  it('after every migration agg_provisional has exactly the columns of agg_partials, in order', async () => {
    const columns = (table: string) =>
      storage.query<{ name: string; type: string; default_expression: string }>(
        'SELECT name, type, default_expression FROM system.columns WHERE database = {db:String} AND table = {t:String} ORDER BY position',
        { db: database, t: table },
      );
    const partials = await columns('agg_partials');
    expect(partials.length).toBeGreaterThan(10);
    expect(await columns('agg_provisional')).toEqual(partials);
  });

  it('writes and reads the first migrated table through the storage module', async () => {
    await storage.insertRows('tma_meta', [
      { key: 'sketch_spec', value: 'v1', updated_at: new Date('2026-01-01T00:00:00Z') },
      { key: 'sketch_spec', value: 'v2', updated_at: new Date('2026-01-02T00:00:00Z') },
    ]);
    const rows = await storage.query<{ key: string; value: string }>(
      'SELECT key, value FROM {database}.tma_meta FINAL WHERE key = {k:String}',
      { k: 'sketch_spec' },
    );
    expect(rows).toEqual([{ key: 'sketch_spec', value: 'v2' }]);
  });

  it('applies only a newly added file, in order', () =>
    withCopyOfMigrations(async (dir) => {
      writeFileSync(
        join(dir, '9001_extra.sql'),
        [
          '-- two statements, the second depending on the first',
          'CREATE TABLE IF NOT EXISTS {database}.t_extra (id UInt32) ENGINE = MergeTree ORDER BY id;',
          'ALTER TABLE {database}.t_extra ADD COLUMN IF NOT EXISTS note String;',
        ].join('\n'),
      );
      const report = await applyMigrations(storage, { dir });
      expect(report.applied).toEqual(['9001_extra.sql']);
      const cols = await storage.query<{ name: string }>(
        'SELECT name FROM system.columns WHERE database = {db:String} AND table = {t:String} ORDER BY position',
        { db: database, t: 't_extra' },
      );
      expect(cols.map((c) => c.name)).toEqual(['id', 'note']);
      expect((await applyMigrations(storage, { dir })).applied).toEqual([]);
      // The shipped set does not know 9001: reported, not an error (an older build on a newer schema).
      const older = await applyMigrations(storage);
      expect(older.unknown.map((u) => u.name)).toEqual(['9001_extra.sql']);
    }));

  it('refuses to run when an applied file was edited, naming the file and the fix', () =>
    withCopyOfMigrations(async (dir) => {
      appendFileSync(join(dir, '0001_init.sql'), '\n-- an innocent-looking edit\n');
      const run = applyMigrations(storage, { dir });
      await expect(run).rejects.toBeInstanceOf(MigrationError);
      await expect(applyMigrations(storage, { dir })).rejects.toThrow(
        /0001_init\.sql was applied .* checksum .* but the file now has checksum .*new numbered file/,
      );
    }));

  it('does not record a file whose statement fails, and says which statement', () =>
    withCopyOfMigrations(async (dir) => {
      writeFileSync(join(dir, '9002_broken.sql'), 'SELECT 1;\nTHIS IS NOT SQL;\n');
      await expect(applyMigrations(storage, { dir })).rejects.toThrow(/9002_broken\.sql, statement 2 of 2 failed/);
      const [row] = await storage.query<{ n: string }>(
        `SELECT count() AS n FROM {database}.${MIGRATIONS_TABLE} WHERE version = 9002`,
      );
      expect(row?.n).toBe('0');
    }));
});
