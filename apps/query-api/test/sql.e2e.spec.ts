// SQL directly in ClickHouse (docs/sql.md) on the real engine (embedded chDB): a simulated fleet's partial rows, the
// aggregator's own rollup builder (PartialRowStore: 1 min rollups and the 1 h tier with its native sketches), then
// every example query of docs/sql.md, taken from the page, against the query API's answer for the same range:
// HLL estimates equal to the last bit, exact totals equal, top-flow estimates equal. And POST /v1/sql: admin only,
// read-only, limited, refusals as 400s, the writers' session unaffected.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PartialRowStore } from '@tma/aggregation';
import { FleetSimulator } from '@tma/fleet-sim';
import { HLL_P, HLL_RANK_MAX, HyperLogLog } from '@tma/sketch';
import { applyMigrations, createStorage, type Storage } from '@tma/storage';
import { createQueryApi, type QueryApi } from '../src/app';
import { BODY_LIMIT_BYTES } from '../src/common/openapi';
import { MAX_SQL_CHARS } from '../src/sql/sql.schemas';
import { JsonLogger } from '../src/observability';
import { buildPartials, tearDown, testConfig, writePartials } from './fixture';

const READ = 'reader-secret-000111222333';
const ADMIN = 'admin-secret-444555666777';
const dataDir = mkdtempSync(join(tmpdir(), 'tma-sql-e2e-'));
// The documented queries name the default database; this file's engine and directory are its own.
const DATABASE = 'tma';
const MIN = 60_000;
const HOUR = 3_600_000;
const ROUNDS = 130; // always holds one whole hour (1 h tier) whatever the clock
const END = Math.floor(Date.now() / MIN) * MIN;
const START = END - ROUNDS * MIN;
const FIRST_HOUR = Math.ceil(START / HOUR) * HOUR;

/** The example queries of docs/sql.md by name: each ```sql block whose first line is `-- example: <name>`. */
function documentedQueries(): Map<string, string> {
  const page = readFileSync(join(__dirname, '../../../docs/sql.md'), 'utf8');
  const out = new Map<string, string>();
  for (const m of page.matchAll(/```sql\n-- example: ([a-z0-9-]+)\n([\s\S]*?)```/g)) out.set(m[1], m[2]);
  return out;
}
const QUERIES = documentedQueries();
const ROOT = join(__dirname, '../../..');

/** `./tma sql` (tools/sql/run.js) as a child process: exit code, stdout, stderr. */
function tmaSql(args: string[], env: Record<string, string>): Promise<{ code: number; out: string; err: string }> {
  return new Promise((done) => {
    execFile(
      process.execPath,
      [join(ROOT, 'tools/sql/run.js'), ...args],
      { cwd: ROOT, env: { ...process.env, ...env }, encoding: 'utf8' },
      (error, out, err) => done({ code: error ? Number(error.code ?? 1) : 0, out, err }),
    );
  });
}

let storage: Storage;
let api: QueryApi;
const logger = new (class extends JsonLogger {
  override write(level: 'debug' | 'info' | 'warn' | 'error', msg: string, fields: Record<string, unknown> = {}) {
    if (level === 'error') process.stderr.write(`${msg} ${JSON.stringify(fields)}\n`);
  }
})();

interface Res {
  status: number;
  body: any; // eslint-disable-line @typescript-eslint/no-explicit-any
}

async function inject(method: 'GET' | 'POST', url: string, token: string, payload?: unknown): Promise<Res> {
  const r = await api.app
    .getHttpAdapter()
    .getInstance()
    .inject({
      method,
      url,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      payload: payload === undefined ? undefined : JSON.stringify(payload),
    });
  return { status: r.statusCode, body: JSON.parse(r.body) };
}

const iso = (ms: number) => new Date(ms).toISOString();
const abs = (from: number, to: number) => `from=${encodeURIComponent(iso(from))}&to=${encodeURIComponent(iso(to))}`;
const sqlTime = (ms: number) => iso(ms).slice(0, 19).replace('T', ' ');

/** Runs a documented query through POST /v1/sql; rows as objects. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- rows of any documented query
async function example(name: string, range?: [number, number]): Promise<Record<string, any>[]> {
  const sql = QUERIES.get(name);
  if (!sql) throw new Error(`docs/sql.md has no example "${name}"`);
  const params = range ? { from: sqlTime(range[0]), to: sqlTime(range[1]) } : {};
  const r = await inject('POST', '/v1/sql', ADMIN, { sql, params });
  expect(r.status).toBe(200);
  const names = (r.body.columns as { name: string }[]).map((c) => c.name);
  return (r.body.rows as unknown[][]).map((row) => Object.fromEntries(names.map((n, i) => [n, row[i]])));
}

/** The API's rounding of HLL estimates (cardinality.service.ts). */
const rounded = (x: number) => Math.round(x * 100) / 100;

beforeAll(async () => {
  storage = await createStorage({ kind: 'chdb', path: dataDir, database: DATABASE });
  await applyMigrations(storage);
  const sim = new FleetSimulator({ hosts: 12, seed: 5, intervalMs: MIN, startMs: START, packetsPerInterval: 2000 });
  const snaps = [];
  for (let r = 0; r < ROUNDS; r++) snaps.push(...sim.nextRoundSnapshots());
  // 1 min partial rows as the aggregator writes them; the rollups and the 1 h tier from its own builder.
  const minutes = buildPartials(snaps, 4).filter((r) => r.tier === '1m');
  await writePartials(storage, minutes);
  const days = 30 * 86_400;
  const rollups = new PartialRowStore(
    storage,
    {
      partials: days,
      windowTotals: days,
      topFlows: days,
      hostTotals: days,
      protocolTotals: days,
      hourTier: days,
      dayTier: days,
    },
    10,
  );
  const windows = [...new Set(minutes.map((r) => r.window_start * 1000))].sort((a, b) => a - b);
  for (const w of windows) await rollups.finalizeWindow('1m', w, MIN);
  for (let h = FIRST_HOUR; h + HOUR <= END; h += HOUR) await rollups.buildHour(h);
  api = await createQueryApi({ config: testConfig(`reader:${READ}\nops:${ADMIN}:admin`), storage, logger });
}, 300_000);

afterAll(() => tearDown(api, storage, dataDir));

// Ranges: the whole data (1 h tier inside), one cutting through hours at both ends, one inside an hour (1 min only).
const RANGES: [string, number, number][] = [
  ['all data', START, END],
  ['partial hours at both ends', FIRST_HOUR - 7 * MIN, FIRST_HOUR + HOUR + 11 * MIN],
  ['inside one hour', FIRST_HOUR + 5 * MIN, FIRST_HOUR + 25 * MIN],
];

describe('documented queries give the API numbers', () => {
  it('docs/sql.md holds every example this test runs', () => {
    expect([...QUERIES.keys()].sort()).toEqual([
      'distinct-last-24h',
      'hosts',
      'sources-per-hour',
      'summary',
      'top-flows',
    ]);
  });

  it('distinct counts over the last 24 h equal /v1/cardinality?range=24h', async () => {
    const [sql] = await example('distinct-last-24h');
    const r = await inject('GET', '/v1/cardinality?range=24h', READ);
    expect(r.status).toBe(200);
    expect(r.body.scope.tiers['1h']).toBeGreaterThanOrEqual(1);
    for (const m of ['sources', 'destinations', 'flows', 'ports']) {
      expect(sql[m]).toBeGreaterThan(0);
      expect(rounded(sql[m])).toBe(r.body[m].estimate);
    }
  });

  it.each(RANGES)('summary over %s: exact totals and distinct counts equal the API', async (_, from, to) => {
    const [s] = await example('summary', [from, to]);
    const top = await inject('GET', `/v1/flows/top?${abs(from, to)}&k=1`, READ);
    const card = await inject('GET', `/v1/cardinality?${abs(from, to)}`, READ);
    const windows = Object.values(card.body.scope.tiers as Record<string, number>).reduce((a, b) => a + b, 0);
    expect(Number(s.windows)).toBe(windows);
    expect(Number(s.packets)).toBe(top.body.packets.total);
    expect(Number(s.bytes)).toBe(top.body.bytes.total);
    for (const m of ['sources', 'destinations', 'flows', 'ports'])
      expect(rounded(s[`distinct_${m}`])).toBe(card.body[m].estimate);
  });

  it.each(RANGES)('top flows over %s: the API top 10, estimate for estimate', async (_, from, to) => {
    const sql = await example('top-flows', [from, to]);
    const r = await inject('GET', `/v1/flows/top?${abs(from, to)}&k=10`, READ);
    expect(r.status).toBe(200);
    const api10 = r.body.flows as {
      src: string;
      dst: string;
      srcPort: number;
      dstPort: number;
      protocol: number;
      packets: number;
      bytes: number;
    }[];
    expect(sql).toHaveLength(10);
    expect(api10).toHaveLength(10);
    // Same ranking values in the same order (flows tied on both counts may swap places) …
    expect(sql.map((f) => [Number(f.packets), Number(f.bytes)])).toEqual(api10.map((f) => [f.packets, f.bytes]));
    // … and every flow the API lists has the same estimates in SQL.
    const all = await inject('POST', '/v1/sql', ADMIN, {
      sql: 'SELECT src, dst, sport, dport, protocol, packets, bytes FROM tma.tma_flows(from = {from:DateTime}, to = {to:DateTime})',
      params: { from: sqlTime(from), to: sqlTime(to) },
    });
    const bySql = new Map((all.body.rows as unknown[][]).map((x) => [x.slice(0, 5).join('|'), x.slice(5).map(Number)]));
    for (const f of api10)
      expect(bySql.get([f.src, f.dst, f.srcPort, f.dstPort, f.protocol].join('|'))).toEqual([f.packets, f.bytes]);
    expect(all.body.rows.length).toBe(r.body.candidates);
  });

  it('distinct sources per hour equal /v1/cardinality/series?step=1h', async () => {
    const from = FIRST_HOUR - HOUR;
    const sql = await example('sources-per-hour', [from, END]);
    const r = await inject('GET', `/v1/cardinality/series?${abs(from, END)}&step=1h&metrics=sources`, READ);
    const points = (r.body.series.sources as { t: string; value: { estimate: number } | null }[]).filter(
      (p) => p.value,
    );
    expect(sql.map((x) => [`${x.hour.replace(' ', 'T')}.000Z`, rounded(x.sources)])).toEqual(
      points.map((p) => [p.t, p.value!.estimate]),
    );
  });

  it.each(RANGES)('per-host traffic over %s equals /v1/hosts', async (_, from, to) => {
    const sql = await example('hosts', [from, to]);
    const r = await inject('GET', `/v1/hosts?${abs(from, to)}`, READ);
    expect(sql.length).toBe(12);
    expect(sql.map((h) => [h.host, Number(h.packets), Number(h.bytes), Number(h.snapshots)])).toEqual(
      r.body.hosts.map((h: { host: string; packets: number; bytes: number; snapshots: number }) => [
        h.host,
        h.packets,
        h.bytes,
        h.snapshots,
      ]),
    );
  });
});

describe('tma_hll_estimate', () => {
  it('equals HyperLogLog.estimate() to the last bit: random, sparse, empty and saturated registers', async () => {
    let seed = 7;
    const rand = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32;
    const m = 2 ** HLL_P;
    const cases: number[][] = [
      new Array(m).fill(0),
      new Array(m).fill(HLL_RANK_MAX),
      Array.from({ length: m }, (_, i) => (i % 97 === 0 ? 1 + (i % 5) : 0)),
      Array.from({ length: m }, () => 1 + Math.floor(-Math.log2(1 - rand()))),
      Array.from({ length: m }, () => (rand() < 0.01 ? HLL_RANK_MAX : 20 + Math.floor(rand() * 10))),
    ];
    // Registers from real sketches of 1 … 10^6 distinct items.
    for (const n of [1, 50, 5_000, 1_000_000]) {
      const h = new HyperLogLog();
      for (let i = 0; i < n; i++) h.add((rand() * 2 ** 32) >>> 0, (rand() * 2 ** 32) >>> 0);
      cases.push([...h.registers]);
    }
    const sql: number[] = [];
    for (const r of cases)
      sql.push((await storage.query<{ e: number }>('SELECT tma_hll_estimate({r:Array(UInt8)}) AS e', { r }))[0].e);
    // Saturated registers give Infinity in both; JSON carries it as null.
    const ts = cases.map((c) => HyperLogLog.fromRegisters(c).estimate());
    expect(ts[1]).toBe(Infinity);
    expect(sql).toEqual(ts.map((e) => (Number.isFinite(e) ? e : null)));
  });
});

describe('POST /v1/sql', () => {
  it('is for admin tokens only', async () => {
    const r = await inject('POST', '/v1/sql', READ, { sql: 'SELECT 1' });
    expect(r.status).toBe(403);
    expect((await inject('POST', '/v1/sql', ADMIN, { sql: 'SELECT 1 AS one' })).body.rows).toEqual([[1]]);
  });

  it('refuses writes, DDL, settings and file or network table functions with a 400 naming the reason', async () => {
    for (const sql of [
      "INSERT INTO tma.tma_meta (key, value, updated_at) VALUES ('x', 'y', now())",
      'DROP TABLE tma.agg_partials',
      'CREATE TABLE tma.x (a UInt8) ENGINE = Memory',
      'SET readonly = 0',
      "SELECT * FROM file('/etc/hostname', 'LineAsString')",
      "SELECT * FROM url('http://127.0.0.1:9/', 'LineAsString')",
    ]) {
      const r = await inject('POST', '/v1/sql', ADMIN, { sql });
      expect(r.status).toBe(400);
      expect(r.body.message).toMatch(/^sql: READONLY: /);
    }
    const bad = await inject('POST', '/v1/sql', ADMIN, { sql: 'SELEC 1' });
    expect([bad.status, bad.body.message]).toEqual([400, expect.stringMatching(/^sql: SYNTAX_ERROR: /)]);
    const big = await inject('POST', '/v1/sql', ADMIN, { sql: 'SELECT number FROM numbers(1000000)' });
    expect([big.status, big.body.message]).toEqual([400, expect.stringMatching(/^sql: TOO_MANY_ROWS_OR_BYTES: /)]);
    // What the refused statement had begun to output does not reach the next answer.
    expect((await inject('POST', '/v1/sql', ADMIN, { sql: 'SELECT 2 AS two' })).body.rows).toEqual([[2]]);
    expect((await inject('POST', '/v1/sql', ADMIN, { sql: '' })).status).toBe(400);
    expect((await inject('POST', '/v1/sql', ADMIN, { sql: 'SELECT 1', params: { a: 1 } })).status).toBe(400);
    // The bounds the OpenAPI document states: not only whitespace (what trim() removes), at most MAX_SQL_CHARS code
    // points (an emoji is one, though two UTF-16 units), a body of at most BODY_LIMIT_BYTES.
    expect((await inject('POST', '/v1/sql', ADMIN, { sql: '\u3000\ufeff\t\u2028' })).body.field).toBe('sql');
    const text = `${'\u{1F600}'.repeat(30_000)}${'x'.repeat(MAX_SQL_CHARS - 30_000 - 9)}`;
    const longest = await inject('POST', '/v1/sql', ADMIN, { sql: `SELECT '${text}'` });
    expect([longest.status, longest.body.rows?.[0][0] === text]).toEqual([200, true]);
    const over = await inject('POST', '/v1/sql', ADMIN, { sql: `SELECT '${text}' ` });
    expect([over.status, over.body.message]).toEqual([400, `sql: longer than ${MAX_SQL_CHARS} characters`]);
    const huge = await inject('POST', '/v1/sql', ADMIN, {
      sql: 'SELECT 1',
      params: { a: 'x'.repeat(BODY_LIMIT_BYTES) },
    });
    expect([huge.status, huge.body.statusCode, typeof huge.body.error, typeof huge.body.message]).toEqual([
      413,
      413,
      'string',
      'string',
    ]);
    const form = await api.app
      .getHttpAdapter()
      .getInstance()
      .inject({
        method: 'POST',
        url: '/v1/sql',
        headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/x-www-form-urlencoded' },
        payload: 'sql=SELECT+1',
      });
    expect([form.statusCode, JSON.parse(form.body).message]).toEqual([415, 'send the body as application/json']);
    // The aggregator's session still writes.
    await storage.insertRows('tma_meta', [{ key: 'sql-test', value: 'ok', updated_at: new Date() }]);
    expect(await storage.query("SELECT value FROM {database}.tma_meta FINAL WHERE key = 'sql-test'")).toEqual([
      { value: 'ok' },
    ]);
  });
});

describe('./tma sql', () => {
  it('goes through the query API (admin token) while a process holds the store', async () => {
    await api.app.listen({ host: '127.0.0.1', port: 0 });
    const port = (api.app.getHttpServer().address() as AddressInfo).port;
    const range: [number, number] = [START, END];
    const env = { TMA_CHDB_PATH: dataDir, TMA_API_URL: `http://127.0.0.1:${port}`, TMA_API_TOKEN: ADMIN };
    const args = [
      '--json',
      `--param_from=${sqlTime(range[0])}`,
      `--param_to=${sqlTime(range[1])}`,
      QUERIES.get('summary')!,
    ];
    const r = await tmaSql(args, env);
    expect(r.err).toBe('');
    const [viaApi] = await example('summary', range);
    expect(JSON.parse(r.out)).toEqual(viaApi);
    const refused = await tmaSql(args, { ...env, TMA_API_TOKEN: READ });
    expect([refused.code, refused.err]).toEqual([2, expect.stringContaining('answered 403')]);
  });

  it('opens the store itself when no process holds it, read-only', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tma-sql-cli-'));
    try {
      const ok = await tmaSql(['SELECT 6 * 7 AS answer'], { TMA_CHDB_PATH: dir, TMA_API_URL: 'http://127.0.0.1:9' });
      expect([ok.code, ok.out]).toEqual([0, 'answer\n------\n42\n']);
      const no = await tmaSql(['CREATE DATABASE x'], { TMA_CHDB_PATH: dir });
      expect([no.code, no.err]).toEqual([2, expect.stringContaining('READONLY')]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
