// The single-machine stack as users run it: `main.js --with-aggregator` (aggregator + query API in one process on
// embedded chDB) consuming a real Kafka topic fed by the fleet simulator. Checks the API against the simulator's
// exact ground truth over the Kafka path, then drives the dashboard in headless Chromium (Debian's chromium through
// playwright-core): real figures render, a filter changes them, the view is in the URL; saves the page to
// $TMA_STATE_DIR/screenshots/dashboard.png (git-ignored; docs/dashboard.png is a copy of one such run).
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { Kafka, logLevel } from 'kafkajs';
import { chromium, type Page } from 'playwright-core';
import { mitigationCommandTopic, mitigationReportTopic, snapshotTopic } from '@tma/schema';
import { fromHex, parseFlowKey } from '@tma/sketch';
// The fleet simulator has no package alias yet (tools/ is not a workspace).
import { FleetSimulator } from '@tma/fleet-sim';
import { sendMessages } from '@tma/fleet-sim';

jest.setTimeout(240_000);

const root = resolve(__dirname, '../../..');
const MAIN = join(root, 'apps/query-api/dist/main.js');
const CHROMIUM = '/usr/bin/chromium';
const TOKEN = `browser-test-${randomBytes(8).toString('hex')}`;
const ADMIN = `browser-admin-${randomBytes(8).toString('hex')}`;
const prefix = `tqapi${randomBytes(4).toString('hex')}`;
const MIN = 60_000;
const T0 = Math.floor(Date.now() / MIN) * MIN - 20 * MIN;
const sim = new FleetSimulator({ hosts: 20, seed: 23, startMs: T0, intervalMs: 10_000, packetsPerInterval: 8000 });
const work = mkdtempSync(join(tmpdir(), 'tma-qapi-stack-'));
const brokers = process.env.TMA_KAFKA_BROKERS ?? '127.0.0.1:9092';
const kafka = new Kafka({ brokers: brokers.split(','), clientId: 'tma-query-api-test', logLevel: logLevel.NOTHING });
let child: ChildProcess | undefined;
let output = '';
let base = '';

async function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => (typeof a === 'object' && a ? res(a.port) : rej(new Error('no port'))));
    });
  });
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
async function api(path: string): Promise<any> {
  const r = await fetch(base + path, { headers: { authorization: `Bearer ${TOKEN}` } });
  if (!r.ok) throw new Error(`${path}: ${r.status} ${await r.text()}`);
  return r.json();
}

async function waitFor<T>(what: string, fn: () => Promise<T | undefined>, ms = 120_000): Promise<T> {
  const end = Date.now() + ms;
  let last: unknown;
  while (Date.now() < end) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(
    `timed out waiting for ${what} (${String(last ?? '')})\n--- server output ---\n${output.slice(-4000)}`,
  );
}

/** Headless Chromium on a fresh profile; `run` gets a page, and the page errors are returned. */
async function inBrowser(run: (page: Page) => Promise<void>): Promise<string[]> {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: ./tma setup installs Debian's chromium`);
  const profile = mkdtempSync(join(tmpdir(), 'tma-chromium-'));
  const browser = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
    viewport: { width: 1400, height: 1000 },
  });
  const errors: string[] = [];
  try {
    const page = await browser.newPage();
    page.on('pageerror', (e) => errors.push(e.message));
    await run(page);
  } finally {
    await browser.close();
    rmSync(profile, { recursive: true, force: true });
  }
  return errors;
}

const sum = (a: number[]) => a.reduce((x, y) => x + y, 0);

beforeAll(async () => {
  if (!existsSync(MAIN)) throw new Error(`${MAIN} is missing: build first (./tma test builds every project)`);
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  child = spawn(process.execPath, [MAIN, '--with-aggregator'], {
    cwd: work,
    env: {
      ...process.env,
      TMA_CHDB_PATH: join(work, 'chdb'),
      TMA_API_PORT: String(port),
      TMA_API_TOKENS: `browser:${TOKEN},operator:${ADMIN}:read+admin`,
      TMA_MITIGATION_TOPIC_PREFIX: prefix,
      TMA_KAFKA_BROKERS: brokers,
      TMA_TOPIC_PREFIX: prefix,
      TMA_AGG_GROUP_ID: `${prefix}-group`,
      TMA_AGG_TOPIC_PARTITIONS: '4',
      TMA_AGG_ALLOWED_LATENESS: '2s',
      TMA_AGG_IDLE_CLOSE: '1s',
      TMA_AGG_FLUSH_INTERVAL: '200ms',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.on('data', (d) => (output += d));
  child.stderr!.on('data', (d) => (output += d));
  await waitFor('the stack to be ready', async () => ((await fetch(`${base}/ready`)).ok ? true : undefined), 90_000);
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  for (let r = 0; r < 120; r++) await sendMessages(producer, snapshotTopic(prefix), sim.nextRound());
  await producer.disconnect();
  const want = sim.truth.totals().packets;
  await waitFor('every simulated packet to be queryable', async () => {
    const r = await api('/v1/traffic/series?range=30m&step=1m');
    return sum(r.total.packets) === want ? true : undefined;
  });
});

afterAll(async () => {
  if (child && child.exitCode === null) {
    const exited = new Promise((r) => child!.once('exit', r));
    child.kill('SIGTERM');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 20_000))]);
    if (child.exitCode === null) child.kill('SIGKILL');
  }
  const admin = kafka.admin();
  await admin.connect().catch(() => undefined);
  await admin
    .deleteTopics({ topics: [snapshotTopic(prefix), mitigationCommandTopic(prefix), mitigationReportTopic(prefix)] })
    .catch(() => undefined);
  await admin.disconnect().catch(() => undefined);
  rmSync(work, { recursive: true, force: true });
});

describe('single-machine stack over real Kafka', () => {
  it('answers from the hosted aggregator match the ground truth: exact totals, top flows within ε·N, distinct sources within 4 s.e.', async () => {
    const truth = sim.truth;
    const flows = new Map<string, number>();
    const sources = new Set<string>();
    for (const w of truth.windows.values()) {
      for (const [hex, f] of w.flows) flows.set(hex, (flows.get(hex) ?? 0) + f.packets);
      w.distinctSources.forEach((s) => sources.add(s));
    }
    const top = await api('/v1/flows/top?range=30m&k=20');
    expect(top.packets.total).toBe(truth.totals().packets);
    const byTuple = new Map(
      [...flows].map(([hex, p]) => {
        const t = parseFlowKey(fromHex(hex));
        return [`${t.src}|${t.dst}|${t.sport}|${t.dport}|${t.proto}`, p];
      }),
    );
    for (const f of top.flows) {
      const t = byTuple.get(`${f.src}|${f.dst}|${f.srcPort}|${f.dstPort}|${f.protocol}`)!;
      expect(f.packets).toBeGreaterThanOrEqual(t);
      expect(f.packets - t).toBeLessThanOrEqual(f.packetsBound);
    }
    const card = await api('/v1/cardinality?range=30m&metrics=sources');
    expect(Math.abs(card.sources.estimate - sources.size)).toBeLessThanOrEqual(
      4 * card.sources.standardError * sources.size + 1,
    );
    const hosts = await api('/v1/hosts?range=30m');
    expect(hosts.hosts).toHaveLength(20);
    expect(sum(hosts.hosts.map((h: { snapshots: number }) => h.snapshots))).toBe(truth.totals().snapshots);
    const metrics = await (await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } })).text();
    expect(metrics).toContain('tma_api_requests_total');
    expect(metrics).toMatch(/tma_agg\w*/); // the hosted aggregator's own metrics are served alongside
  });

  it('the dashboard renders real figures, a protocol filter changes them and lands in the URL; screenshot saved', async () => {
    const truth = sim.truth;
    let udp = 0;
    for (const w of truth.windows.values()) udp += w.protocols.get(17)?.packets ?? 0;
    const errors = await inBrowser(async (page) => {
      await page.goto(`${base}/dashboard?range=30m&refresh=0#token=${TOKEN}`);
      await page.waitForSelector('body[data-loaded="1"]');
      expect(await page.textContent('#status')).toMatch(/^updated/);
      expect(Number(await page.getAttribute('#kpi-packets', 'data-value'))).toBe(truth.totals().packets);
      expect(Number(await page.getAttribute('#kpi-sources', 'data-value'))).toBeGreaterThan(0);
      expect(await page.locator('#top-flows tbody tr').count()).toBe(20);
      // Each row says whether it is certainly in the top k, as the API's `certain` list does, with lower ≤ upper.
      const apiTop = await api('/v1/flows/top?range=30m&k=20');
      const members = await page.locator('#top-flows tbody td.member').allTextContents();
      expect(members.filter((m) => m === 'certain')).toHaveLength(apiTop.certain.length);
      expect(members.filter((m) => m === 'certain' || m === 'possible')).toHaveLength(20);
      for (const cell of await page.locator('#top-flows tbody td[data-lower]').all())
        expect(Number(await cell.getAttribute('data-lower'))).toBeLessThanOrEqual(
          Number(await cell.getAttribute('data-upper')),
        );
      expect(await page.locator('#hhh-src-counted li.note').count()).toBe(1);
      expect(await page.locator('#traffic-chart svg path[data-series="total"]').count()).toBe(1);
      expect(await page.locator('#hhh-src svg rect.hit').count()).toBeGreaterThan(0);
      expect(await page.locator('#hosts tbody tr').count()).toBe(20);
      // The token came in the fragment and is gone from the address bar.
      expect(page.url()).not.toContain(TOKEN);
      expect(await page.inputValue('select[name="range"]')).toBe('30m');
      const shots = join(process.env.TMA_STATE_DIR ?? join(root, '.state'), 'screenshots');
      await page.screenshot({ path: join(shots, 'dashboard.png'), fullPage: true });
      expect(existsSync(join(shots, 'dashboard.png'))).toBe(true);

      await page.selectOption('select[name="protocol"]', 'udp');
      await page.click('button[type="submit"]');
      await page.waitForSelector('body[data-loaded="2"]');
      expect(page.url()).toContain('protocol=udp');
      expect(Number(await page.getAttribute('#kpi-packets', 'data-value'))).toBe(udp);
      const protos = await page.locator('#top-flows tbody tr td:nth-child(4)').allTextContents();
      expect(protos.length).toBeGreaterThan(0);
      expect(new Set(protos)).toEqual(new Set(['UDP']));
      // A shared URL restores the view.
      await page.reload();
      await page.waitForSelector('body[data-loaded="1"]');
      expect(await page.inputValue('select[name="protocol"]')).toBe('udp');
    });
    expect(errors).toEqual([]);
  });

  it('block rules from the dashboard: a read token proposes, its approve is refused with the API message; an admin approves and the audit trail shows who and why', async () => {
    const rowOf = (page: Page) => page.locator('#rules tbody tr[data-prefix="203.0.113.0/24"]');
    const errors = await inBrowser(async (page) => {
      const notes: string[] = [];
      page.on('dialog', (d) => {
        notes.push(d.message());
        void d.accept('seen on the flood graphs');
      });
      await page.goto(`${base}/dashboard?range=30m&refresh=0#token=${TOKEN}`);
      await page.waitForSelector('body[data-loaded="1"]');
      // propose with the read token through the form
      await page.fill('#propose input[name="srcPrefix"]', '203.0.113.0/24');
      await page.fill('#propose input[name="dst"]', '198.51.100.7');
      await page.fill('#propose input[name="port"]', '80');
      await page.selectOption('#propose select[name="protocol"]', 'udp');
      await page.fill('#propose input[name="reason"]', 'UDP flood from one /24');
      await page.click('#propose button[type="submit"]');
      await page.waitForSelector('#rules tbody tr[data-prefix="203.0.113.0/24"][data-status="proposed"]');
      expect(await page.textContent('#rules-message')).toBe('propose: rule 203.0.113.0/24 is proposed');
      expect(await rowOf(page).textContent()).toContain('dry-run');
      // approving with the read token: the API's 403 message, the rule stays proposed
      await rowOf(page).locator('button[data-action="approve"]').click();
      await page.waitForSelector('#rules-message.error');
      expect(await page.textContent('#rules-message')).toBe('approve refused: the token lacks the admin scope');
      expect(await rowOf(page).getAttribute('data-status')).toBe('proposed');
      const id = (await rowOf(page).getAttribute('data-rule'))!;
      expect((await api(`/v1/mitigation/rules/${id}`)).audit).toHaveLength(1);

      // the admin token approves through the button
      // another view (a new page load), so the fragment token is taken
      await page.goto(`${base}/dashboard?range=1h&refresh=0#token=${ADMIN}`);
      await page.waitForSelector('body[data-loaded="1"]');
      expect(await rowOf(page).locator('button').allTextContents()).toEqual(['Approve', 'Reject']);
      await rowOf(page).locator('button[data-action="approve"]').click();
      await page.waitForSelector('#rules tbody tr[data-prefix="203.0.113.0/24"][data-status="approved"]');
      expect(await page.textContent('#rules-message')).toBe('approve: rule 203.0.113.0/24 is approved');
      expect(await rowOf(page).locator('button').allTextContents()).toEqual(['Remove']);
      expect(notes).toEqual([
        'Why approve 203.0.113.0/24? (kept in the audit trail)',
        'Why approve 203.0.113.0/24? (kept in the audit trail)',
      ]);
      // a click on the rule shows its audit trail: who, when, what, why
      await rowOf(page).locator('td').first().click();
      await page.waitForSelector(`#rules tr[data-audit="${id}"] tr[data-step="approved"]`);
      const steps = await page
        .locator(`#rules tr[data-audit="${id}"] tbody tr`)
        .evaluateAll((rows) => rows.map((r) => [...r.querySelectorAll('td')].slice(1, 4).map((c) => c.textContent)));
      expect(steps).toEqual([
        ['browser', 'proposed', 'UDP flood from one /24'],
        ['operator', 'approved', 'seen on the flood graphs'],
      ]);
      const rule = await api(`/v1/mitigation/rules/${id}`);
      expect(rule).toMatchObject({ status: 'approved', proposedBy: 'browser', decidedBy: 'operator', dryRun: true });
      const shots = join(process.env.TMA_STATE_DIR ?? join(root, '.state'), 'screenshots');
      await page.locator('#rules').scrollIntoViewIfNeeded();
      await page.screenshot({ path: join(shots, 'mitigation-actions.png'), fullPage: true });
      // Remove takes it back; the open audit trail follows (kept open across the reload)
      await rowOf(page).locator('button[data-action="remove"]').click();
      await page.waitForSelector('#rules tbody tr[data-prefix="203.0.113.0/24"][data-status="removed"]');
      await page.waitForSelector(`#rules tr[data-audit="${id}"] tr[data-step="removed"]`);
      expect(await rowOf(page).locator('button').count()).toBe(0);
    });
    expect(errors).toEqual([]);
  });
});
