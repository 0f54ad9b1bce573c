// Hostile and careless requests against the query API on real embedded ClickHouse: costly GraphQL documents are
// refused at once, wrong methods get 405, empty and prototype-named values get 400, every answer carries the
// security headers, /ready keeps storage details for token holders, and a row whose write was stamped long before
// it committed still reaches answers.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { applyMigrations, createStorage, type QueryParams, type Storage } from '@tma/storage';
import type { FleetSimulator } from '@tma/fleet-sim';
import { createQueryApi, type QueryApi } from '../src/app';
import { JsonLogger } from '../src/observability';
import { buildPartials, seedFleet, tearDown, testConfig, writePartials } from './fixture';

const READ = 'reader-secret-000111222333';
const MIN = 60_000;
const ROUNDS = 20;
const END = Math.floor(Date.now() / MIN) * MIN;
const START = END - ROUNDS * MIN;
const dataDir = mkdtempSync(join(tmpdir(), 'tma-query-api-hardening-'));
const database = `tma_qapi_h_${process.pid}_${randomBytes(3).toString('hex')}`;

class QuietLogger extends JsonLogger {
  readonly lines: string[] = [];
  override write(level: 'debug' | 'info' | 'warn' | 'error', msg: string, fields: Record<string, unknown> = {}): void {
    this.lines.push(JSON.stringify({ level, msg, ...fields }));
  }
}

let storage: Storage;
let api: QueryApi;
let sim: FleetSimulator;
/** Set to make the storage's readiness probe fail with a message naming internals. */
let storageBroken = false;
const logger = new QuietLogger();
const config = testConfig(`reader:${READ}`, { cacheBytes: 16 * 1024 * 1024, indexRefreshMs: 250 });

interface Res {
  status: number;
  body: any; // eslint-disable-line @typescript-eslint/no-explicit-any
  headers: Record<string, unknown>;
}

async function call(method: string, url: string, token: string | null = READ, payload?: unknown): Promise<Res> {
  const r = await api.app
    .getHttpAdapter()
    .getInstance()
    .inject({
      method: method as 'GET',
      url,
      headers: {
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        ...(payload ? { 'content-type': 'application/json' } : {}),
      },
      payload: payload ? JSON.stringify(payload) : undefined,
    });
  let body: unknown = r.body;
  try {
    body = JSON.parse(r.body);
  } catch {
    /* text */
  }
  return { status: r.statusCode, body, headers: r.headers };
}
const get = (url: string, token: string | null = READ) => call('GET', url, token);
const gql = (query: string, variables?: Record<string, unknown>) =>
  call('POST', '/graphql', READ, { query, variables });

beforeAll(async () => {
  const real = await createStorage({ kind: 'chdb', path: dataDir, database });
  await applyMigrations(real);
  storage = real;
  const probing = new Proxy(real, {
    get(target, prop) {
      if (prop === 'query')
        return (sql: string, params?: QueryParams) =>
          storageBroken && sql.includes('LIMIT 0')
            ? Promise.reject(
                new Error('Code: 81. DB::Exception: Database tma_private_db does not exist at /var/lib/ch'),
              )
            : target.query(sql, params);
      const v = Reflect.get(target, prop) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
  sim = await seedFleet(real, {
    hosts: 4,
    seed: 5,
    startMs: START,
    rounds: ROUNDS,
    packetsPerInterval: 500,
    partitions: 2,
  });
  api = await createQueryApi({ config, storage: probing, logger });
}, 120_000);

afterAll(() => tearDown(api, storage, dataDir));

describe('GraphQL cost is checked in time linear in the document', () => {
  it('refuses 40 chained fragments, each spreading the next twice, at once with a 400', async () => {
    const frags = Array.from({ length: 40 }, (_, i) => `fragment F${i} on Hosts { ...F${i + 1} ...F${i + 1} }`);
    const query = `{ hosts { ...F0 } } ${frags.join(' ')} fragment F40 on Hosts { scope { exact } hosts { host } }`;
    const t0 = Date.now();
    const r = await gql(query);
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(r.status).toBe(400);
    expect(r.body.errors[0].message).toMatch(/^query complexity .* exceeds 20000/);
  });

  it('refuses a fragment cycle and a k below 1 (literal or variable) with a 400 naming k', async () => {
    const cycle = await gql('{ hosts { ...A } } fragment A on Hosts { ...B } fragment B on Hosts { ...A }');
    expect(cycle.status).toBe(400);
    expect(cycle.body.errors[0].message).toMatch(/cycle/);
    for (const r of [
      await gql('{ topFlows(k: -5) { flows { src } } }'),
      await gql('query($k: Int) { topFlows(k: $k) { flows { src } } }', { k: -1 }),
      await gql('{ topFlows(k: 100000) { k } }'),
    ]) {
      expect(r.status).toBe(400);
      expect(r.body.errors[0].extensions).toEqual({ code: 'BAD_USER_INPUT', field: 'k' });
    }
  });

  it('costs introspection: many aliased copies of the schema are refused, one standard query is not', async () => {
    const one = await gql('{ __schema { types { name fields { name args { name } } } } }');
    expect(one.status).toBe(200);
    const many = Array.from({ length: 200 }, (_, i) => `a${i}: __schema { types { fields { args { name } } } }`);
    const r = await gql(`{ ${many.join(' ')} }`);
    expect(r.status).toBe(400);
    expect(r.body.errors[0].message).toMatch(/^introspection cost .* exceeds/);
  });
});

describe('HTTP surface', () => {
  it('answers 405 with Allow for a method a known path does not serve; 404 stays for unknown paths', async () => {
    for (const [method, url] of [
      ['DELETE', '/v1/hosts'],
      ['POST', '/v1/flows/top'],
      ['PUT', '/v1/cardinality/series'],
    ]) {
      const r = await call(method, url);
      expect(r.status).toBe(405);
      expect(String(r.headers.allow)).toMatch(/GET/);
      expect(r.body.error).toBe('Method Not Allowed');
    }
    expect(String((await call('DELETE', '/graphql')).headers.allow)).toMatch(/GET.*POST|POST.*GET/);
    expect((await get('/v1/nothing-here')).status).toBe(404);
    expect((await call('HEAD', '/health', null)).status).toBe(200); // HEAD comes with every GET
    expect(String((await call('OPTIONS', '/v1/hosts')).headers.allow)).toMatch(/GET/);
  });

  it('puts nosniff and frame-ancestors none on every answer, data, error or page', async () => {
    for (const r of [
      await get('/health', null),
      await get('/v1/hosts?range=15m'),
      await get('/v1/hosts', null),
      await get('/v1/flows/top?k=0'),
      await get('/dashboard', null),
      await get('/docs', null),
      await get('/nope', null),
      await call('DELETE', '/v1/hosts'),
    ]) {
      expect(r.headers['x-content-type-options']).toBe('nosniff');
      expect(String(r.headers['content-security-policy'])).toContain("frame-ancestors 'none'");
    }
  });

  it('refuses empty values and names that exist only on Object.prototype', async () => {
    for (const [url, field] of [
      ['/v1/flows/top?range=', 'range'],
      ['/v1/flows/top?k=', 'k'],
      ['/v1/hosts?hosts=', 'hosts'],
      ['/v1/cardinality?metrics=', 'metrics'],
      ['/v1/flows/top?protocol=constructor', 'protocol'],
      ['/v1/flows/top?protocol=__proto__', 'protocol'],
      ['/v1/traffic/series?protocol=toString', 'protocol'],
      ['/v1/flows/top?range=1constructor', 'range'],
    ]) {
      const r = await get(url);
      expect({ url, status: r.status, field: r.body.field }).toEqual({ url, status: 400, field });
    }
    expect((await get('/docs/constructor', null)).status).toBe(404);
  });
});

describe('/ready', () => {
  it('gives anonymous callers a generic reason and token holders the storage error', async () => {
    storageBroken = true;
    try {
      const anon = await get('/ready', null);
      expect(anon.status).toBe(503);
      expect(anon.body).toEqual({ status: 'not ready', problems: ['storage: not answering'] });
      expect(JSON.stringify(anon.body)).not.toMatch(/tma_private_db|\/var\/lib/);
      const bad = await get('/ready', 'not-a-valid-token-at-all');
      expect(bad.body.problems).toEqual(['storage: not answering']);
      const known = await get('/ready');
      expect(known.status).toBe(503);
      expect(known.body.problems[0]).toMatch(/^storage: Code: 81\. .*tma_private_db/);
      expect(logger.lines.some((l) => l.includes('tma_private_db'))).toBe(true);
    } finally {
      storageBroken = false;
    }
    expect((await get('/ready', null)).body).toEqual({ status: 'ready', problems: [] });
  });
});

describe('row index', () => {
  it('picks up a row whose written_at is older than every row it has indexed (a write that retried)', async () => {
    const url = `/v1/traffic/series?from=${START}&to=${END + MIN}&step=1m`;
    const total = async () =>
      ((await get(url)).body.total.packets as number[]).reduce((s: number, x: number) => s + x, 0);
    const before = await total();
    // Something newer first, so the index's cursor is past the late row's stamp.
    const newer = buildPartials(sim.nextRoundSnapshots(), 2);
    await writePartials(storage, newer);
    // (the window's fleet row holds the same packets again: not counted)
    const added = newer.filter((r) => r.tier === '1m').reduce((s, r) => s + Number(r.packets), 0);
    let now = before;
    for (const deadline = Date.now() + 10_000; now !== before + added && Date.now() < deadline;)
      await new Promise((r) => setTimeout(r, 100)).then(async () => (now = await total()));
    expect(now).toBe(before + added);
    // A late row for a window already answered, stamped an hour before the rows just indexed.
    const lateSnaps = sim.nextRoundSnapshots();
    const late = buildPartials(lateSnaps, 2)
      .filter((r) => r.tier === '1m')
      .map((r) => ({
        ...r,
        window_start: START / 1000 + 60,
        partition: r.partition + 100,
        written_at: new Date(Date.now() - 3_600_000),
      }));
    await writePartials(storage, late);
    const lateAdded = late.reduce((s, r) => s + Number(r.packets), 0);
    const target = now + lateAdded;
    for (const deadline = Date.now() + 10_000; now !== target && Date.now() < deadline;)
      await new Promise((r) => setTimeout(r, 100)).then(async () => (now = await total()));
    expect(now).toBe(target);
  });
});
