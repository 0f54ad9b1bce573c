// Heavy prefixes end to end on the real ClickHouse engine (embedded chDB): simulated hosts (tools/fleet-sim) with
// Zipf traffic and a spoofed flood of one-packet flows into one /24 spread over three hosts, merged into partial rows
// as the aggregator stores them (1 min and 1 h rows). The heavy-hitters answer (REST and GraphQL) reports the /24 from
// the counted prefixes at φ = 1 % with lower ≤ truth ≤ upper and as certain, while the hierarchical heavy hitters
// built from flow candidates cannot see it.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { FleetSimulator, type ExtraFlow } from '@tma/fleet-sim';
import { applyMigrations, createStorage, type Storage } from '@tma/storage';
import { createQueryApi, type QueryApi } from '../src/app';
import { JsonLogger } from '../src/observability';
import { buildPartials, tearDown, testConfig, writePartials } from './fixture';

const READ = 'reader-secret-000111222333';
const dataDir = mkdtempSync(join(tmpdir(), 'tma-query-api-prefixes-'));
const database = `tma_qapi_pfx_${process.pid}_${randomBytes(3).toString('hex')}`;
const MIN = 60_000;
const ROUNDS = 8;
const END = Math.floor(Date.now() / MIN) * MIN;
const START = END - ROUNDS * MIN;
const FLOOD_HOSTS = new Set(['sim-host-00001', 'sim-host-00003', 'sim-host-00004']);
const FLOWS_PER_ROUND = 250;

let storage: Storage;
let api: QueryApi;
let floodPackets = 0;
let totalPackets = 0;

/** Every round, on each flood host: 250 flows of one packet, spoofed sources, into 198.51.100.0/24. */
function flood(hostId: string, round: number): ExtraFlow[] {
  if (!FLOOD_HOSTS.has(hostId)) return [];
  const out: ExtraFlow[] = [];
  for (let i = 0; i < FLOWS_PER_ROUND; i++) {
    const x = (round * 7919 + i * 104729 + hostId.length * 31) >>> 0;
    out.push({
      src: `${1 + (x % 200)}.${(x >>> 3) & 255}.${(x >>> 11) & 255}.${(i * 13) & 255}`,
      dst: `198.51.100.${(x >>> 5) & 255}`,
      sport: 1024 + ((x >>> 7) % 60000),
      dport: 80,
      proto: 17,
      packets: 1,
      pktBytes: 60,
    });
  }
  return out;
}

beforeAll(async () => {
  storage = await createStorage({ kind: 'chdb', path: dataDir, database });
  await applyMigrations(storage);
  const sim = new FleetSimulator({ hosts: 6, seed: 3, intervalMs: MIN, startMs: START, packetsPerInterval: 4000 });
  sim.extraTraffic = flood;
  const snaps = [];
  for (let r = 0; r < ROUNDS; r++) snaps.push(...sim.nextRoundSnapshots());
  for (const s of snaps) totalPackets += s.totals.packets;
  expect(snaps.filter((s) => FLOOD_HOSTS.has(s.hostId))).toHaveLength(ROUNDS * FLOOD_HOSTS.size);
  floodPackets = ROUNDS * FLOOD_HOSTS.size * FLOWS_PER_ROUND;
  await writePartials(storage, buildPartials(snaps, 2));
  api = await createQueryApi({ config: testConfig(`reader:${READ}`), storage, logger: new JsonLogger() });
}, 180_000);

afterAll(() => tearDown(api, storage, dataDir));

async function inject(method: 'GET' | 'POST', url: string, payload?: unknown) {
  const r = await api.app
    .getHttpAdapter()
    .getInstance()
    .inject({
      method,
      url,
      headers: { authorization: `Bearer ${READ}`, 'content-type': 'application/json' },
      payload: payload === undefined ? undefined : JSON.stringify(payload),
    });
  return { status: r.statusCode, body: JSON.parse(r.body) };
}

const iso = (ms: number) => new Date(ms).toISOString();

describe('heavy prefixes from prefix counts', () => {
  it('a one-packet-per-flow flood into one /24 is reported at φ = 1 % with lower ≤ truth ≤ upper (REST)', async () => {
    const r = await inject('GET', `/v1/heavy-hitters?from=${iso(START)}&to=${iso(END)}&side=dst&phi=0.01`);
    expect(r.status).toBe(200);
    expect(r.body.total).toBe(totalPackets);
    expect(floodPackets).toBeGreaterThan(0.01 * totalPackets);
    const counted = r.body.counted;
    const p = counted.prefixes.find((x: { prefix: string }) => x.prefix === '198.51.100.0/24');
    expect(p).toBeDefined();
    expect([p.lower <= floodPackets, floodPackets <= p.upper]).toEqual([true, true]);
    expect(p.certain).toBe(true);
    expect(p.side).toBe('dst');
    // every level states its floor; the IPv4 /24 level is complete at this threshold
    const l24 = counted.levels.find((l: { family: number; length: number }) => l.family === 4 && l.length === 24);
    expect(l24.floor).toBeLessThan(r.body.threshold);
    expect(l24.complete).toBe(true);
    // the flows of the flood are one packet each: the heavy hitters built from flow candidates do not see the /24
    expect(r.body.prefixes.some((x: { prefix: string }) => x.prefix.startsWith('198.51.100.'))).toBe(false);
  });

  it('GraphQL gives the same counted prefixes', async () => {
    const q = `query($from: Instant, $to: Instant) { heavyHitters(from: $from, to: $to, side: dst, phi: 0.01) {
      threshold counted { complete levels { family length floor complete } prefixes { prefix side family length lower upper certain } } } }`;
    const g = await inject('POST', '/graphql', { query: q, variables: { from: iso(START), to: iso(END) } });
    expect(g.status).toBe(200);
    expect(g.body.errors).toBeUndefined();
    const rest = await inject('GET', `/v1/heavy-hitters?from=${iso(START)}&to=${iso(END)}&side=dst&phi=0.01`);
    expect(g.body.data.heavyHitters.counted).toEqual(rest.body.counted);
  });

  it('with a flow filter the counted prefixes are null (they cannot be filtered by flow)', async () => {
    const r = await inject('GET', `/v1/heavy-hitters?from=${iso(START)}&to=${iso(END)}&side=dst&phi=0.01&dstPort=80`);
    expect(r.status).toBe(200);
    expect(r.body.counted).toBeNull();
  });
});
