// From an approved command on the real broker to the kernel (root, a veth pair of its own): the agent's CLI, attached
// by netlink TC filters (which outlive the process), reads the commands topic, applies the rule and reports it on the
// reports topic; killed with SIGKILL, the program it left keeps dropping the flood, and at the rule's expiry the
// kernel alone stops dropping and deletes the rule.
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { Kafka, logLevel, Partitioners } from 'kafkajs';
import { TmaKernel } from '@tma/kernel';
import { rootDescribe } from '@tma/kernel/testing';
import {
  mitigationCommandCodec,
  mitigationCommandTopic,
  mitigationReportCodec,
  mitigationReportTopic,
  type MitigationCommand,
} from '@tma/schema';
import { startCli } from './test-support/cli';
import { addBystander, burst, looseRpFilter, Receiver } from './test-support/flood';
import { consume, deleteTopic, kafkaSettings } from './test-support/kafka';
import { vethSuite } from './test-support/suite';

const run = rootDescribe('edge-agent mitigation over Kafka tests');
const PORT = 9778;
const N = 3000;

/** The rules map of the program attached to the interface's TC ingress, from the kernel's own view. */
function ruleEntries(ifname: string): unknown[] {
  const filters = execFileSync('tc', ['filter', 'show', 'dev', ifname, 'ingress'], { encoding: 'utf8' });
  const progId = /\bid (\d+)/.exec(filters)?.[1];
  if (!progId) throw new Error(`no program on ${ifname} ingress:\n${filters}`);
  const prog = JSON.parse(execFileSync('bpftool', ['-j', 'prog', 'show', 'id', progId], { encoding: 'utf8' })) as {
    map_ids: number[];
  };
  for (const id of prog.map_ids) {
    const map = JSON.parse(execFileSync('bpftool', ['-j', 'map', 'show', 'id', String(id)], { encoding: 'utf8' })) as {
      name: string;
    };
    if (map.name === 'tma_block')
      return JSON.parse(execFileSync('bpftool', ['-j', 'map', 'dump', 'id', String(id)], { encoding: 'utf8' }));
  }
  throw new Error('the attached program has no tma_block map');
}

run('edge agent mitigation over Kafka', () => {
  const { ns, dir } = vethSuite('tma-ea-mitkafka-');
  const prefix = `tma-mit-${randomUUID().slice(0, 8)}`;
  let rx: Receiver;
  let bystander: string;

  beforeAll(async () => {
    bystander = addBystander(ns);
    looseRpFilter(ns);
    rx = await Receiver.open(ns.outerAddr, PORT);
  });
  afterAll(async () => {
    rx?.close();
    TmaKernel.removeStale(ns.ifindex);
    ns.destroy();
    await deleteTopic(mitigationCommandTopic(prefix));
    await deleteTopic(mitigationReportTopic(prefix));
  });

  const both = async () => {
    await Promise.all([burst(ns, ns.innerAddr, N, ns.outerAddr, PORT), burst(ns, bystander, N, ns.outerAddr, PORT)]);
    return { flood: await rx.take(ns.innerAddr), other: await rx.take(bystander) };
  };

  it('approval → agent applies and reports it; with the agent killed the kernel still drops, then expires it', async () => {
    const cli = startCli(
      [
        '--interfaces',
        ns.outer,
        '--interval',
        '1s',
        '--metrics-port',
        '0',
        '--spool-dir',
        dir(),
        '--tc-attach',
        'netlink',
        '--pin-dir',
        'off', // the netlink filter alone outlives the process: the rule map it holds is checked, nothing pinned
        '--host-id',
        'mit-e2e',
        '--topic-prefix',
        prefix,
      ],
      [],
      { TMA_KAFKA_BROKERS: kafkaSettings().brokers.join(',') },
    );
    try {
      await cli.waitFor('mitigation_commands_subscribed', 60_000);
      const ttlMs = 25_000;
      const cmd: MitigationCommand = {
        ruleId: 'e2e-rule',
        version: 1,
        action: 'APPLY',
        hosts: ['mit-e2e'],
        srcPrefix: `${ns.innerAddr}/32`,
        dst: ns.outerAddr,
        port: PORT,
        protocol: 'udp',
        dryRun: false,
        expiresAtMs: Date.now() + ttlMs,
        reason: 'e2e flood',
        approvedBy: 'admin',
        issuedAtMs: Date.now(),
      };
      const kafka = new Kafka({ ...kafkaSettings(), logLevel: logLevel.NOTHING });
      const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
      await producer.connect();
      const sentAt = Date.now();
      // sent twice: the second delivery is a no-op
      for (let i = 0; i < 2; i++)
        await producer.send({
          topic: mitigationCommandTopic(prefix),
          messages: [{ key: 'mit-e2e', value: mitigationCommandCodec.encode(cmd) }],
        });
      await producer.disconnect();
      const applied = await cli.waitFor('mitigation', 90_000);
      expect(applied).toMatchObject({ outcome: 'APPLIED', ruleId: 'e2e-rule', hostId: 'mit-e2e' });
      const [report] = await consume(mitigationReportTopic(prefix), 1, 90_000);
      expect(report.key).toBe('mit-e2e');
      expect(mitigationReportCodec.decode(report.value)).toMatchObject({ event: 'APPLIED', ruleId: 'e2e-rule' });
      const during = await both();
      expect(Date.now() - sentAt).toBeLessThan(ttlMs); // measured while the rule was in force
      expect(during.flood).toBeLessThanOrEqual(N * 0.01);
      expect(during.other).toBeGreaterThanOrEqual(N * 0.99);
      expect(cli.events().filter((e) => e.event === 'mitigation' && e.outcome === 'APPLIED')).toHaveLength(1);

      cli.child.kill('SIGKILL');
      await cli.exited;
      // the netlink filter and its program stay: the rule is still enforced by the kernel alone
      const orphaned = await both();
      expect(orphaned.flood).toBeLessThanOrEqual(N * 0.01);
      expect(ruleEntries(ns.outer)).toHaveLength(1);
      await new Promise((r) => setTimeout(r, Math.max(0, cmd.expiresAtMs + 200 - Date.now())));
      const expired = await both();
      expect(expired.flood).toBeGreaterThanOrEqual(N * 0.99);
      expect(expired.other).toBeGreaterThanOrEqual(N * 0.99);
      expect(ruleEntries(ns.outer)).toEqual([]); // deleted by the program at the first packet after the deadline
    } finally {
      if (cli.child.exitCode === null) cli.child.kill('SIGKILL');
    }
  }, 180_000);
});
