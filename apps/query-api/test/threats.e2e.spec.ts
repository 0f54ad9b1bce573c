// Threat alerts served over REST and GraphQL from rows the aggregator's detectors wrote: simulated hosts' partial
// rows with a flood injected, the detectors run over them (@tma/aggregation ThreatRunner), then the answers.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { FleetSimulator } from '@tma/fleet-sim';
import { chromium } from 'playwright-core';
import { applyMigrations, createStorage, type Storage } from '@tma/storage';
import { createQueryApi, type QueryApi } from '../src/app';
import { JsonLogger } from '../src/observability';
import { buildPartials, detectThreats, floodTraffic, tearDown, testConfig, writePartials } from './fixture';

const READ = 'reader-secret-threats-0123';
const MIN = 60_000;
const ROUNDS = 30;
const END = Math.floor(Date.now() / MIN) * MIN;
const START = END - ROUNDS * MIN;
const VICTIM = '198.51.100.7';
const FLOOD_HOST = 'sim-host-00001';
const FLOOD_ROUNDS = [20, 21];
const dataDir = mkdtempSync(join(tmpdir(), 'tma-query-api-threats-'));
const database = `tma_qapi_t_${process.pid}_${randomBytes(3).toString('hex')}`;

class Quiet extends JsonLogger {
  override write(): void {}
}

let storage: Storage;
let api: QueryApi;

beforeAll(async () => {
  storage = await createStorage({ kind: 'chdb', path: dataDir, database });
  await applyMigrations(storage);
  const sim = new FleetSimulator({ hosts: 6, seed: 5, intervalMs: MIN, startMs: START, packetsPerInterval: 4000 });
  sim.extraTraffic = floodTraffic(FLOOD_HOST, VICTIM, FLOOD_ROUNDS);
  const snaps = [];
  for (let r = 0; r < ROUNDS; r++) snaps.push(...sim.nextRoundSnapshots());
  await writePartials(storage, buildPartials(snaps, 2));
  await detectThreats(storage);
  api = await createQueryApi({ config: testConfig(`reader:${READ}`), storage, logger: new Quiet() });
}, 180_000);

afterAll(() => tearDown(api, storage, dataDir));

async function get(url: string) {
  const r = await api.app
    .getHttpAdapter()
    .getInstance()
    .inject({ method: 'GET', url, headers: { authorization: `Bearer ${READ}` } });
  return { status: r.statusCode, body: JSON.parse(r.body) };
}

const range = `from=${encodeURIComponent(new Date(START).toISOString())}&to=${encodeURIComponent(new Date(END).toISOString())}`;

describe('GET /v1/threats', () => {
  it('lists the flood once: opened in its first window, resolved after it, evidence bounding the truth', async () => {
    const r = await get(`/v1/threats?${range}`);
    expect(r.status).toBe(200);
    expect(r.body.windowsEvaluated).toBe(ROUNDS);
    const floods = r.body.alerts.filter((a: { kind: string }) => a.kind === 'flood');
    expect(floods).toHaveLength(1);
    const f = floods[0];
    expect(f).toMatchObject({
      subject: VICTIM,
      status: 'resolved',
      openedAt: new Date(START + FLOOD_ROUNDS[0] * MIN).toISOString(),
      lastSeen: new Date(START + FLOOD_ROUNDS[1] * MIN).toISOString(),
    });
    expect(f.hosts).toContain(FLOOD_HOST);
    expect(f.timeline.map((e: { event: string }) => e.event)).toEqual(['opened', 'updated', 'resolved']);
    const packets = f.evidence.find((e: { name: string }) => e.name === 'packets');
    expect(packets.lower).toBeLessThanOrEqual(60_000);
    expect(packets.upper).toBeGreaterThanOrEqual(60_000);
    // Nothing opened before the flood.
    for (const a of r.body.alerts) expect(Date.parse(a.openedAt)).toBeGreaterThanOrEqual(START + FLOOD_ROUNDS[0] * MIN);
  });

  it('filters by kind, status and hosts; refuses an unknown kind naming the field', async () => {
    expect((await get(`/v1/threats?${range}&kind=port-scan`)).body.alerts).toEqual([]);
    expect((await get(`/v1/threats?${range}&kind=flood&status=open`)).body.alerts).toEqual([]);
    expect((await get(`/v1/threats?${range}&kind=flood&hosts=${FLOOD_HOST}`)).body.alerts).toHaveLength(1);
    const bad = await get(`/v1/threats?${range}&kind=meteor`);
    expect(bad.status).toBe(400);
    expect(bad.body.field).toBe('kind');
  });

  it('GraphQL threats answers the same, within the cost budget', async () => {
    const r = await api.app
      .getHttpAdapter()
      .getInstance()
      .inject({
        method: 'POST',
        url: '/graphql',
        headers: { authorization: `Bearer ${READ}`, 'content-type': 'application/json' },
        payload: JSON.stringify({
          query: `{ threats(from: "${new Date(START).toISOString()}", to: "${new Date(END).toISOString()}", kind: flood) {
            windowsEvaluated alerts { id kind subject status openedAt lastSeen resolvedAt peakScore score hosts related
              evidence { name value lower upper } timeline { t event score } } } }`,
        }),
      });
    const body = JSON.parse(r.body);
    expect(body.errors).toBeUndefined();
    const rest = (await get(`/v1/threats?${range}&kind=flood`)).body;
    // GraphQL states absent bounds as null where REST leaves them out.
    const noNulls = (x: unknown) => JSON.parse(JSON.stringify(x, (_k, v) => (v === null ? undefined : v)));
    expect(noNulls(body.data.threats.alerts)).toEqual(noNulls(rest.alerts));
    expect(body.data.threats.windowsEvaluated).toBe(ROUNDS);
  });
});

describe('dashboard threats panel', () => {
  it('shows the flood on the timeline and in the table with its evidence and host (headless Chromium)', async () => {
    const CHROMIUM = '/usr/bin/chromium';
    if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: ./tma setup installs Debian's chromium`);
    await api.app.listen(0, '127.0.0.1');
    const base = (await api.app.getUrl()).replace('[::1]', '127.0.0.1');
    const profile = mkdtempSync(join(tmpdir(), 'tma-chromium-'));
    const browser = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'],
      viewport: { width: 1400, height: 1000 },
    });
    const errors: string[] = [];
    try {
      const page = await browser.newPage();
      page.on('pageerror', (e) => errors.push(e.message));
      await page.goto(`${base}/dashboard?range=1h&refresh=0#token=${READ}`);
      await page.waitForSelector('body[data-loaded="1"]');
      const row = page.locator('#threats tbody tr[data-kind="flood"]');
      expect(await row.count()).toBe(1);
      expect(await row.textContent()).toContain(VICTIM);
      expect(await row.textContent()).toContain(FLOOD_HOST);
      expect(await row.locator('td.evidence').textContent()).toMatch(/packets/);
      expect(await page.locator('#threats-chart svg rect[data-alert]').count()).toBeGreaterThan(0);
      expect(await page.textContent('#threats-note')).toMatch(/windows evaluated/);
      const shots = join(process.env.TMA_STATE_DIR ?? join(__dirname, '../../../.state'), 'screenshots');
      await page.locator('#threats').scrollIntoViewIfNeeded();
      await page.screenshot({ path: join(shots, 'threats.png'), fullPage: true });
      expect(errors).toEqual([]);
    } finally {
      await browser.close();
      rmSync(profile, { recursive: true, force: true });
    }
  }, 120_000);
});
