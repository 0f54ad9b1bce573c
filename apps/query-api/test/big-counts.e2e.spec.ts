// Counts past 2^53 through the query API's read path on the real engine (embedded chDB): stored UInt64 totals at
// 2^53 − 1, 2^53, 2^53 + 1 and near 2^64, and sums of them past 2^64, answered exactly over REST and GraphQL (a JSON
// number up to 2^53 − 1, decimal text beyond), from 1 min rows (host filter, hosts table) and 1 h rows alike.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { emptyMerged, partialRow, type PartialRow } from '@tma/rollup';
import { applyMigrations, createStorage, type Storage } from '@tma/storage';
import { createQueryApi, type QueryApi } from '../src/app';
import { JsonLogger } from '../src/observability';
import { tearDown, testConfig, TOPIC, writePartials } from './fixture';

const READ = 'reader-secret-big-000111222';
const dataDir = mkdtempSync(join(tmpdir(), 'tma-query-api-big-'));
const database = `tma_qbig_${process.pid}_${randomBytes(3).toString('hex')}`;
const MIN = 60_000;
const HOUR = 3_600_000;
// Two whole hours well inside the retention: H1 holds 1 min rows and their 1 h row, H2 only rows near 2^64.
const H1 = Math.floor(Date.now() / HOUR) * HOUR - 3 * HOUR;
const H2 = H1 + HOUR;
const TWO_53 = 2n ** 53n;
const TWO_64 = 2n ** 64n;

let storage: Storage;
let api: QueryApi;

class QuietLogger extends JsonLogger {
  override write(level: 'debug' | 'info' | 'warn' | 'error', msg: string, fields: Record<string, unknown> = {}): void {
    if (level === 'error') process.stderr.write(`${msg} ${JSON.stringify(fields)}\n`);
  }
}

/** A stored row of `tier` for one host with these exact totals (all on UDP), sketches empty. */
function row(
  tier: '1m' | '1h',
  ws: number,
  partition: number,
  host: string,
  packets: bigint,
  bytes: bigint,
): PartialRow {
  const m = emptyMerged(ws, tier === '1h' ? 3600 : 60);
  m.snapshots = 1;
  m.packets = packets;
  m.bytes = bytes;
  m.protocols.set(17, { packets, bytes });
  m.hosts.set(host, { boot: 'boot', lastSeq: 1, agentVersion: 'v1', packets, bytes, snapshots: 1, gaps: 0 });
  const hour = tier === '1h';
  return partialRow(
    m,
    [],
    {
      tier,
      windowStartMs: ws,
      windowSeconds: hour ? 3600 : 60,
      topic: hour ? '' : TOPIC,
      partition,
      firstOffset: hour ? 0 : ws / MIN,
      epoch: 0,
      lastOffset: hour ? 0 : ws / MIN,
      version: 1,
      writer: hour ? 'rollup' : 'test-writer',
      late: false,
    },
    30 * 86_400,
  );
}

async function get(url: string) {
  const r = await api.app
    .getHttpAdapter()
    .getInstance()
    .inject({ method: 'GET', url, headers: { authorization: `Bearer ${READ}` } });
  expect(r.statusCode).toBe(200);
  return JSON.parse(r.body);
}

async function gql(query: string) {
  const r = await api.app
    .getHttpAdapter()
    .getInstance()
    .inject({
      method: 'POST',
      url: '/graphql',
      headers: { authorization: `Bearer ${READ}`, 'content-type': 'application/json' },
      payload: JSON.stringify({ query }),
    });
  const body = JSON.parse(r.body);
  expect(body.errors).toBeUndefined();
  return body.data;
}

/** What the API must answer for an exact count `n`: a number while it is safe, its decimal text beyond. */
const wire = (n: bigint) => (n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : n.toString());
const range = (from: number, to: number) => `from=${new Date(from).toISOString()}&to=${new Date(to).toISOString()}`;

beforeAll(async () => {
  storage = await createStorage({ kind: 'chdb', path: dataDir, database });
  await applyMigrations(storage);
  // H1: host a sends 2^52 packets and bytes in its first minute on partition 0 and 2^52 + 1 packets, 2^52 bytes in
  // the second on partition 1 (the hour: 2^53 + 1 packets, 2^53 bytes); host b 2^53 − 1 in one minute. The 1 h row
  // holds the same sums, as the aggregator's hour rollup writes them.
  const a1 = 2n ** 52n;
  const rows = [
    row('1m', H1, 0, 'big-a', a1, a1),
    row('1m', H1 + MIN, 1, 'big-a', a1 + 1n, a1),
    row('1m', H1 + 2 * MIN, 2, 'big-b', TWO_53 - 1n, TWO_53 - 1n),
  ];
  const hour = emptyMerged(H1, 3600);
  hour.snapshots = 3;
  hour.packets = TWO_53 + 1n + TWO_53 - 1n;
  hour.bytes = TWO_53 + TWO_53 - 1n;
  hour.protocols.set(17, { packets: hour.packets, bytes: hour.bytes });
  rows.push(row('1h', H1, 0, 'big-a', hour.packets, hour.bytes));
  // H2: two minutes of host c near 2^64 each (their sum passes 2^64), and an hour row at 2^64 − 1.
  rows.push(row('1m', H2, 0, 'big-c', TWO_64 - 2n, TWO_64 - 1n), row('1m', H2 + MIN, 0, 'big-c', 7n, 11n));
  rows.push(row('1h', H2, 0, 'big-c', TWO_64 - 1n, TWO_64 - 1n));
  await writePartials(storage, rows);
  api = await createQueryApi({ config: testConfig(`reader:${READ}`), storage, logger: new QuietLogger() });
}, 120_000);

afterAll(() => tearDown(api, storage, dataDir));

describe('counts past 2^53 through the query API', () => {
  it('traffic series from 1 h rows: 2^53 + 2^53 exact, 2^64 − 1 exact', async () => {
    const r = await get(`/v1/traffic/series?${range(H1, H2 + HOUR)}&step=1h`);
    expect(r.scope.tiers).toEqual({ '1h': 2 });
    expect(r.total.packets).toEqual([wire(2n * TWO_53), wire(TWO_64 - 1n)]);
    expect(r.total.bytes).toEqual([wire(2n * TWO_53 - 1n), wire(TWO_64 - 1n)]);
    expect(r.protocols[0].bytes).toEqual(r.total.bytes);
  });

  it('traffic series from 1 min rows (host filter): 2^53 − 1 as a number, 2^53 + 1 and sums past 2^64 as text', async () => {
    const a = await get(`/v1/traffic/series?${range(H1, H1 + 10 * MIN)}&step=10m&hosts=big-a`);
    expect(a.scope.tiers).toEqual({ '1m': 2 });
    expect(a.total.packets).toEqual(['9007199254740993']);
    expect(a.total.bytes).toEqual(['9007199254740992']);
    const b = await get(`/v1/traffic/series?${range(H1, H1 + 10 * MIN)}&step=10m&hosts=big-b`);
    expect(b.total.packets).toEqual([Number.MAX_SAFE_INTEGER]);
    const c = await get(`/v1/traffic/series?${range(H2, H2 + 10 * MIN)}&step=10m&hosts=big-c`);
    expect(c.total.packets).toEqual([String(TWO_64 + 5n)]);
    expect(c.total.bytes).toEqual([String(TWO_64 + 10n)]);
  });

  it('hosts table: exact totals per host, past 2^64 included', async () => {
    const r = await get(`/v1/hosts?${range(H1, H2 + HOUR)}`);
    const by = new Map(r.hosts.map((h: { host: string; packets: unknown; bytes: unknown }) => [h.host, h]));
    expect(by.get('big-a')).toMatchObject({ packets: wire(TWO_53 + 1n), bytes: wire(TWO_53) });
    expect(by.get('big-b')).toMatchObject({ packets: Number.MAX_SAFE_INTEGER, bytes: Number.MAX_SAFE_INTEGER });
    expect(by.get('big-c')).toMatchObject({ packets: String(TWO_64 + 5n), bytes: String(TWO_64 + 10n) });
  });

  it('GraphQL answers the same exact values (scalar Count)', async () => {
    const from = new Date(H1).toISOString();
    const to = new Date(H2 + HOUR).toISOString();
    const d = await gql(
      `{ trafficSeries(from: "${from}", to: "${to}", step: "1h") { total { packets bytes } }
         hosts(from: "${from}", to: "${to}") { hosts { host packets bytes } } }`,
    );
    const rest = await get(`/v1/traffic/series?${range(H1, H2 + HOUR)}&step=1h`);
    expect(d.trafficSeries.total).toEqual(rest.total);
    const c = d.hosts.hosts.find((h: { host: string }) => h.host === 'big-c');
    expect(c).toEqual({ host: 'big-c', packets: String(TWO_64 + 5n), bytes: String(TWO_64 + 10n) });
  });
});
