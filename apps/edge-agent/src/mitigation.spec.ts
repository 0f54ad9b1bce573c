// Block rules on a real kernel program attached by the agent to a veth pair of its own (root): a UDP flood from one
// address is cut by ≥ 99 % at the receiver as soon as its rule is applied, while another source's traffic still
// arrives in full; dry-run counts without dropping; the rule stops on time; versions apply once and in order; the
// cap and the protected addresses are refused.
import { BlockMap } from '@tma/kernel';
import { OBJECT_PATH, rootDescribe } from '@tma/kernel/testing';
import type { MitigationCommand, MitigationReport } from '@tma/schema';
import { Agent } from './agent';
import { loadConfig } from './config';
import type { Logger } from './log';
import { addBystander, burst, looseRpFilter, Receiver } from './test-support/flood';
import { agentArgs } from './test-support/cli';
import { vethSuite } from './test-support/suite';

const run = rootDescribe('edge-agent mitigation tests');
const PORT = 9777;
const N = 4000;

let version = 0;
const command = (over: Partial<MitigationCommand>): MitigationCommand => ({
  ruleId: 'rule-1',
  version: ++version,
  action: 'APPLY',
  hosts: [],
  srcPrefix: '198.18.0.2/32',
  dst: null,
  port: 0,
  protocol: 'any',
  dryRun: false,
  expiresAtMs: Date.now() + 60_000,
  reason: 'test flood',
  approvedBy: 'admin',
  issuedAtMs: Date.now(),
  ...over,
});

run('edge agent mitigation', () => {
  const { ns, dir } = vethSuite('tma-ea-mitigate-');
  let agent: Agent;
  let rx: Receiver;
  let bystander: string;
  const reports: MitigationReport[] = [];

  beforeAll(async () => {
    bystander = addBystander(ns);
    looseRpFilter(ns);
    rx = await Receiver.open(ns.outerAddr, PORT);
  });
  afterAll(async () => {
    rx?.close();
    await agent?.stop(100);
    ns.destroy();
  });

  const start = async (extra: string[] = []) => {
    const { config } = loadConfig(agentArgs(ns.outer, '1s', dir(), ...extra), {});
    const log: Logger = (_level, event, fields) => {
      if (event === 'mitigation') reports.push({ ...fields, event: fields?.outcome } as unknown as MitigationReport);
    };
    agent = new Agent({ ...config, objectPath: OBJECT_PATH }, { log, out: () => undefined });
    await agent.start();
    return agent;
  };
  /** Sends N datagrams from each source at once; what the receiver got from each. */
  const both = async () => {
    await Promise.all([burst(ns, ns.innerAddr, N, ns.outerAddr, PORT), burst(ns, bystander, N, ns.outerAddr, PORT)]);
    return { flood: await rx.take(ns.innerAddr), other: await rx.take(bystander) };
  };

  it('an applied rule drops ≥ 99 % of the flood at once, other traffic still flows; the rule ends on time', async () => {
    await start();
    const m = agent.mitigation!;
    const before = await both();
    expect(before.flood).toBeGreaterThanOrEqual(N * 0.99);
    expect(before.other).toBeGreaterThanOrEqual(N * 0.99);

    const ttlMs = 4000;
    const applied = m.handle(command({ srcPrefix: `${ns.innerAddr}/32`, expiresAtMs: Date.now() + ttlMs }));
    const appliedAt = Date.now();
    expect(applied).toMatchObject({ event: 'APPLIED', ruleId: 'rule-1', packets: 0 });
    const during = await both();
    expect(during.flood).toBeLessThanOrEqual(N * 0.01);
    expect(during.other).toBeGreaterThanOrEqual(N * 0.99);
    const [counted] = m.counters();
    expect(counted.count.packets).toBeGreaterThanOrEqual(N * 0.99);
    expect(counted.count.packets + during.flood).toBe(N);

    // expiry: the kernel stops matching at the deadline, with no help from user space
    await new Promise((r) => setTimeout(r, Math.max(0, appliedAt + ttlMs + 100 - Date.now())));
    const after = await both();
    expect(after.flood).toBeGreaterThanOrEqual(N * 0.99);
    expect(new BlockMap(agentKernel(agent)).list()).toEqual([]); // the kernel deleted it
    // the agent's interval tick reported the expiry with the final counts and freed the slot
    m.tick();
    expect(reports.filter((r) => r.ruleId === 'rule-1').map((r) => [r.event, r.packets])).toContainEqual([
      'EXPIRED',
      counted.count.packets,
    ]);
    expect(m.size).toBe(0);
  }, 120_000);

  it('dry-run counts what it would drop and drops nothing', async () => {
    const m = agent.mitigation!;
    m.handle(command({ ruleId: 'dry', srcPrefix: `${ns.innerAddr.replace(/\.\d+$/, '.0')}/24`, dryRun: true }));
    const r = await both();
    expect(r.flood).toBeGreaterThanOrEqual(N * 0.99);
    expect(r.other).toBeGreaterThanOrEqual(N * 0.99);
    const dry = m.counters().find((c) => c.rule.ruleId === 'dry')!;
    expect(dry.count.packets).toBe(2 * N); // both sources are in the /24
    // removed by a later version; an old version delivered again is a no-op
    const v = version;
    expect(m.handle(command({ ruleId: 'dry', action: 'REMOVE' }))).toMatchObject({ event: 'REMOVED', packets: 2 * N });
    expect(m.handle(command({ ruleId: 'dry', version: v, dryRun: true }))).toBeNull();
    expect(m.size).toBe(0);
  }, 60_000);

  it('re-delivery is a no-op; protected addresses, a second rule on one prefix and the cap are refused', async () => {
    const m = agent.mitigation!;
    const c = command({ ruleId: 'a', srcPrefix: '192.0.2.0/24' });
    expect(m.handle(c)).toMatchObject({ event: 'APPLIED' });
    expect(m.handle(c)).toBeNull();
    expect(m.handle(command({ ruleId: 'b', srcPrefix: '192.0.2.0/24' }))).toMatchObject({
      event: 'REFUSED',
      detail: expect.stringMatching(/already blocks/),
    });
    // the default broker address (127.0.0.1:9092) is protected
    expect(m.handle(command({ ruleId: 'c', srcPrefix: '127.0.0.0/8' }))).toMatchObject({
      event: 'REFUSED',
      detail: expect.stringMatching(/127\.0\.0\.1/),
    });
    expect(m.handle(command({ ruleId: 'd', hosts: ['another-host'], srcPrefix: '192.0.3.0/24' }))).toBeNull();
    m.handle(command({ ruleId: 'a', action: 'REMOVE' }));
    await agent.stop(100);

    await start(['--mitigation-max-rules', '2']);
    const m2 = agent.mitigation!;
    expect(m2.handle(command({ ruleId: 'x1', srcPrefix: '192.0.2.0/24' }))?.event).toBe('APPLIED');
    expect(m2.handle(command({ ruleId: 'x2', srcPrefix: '192.0.3.0/24' }))?.event).toBe('APPLIED');
    expect(m2.handle(command({ ruleId: 'x3', srcPrefix: '192.0.4.0/24' }))).toMatchObject({
      event: 'REFUSED',
      detail: expect.stringMatching(/cap of 2/),
    });
  }, 60_000);
});

/** The agent's loaded object (a test peeks at its maps). */
function agentKernel(a: Agent) {
  return (a as unknown as { kernel: ConstructorParameters<typeof BlockMap>[0] }).kernel;
}
