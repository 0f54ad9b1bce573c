// The hash seed on the query side, on the real engine (embedded chDB): rows stored by a fleet with a secret seed are
// answered by a query API with that seed (a flow's point estimate hashes its key with it, so it finds the flow's
// cells) and refused by one with another seed — never merged or read under the wrong key.
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

class Capture extends JsonLogger {
  readonly lines: string[] = [];
  override write(level: string, msg: string, fields: Record<string, unknown> = {}): void {
    this.lines.push(JSON.stringify({ level, msg, ...fields }));
  }
}
const logger = new Capture();

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

it('with another seed, refuses the stored rows instead of merging or reading them under its key', async () => {
  await start(otherSeed);
  for (const url of [`/v1/flows/top?${range}&k=1`, `/v1/cardinality?${range}`]) {
    const r = await get(url);
    expect({ url, status: r.status }).toEqual({ url, status: 500 });
    expect(r.body.message).toMatch(/another hash seed/);
  }
  // the log names both identities, never a seed
  const want = `seed hash 0x${fleetSeed.seedHash.toString(16)} differs from this fleet's 0x${otherSeed.seedHash.toString(16)}`;
  expect(logger.lines.some((l) => l.includes(want))).toBe(true);
});
