// Block rules through the API over real embedded ClickHouse and the real Kafka broker: proposed by a read token or
// from a detector's flood alert, approved only by an admin token (a read token gets 403), sent on the commands topic,
// and audited from proposal to each host's report of applying it; the same over the GraphQL mutations (a read token's
// decision is FORBIDDEN and changes nothing); protected addresses and the cap are refused.
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { chromium } from 'playwright-core';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes, randomUUID } from 'node:crypto';
import { Kafka, logLevel, Partitioners } from 'kafkajs';
import { FleetSimulator } from '@tma/fleet-sim';
import { loadKafkaSettings } from '@tma/kafka';
import {
  mitigationCommandCodec,
  mitigationCommandTopic,
  mitigationReportCodec,
  mitigationReportTopic,
  type MitigationCommand,
  type MitigationReport,
} from '@tma/schema';
import { applyMigrations, createStorage, type Storage } from '@tma/storage';
import { createQueryApi, type QueryApi } from '../src/app';
import { DEFAULT_MITIGATION } from '../src/config';
import { KafkaMitigationBus } from '../src/mitigation/mitigation.bus';
import { JsonLogger } from '../src/observability';
import { buildPartials, detectThreats, floodTraffic, tearDown, testConfig, writePartials } from './fixture';

const READ = 'reader-secret-mitigation-0123';
const ADMIN = 'admin-secret-mitigation-98765';
const MIN = 60_000;
const ROUNDS = 30;
const END = Math.floor(Date.now() / MIN) * MIN;
const START = END - ROUNDS * MIN;
const VICTIM = '198.51.100.7';
const dataDir = mkdtempSync(join(tmpdir(), 'tma-query-api-mitigation-'));
const database = `tma_qapi_m_${process.pid}_${randomBytes(3).toString('hex')}`;
const prefix = `tma-apimit-${randomUUID().slice(0, 8)}`;
const kafka = () => new Kafka({ ...loadKafkaSettings(process.env, 'tma-mitigation-spec'), logLevel: logLevel.NOTHING });

class Quiet extends JsonLogger {
  override write(): void {}
}

let storage: Storage;
let api: QueryApi;

beforeAll(async () => {
  storage = await createStorage({ kind: 'chdb', path: dataDir, database });
  await applyMigrations(storage);
  const sim = new FleetSimulator({ hosts: 4, seed: 9, intervalMs: MIN, startMs: START, packetsPerInterval: 4000 });
  sim.extraTraffic = floodTraffic('sim-host-00001', VICTIM, [20, 21]);
  const snaps = [];
  for (let r = 0; r < ROUNDS; r++) snaps.push(...sim.nextRoundSnapshots());
  await writePartials(storage, buildPartials(snaps, 2));
  await detectThreats(storage);
  const config = testConfig(`reader:${READ},admin:${ADMIN}:read+admin`, {
    mitigation: { ...DEFAULT_MITIGATION, commands: true, topicPrefix: prefix, maxRules: 4, protect: ['192.0.2.53'] },
  });
  api = await createQueryApi({
    config,
    storage,
    logger: new Quiet(),
    mitigationBus: new KafkaMitigationBus(loadKafkaSettings(process.env, 'tma-query-api-spec'), prefix),
  });
}, 180_000);

afterAll(() => tearDown(api, storage, dataDir));

async function call(method: 'GET' | 'POST', url: string, token = READ, body?: unknown) {
  const r = await api.app
    .getHttpAdapter()
    .getInstance()
    .inject({
      method,
      url,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      payload: body === undefined ? undefined : JSON.stringify(body),
    });
  return { status: r.statusCode, body: JSON.parse(r.body) };
}

/** Commands on the topic from the beginning, until `count` arrived. */
async function commands(count: number): Promise<{ key: string; cmd: MitigationCommand }[]> {
  const c = kafka().consumer({ groupId: `tma-mitigation-spec-${randomUUID()}` });
  await c.connect();
  await c.subscribe({ topic: mitigationCommandTopic(prefix), fromBeginning: true });
  const got: { key: string; cmd: MitigationCommand }[] = [];
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${got.length} of ${count} commands`)), 30_000);
    void c.run({
      eachMessage: async ({ message }) => {
        got.push({ key: message.key!.toString(), cmd: mitigationCommandCodec.decode(message.value!) });
        if (got.length >= count) {
          clearTimeout(timer);
          resolve();
        }
      },
    });
  });
  await c.disconnect();
  return got;
}

async function report(r: MitigationReport): Promise<void> {
  const p = kafka().producer({ createPartitioner: Partitioners.DefaultPartitioner });
  await p.connect();
  await p.send({
    topic: mitigationReportTopic(prefix),
    messages: [{ key: r.hostId, value: mitigationReportCodec.encode(r) }],
  });
  await p.disconnect();
}

async function until<T>(f: () => Promise<T>, ok: (t: T) => boolean, ms = 30_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (ok(v) || Date.now() > end) return v;
    await new Promise((r) => setTimeout(r, 250));
  }
}

const RULE = {
  srcPrefix: '203.0.113.0/24',
  dst: VICTIM,
  port: 80,
  protocol: 'udp',
  ttlSeconds: 600,
  reason: 'UDP flood',
};
let ruleId = '';

describe('/v1/mitigation', () => {
  it('a read token proposes; a read token cannot approve (403); an admin approves and the command goes out', async () => {
    const p = await call('POST', '/v1/mitigation/rules', READ, { ...RULE, hosts: ['edge-1'] });
    expect(p.status).toBe(201);
    expect(p.body).toMatchObject({
      status: 'proposed',
      srcPrefix: '203.0.113.0/24',
      proposedBy: 'reader',
      origin: 'operator',
    });
    ruleId = p.body.id;
    const denied = await call('POST', `/v1/mitigation/rules/${ruleId}/approve`, READ, {});
    expect(denied.status).toBe(403);
    expect((await call('POST', `/v1/mitigation/rules/${ruleId}/reject`, READ, {})).status).toBe(403);
    expect((await call('GET', `/v1/mitigation/rules/${ruleId}`)).body.status).toBe('proposed');

    const t0 = Date.now();
    const a = await call('POST', `/v1/mitigation/rules/${ruleId}/approve`, ADMIN, { note: 'confirmed on the graphs' });
    expect(a.status).toBe(200);
    expect(a.body).toMatchObject({ status: 'approved', decidedBy: 'admin', version: 2 });
    expect(Date.parse(a.body.expiresAt) - t0).toBeGreaterThanOrEqual(600_000 - 1000);
    // deciding twice is refused
    expect((await call('POST', `/v1/mitigation/rules/${ruleId}/approve`, ADMIN)).status).toBe(409);

    const [sent] = await commands(1);
    expect(sent.key).toBe('edge-1');
    expect(sent.cmd).toMatchObject({
      ruleId,
      version: 2,
      action: 'APPLY',
      hosts: ['edge-1'],
      srcPrefix: '203.0.113.0/24',
      dst: VICTIM,
      port: 80,
      protocol: 'udp',
      approvedBy: 'admin',
      expiresAtMs: Date.parse(a.body.expiresAt),
    });
  }, 60_000);

  it('the audit trail holds every step: proposed, approved, applied by the host; its drops are shown', async () => {
    const at = Date.now();
    const base = { hostId: 'edge-1', ruleId, version: 2, detail: '', dryRun: false, bytes: 0 };
    await report({ ...base, event: 'APPLIED', atMs: at, packets: 0 });
    await report({ ...base, event: 'COUNTERS', atMs: at + 1, packets: 123_456, bytes: 9_000_000 });
    const r = await until(
      () => call('GET', `/v1/mitigation/rules/${ruleId}`),
      (x) => x.body.drops?.[0]?.packets === 123_456,
    );
    expect(r.status).toBe(200);
    expect(r.body.audit.map((s: { step: string; actor: string }) => [s.step, s.actor])).toEqual([
      ['proposed', 'reader'],
      ['approved', 'admin'],
      ['applied', 'host:edge-1'],
    ]);
    expect(r.body.audit[1].detail).toBe('confirmed on the graphs');
    expect(r.body.drops).toEqual([
      { host: 'edge-1', packets: 123_456, bytes: 9_000_000, dryRun: false, at: expect.any(String) },
    ]);
    expect(r.body.totalPackets).toBe(123_456);
    const list = await call('GET', '/v1/mitigation/rules?status=approved');
    expect(list.body.rules.map((x: { id: string }) => x.id)).toEqual([ruleId]);
    expect(list.body.cap).toBe(4);
    // GraphQL answers the same
    const g = await call('POST', '/graphql', READ, {
      query: `{ mitigationRule(id: "${ruleId}") { status srcPrefix totalPackets audit { step actor } } }`,
    });
    expect(g.body.errors).toBeUndefined();
    const none = await call('POST', '/graphql', READ, { query: `{ mitigationRule(id: "${randomUUID()}") { id } }` });
    expect(none.body).toEqual({ data: { mitigationRule: null } });
    expect(g.body.data.mitigationRule).toMatchObject({ status: 'approved', totalPackets: 123_456 });
    expect(g.body.data.mitigationRule.audit.map((s: { step: string }) => s.step)).toEqual([
      'proposed',
      'approved',
      'applied',
    ]);
  }, 60_000);

  it('removing an approved rule sends REMOVE; the host reports it removed', async () => {
    const r = await call('POST', `/v1/mitigation/rules/${ruleId}/remove`, ADMIN, { note: 'attack over' });
    expect(r.body).toMatchObject({ status: 'removed', version: 3 });
    const sent = await commands(2);
    expect(sent[1].cmd).toMatchObject({ ruleId, version: 3, action: 'REMOVE' });
    await report({
      hostId: 'edge-1',
      ruleId,
      version: 3,
      event: 'REMOVED',
      atMs: Date.now(),
      detail: '',
      dryRun: false,
      packets: 200_000,
      bytes: 1,
    });
    const after = await until(
      () => call('GET', `/v1/mitigation/rules/${ruleId}`),
      (x) => x.body.audit.length === 5,
    );
    expect(after.body.audit.map((s: { step: string }) => s.step)).toEqual([
      'proposed',
      'approved',
      'applied',
      'removed',
      'removed',
    ]);
  }, 60_000);

  it('a flood alert carries a proposal: its sources /24 and its destination, origin detector; rejecting it', async () => {
    const threats = await call(
      'GET',
      `/v1/threats?from=${new Date(START).toISOString()}&to=${new Date(END).toISOString()}&kind=flood`,
    );
    const alert = threats.body.alerts[0];
    expect(alert.subject).toBe(VICTIM);
    const p = await call('POST', '/v1/mitigation/rules', READ, { alertId: alert.id, dryRun: true });
    expect(p.status).toBe(201);
    expect(p.body).toMatchObject({
      origin: 'detector',
      alertId: alert.id,
      srcPrefix: '203.0.113.0/24',
      dst: VICTIM,
      dryRun: true,
    });
    expect(p.body.hosts).toEqual(alert.hosts);
    const r = await call('POST', `/v1/mitigation/rules/${p.body.id}/reject`, ADMIN, { note: 'test traffic' });
    expect(r.body.status).toBe('rejected');
    expect(r.body.audit.map((s: { step: string }) => s.step)).toEqual(['proposed', 'rejected']);
  }, 60_000);

  it('GraphQL mutations as REST: a read token proposes but cannot decide (nothing changes), an admin approves (the command goes out as with REST), removes, rejects; all audited', async () => {
    const FIELDS = 'id status version proposedBy decidedBy expiresAt audit { at step actor detail }';
    const gql = async (token: string, query: string, variables?: object) =>
      (await call('POST', '/graphql', token, { query, variables })).body;
    const t0 = Date.now();
    const p = await gql(
      READ,
      `mutation($p: Cidr) { proposeRule(srcPrefix: $p, dst: "${VICTIM}", port: 53, protocol: udp, ttlSeconds: 300,
        reason: "DNS amplification", hosts: ["edge-2"]) { ${FIELDS} srcPrefix port protocol hosts } }`,
      { p: '198.19.7.0/24' },
    );
    expect(p.errors).toBeUndefined();
    const id = p.data.proposeRule.id;
    expect(p.data.proposeRule).toMatchObject({ status: 'proposed', version: 1, proposedBy: 'reader', port: 53 });
    const steps = (r: { audit: { step: string; actor: string; detail: string }[] }) =>
      r.audit.map((s) => [s.step, s.actor, s.detail]);
    const rest = async () => (await call('GET', `/v1/mitigation/rules/${id}`)).body;
    // the same refusals as REST, for the same reasons
    const bad = await gql(
      READ,
      'mutation { proposeRule(srcPrefix: "192.0.2.0/24", ttlSeconds: 60, reason: "x y z") { id } }',
    );
    expect(bad.errors[0]).toMatchObject({ extensions: { code: 'BAD_USER_INPUT', field: 'srcPrefix' } });
    expect(bad.errors[0].message).toMatch(/holds 192\.0\.2\.53/);
    const noReason = await gql(READ, 'mutation { proposeRule(srcPrefix: "198.19.8.0/24", ttlSeconds: 60) { id } }');
    expect(noReason.errors[0].extensions).toEqual({ code: 'BAD_USER_INPUT', field: 'reason' });

    // a read token: refused with the admin scope named, the rule untouched and nothing audited
    const scopeFailures = async () =>
      (await api.metrics.authFailures.get()).values.find((v) => v.labels.reason === 'scope')?.value ?? 0;
    const failuresBefore = await scopeFailures();
    for (const m of ['approveRule', 'rejectRule', 'removeRule']) {
      const denied = await gql(READ, `mutation { ${m}(id: "${id}", note: "me") { id status } }`);
      expect(denied).toEqual({
        data: null,
        errors: [{ message: 'the token lacks the admin scope', path: [m], extensions: { code: 'FORBIDDEN' } }],
      });
    }
    expect(await scopeFailures()).toBe(failuresBefore + 3);
    // mutations never run over GET, not even with an admin token
    const overGet = await call(
      'GET',
      `/graphql?query=${encodeURIComponent(`mutation { approveRule(id: "${id}") { id } }`)}`,
      ADMIN,
    );
    expect(overGet.status).toBe(405);
    expect(overGet.body.errors[0].extensions.code).toBe('METHOD_NOT_ALLOWED');
    const untouched = await rest();
    expect(untouched).toMatchObject({ status: 'proposed', version: 1, decidedBy: null });
    expect(steps(untouched)).toEqual([['proposed', 'reader', 'DNS amplification']]);

    const a = await gql(
      ADMIN,
      `mutation { approveRule(id: "${id}", note: "checked the resolver logs") { ${FIELDS} } }`,
    );
    expect(a.errors).toBeUndefined();
    expect(a.data.approveRule).toMatchObject({ status: 'approved', version: 2, decidedBy: 'admin' });
    expect(Date.parse(a.data.approveRule.expiresAt) - t0).toBeGreaterThanOrEqual(300_000);
    const again = await gql(ADMIN, `mutation { approveRule(id: "${id}") { id } }`);
    expect(again.errors[0]).toMatchObject({
      extensions: { code: 'CONFLICT' },
      message: `rule ${id} is approved, not proposed`,
    });
    const missing = await gql(ADMIN, `mutation { approveRule(id: "${randomUUID()}") { id } }`);
    expect(missing.errors[0].extensions).toEqual({ code: 'NOT_FOUND' });
    // the first rule's APPLY and REMOVE (REST) came first; this one's APPLY is the third command, the same shape
    const sent = await commands(3);
    expect(sent[2].key).toBe('edge-2');
    expect(sent[2].cmd).toEqual({
      ruleId: id,
      version: 2,
      action: 'APPLY',
      hosts: ['edge-2'],
      srcPrefix: '198.19.7.0/24',
      dst: VICTIM,
      port: 53,
      protocol: 'udp',
      dryRun: false,
      expiresAtMs: Date.parse(a.data.approveRule.expiresAt),
      reason: 'DNS amplification',
      approvedBy: 'admin',
      issuedAtMs: expect.any(Number),
    });

    const r = await gql(ADMIN, `mutation { removeRule(id: "${id}", note: "amplifier patched") { ${FIELDS} } }`);
    expect(r.data.removeRule).toMatchObject({ status: 'removed', version: 3 });
    expect((await commands(4))[3].cmd).toMatchObject({ ruleId: id, version: 3, action: 'REMOVE', approvedBy: 'admin' });

    // the audit trail: who, when, what, why
    const g = await gql(READ, `{ mitigationRule(id: "${id}") { audit { at step actor detail } } }`);
    expect(steps(g.data.mitigationRule)).toEqual([
      ['proposed', 'reader', 'DNS amplification'],
      ['approved', 'admin', 'checked the resolver logs'],
      ['removed', 'admin', 'amplifier patched'],
    ]);
    const at = g.data.mitigationRule.audit.map((s: { at: string }) => Date.parse(s.at));
    expect(at).toEqual([...at].sort((x, y) => x - y));
    expect(at[0]).toBeGreaterThanOrEqual(t0 - 1000);
    expect(at[2]).toBeLessThanOrEqual(Date.now());

    // a dry-run proposal, rejected by an admin with its reason
    const d = await gql(
      READ,
      'mutation { proposeRule(srcPrefix: "198.19.9.0/24", ttlSeconds: 60, reason: "probe sweep", dryRun: true) { id dryRun } }',
    );
    expect(d.data.proposeRule.dryRun).toBe(true);
    const j = await gql(
      ADMIN,
      `mutation { rejectRule(id: "${d.data.proposeRule.id}", note: "a scanner we run") { ${FIELDS} } }`,
    );
    expect(j.data.rejectRule).toMatchObject({ status: 'rejected', version: 2, decidedBy: 'admin' });
    expect(steps(j.data.rejectRule)).toEqual([
      ['proposed', 'reader', 'probe sweep'],
      ['rejected', 'admin', 'a scanner we run'],
    ]);
  }, 90_000);

  it('refuses rules that would hold a protected address or a broker, bad prefixes, and more than the cap', async () => {
    const bad = async (body: object, status: number, field?: string, message?: RegExp) => {
      const r = await call('POST', '/v1/mitigation/rules', READ, body);
      expect({ status: r.status, field: r.body.field }).toEqual({ status, field });
      if (message) expect(r.body.message).toMatch(message);
    };
    await bad({ ...RULE, srcPrefix: '192.0.2.0/24' }, 400, 'srcPrefix', /holds 192\.0\.2\.53/);
    await bad({ ...RULE, srcPrefix: '203.0.113.1/24' }, 400, 'srcPrefix', /host bits/);
    await bad({ ...RULE, srcPrefix: '10.0.0.0/6' }, 400, 'srcPrefix', /too wide/);
    await bad({ ...RULE, port: 80, protocol: 'icmp' }, 400, 'port');
    await bad({ ...RULE, ttlSeconds: 1 }, 400, 'ttlSeconds');
    await bad({ ...RULE, reason: undefined }, 400, 'reason');
    await bad({ ...RULE, extra: 1 }, 400, 'extra');
    expect((await call('POST', '/v1/mitigation/rules/not-a-uuid/approve', ADMIN)).status).toBe(400);
    expect((await call('POST', `/v1/mitigation/rules/${randomUUID()}/approve`, ADMIN)).status).toBe(404);
    // cap 4: the first rule was removed and the alert's rejected; four more fit, the fifth does not
    for (let i = 0; i < 4; i++)
      expect(
        (await call('POST', '/v1/mitigation/rules', READ, { ...RULE, srcPrefix: `198.18.${i}.0/24` })).status,
      ).toBe(201);
    const over = await call('POST', '/v1/mitigation/rules', READ, { ...RULE, srcPrefix: '198.18.9.0/24' });
    expect(over.status).toBe(409);
    expect(over.body.message).toMatch(/cap is 4/);
  }, 60_000);

  it('the dashboard shows the rules in the threats panel: status, mode, who decided, drops per host (Chromium)', async () => {
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
      const removed = page.locator(`#rules tbody tr[data-rule="${ruleId}"]`);
      expect(await removed.getAttribute('data-status')).toBe('removed');
      expect(await removed.textContent()).toMatch(/203\.0\.113\.0\/24 → 198\.51\.100\.7:80\/udp/);
      expect(await removed.textContent()).toContain('edge-1: 200');
      expect(await page.locator('#rules tbody tr[data-status="proposed"]').count()).toBe(4);
      expect(await page.textContent('#rules-note')).toMatch(/0 in force, 4 awaiting approval · cap 4/);
      // the flood alert's own proposal, from its row: refused here (the cap is reached), with the API's message
      await page.click('#threats button[data-propose-alert]');
      await page.waitForSelector('#rules-message.error');
      expect(await page.textContent('#rules-message')).toBe(
        'propose refused: 4 rules are proposed or in force: the cap is 4 (TMA_MITIGATION_MAX_RULES)',
      );
      // with room under the cap (an admin rejects one over REST) the same button proposes the alert's rule, as dry-run
      const [first] = (await call('GET', '/v1/mitigation/rules?status=proposed')).body.rules;
      expect((await call('POST', `/v1/mitigation/rules/${first.id}/reject`, ADMIN, {})).status).toBe(200);
      await page.click('#threats button[data-propose-alert]');
      await page.waitForSelector('#rules tbody tr[data-status="proposed"][data-prefix="203.0.113.0/24"]');
      expect(await page.textContent('#rules-message')).toBe('propose: rule 203.0.113.0/24 is proposed');
      const fromAlert = page.locator('#rules tbody tr[data-status="proposed"][data-prefix="203.0.113.0/24"]');
      expect(await fromAlert.textContent()).toMatch(/dry-run.*reader \(detector\)/);
      const shots = join(process.env.TMA_STATE_DIR ?? join(__dirname, '../../../.state'), 'screenshots');
      mkdirSync(shots, { recursive: true });
      await page.locator('#rules').scrollIntoViewIfNeeded();
      await page.screenshot({ path: join(shots, 'mitigation.png'), fullPage: true });
    } finally {
      await browser.close();
      rmSync(profile, { recursive: true, force: true });
    }
    expect(errors).toEqual([]);
  }, 60_000);
});
