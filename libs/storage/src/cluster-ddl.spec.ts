import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ClusterDdlError, LOCAL_SUFFIX, SHARDING_KEYS, clusterBootstrap, clusterMigrations } from './cluster-ddl';
import {
  DEFAULT_MIGRATIONS_DIR,
  MIGRATIONS_TABLE_SQL,
  applyMigrations,
  loadMigrations,
  type Migration,
} from './migrations';
import type { Storage } from './storage';
import { openTestStore, type TestStore } from './testing';

const OPTIONS = { cluster: 'tma_cluster', database: 'tma' };

/** Every file in the migrations folder, as the migrator would read it (files added later are covered too). */
const generated = () => clusterMigrations(loadMigrations(), OPTIONS);

function migration(name: string, sql: string): Migration {
  const dir = mkdtempSync(join(tmpdir(), 'tma-cluster-ddl-'));
  try {
    writeFileSync(join(dir, name), sql);
    return loadMigrations(dir)[0];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const CREATE_T = `CREATE TABLE IF NOT EXISTS {database}.t
(
    k String,
    v UInt64
)
ENGINE = ReplacingMergeTree(v)
ORDER BY k;`;

let store: TestStore;
let storage: Storage;

beforeAll(async () => {
  store = await openTestStore('cluster-ddl');
  storage = store.storage;
}, 60_000);

afterAll(() => store?.close());

/** The engine's own formatting of a statement; throws the parser's error when it does not parse. */
async function format(sql: string): Promise<string> {
  const [row] = await storage.query<{ f: string }>('SELECT formatQuery({sql:String}) AS f', { sql });
  return row.f;
}

describe('cluster DDL from every migration', () => {
  it('every generated statement parses in the engine, ON CLUSTER, on replicated or Distributed tables', async () => {
    const all = [...clusterBootstrap(OPTIONS, MIGRATIONS_TABLE_SQL), ...generated().flatMap((m) => m.statements)];
    expect(all.length).toBeGreaterThan(loadMigrations().length);
    for (const s of all) {
      const formatted = await format(s.sql).catch((err: Error) => {
        throw new Error(`${s.note}: the engine refuses\n${s.sql}\n${err.message}`);
      });
      if (!/^INSERT/.test(formatted)) expect(formatted).toContain('ON CLUSTER tma_cluster');
      if (/^CREATE TABLE/.test(formatted))
        expect(formatted).toMatch(
          /ENGINE = (Replicated\w*MergeTree\('\/clickhouse\/tables\/\{shard\}\/tma\/\{table\}', '\{replica\}'|Distributed\('tma_cluster', 'tma', '\w+_local', )/,
        );
    }
  });

  it('the cluster tables have the columns, keys and TTL of the single-server tables (checked by the engine)', async () => {
    // Run the cluster DDL on this one engine with the cluster parts taken out (no ON CLUSTER, no Keeper path,
    // Memory for Distributed) in a second database, then compare what the engine reports for both schemas.
    const shadow = `${store.database}_cluster`;
    const local = (sql: string) =>
      sql
        .replaceAll('`tma`.', `\`${shadow}\`.`)
        .replace(/ ON CLUSTER `tma_cluster`/, '')
        .replace(/ENGINE = Replicated(\w+)\('[^']*', '\{replica\}'(?:, )?/, 'ENGINE = $1(')
        .replace(/ENGINE = Distributed\([^\n]*\)$/, 'ENGINE = Memory');
    await storage.command(`CREATE DATABASE IF NOT EXISTS \`${shadow}\``);
    try {
      for (const s of generated().flatMap((m) => m.statements)) await storage.command(local(s.sql));
      const columns = (db: string, table: string) =>
        storage.query(
          `SELECT name, type, default_kind, default_expression, position FROM system.columns
           WHERE database = {db:String} AND table = {table:String} ORDER BY position`,
          { db, table },
        );
      const keys = (db: string, table: string) =>
        storage.query(
          `SELECT sorting_key, primary_key, partition_key, sampling_key,
                  extract(create_table_query, 'TTL .*$') AS ttl
           FROM system.tables WHERE database = {db:String} AND name = {table:String}`,
          { db, table },
        );
      const tables = await storage.query<{ name: string }>(
        `SELECT name FROM system.tables WHERE database = {db:String} AND name != 'tma_migrations' AND engine != 'View' ORDER BY name`,
        { db: store.database },
      );
      expect(tables.length).toBeGreaterThan(0);
      // Views hold no rows: the same view (same query text) on each server, reading the Distributed tables.
      const views = (db: string) =>
        storage.query<{ name: string; q: string }>(
          `SELECT name, replaceAll(as_select, {db:String}, 'DB') AS q FROM system.tables
           WHERE database = {db:String} AND engine = 'View' ORDER BY name`,
          { db },
        );
      expect(await views(shadow)).toEqual(await views(store.database));
      for (const { name } of tables) {
        const single = await columns(store.database, name);
        expect({ name, columns: await columns(shadow, name + LOCAL_SUFFIX) }).toEqual({ name, columns: single });
        expect({ name, columns: await columns(shadow, name) }).toEqual({ name, columns: single });
        expect({ name, keys: await keys(shadow, name + LOCAL_SUFFIX) }).toEqual({
          name,
          keys: await keys(store.database, name),
        });
      }
    } finally {
      await storage.command(`DROP DATABASE IF EXISTS \`${shadow}\``);
    }
  }, 60_000);

  it('shards every table by a function of its sorting key, with the keys docs/scale.md explains', () => {
    const distributed = generated()
      .flatMap((m) => m.statements)
      .map((s) =>
        /CREATE TABLE IF NOT EXISTS `tma`\.`(\w+)` ON CLUSTER[\s\S]*Distributed\('tma_cluster', 'tma', '\w+', (.*)\)$/.exec(
          s.sql,
        ),
      )
      .filter((m) => m !== null)
      .map((m) => [m[1], m[2]]);
    const byTable = Object.fromEntries(distributed);
    for (const [table, { key }] of Object.entries(SHARDING_KEYS)) expect(byTable[table]).toBe(key);
    expect(byTable.tma_meta).toBe('cityHash64(key)');
  });

  it('golden: agg_window_totals', () => {
    const m = generated().find((x) => x.name === '0101_aggregator_rollups.sql')!;
    const [local, distributed] = m.statements;
    expect(local.sql).toBe(`CREATE TABLE IF NOT EXISTS \`tma\`.\`agg_window_totals_local\` ON CLUSTER \`tma_cluster\`
(
    tier LowCardinality(String),
    window_start DateTime('UTC'),
    window_seconds UInt32,
    version UInt64,
    partials UInt32,
    snapshots UInt64,
    hosts UInt32,
    packets UInt64,
    bytes UInt64,
    distinct_flows Float64,
    distinct_sources Float64,
    distinct_destinations Float64,
    distinct_ports Float64,
    hll_standard_error Float64,
    cms_epsilon Float64,
    cms_confidence Float64,
    gaps UInt64,
    late_partials UInt32,
    updated_at DateTime64(3, 'UTC'),
    expires_at DateTime('UTC')
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/tma/{table}', '{replica}', version)
ORDER BY (tier, window_start)
TTL expires_at`);
    expect(distributed.sql).toBe(`CREATE TABLE IF NOT EXISTS \`tma\`.\`agg_window_totals\` ON CLUSTER \`tma_cluster\`
(
    tier LowCardinality(String),
    window_start DateTime('UTC'),
    window_seconds UInt32,
    version UInt64,
    partials UInt32,
    snapshots UInt64,
    hosts UInt32,
    packets UInt64,
    bytes UInt64,
    distinct_flows Float64,
    distinct_sources Float64,
    distinct_destinations Float64,
    distinct_ports Float64,
    hll_standard_error Float64,
    cms_epsilon Float64,
    cms_confidence Float64,
    gaps UInt64,
    late_partials UInt32,
    updated_at DateTime64(3, 'UTC'),
    expires_at DateTime('UTC')
)
ENGINE = Distributed('tma_cluster', 'tma', 'agg_window_totals_local', cityHash64(tier, window_start))`);
  });

  it('column changes reach both tables, codecs only the local one; ADD INDEX only the local one', async () => {
    const [created, altered] = clusterMigrations(
      [
        migration('0001_t.sql', CREATE_T.replace('v UInt64', "v UInt64,\n    z String DEFAULT 'a' CODEC(ZSTD(1))")),
        migration(
          '0002_t.sql',
          [
            'ALTER TABLE {database}.t ADD COLUMN IF NOT EXISTS w UInt8 DEFAULT 0,',
            '    ADD INDEX w_idx w TYPE minmax GRANULARITY 1,',
            '    MODIFY COLUMN v CODEC(ZSTD(1)),',
            "    ADD COLUMN c String DEFAULT 'x' CODEC(ZSTD(3)) AFTER k;",
          ].join('\n'),
        ),
      ].map((m, i) => ({ ...m, version: i + 1 })),
      { ...OPTIONS, shardingKeys: {} },
    );
    expect(created.statements[0].sql).toContain("z String DEFAULT 'a' CODEC(ZSTD(1))");
    expect(created.statements[1].sql).toContain("z String DEFAULT 'a'\n)");
    expect(altered.statements.map((s) => s.sql)).toEqual([
      'ALTER TABLE `tma`.`t_local` ON CLUSTER `tma_cluster`\n    ADD COLUMN IF NOT EXISTS w UInt8 DEFAULT 0,\n' +
        '    ADD INDEX w_idx w TYPE minmax GRANULARITY 1,\n    MODIFY COLUMN v CODEC(ZSTD(1)),\n' +
        "    ADD COLUMN c String DEFAULT 'x' CODEC(ZSTD(3)) AFTER k",
      "ALTER TABLE `tma`.`t` ON CLUSTER `tma_cluster`\n    ADD COLUMN IF NOT EXISTS w UInt8 DEFAULT 0,\n    ADD COLUMN c String DEFAULT 'x' AFTER k",
    ]);
    for (const s of [...created.statements, ...altered.statements]) await format(s.sql);
  });
});

describe('constructs the generator does not understand fail, naming the statement', () => {
  const generate = (...files: [string, string][]) =>
    clusterMigrations(
      files.map(([name, sql]) => migration(name, sql)),
      { ...OPTIONS, shardingKeys: {} },
    );

  it.each([
    [
      'a materialized view',
      'CREATE MATERIALIZED VIEW IF NOT EXISTS {database}.v TO {database}.t AS SELECT k, v FROM {database}.t;',
      /statement 2 of 2: "CREATE MATERIALIZED VIEW …" is not a statement/,
    ],
    [
      'an engine without a Replicated twin',
      'CREATE TABLE IF NOT EXISTS {database}.m (k String) ENGINE = Memory;',
      /statement 2 of 2: CREATE TABLE m: engine Memory/,
    ],
    [
      'an ALTER action it does not know',
      'ALTER TABLE {database}.t FREEZE;',
      /statement 2 of 2: ALTER TABLE t: the action "FREEZE"/,
    ],
    [
      'an ALTER of a table no migration creates',
      'ALTER TABLE {database}.nope ADD COLUMN x UInt8;',
      /no earlier migration creates nope/,
    ],
    [
      'a CREATE that is not repeatable',
      'CREATE TABLE {database}.u (k String) ENGINE = MergeTree ORDER BY k;',
      /without IF NOT EXISTS/,
    ],
    [
      'a table without a database placeholder',
      'CREATE TABLE IF NOT EXISTS u (k String) ENGINE = MergeTree ORDER BY k;',
      /expected \{database\}\.<table>/,
    ],
    [
      'an unknown table clause',
      "CREATE TABLE IF NOT EXISTS {database}.u (k String) ENGINE = MergeTree ORDER BY k AS SELECT 'a' AS k;",
      /"AS SELECT 'a' AS k" is not a table clause/,
    ],
    [
      'a copy of a table no earlier migration creates',
      'CREATE TABLE IF NOT EXISTS {database}.u AS {database}.gone ENGINE = MergeTree ORDER BY k;',
      /CREATE TABLE u AS gone: no earlier migration creates gone/,
    ],
    [
      'a copy of a query',
      'CREATE TABLE IF NOT EXISTS {database}.u ENGINE = MergeTree ORDER BY k AS SELECT 1 AS k;',
      /must list its columns or copy them/,
    ],
    [
      'a column TTL',
      'CREATE TABLE IF NOT EXISTS {database}.u (k String, d DateTime TTL d + 1) ENGINE = MergeTree ORDER BY k;',
      /column TTL/,
    ],
  ])('%s', (_what, sql, message) => {
    const run = () => generate(['0001_t.sql', `${CREATE_T}\n${sql}`]);
    expect(run).toThrow(ClusterDdlError);
    expect(run).toThrow(/^migration 0001_t\.sql, /);
    expect(run).toThrow(message);
  });

  it('a sharding key outside the sorting key, or for a table no migration creates', () => {
    const t = migration('0001_t.sql', CREATE_T);
    expect(() => clusterMigrations([t], { ...OPTIONS, shardingKeys: { t: { key: 'cityHash64(v)' } } })).toThrow(
      /sharding key cityHash64\(v\) of t uses v, outside the sorting key \(k\)/,
    );
    expect(() => clusterMigrations([t], { ...OPTIONS, shardingKeys: { gone: { key: 'rand()' } } })).toThrow(
      /sharding keys are given for gone, which no migration creates/,
    );
  });
});

describe('applyMigrations with a cluster', () => {
  it('creates the database and bookkeeping ON CLUSTER and applies the generated statements', async () => {
    const commands: string[] = [];
    const recorded: unknown[] = [];
    const fake = {
      kind: 'server',
      database: 'tma',
      cluster: 'tma_cluster',
      query: async (sql: string) => (sql.includes('system.databases') ? [{ n: 0 }] : []),
      command: async (sql: string) => void commands.push(sql),
      insertRows: async (_table: string, rows: unknown[]) => void recorded.push(...rows),
    } as unknown as Storage;
    const report = await applyMigrations(fake);
    const migrations = loadMigrations(DEFAULT_MIGRATIONS_DIR);
    expect(report.applied).toEqual(migrations.map((m) => m.name));
    expect(commands).toEqual([
      ...clusterBootstrap(OPTIONS, MIGRATIONS_TABLE_SQL).map((s) => s.sql),
      ...generated().flatMap((m) => m.statements.map((s) => s.sql)),
    ]);
    expect(commands[0]).toBe('CREATE DATABASE IF NOT EXISTS `tma` ON CLUSTER `tma_cluster`');
    expect(recorded).toEqual(migrations.map((m) => expect.objectContaining({ name: m.name, checksum: m.checksum })));
  });
});
