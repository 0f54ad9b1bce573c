// People's SQL on embedded chDB: read-only on a session of its own (the writers' session keeps writing), limits
// enforced by the engine, refusals named, and nothing of a refused statement reaching the next answer.
import { SqlRefusedError, type SqlReader } from './sql-reader';
import { openTestStore, type TestStore } from './testing';

let store: TestStore;
let reader: SqlReader;

beforeAll(async () => {
  store = await openTestStore('sql-reader');
  reader = store.storage.sqlReader({
    maxExecutionSeconds: 1,
    maxResultRows: 1000,
    maxResultBytes: 1 << 20,
    maxMemoryBytes: 1 << 30,
  });
}, 60_000);

afterAll(async () => {
  await reader?.close();
  await store?.close();
});

const refusal = (sql: string) =>
  reader.query(sql).then(
    () => 'answered',
    (e: unknown) => (e instanceof SqlRefusedError ? e.code : `not refused: ${String(e)}`),
  );

describe('sqlReader on chDB', () => {
  it('answers a SELECT with typed columns, parameters bound by the engine, 64-bit integers exact', async () => {
    const r = await reader.query('SELECT {x:UInt64} + 1 AS y, [1, 2] AS a, {s:String} AS s', {
      x: '9007199254740993',
      s: "it's",
    });
    expect(r.columns).toEqual([
      { name: 'y', type: 'UInt64' },
      { name: 'a', type: 'Array(UInt8)' },
      { name: 's', type: 'String' },
    ]);
    expect(r.rows).toEqual([['9007199254740994', [1, 2], "it's"]]);
  });

  it('refuses writes, DDL, settings and file access; the writers keep writing', async () => {
    const db = store.database;
    expect(await refusal(`INSERT INTO ${db}.tma_meta (key, value, updated_at) VALUES ('a', 'b', now())`)).toBe(
      'READONLY',
    );
    expect(await refusal(`TRUNCATE TABLE ${db}.tma_meta`)).toBe('READONLY');
    expect(await refusal('SET max_result_rows = 0')).toBe('READONLY');
    expect(await refusal("SELECT * FROM file('/etc/hostname', 'LineAsString')")).toBe('READONLY');
    await store.storage.insertRows('tma_meta', [{ key: 'k', value: 'v', updated_at: new Date() }]);
    expect((await reader.query(`SELECT value FROM ${db}.tma_meta FINAL WHERE key = 'k'`)).rows).toEqual([['v']]);
  });

  it('enforces the result and time limits, and the next answer is clean', async () => {
    expect(await refusal('SELECT number FROM numbers(100000)')).toBe('TOO_MANY_ROWS_OR_BYTES');
    expect((await reader.query('SELECT 2 AS two')).rows).toEqual([[2]]);
    expect(await refusal('SELECT count() FROM numbers(100000000000)')).toBe('TIMEOUT_EXCEEDED');
    expect(await refusal('SELEC 1')).toBe('SYNTAX_ERROR');
    expect((await reader.query('SELECT 3 AS three')).rows).toEqual([[3]]);
  });

  it('refuses parameter names that are not identifiers', async () => {
    await expect(reader.query('SELECT 1', { 'a b': 'x' })).rejects.toMatchObject({ code: 'BAD_ARGUMENTS' });
  });
});
