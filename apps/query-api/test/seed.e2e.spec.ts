// The hash seed on the query side, on the real engine (embedded chDB): rows stored by a fleet with a secret seed are
// answered by a query API with that seed (a flow's point estimate hashes its key with it, so it finds the flow's
// cells) and left out by one with another seed (after a rotation) — never merged or read under the wrong key; the
// answer's scope counts the windows left out.
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expandHashSeed, PUBLIC_HASH_KEY, useHashSeed, type HashSeed } from '@tma/sketch';
import { applyMigrations, createStorage, type Storage } from '@tma/storage';
import { createQueryApi, type QueryApi } from '../src/app';
import { JsonLogger } from '../src/observability';
import { seedFleet, tearDown, testConfig } from './fixture';

const TOKEN = 'seed-reader-0123456789';
const dataDir = mkdtempSync(join(tmpdir(), 'tma-query-api-seed-'));
const database = `tma_qseed_${process.pid}_${randomBytes(3).toString('hex')}`;
const MIN = 60_000;
const END = Math.floor(Date.now() / MIN) * MIN;
const START = END - 5 * MIN;
const range = `from=${encodeURIComponent(new Date(START).toISOString())}&to=${encodeURIComponent(new Date(END).toISOString())}`;

const logger = new JsonLogger('query-api', true);

const fleetSeed = expandHashSeed(randomBytes(8).readBigUInt64LE(0));
const otherSeed = expandHashSeed(randomBytes(8).readBigUInt64LE(0));
let storage: Storage;
let api: QueryApi | undefined;

async function start(seed: HashSeed): Promise<void> {
  await api?.app.close();
  api = await createQueryApi({
    config: testConfig(`reader:${TOKEN}`, { hashSeed: { seed, source: 'test', warnings: [] } }),
    storage,
    logger,
  });
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
async function get(url: string): Promise<{ status: number; body: any }> {
  const r = await api!.app
    .getHttpAdapter()
    .getInstance()
    .inject({ method: 'GET', url, headers: { authorization: `Bearer ${TOKEN}` } });
  return { status: r.statusCode, body: JSON.parse(r.body) };
}

beforeAll(async () => {
  storage = await createStorage({ kind: 'chdb', path: dataDir, database });
  await applyMigrations(storage);
  // the fleet's snapshots and their stored rows, hashed with the fleet's seed
  useHashSeed(fleetSeed);
  await seedFleet(storage, { hosts: 4, seed: 3, startMs: START, rounds: 5, packetsPerInterval: 2000, partitions: 2 });
}, 120_000);

afterAll(async () => {
  await tearDown(api, storage, dataDir);
  useHashSeed(PUBLIC_HASH_KEY);
});

it('with the fleet seed, answers: the top flow point estimate finds at least its counted packets', async () => {
  await start(fleetSeed);
  const top = await get(`/v1/flows/top?${range}&k=1`);
  expect(top.status).toBe(200);
  const f = top.body.flows[0];
  const est = await get(
    `/v1/flows/estimate?${range}&src=${f.src}&dst=${f.dst}&srcPort=${f.srcPort}&dstPort=${f.dstPort}&protocol=${f.protocol}`,
  );
  expect(est.status).toBe(200);
  expect(est.body.flow.packets).toBeGreaterThanOrEqual(f.packets);
  expect((await get(`/v1/cardinality?${range}`)).status).toBe(200);
});

it('with another seed, leaves the stored rows out (never merged or read under its key) and says how many windows', async () => {
  await start(otherSeed);
  const top = await get(`/v1/flows/top?${range}&k=1`);
  expect(top.status).toBe(200);
  expect(top.body.flows).toEqual([]);
  expect(top.body.packets.total).toBe(0);
  expect(top.body.scope.otherSeedWindows).toBe(5);
  expect(top.body.scope.tiers).toEqual({});
  const card = await get(`/v1/cardinality?${range}`);
  expect(card.status).toBe(200);
  expect(card.body.flows.estimate).toBe(0);
  expect(card.body.scope.otherSeedWindows).toBe(5);
  // with the fleet's seed again, the same rows answer and nothing is left out
  await start(fleetSeed);
  const again = await get(`/v1/flows/top?${range}&k=1`);
  expect(again.body.flows).toHaveLength(1);
  expect(again.body.scope.otherSeedWindows).toBeUndefined();
});
