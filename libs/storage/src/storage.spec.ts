import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hexParam } from './binary';
import { PINNED_SETTINGS } from './settings';
import { createStorage, formatDateParam, type Storage } from './storage';

// Real embedded ClickHouse: one temporary data directory for this file (chDB allows one per process) and a
// database name no other run uses.
const dataDir = mkdtempSync(join(tmpdir(), 'tma-storage-spec-'));
const database = `tma_test_${process.pid}_${randomBytes(4).toString('hex')}`;
let storage: Storage;

beforeAll(async () => {
  storage = await createStorage({ kind: 'chdb', path: dataDir, database });
  await storage.command('CREATE DATABASE IF NOT EXISTS {database}');
}, 60_000);

afterAll(async () => {
  if (storage) {
    await storage.command('DROP DATABASE IF EXISTS {database}');
    await storage.close();
  }
  rmSync(dataDir, { recursive: true, force: true });
});

describe('chDB storage', () => {
  it('reports the embedded engine and its version', () => {
    expect(storage.kind).toBe('chdb');
    expect(storage.database).toBe(database);
    expect(storage.serverVersion).toMatch(/^\d+\.\d+\.\d+/);
  });

  it('pins the same settings on every statement', async () => {
    const names = Object.keys(PINNED_SETTINGS);
    const rows = await storage.query<{ name: string; value: string }>(
      'SELECT name, value FROM system.settings WHERE name IN {names:Array(String)} ORDER BY name',
      { names },
    );
    expect(rows).toHaveLength(names.length);
    for (const { name, value } of rows) {
      expect(value).toBe(String(PINNED_SETTINGS[name as keyof typeof PINNED_SETTINGS]));
    }
  });

  it('writes rows and reads them back with 64-bit integers as exact strings and DateTime64 in UTC', async () => {
    await storage.command(`CREATE TABLE {database}.t_rows
      (id UInt32, name String, big UInt64, at DateTime64(3, 'UTC'), tags Array(String))
      ENGINE = MergeTree ORDER BY id`);
    await storage.insertRows('t_rows', [
      { id: 1, name: 'first', big: 18446744073709551615n, at: new Date('2026-01-02T03:04:05.678Z'), tags: ['a', 'b'] },
      { id: 2, name: "tab\tquote'back\\slash", big: '9007199254740993', at: '2026-01-02 03:04:05.001', tags: [] },
    ]);
    const rows = await storage.query(
      'SELECT id, name, big, toString(at) AS at, tags FROM {database}.t_rows ORDER BY id',
    );
    expect(rows).toEqual([
      { id: 1, name: 'first', big: '18446744073709551615', at: '2026-01-02 03:04:05.678', tags: ['a', 'b'] },
      { id: 2, name: "tab\tquote'back\\slash", big: '9007199254740993', at: '2026-01-02 03:04:05.001', tags: [] },
    ]);
  });

  it('refuses a misspelt column instead of dropping it', async () => {
    await expect(storage.insertRows('t_rows', [{ id: 3, nmae: 'typo' }])).rejects.toThrow(/nmae/);
  });

  it('binds query parameters of every common type without building SQL text', async () => {
    const tricky = 'a\tb\nc\\d\'e"f é 😀 ; DROP TABLE x --';
    const [row] = await storage.query<Record<string, unknown>>(
      `SELECT {s:String} AS s, length({s:String}) AS len, {a:Array(UInt32)} AS a, {u:UInt64} AS u,
              toString({d:DateTime64(3)}) AS d, toString({ds:DateTime}) AS ds, {n:Nullable(String)} AS n,
              {b:Bool} AS b, {ip:IPv4} AS ip, {ip6:IPv6} AS ip6, {f:Float64} AS f`,
      {
        s: tricky,
        a: [1, 2, 3],
        u: 18446744073709551615n,
        d: new Date('2026-01-02T03:04:05.678Z'),
        ds: new Date('2026-01-02T03:04:05.000Z'),
        n: null,
        b: true,
        ip: '10.1.2.3',
        ip6: '2001:db8::1',
        f: 0.1,
      },
    );
    expect(row).toEqual({
      s: tricky,
      len: String(Buffer.byteLength(tricky)),
      a: [1, 2, 3],
      u: '18446744073709551615',
      d: '2026-01-02 03:04:05.678',
      ds: '2026-01-02 03:04:05',
      n: null,
      b: true,
      ip: '10.1.2.3',
      ip6: '2001:db8::1',
      f: 0.1,
    });
    expect(formatDateParam(new Date('2026-01-02T03:04:05.000Z'))).toBe('2026-01-02 03:04:05');
  });

  it('binds identifiers as parameters and rejects raw bytes as a parameter', async () => {
    const [row] = await storage.query<{ n: string }>('SELECT count() AS n FROM {db:Identifier}.{t:Identifier}', {
      db: database,
      t: 't_rows',
    });
    expect(row?.n).toBe('2');
    await expect(
      storage.query('SELECT {b:String} AS b', { b: new Uint8Array([1]) as unknown as string }),
    ).rejects.toThrow(/hexParam\(bytes\).*unhex\(\{b:String\}\)/);
  });

  it('round-trips arbitrary bytes (every byte value, 0x00 and 0xff at the edges, 1 MiB) through binary columns', async () => {
    await storage.command(`CREATE TABLE {database}.t_blob
      (id UInt32,
       blob_hex String EPHEMERAL, blob String DEFAULT unhex(blob_hex),
       key_hex String EPHEMERAL, key FixedString(4) DEFAULT unhex(key_hex))
      ENGINE = MergeTree ORDER BY id`);
    const every = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    const edges = Buffer.from([0x00, 0xff, 0x00, 0x80, 0x0a, 0x09, 0x5c, 0x22, 0xc3, 0x28, 0xff]);
    const big = randomBytes(1 << 20);
    await storage.insertRows('t_blob', [
      { id: 1, blob: every, key: Buffer.from([0, 0xff, 0, 0xff]) },
      { id: 2, blob: edges, key: Buffer.from([0xff, 0xff, 0xff, 0xff]) },
      { id: 3, blob: big, key: new Uint8Array(4) },
      { id: 4, blob: new Uint8Array(0), key: Buffer.from('abcd') },
    ]);
    // Lengths in a query of their own: the alias `hex(blob) AS blob` would shadow the column in length(blob).
    const lengths = await storage.query<{ len: string }>(
      'SELECT length(blob) AS len FROM {database}.t_blob ORDER BY id',
    );
    expect(lengths.map((r) => Number(r.len))).toEqual([256, edges.length, big.length, 0]);
    const rows = await storage.query<{ id: number; blob: Buffer; key: Buffer }>(
      'SELECT id, hex(blob) AS blob, hex(key) AS key FROM {database}.t_blob ORDER BY id',
      {},
      { binaryColumns: ['blob', 'key'] },
    );
    expect(rows.map((r) => r.id)).toEqual([1, 2, 3, 4]);
    expect(rows[0]?.blob.equals(every)).toBe(true);
    expect(rows[0]?.key.equals(Buffer.from([0, 0xff, 0, 0xff]))).toBe(true);
    expect(rows[1]?.blob.equals(edges)).toBe(true);
    expect(rows[2]?.blob.equals(big)).toBe(true);
    expect(rows[3]?.blob.length).toBe(0);
    expect(rows[3]?.key.toString()).toBe('abcd');

    // Bytes as a query parameter: hex text, decoded by unhex() in the engine.
    const [match] = await storage.query<{ id: number }>(
      'SELECT id FROM {database}.t_blob WHERE blob = unhex({b:String})',
      { b: hexParam(edges) },
    );
    expect(match?.id).toBe(2);
  });

  it('explains the hex convention when a binary column has no EPHEMERAL hex sibling', async () => {
    await expect(storage.insertRows('t_rows', [{ id: 9, name: Buffer.from([1, 2]) }])).rejects.toThrow(
      /name_hex String EPHEMERAL.*name String DEFAULT unhex\(name_hex\)/,
    );
  });

  it('writes a retried batch once per dedup token, and a token never leaks into the next insert', async () => {
    await storage.command(`CREATE TABLE {database}.t_dedup (id UInt32, v String)
      ENGINE = MergeTree ORDER BY id SETTINGS non_replicated_deduplication_window = 1000`);
    const batch = [
      { id: 1, v: 'a' },
      { id: 2, v: 'b' },
    ];
    await storage.insertRows('t_dedup', batch, { dedupToken: 'snapshot-42' });
    await storage.insertRows('t_dedup', batch, { dedupToken: 'snapshot-42' });
    // chDB keeps per-query settings on its session; without the reset this insert would reuse the token
    // above and be dropped as a duplicate.
    await storage.insertRows('t_dedup', [{ id: 3, v: 'c' }]);
    await storage.insertRows('t_dedup', batch, { dedupToken: 'snapshot-43' });
    const rows = await storage.query<{ id: number; n: string }>(
      'SELECT id, count() AS n FROM {database}.t_dedup GROUP BY id ORDER BY id',
    );
    expect(rows).toEqual([
      { id: 1, n: '2' },
      { id: 2, n: '2' },
      { id: 3, n: '1' },
    ]);
  });

  it('puts any per-query setting back for the statements after it, also through the raw client', async () => {
    const read = async (settings?: Record<string, number>): Promise<string | undefined> => {
      const rs = await storage.client.query({
        query: "SELECT value FROM system.settings WHERE name = 'max_block_size'",
        format: 'JSONEachRow',
        clickhouse_settings: settings,
      });
      return (await rs.json<{ value: string }>())[0]?.value;
    };
    const before = await read();
    expect(await read({ max_block_size: 1234 })).toBe('1234');
    expect(await read()).toBe(before);
  });

  it('keeps concurrent statements apart (per-query settings do not cross)', async () => {
    await storage.command(`CREATE TABLE {database}.t_par (id UInt32)
      ENGINE = MergeTree ORDER BY id SETTINGS non_replicated_deduplication_window = 1000`);
    // 20 inserts at once: odd ones share one token (so exactly one of them lands), even ones carry none.
    await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        storage.insertRows('t_par', [{ id: i }], i % 2 ? { dedupToken: 'same' } : {}),
      ),
    );
    const [row] = await storage.query<{ evens: string; odds: string }>(
      'SELECT countIf(id % 2 = 0) AS evens, countIf(id % 2 = 1) AS odds FROM {database}.t_par',
    );
    expect(row).toEqual({ evens: '10', odds: '1' });
  });

  it('rejects identifiers that are not plain names', async () => {
    await expect(storage.insertRows('t_rows; DROP TABLE x', [{ id: 1 }])).rejects.toThrow(/not a plain identifier/);
    await expect(storage.insertRows('t_rows', [{ 'id`': 1 }])).rejects.toThrow(/not a plain identifier/);
  });

  it('refuses a second data directory in the same process, naming the open one', async () => {
    const other = join(dataDir, 'other');
    await expect(createStorage({ kind: 'chdb', path: other, database })).rejects.toThrow(
      /already has .* open in this process/,
    );
  });
});

describe('chDB data directory lock', () => {
  let child: ChildProcess | undefined;
  const lockedDir = mkdtempSync(join(tmpdir(), 'tma-storage-lock-'));

  afterAll(() => {
    if (child && child.exitCode === null) child.kill('SIGTERM');
    rmSync(lockedDir, { recursive: true, force: true });
  });

  it('says which process holds the directory', async () => {
    // Another process opens the directory and keeps it until we stop it.
    const script = `
      const { createChdbConnection } = require(${JSON.stringify(require.resolve('chdb/connection'))});
      const c = createChdbConnection({ path: ${JSON.stringify(lockedDir)} });
      c.query({ query: 'SELECT 1 FORMAT CSV' }).then(() => process.stdout.write('ready\\n'));
      process.on('SIGTERM', () => c.close().then(() => process.exit(0)));
      setInterval(() => {}, 1000);`;
    child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve, reject) => {
      child?.stdout?.on('data', (d: Buffer) => d.toString().includes('ready') && resolve());
      child?.on('exit', (code) => reject(new Error(`lock holder exited early (${code})`)));
    });
    // This process already has its one directory open; close it so the refusal comes from the lock.
    await storage.close();
    try {
      await expect(createStorage({ kind: 'chdb', path: lockedDir, database })).rejects.toThrow(
        new RegExp(`in use by process ${child.pid}.*only one process may open it`),
      );
    } finally {
      storage = await createStorage({ kind: 'chdb', path: dataDir, database });
    }
  }, 60_000);
});
