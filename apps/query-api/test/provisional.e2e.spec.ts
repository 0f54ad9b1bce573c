// Provisional windows end to end: the query API hosting the aggregator (single-machine mode) on embedded chDB,
// snapshots from the fleet simulator through the real Kafka broker. Data of a window still open shows in the answers,
// marked provisional, while no final row of it exists; once the window is written as final, the answers equal the
// ground truth exactly although the provisional rows are still stored (never counted twice).
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { chromium } from 'playwright-core';
import { aggregatorNestModule, patchKafkajsIdleTimers } from '@tma/aggregation';
import { FleetSimulator, sendMessages } from '@tma/fleet-sim';
import { snapshotTopic } from '@tma/schema';
import { openTestStore, type TestStore } from '@tma/storage/testing';
import { createQueryApi, type QueryApi } from '../src/app';
import { JsonLogger } from '../src/observability';
import { testConfig } from './fixture';

jest.setTimeout(180_000);

const TOKEN = 'provisional-reader-0011223344';
const CHROMIUM = '/usr/bin/chromium';
const MIN = 60_000;
// The current minute: the snapshots are recent (the provisional rows expire an hour after their window).
const W = Math.floor(Date.now() / MIN) * MIN;
const prefix = `tlive${randomBytes(4).toString('hex')}`;
const brokers = (process.env.TMA_KAFKA_BROKERS ?? '127.0.0.1:9092').split(',');
const kafka = new Kafka({ brokers, clientId: 'tma-provisional-test', logLevel: logLevel.NOTHING });
const sim = new FleetSimulator({ hosts: 4, seed: 31, startMs: W, intervalMs: 10_000, packetsPerInterval: 2000 });

class QuietLogger extends JsonLogger {
  override write(_level: string, msg: string, fields: Record<string, unknown> = {}): void {
    if (msg === 'request failed') process.stderr.write(`${msg} ${JSON.stringify(fields)}\n`);
  }
}

let store: TestStore;
let api: QueryApi;

// eslint-disable-next-line @typescript-eslint/no-explicit-any
async function get(url: string): Promise<any> {
  const r = await api.app
    .getHttpAdapter()
    .getInstance()
    .inject({ method: 'GET', url, headers: { authorization: `Bearer ${TOKEN}` } });
  if (r.statusCode !== 200) throw new Error(`${url}: ${r.statusCode} ${r.body}`);
  return JSON.parse(r.body);
}

async function waitFor<T>(what: string, fn: () => Promise<T | undefined>, ms = 60_000): Promise<T> {
  const end = Date.now() + ms;
  let last: unknown;
  while (Date.now() < end) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`timed out waiting for ${what} (${String(last ?? '')})`);
}

const sum = (a: number[]) => a.reduce((x, y) => x + y, 0);
const range = `from=${W - MIN}&to=${W + 3 * MIN}`;
const count = async (table: string, ws: number) =>
  Number(
    (
      await store.storage.query<{ n: string }>(
        `SELECT count() AS n FROM {database}.${table} FINAL WHERE window_start = {ws:DateTime}`,
        { ws: new Date(ws) },
      )
    )[0].n,
  );

async function send(rounds: number): Promise<void> {
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  for (let r = 0; r < rounds; r++) await sendMessages(producer, snapshotTopic(prefix), sim.nextRound());
  await producer.disconnect();
}

beforeAll(async () => {
  patchKafkajsIdleTimers();
  store = await openTestStore('provisional_api');
  const env = {
    TMA_KAFKA_BROKERS: brokers.join(','),
    TMA_TOPIC_PREFIX: prefix,
    TMA_AGG_GROUP_ID: `${prefix}-group`,
    TMA_AGG_TOPIC_PARTITIONS: '2',
    // Windows close on the watermark only (never idle within the test), so "still open" is deterministic.
    TMA_AGG_IDLE_CLOSE: '10m',
    TMA_AGG_TTL_PROVISIONAL: '1h',
    TMA_AGG_PROVISIONAL_INTERVAL: '500ms',
  };
  api = await createQueryApi({
    config: testConfig(`reader:${TOKEN}`, { indexRefreshMs: 250 }),
    storage: store.storage,
    logger: new QuietLogger(),
    imports: [aggregatorNestModule({ storage: store.storage, env, defaultMetrics: false })],
  });
});

afterAll(async () => {
  await api?.app.close();
  await store?.close();
  const admin = kafka.admin();
  await admin.connect().catch(() => undefined);
  await admin.deleteTopics({ topics: [snapshotTopic(prefix)] }).catch(() => undefined);
  await admin.disconnect().catch(() => undefined);
});

describe('provisional windows', () => {
  it('shows an open window within seconds, marked provisional, before any final row of it exists', async () => {
    await send(3); // 30 s of the window's 60: it stays open (watermark W + 30 s, lateness 30 s)
    const want = sim.truth.windows.get(W)!;
    const traffic = await waitFor('the open window in the traffic series', async () => {
      const r = await get(`/v1/traffic/series?${range}&step=1m`);
      return sum(r.total.packets) === want.packets ? r : undefined;
    });
    expect(await count('agg_partials', W)).toBe(0); // nothing final yet: the figures came from provisional rows
    expect(traffic.scope.provisionalFrom).toBe(new Date(W).toISOString());
    expect(traffic.total.packets[1]).toBe(want.packets);
    expect(sum(traffic.total.bytes)).toBe(want.bytes);

    const top = await get(`/v1/flows/top?${range}&k=5`);
    expect(top.scope.provisionalFrom).toBe(new Date(W).toISOString());
    expect(top.packets.total).toBe(want.packets);
    const hosts = await get(`/v1/hosts?${range}`);
    expect(hosts.scope.provisionalFrom).toBe(new Date(W).toISOString());
    expect(sum(hosts.hosts.map((h: { packets: number }) => h.packets))).toBe(want.packets);
    expect(sum(hosts.hosts.map((h: { snapshots: number }) => h.snapshots))).toBe(12);
    const gql = await api.app
      .getHttpAdapter()
      .getInstance()
      .inject({
        method: 'POST',
        url: '/graphql',
        headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
        payload: JSON.stringify({
          query: `{ cardinality(from: "${new Date(W - MIN).toISOString()}", to: "${new Date(W + 3 * MIN).toISOString()}") { scope { provisionalFrom } flows { estimate } } }`,
        }),
      });
    const card = JSON.parse(gql.body);
    expect(card.data.cardinality.scope.provisionalFrom).toBe(new Date(W).toISOString());
    expect(card.data.cardinality.flows.estimate).toBeGreaterThan(0);

    // The dashboard marks the open window: shaded from its point on, its points dashed, a note by the totals.
    if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: ./tma setup installs Debian's chromium`);
    await api.app.listen(0, '127.0.0.1');
    const { port } = api.app.getHttpServer().address() as AddressInfo;
    const profile = mkdtempSync(join(tmpdir(), 'tma-chromium-live-'));
    const browser = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'],
    });
    try {
      const page = await browser.newPage();
      const view = `from=${new Date(W - MIN).toISOString()}&to=${new Date(W + 3 * MIN).toISOString()}&refresh=0`;
      await page.goto(`http://127.0.0.1:${port}/dashboard?${view}#token=${TOKEN}`);
      await page.waitForSelector('body[data-loaded="1"]');
      expect(Number(await page.getAttribute('#kpi-packets', 'data-value'))).toBe(want.packets);
      expect(await page.textContent('#kpi-packets-note')).toMatch(/provisional from/);
      expect(await page.locator('#traffic-chart svg rect.provisional').count()).toBe(1);
      // Buckets from the open window's minute to the range's end (3 of the 4), one dot per drawn series.
      const dots = await page.locator('#traffic-chart svg circle[data-provisional="total"]').count();
      expect(dots).toBe(3);
      expect(await page.locator('#card-chart svg rect.provisional').count()).toBe(1);
    } finally {
      await browser.close();
      rmSync(profile, { recursive: true, force: true });
    }
  });

  it('once the window is final its totals equal the ground truth exactly, the provisional rows still stored', async () => {
    await send(7); // up to W + 100 s: the watermark passes the window's end plus the lateness
    const want = sim.truth.windows.get(W)!;
    const final = await waitFor('the window written as final', async () => {
      if ((await count('agg_partials', W)) === 0) return undefined;
      const r = await get(`/v1/traffic/series?${range}&step=1m`);
      // The next window is still open: the answer is provisional from there, and holds everything sent.
      return r.scope.provisionalFrom === new Date(W + MIN).toISOString() &&
        sum(r.total.packets) === sim.truth.totals().packets
        ? r
        : undefined;
    });
    expect(await count('agg_provisional', W)).toBeGreaterThan(0); // still there, hidden by the final rows
    expect(final.total.packets[1]).toBe(want.packets);
    expect(final.total.bytes[1]).toBe(want.bytes);
    expect(sum(final.total.packets)).toBe(sim.truth.totals().packets);
    const hosts = await get(`/v1/hosts?${range}`);
    expect(sum(hosts.hosts.map((h: { snapshots: number }) => h.snapshots))).toBe(sim.truth.totals().snapshots);
    const top = await get(`/v1/flows/top?from=${W}&to=${W + MIN}&k=5`);
    expect(top.scope.provisionalFrom).toBeNull();
    expect(top.packets.total).toBe(want.packets);
  });
});
