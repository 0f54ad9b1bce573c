// The query API end to end on the real ClickHouse engine (embedded chDB): partial rows built from simulated hosts
// with exact ground truth (tools/fleet-sim), every REST and GraphQL answer checked against that truth within its
// stated bound, authentication, bad input on every parameter, and the OpenAPI document against the specification.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { fromHex, parseFlowKey } from '@tma/sketch';
import { applyMigrations, createStorage, type Storage } from '@tma/storage';
// The fleet simulator has no package alias yet (tools/ is not a workspace).
import type { FleetSimulator } from '@tma/fleet-sim';
import { createQueryApi, type QueryApi } from '../src/app';
import { JsonLogger } from '../src/observability';
import { buildPartials, seedFleet, tearDown, testConfig, writePartials } from './fixture';

const READ = 'reader-secret-000111222333';
const ADMIN = 'admin-secret-444555666777';
const dataDir = mkdtempSync(join(tmpdir(), 'tma-query-api-e2e-'));
const database = `tma_qapi_${process.pid}_${randomBytes(3).toString('hex')}`;
const HOSTS = 24;
const ROUNDS = 130; // always holds one whole hour (1 h tier) whatever the clock
const MIN = 60_000;
// The data ends at the last whole minute so relative ranges (range=15m) find it.
const END = Math.floor(Date.now() / MIN) * MIN;
const START = END - ROUNDS * MIN;

class CapturingLogger extends JsonLogger {
  readonly lines: string[] = [];
  override write(level: 'debug' | 'info' | 'warn' | 'error', msg: string, fields: Record<string, unknown> = {}): void {
    this.lines.push(JSON.stringify({ level, msg, ...fields }));
    if (level === 'error') process.stderr.write(`${msg} ${JSON.stringify(fields)}\n`);
  }
}

let storage: Storage;
let api: QueryApi;
let sim: FleetSimulator;
const logger = new CapturingLogger();
const config = testConfig(`reader:${READ}\nops:${ADMIN}:admin\nnothing:${'x'.repeat(20)}:read`);

interface Res {
  status: number;
  body: any; // eslint-disable-line @typescript-eslint/no-explicit-any
  headers: Record<string, unknown>;
}

async function get(url: string, token: string | null = READ): Promise<Res> {
  const r = await api.app
    .getHttpAdapter()
    .getInstance()
    .inject({ method: 'GET', url, headers: token ? { authorization: `Bearer ${token}` } : {} });
  let body: unknown = r.body;
  try {
    body = JSON.parse(r.body);
  } catch {
    /* text */
  }
  return { status: r.statusCode, body, headers: r.headers };
}

async function gql(query: string, variables?: Record<string, unknown>): Promise<Res> {
  const r = await api.app
    .getHttpAdapter()
    .getInstance()
    .inject({
      method: 'POST',
      url: '/graphql',
      headers: { authorization: `Bearer ${READ}`, 'content-type': 'application/json' },
      payload: JSON.stringify({ query, variables }),
    });
  return { status: r.statusCode, body: JSON.parse(r.body), headers: r.headers };
}

const iso = (ms: number) => new Date(ms).toISOString();
const abs = (from: number, to: number) => `from=${encodeURIComponent(iso(from))}&to=${encodeURIComponent(iso(to))}`;

/** Exact truth over windows in [from, to). */
function truth(from: number, to: number) {
  const flows = new Map<string, { packets: number; bytes: number }>();
  const sources = new Set<string>();
  const destinations = new Set<string>();
  const ports = new Set<string>();
  const protocols = new Map<number, { packets: number; bytes: number }>();
  const hosts = new Map<string, { packets: number; bytes: number }>();
  let packets = 0;
  let bytes = 0;
  for (const [ws, w] of sim.truth.windows) {
    if (ws < from || ws >= to) continue;
    packets += w.packets;
    bytes += w.bytes;
    for (const [hex, f] of w.flows) {
      const t = flows.get(hex) ?? { packets: 0, bytes: 0 };
      t.packets += f.packets;
      t.bytes += f.bytes;
      flows.set(hex, t);
    }
    w.distinctSources.forEach((s) => sources.add(s));
    w.distinctDestinations.forEach((s) => destinations.add(s));
    w.distinctPorts.forEach((s) => ports.add(s));
    for (const [p, t] of w.protocols) {
      const m = protocols.get(p) ?? { packets: 0, bytes: 0 };
      m.packets += t.packets;
      m.bytes += t.bytes;
      protocols.set(p, m);
    }
    for (const [h, t] of w.hosts) {
      const m = hosts.get(h) ?? { packets: 0, bytes: 0 };
      m.packets += t.packets;
      m.bytes += t.bytes;
      hosts.set(h, m);
    }
  }
  return { flows, sources, destinations, ports, protocols, hosts, packets, bytes };
}

const tupleKey = (f: { src: string; dst: string; srcPort: number; dstPort: number; protocol: number }) =>
  `${f.src}|${f.dst}|${f.srcPort}|${f.dstPort}|${f.protocol}`;
function truthByTuple(flows: Map<string, { packets: number; bytes: number }>) {
  const m = new Map<string, { packets: number; bytes: number; hex: string }>();
  for (const [hex, f] of flows) {
    const t = parseFlowKey(fromHex(hex));
    m.set(tupleKey({ src: t.src, dst: t.dst, srcPort: t.sport, dstPort: t.dport, protocol: t.proto }), { ...f, hex });
  }
  return m;
}

beforeAll(async () => {
  storage = await createStorage({ kind: 'chdb', path: dataDir, database });
  await applyMigrations(storage);
  sim = await seedFleet(storage, {
    hosts: HOSTS,
    seed: 11,
    startMs: START,
    rounds: ROUNDS,
    packetsPerInterval: 4000,
    partitions: 4,
  });
  api = await createQueryApi({ config, storage, logger });
}, 180_000);

afterAll(() => tearDown(api, storage, dataDir));

describe('authentication', () => {
  it('requires a bearer token on data, GraphQL and metrics; health, readiness and static shells stay open', async () => {
    for (const url of ['/v1/flows/top', '/v1/cardinality', '/v1/hosts', '/graphql?query={__typename}', '/metrics']) {
      const none = await get(url, null);
      expect(none.status).toBe(401);
      expect(none.headers['www-authenticate']).toMatch(/^Bearer/);
      expect((await get(url, 'not-a-valid-token-at-all')).status).toBe(401);
      expect((await get(url, READ)).status).toBe(200);
    }
    expect((await get('/health', null)).status).toBe(200);
    expect((await get('/ready', null)).body).toEqual({ status: 'ready', problems: [] });
    expect((await get('/dashboard', null)).status).toBe(200);
    const slash = await get('/dashboard/?range=15m&protocol=udp', null);
    expect(slash.status).toBe(302);
    expect(slash.headers.location).toBe('/dashboard?range=15m&protocol=udp');
    expect((await get('/docs/openapi.json', null)).status).toBe(200);
  });

  it('accepts the admin token for reads, refuses a malformed header, and never logs a secret', async () => {
    expect((await get('/v1/cardinality?range=15m', ADMIN)).status).toBe(200);
    const r = await api.app
      .getHttpAdapter()
      .getInstance()
      .inject({ method: 'GET', url: '/v1/hosts', headers: { authorization: `Basic ${READ}` } });
    expect(r.statusCode).toBe(401);
    const text = logger.lines.join('\n');
    expect(text).toContain('"token":"reader"');
    expect(text).toContain('"token":"ops"');
    for (const secret of [READ, ADMIN, 'not-a-valid-token-at-all']) expect(text).not.toContain(secret);
  });

  it('gives every response a request id, keeping a caller-supplied one', async () => {
    const r = await api.app
      .getHttpAdapter()
      .getInstance()
      .inject({ method: 'GET', url: '/health', headers: { 'x-request-id': 'trace-abc-123' } });
    expect(r.headers['x-request-id']).toBe('trace-abc-123');
    expect((await get('/health')).headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    expect(logger.lines.some((l) => l.includes('"reqId":"trace-abc-123"'))).toBe(true);
  });
});

describe('answers against ground truth', () => {
  it('top flows: every estimate within [truth, truth + ε·N], the true top 5 ranked first, 1 h tier used for whole hours', async () => {
    const from = START;
    const to = END;
    const t = truth(from, to);
    const byTuple = truthByTuple(t.flows);
    const r = await get(`/v1/flows/top?${abs(from, to)}&k=50`);
    expect(r.status).toBe(200);
    const { flows, packets, scope } = r.body;
    const all = await get(`/v1/flows/top?${abs(from, to)}&k=1000`);
    const ranked = new Set<string>([...all.body.certain, ...all.body.possible, ...all.body.flows].map(tupleKey));
    expect(packets.total).toBe(t.packets);
    expect(packets.bound).toBeCloseTo((Math.E / 4096) * t.packets, 6);
    expect(flows).toHaveLength(50);
    for (const f of flows) {
      const truthF = byTuple.get(tupleKey(f))!;
      expect(truthF).toBeDefined();
      expect(f.packets).toBeGreaterThanOrEqual(truthF.packets);
      expect(f.packets - truthF.packets).toBeLessThanOrEqual(f.packetsBound);
      expect(f.bytes).toBeGreaterThanOrEqual(truthF.bytes);
      expect(f.bytes - truthF.bytes).toBeLessThanOrEqual(f.bytesBound);
      // deterministic bounds: the fleet simulator reports candidates as the kernel does (entry estimate + since)
      expect(f.boundsExact).toBe(true);
      expect(f.packetsLower).toBeLessThanOrEqual(truthF.packets);
      expect(f.packetsUpper).toBeGreaterThanOrEqual(truthF.packets);
      expect(f.bytesLower).toBeLessThanOrEqual(truthF.bytes);
      expect(f.bytesUpper).toBeGreaterThanOrEqual(truthF.bytes);
      expect(f.packetsLowerProbable).toBeGreaterThanOrEqual(f.packetsLower);
    }
    const top5 = [...byTuple.entries()]
      .sort((a, b) => b[1].packets - a[1].packets)
      .slice(0, 5)
      .map(([k]) => k);
    expect(flows.slice(0, 5).map(tupleKey)).toEqual(top5);
    // Every flow left out of the candidates is within the floor the answer states.
    expect(r.body.completeAbove).toBeGreaterThan(0);
    // The 1 h rows' summaries' share of it: none here beyond 0 (their hours hold fewer than k flows), never above it.
    expect(r.body.summaryError).toBeGreaterThanOrEqual(0);
    expect(r.body.summaryError).toBeLessThanOrEqual(r.body.completeAbove);
    // (a candidate past the 1,000 largest estimates is below the 1,000th estimate)
    const past = Math.max(r.body.completeAbove, all.body.flows[999]?.packets ?? 0);
    for (const [k, f] of byTuple) if (!ranked.has(k)) expect(f.packets).toBeLessThanOrEqual(past);
    const hours = Math.floor(to / 3_600_000) - Math.ceil(from / 3_600_000);
    expect(scope.tiers['1h'] ?? 0).toBe(hours);
    expect((scope.tiers['1h'] ?? 0) * 60 + scope.tiers['1m']).toBe(ROUNDS);
  });

  it('top flows split certain from possible: certain all in the true top k, every true top-k flow above the floor in one of them', async () => {
    for (const [from, to, k, by] of [
      [START, END, 10, 'packets'],
      [START + 7 * MIN, START + 9 * MIN, 25, 'packets'],
      [START, END, 40, 'bytes'],
    ] as const) {
      const t = truthByTuple(truth(from, to).flows);
      const r = await get(`/v1/flows/top?${abs(from, to)}&k=${k}&by=${by}`);
      expect(r.status).toBe(200);
      const weight = (x: { packets: number; bytes: number }) => (by === 'packets' ? x.packets : x.bytes);
      const order = [...t.entries()].sort((a, b) => weight(b[1]) - weight(a[1]));
      const kth = weight(order[k - 1][1]);
      const trueTop = new Set(order.filter(([, f]) => weight(f) >= kth).map(([key]) => key)); // ties at the k-th
      const { certain, possible, completeAbove, complete, kthLower } = r.body;
      // by bytes the floor assumes maximal frames for flows below the packet threshold: rarely anything is certain
      if (by === 'packets') expect(certain.length).toBeGreaterThan(0);
      for (const f of [...certain, ...possible]) {
        const tf = t.get(tupleKey(f))!;
        expect(weight({ packets: f.packetsLower, bytes: f.bytesLower })).toBeLessThanOrEqual(weight(tf));
        expect(weight({ packets: f.packetsUpper, bytes: f.bytesUpper })).toBeGreaterThanOrEqual(weight(tf));
      }
      for (const f of certain) expect(trueTop.has(tupleKey(f))).toBe(true); // precision 100 %
      const reported = new Set([...certain, ...possible].map(tupleKey));
      for (const [key, f] of order.slice(0, k)) if (weight(f) > completeAbove) expect(reported.has(key)).toBe(true); // recall 100 % above the floor
      expect(complete).toBe(kthLower > completeAbove);
      if (complete) for (const key of trueTop) expect(reported.has(key)).toBe(true);
    }
  }, 60_000);

  it('incremental merges (1 h rows merged once, reused as the range moves) answer exactly like merging anew', async () => {
    const fresh = await createQueryApi({ config: { ...config, mergeCache: false }, storage, logger });
    try {
      const inject = async (a: QueryApi, url: string) =>
        JSON.parse(
          (
            await a.app
              .getHttpAdapter()
              .getInstance()
              .inject({ method: 'GET', url, headers: { authorization: `Bearer ${READ}` } })
          ).body,
        );
      for (let shift = 0; shift < 4; shift++) {
        const to = END - shift * MIN;
        for (const q of [`k=200`, `k=30&by=bytes`]) {
          const url = `/v1/flows/top?${abs(START, to)}&${q}`;
          const [a, b] = await Promise.all([get(url), inject(fresh, url)]);
          expect(a.body.scope.tiers['1h']).toBeGreaterThanOrEqual(1);
          expect(a.body.candidates).toBe(b.candidates);
          expect(a.body.packets).toEqual(b.packets);
          expect(a.body.flows).toEqual(b.flows);
        }
      }
    } finally {
      await fresh.app.close();
    }
  }, 30_000); // 16 rankings, half of them on an API without merge cache: seconds on a loaded machine

  it('top flows by bytes with a protocol and destination-port filter keep only matching flows', async () => {
    const r = await get(`/v1/flows/top?${abs(START, END)}&by=bytes&k=20&protocol=tcp&dstPort=443`);
    expect(r.status).toBe(200);
    expect(r.body.flows.length).toBeGreaterThan(0);
    for (const f of r.body.flows) {
      expect(f.protocol).toBe(6);
      expect(f.dstPort).toBe(443);
    }
    const bytes = r.body.flows.map((f: { bytes: number }) => f.bytes);
    expect([...bytes].sort((a, b) => b - a)).toEqual(bytes);
    const src = await get(`/v1/flows/top?${abs(START, END)}&srcPrefix=172.16.0.0/16&k=100`);
    expect(src.body.flows.length).toBeGreaterThan(0);
    for (const f of src.body.flows) expect(f.src.startsWith('172.16.')).toBe(true);
  });

  it('point estimate of a 5-tuple lies in [truth, truth + ε·N]; an unseen flow is bounded by ε·N', async () => {
    const from = START + 10 * MIN;
    const to = START + 40 * MIN;
    const t = truthByTuple(truth(from, to).flows);
    const [key, f] = [...t.entries()].sort((a, b) => b[1].packets - a[1].packets)[7];
    const [src, dst, sp, dp, proto] = key.split('|');
    const r = await get(
      `/v1/flows/estimate?${abs(from, to)}&src=${src}&dst=${dst}&srcPort=${sp}&dstPort=${dp}&protocol=${proto}`,
    );
    expect(r.status).toBe(200);
    expect(r.body.flow.packets).toBeGreaterThanOrEqual(f.packets);
    expect(r.body.flow.packets - f.packets).toBeLessThanOrEqual(r.body.flow.packetsBound);
    expect(r.body.flow.bytes).toBeGreaterThanOrEqual(f.bytes);
    const none = await get(
      `/v1/flows/estimate?${abs(from, to)}&src=192.0.2.1&dst=192.0.2.2&srcPort=1&dstPort=2&protocol=udp`,
    );
    expect(none.body.flow.packets).toBeLessThanOrEqual(none.body.flow.packetsBound);
    expect(none.body.flow.packetsLower).toBe(0);
  });

  it('prefix estimate covers the true traffic of the shared heavy hitters within flows × ε·N', async () => {
    const t = truth(START, END);
    let trueP = 0;
    for (const [hex, f] of t.flows) if (parseFlowKey(fromHex(hex)).src.startsWith('172.16.')) trueP += f.packets;
    const r = await get(`/v1/prefixes/estimate?${abs(START, END)}&side=src&prefix=172.16.0.0/16`);
    expect(r.status).toBe(200);
    expect(r.body.packets).toBeGreaterThanOrEqual(trueP);
    expect(r.body.packets - trueP).toBeLessThanOrEqual(r.body.packetsBound);
    expect(r.body.packetsLower).toBeLessThanOrEqual(trueP);
  });

  it('cardinality union over the range is within 4 standard errors of the exact distinct counts', async () => {
    const from = START + 5 * MIN;
    const to = END - 5 * MIN;
    const t = truth(from, to);
    const r = await get(`/v1/cardinality?${abs(from, to)}`);
    expect(r.status).toBe(200);
    const check = (v: { estimate: number; standardError: number }, exact: number) => {
      expect(Math.abs(v.estimate - exact)).toBeLessThanOrEqual(4 * v.standardError * exact + 1);
    };
    check(r.body.flows, t.flows.size);
    check(r.body.sources, t.sources.size);
    check(r.body.destinations, t.destinations.size);
    check(r.body.ports, t.ports.size);
    expect(r.body.flows.standardError).toBeCloseTo(1.04 / 128, 6);
    const only = await get(`/v1/cardinality?${abs(from, to)}&metrics=sources`);
    expect(Object.keys(only.body).sort()).toEqual(['scope', 'sources']);
  });

  it('cardinality series: each step is its own union within 4 standard errors; hour steps use the 1 h tier', async () => {
    const from = START + 20 * MIN;
    const to = START + 50 * MIN;
    const r = await get(`/v1/cardinality/series?${abs(from, to)}&step=5m&metrics=flows,ports`);
    expect(r.status).toBe(200);
    expect(r.body.stepSeconds).toBe(300);
    const points = r.body.series.flows as { t: string; value: { estimate: number; standardError: number } | null }[];
    for (const p of points) {
      const b = Date.parse(p.t);
      const exact = truth(Math.max(b, from), Math.min(b + 5 * MIN, to)).flows.size;
      if (exact === 0) continue;
      expect(Math.abs(p.value!.estimate - exact)).toBeLessThanOrEqual(4 * p.value!.standardError * exact + 1);
    }
    const hourly = await get(`/v1/cardinality/series?${abs(START, END)}&step=1h&metrics=flows`);
    expect(hourly.body.scope.tiers['1h']).toBeGreaterThanOrEqual(1);
  });

  it('traffic series totals are exact per protocol and in sum', async () => {
    const t = truth(START, END);
    const r = await get(`/v1/traffic/series?${abs(START, END)}&step=10m`);
    expect(r.status).toBe(200);
    const sum = (a: number[]) => a.reduce((x, y) => x + y, 0);
    expect(sum(r.body.total.packets)).toBe(t.packets);
    expect(sum(r.body.total.bytes)).toBe(t.bytes);
    for (const p of r.body.protocols) {
      expect(sum(p.packets)).toBe(t.protocols.get(p.protocol)!.packets);
      expect(sum(p.bytes)).toBe(t.protocols.get(p.protocol)!.bytes);
    }
    const udp = await get(`/v1/traffic/series?${abs(START, END)}&step=10m&protocol=udp`);
    expect(udp.body.protocols.map((p: { protocol: number }) => p.protocol)).toEqual([17]);
    expect(sum(udp.body.total.packets)).toBe(t.protocols.get(17)!.packets);
  });

  it('hosts: exact totals, last seen at the end of the data; a host filter narrows and reports exactness', async () => {
    const t = truth(START, END);
    const r = await get(`/v1/hosts?${abs(START, END)}`);
    expect(r.body.hosts).toHaveLength(HOSTS);
    for (const h of r.body.hosts) {
      expect(h.packets).toBe(t.hosts.get(h.host)!.packets);
      expect(h.bytes).toBe(t.hosts.get(h.host)!.bytes);
      expect(h.lastSeen).toBe(iso(END));
      expect(h.gaps).toBe(0);
      expect(h.snapshots).toBe(ROUNDS);
      expect(h.agentVersion).toBe('fleet-sim'); // what the simulated agents put in their snapshots
    }
    const one = r.body.hosts[3].host;
    const f = await get(`/v1/hosts?${abs(START, END)}&hosts=${one}`);
    expect(f.body.hosts.map((h: { host: string }) => h.host)).toEqual([one]);
    // Partials are per partition: one host's sketches are merged with its partition's other hosts.
    const top = await get(`/v1/flows/top?${abs(START, END)}&hosts=${one}`);
    expect(top.body.scope.hosts).toEqual([one]);
    expect(top.body.scope.exact).toBe(false);
    expect(top.body.scope.coveredHosts).toContain(one);
    expect(top.body.scope.tiers['1h']).toBeUndefined();
    const covered = top.body.scope.coveredHosts as string[];
    const all = await get(`/v1/flows/top?${abs(START, END)}&hosts=${covered.join(',')}`);
    expect(all.body.scope.exact).toBe(true);
    expect(all.body.packets.total).toBe(covered.reduce((s, h) => s + t.hosts.get(h)!.packets, 0));
  });

  it('heavy hitters: every source /32 with at least φ·N true packets is covered by a reported prefix', async () => {
    const t = truth(START, END);
    const phi = 0.02;
    const r = await get(`/v1/heavy-hitters?${abs(START, END)}&side=src&phi=${phi}`);
    expect(r.status).toBe(200);
    expect(r.body.total).toBe(t.packets);
    const perSrc = new Map<string, number>();
    for (const [hex, f] of t.flows) {
      const src = parseFlowKey(fromHex(hex)).src;
      perSrc.set(src, (perSrc.get(src) ?? 0) + f.packets);
    }
    const heavy = [...perSrc].filter(([, p]) => p >= phi * t.packets);
    expect(heavy.length).toBeGreaterThan(0);
    const prefixes = r.body.prefixes as { prefix: string; length: number; weight: number }[];
    for (const [src] of heavy) {
      expect(prefixes.some((p) => p.prefix === `${src}/32`)).toBe(true);
    }
    for (const p of prefixes) expect(p.weight).toBeGreaterThanOrEqual(phi * t.packets - 1e-6);
    expect(r.body.icicle.find((n: { length: number }) => n.length === 8)).toBeDefined();
  });

  it('a relative range finds the latest windows', async () => {
    const r = await get('/v1/cardinality?range=15m');
    // The data ends at the minute the suite started; the suite itself takes under a minute or two.
    expect(r.body.scope.tiers['1m']).toBeGreaterThanOrEqual(12);
    expect(r.body.flows.estimate).toBeGreaterThan(0);
  });
});

describe('GraphQL', () => {
  it('answers the same as REST from the same services', async () => {
    const q = `query($from: Instant, $to: Instant) { topFlows(from: $from, to: $to, k: 5, by: bytes) { scope { tiers { tier windows } exact } flows { src dst srcPort dstPort protocol bytes bytesBound } bytes { total bound } }
      cardinality(from: $from, to: $to) { sources { estimate standardError } } }`;
    const g = await gql(q, { from: iso(START), to: iso(END) });
    expect(g.status).toBe(200);
    expect(g.body.errors).toBeUndefined();
    const rest = await get(`/v1/flows/top?${abs(START, END)}&k=5&by=bytes`);
    expect(g.body.data.topFlows.flows.map((f: { bytes: number }) => f.bytes)).toEqual(
      rest.body.flows.map((f: { bytes: number }) => f.bytes),
    );
    expect(g.body.data.topFlows.bytes.total).toBe(rest.body.bytes.total);
    const card = await get(`/v1/cardinality?${abs(START, END)}&metrics=sources`);
    expect(g.body.data.cardinality.sources.estimate).toBe(card.body.sources.estimate);
    const s = await gql(
      `{ trafficSeries(range: "30m", step: "10m") { times total { packets } } hosts(range: "30m") { hosts { host packets } } heavyHitters(range: "1h", phi: 0.1) { prefixes { prefix } } cardinalitySeries(range: "30m", step: "15m", metrics: [flows]) { series { metric points { t value { estimate } } } } }`,
    );
    expect(s.body.errors).toBeUndefined();
    expect(s.body.data.hosts.hosts).toHaveLength(HOSTS);
    expect(s.body.data.cardinalitySeries.series[0].metric).toBe('flows');
  });

  it('serves the schema and introspection, and refuses deep, costly and invalid operations', async () => {
    const intro = await gql('{ __schema { queryType { name } types { name } } }');
    expect(intro.body.data.__schema.queryType.name).toBe('Query');
    expect((await get('/graphql/schema')).body).toContain('type TopFlows');
    const full = await gql(
      '{ __schema { types { fields { type { ofType { ofType { ofType { ofType { name } } } } } } } } }',
    );
    expect(full.status).toBe(200); // introspection is exempt from the depth limit
    const deep = await gql('{ a { b { c { d { e { f { g { h } } } } } } } }');
    expect(deep.status).toBe(400);
    expect(deep.body.errors[0].message).toMatch(/depth/);
    const costly = await gql(
      '{ a: topFlows(k: 1000) { flows { src dst srcPort dstPort protocol packets bytes packetsBound bytesBound confidence } } b: topFlows(k: 1000) { flows { src dst srcPort dstPort protocol packets bytes packetsBound bytesBound confidence } } c: topFlows(k: 1000) { flows { src dst packets } } }',
    );
    expect(costly.status).toBe(400);
    expect(costly.body.errors[0].message).toMatch(/complexity/);
    const bad = await gql('{ topFlows(k: 5000) { k } }');
    expect(bad.body.errors[0].extensions).toEqual({ code: 'BAD_USER_INPUT', field: 'k' });
    const badRange = await gql('{ cardinality(range: "yesterday") { flows { estimate } } }');
    expect(badRange.body.errors[0].extensions.field).toBe('range');
    expect((await gql('{ nope }')).status).toBe(400);
    expect((await gql('{')).status).toBe(400);
  });
});

describe('bad input: a 400 naming the field, on every parameter', () => {
  const R = `from=${encodeURIComponent(new Date(Date.now() - 3_600_000).toISOString())}`;
  const cases: [string, string][] = [
    ['/v1/flows/top?range=15x', 'range'],
    ['/v1/flows/top?range=0m', 'range'],
    ['/v1/flows/top?range=40d', 'range'],
    ['/v1/flows/top?range=1h&from=2026-01-01T00:00:00Z', 'range'],
    ['/v1/flows/top?from=yesterday', 'from'],
    ['/v1/flows/top?from=2026-13-45T00:00:00Z', 'from'],
    ['/v1/flows/top?to=2026-01-01T00:00:00Z', 'to'],
    [`/v1/flows/top?${R}&to=2000-01-01T00:00:00Z`, 'to'],
    ['/v1/flows/top?k=0', 'k'],
    ['/v1/flows/top?k=1001', 'k'],
    ['/v1/flows/top?k=ten', 'k'],
    ['/v1/flows/top?by=flows', 'by'],
    ['/v1/flows/top?hosts=bad%20host', 'hosts'],
    ['/v1/flows/top?protocol=smtp', 'protocol'],
    ['/v1/flows/top?protocol=300', 'protocol'],
    ['/v1/flows/top?srcPort=70000', 'srcPort'],
    ['/v1/flows/top?dstPort=-1', 'dstPort'],
    ['/v1/flows/top?srcPrefix=10.0.0.0/33', 'srcPrefix'],
    ['/v1/flows/top?dstPrefix=10.0.0.1/8', 'dstPrefix'],
    ['/v1/flows/top?dstPrefix=banana', 'dstPrefix'],
    ['/v1/flows/top?limit=5', 'limit'],
    ['/v1/flows/top?k=5&k=6', 'k'],
    ['/v1/flows/estimate?dst=1.1.1.1&srcPort=1&dstPort=2&protocol=tcp', 'src'],
    ['/v1/flows/estimate?src=1.1.1.1&dst=1.1.1&srcPort=1&dstPort=2&protocol=tcp', 'dst'],
    ['/v1/flows/estimate?src=1.1.1.1&dst=1.1.1.2&dstPort=2&protocol=tcp', 'srcPort'],
    ['/v1/flows/estimate?src=1.1.1.1&dst=1.1.1.2&srcPort=1&protocol=tcp', 'dstPort'],
    ['/v1/flows/estimate?src=1.1.1.1&dst=1.1.1.2&srcPort=1&dstPort=2', 'protocol'],
    ['/v1/prefixes/estimate?prefix=10.0.0.0/8', 'side'],
    ['/v1/prefixes/estimate?side=up&prefix=10.0.0.0/8', 'side'],
    ['/v1/prefixes/estimate?side=src', 'prefix'],
    ['/v1/prefixes/estimate?side=src&prefix=10.0.0.0/8&dstPort=80', 'dstPort'],
    ['/v1/cardinality?metrics=flows,packets', 'metrics'],
    ['/v1/cardinality?protocol=tcp', 'protocol'],
    ['/v1/cardinality/series?step=30s', 'step'],
    ['/v1/cardinality/series?step=90s', 'step'],
    ['/v1/cardinality/series?range=7d&step=1m', 'step'],
    ['/v1/cardinality/series?step=5x', 'step'],
    ['/v1/heavy-hitters?phi=1', 'phi'],
    ['/v1/heavy-hitters?phi=0', 'phi'],
    ['/v1/heavy-hitters?phi=abc', 'phi'],
    ['/v1/heavy-hitters?side=both', 'side'],
    ['/v1/heavy-hitters?by=count', 'by'],
    ['/v1/traffic/series?step=0m', 'step'],
    ['/v1/traffic/series?protocol=999', 'protocol'],
    ['/v1/traffic/series?srcPrefix=10.0.0.0/8', 'srcPrefix'],
    ['/v1/hosts?hosts=' + 'h,'.repeat(1001), 'hosts'],
    ['/v1/hosts?range=1q', 'range'],
  ];
  it.each(cases.map(([url, field]) => ({ url, field, name: url.slice(0, 90) })))(
    '$name → 400 on $field',
    async ({ url, field }) => {
      const r = await get(url);
      expect(r.status).toBe(400);
      expect(r.body.field).toBe(field);
      expect(r.body.message).toMatch(new RegExp(`^${field}: `));
      expect(r.body.requestId).toBeDefined();
    },
  );
});

describe('OpenAPI and metrics', () => {
  it('the served document is valid OpenAPI and lists every /v1 route with bearer auth', async () => {
    const doc = (await get('/docs/openapi.json', null)).body;
    // The validator is an ES module (Jest here loads CommonJS): run it in a child Node process on the served document.
    const file = join(dataDir, 'openapi.json');
    const broken = join(dataDir, 'broken.json');
    writeFileSync(file, JSON.stringify(doc));
    // The same document with a required member removed must fail: the validator really checks.
    writeFileSync(broken, JSON.stringify({ ...doc, info: undefined }));
    const script = `import('@seriousme/openapi-schema-validator').then(async ({ Validator }) => {
      const out = [];
      for (const f of process.argv.slice(1)) {
        const r = await new Validator().validate(JSON.parse(require('node:fs').readFileSync(f, 'utf8')));
        out.push({ valid: r.valid, errors: r.errors ?? [] });
      }
      process.stdout.write(JSON.stringify(out));
    })`;
    const [good, bad] = JSON.parse(
      execFileSync(process.execPath, ['-e', script, file, broken], { cwd: __dirname, encoding: 'utf8' }),
    );
    expect(good.errors).toEqual([]);
    expect(good.valid).toBe(true);
    expect(bad.valid).toBe(false);
    expect(doc.openapi).toMatch(/^3\./);
    expect(Object.keys(doc.paths).sort()).toEqual(
      [
        '/v1/cardinality',
        '/v1/cardinality/series',
        '/v1/flows/estimate',
        '/v1/flows/top',
        '/v1/heavy-hitters',
        '/v1/hosts',
        '/v1/mitigation/rules',
        '/v1/mitigation/rules/{id}',
        '/v1/mitigation/rules/{id}/approve',
        '/v1/mitigation/rules/{id}/reject',
        '/v1/mitigation/rules/{id}/remove',
        '/v1/prefixes/estimate',
        '/v1/sql',
        '/v1/threats',
        '/v1/traffic/series',
      ].sort(),
    );
    expect(doc.components.securitySchemes.bearer.scheme).toBe('bearer');
    const page = await get('/docs', null);
    expect(page.status).toBe(200);
    expect(String(page.body)).toContain('swagger');
  });

  it('exposes Prometheus metrics for requests, auth failures and the sketch cache', async () => {
    const m = String((await get('/metrics')).body);
    expect(m).toMatch(/tma_api_requests_total\{method="GET",route="\/v1\/flows\/top",status="200"\} \d+/);
    expect(m).toMatch(/tma_api_auth_failures_total\{reason="missing"\} \d+/);
    expect(m).toMatch(/tma_api_sketch_cache_total\{result="hit"\} \d+/);
    expect(m).toMatch(/tma_api_request_duration_seconds_bucket/);
  });
});

describe('rows written while serving', () => {
  it('a new partial row reaches answers within an index refresh; merged results for the old set are not reused', async () => {
    const url = `/v1/flows/top?${abs(START, END + MIN)}&k=1`;
    const before = (await get(url)).body.packets.total;
    expect(before).toBe(truth(START, END).packets);
    const late = sim.nextRoundSnapshots(); // one more minute of every host, as a late partial for a new window
    const rows = buildPartials(late, 4);
    await writePartials(storage, rows);
    const added = late.reduce((s, x) => s + x.totals.packets, 0);
    const deadline = Date.now() + 10_000;
    let after = before;
    while (after === before && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 250));
      after = (await get(url)).body.packets.total;
    }
    expect(after).toBe(before + added);
  });
});
