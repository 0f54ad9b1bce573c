// Fault: the Kafka broker down (kill -9) for a while with real edge agents running. The testbed (tools/testbed)
// runs 2 hosts in network namespaces, an agent on each (eBPF), and replays traffic whose ground truth it knows; the
// agents spool their snapshots to disk while the broker is away and replay them in order when it returns. The
// aggregator process stores what arrives; its totals must equal the packets and bytes the testbed sent. Outage:
// TMA_FAULT_OUTAGE_S seconds (default 15, to keep the suite short; 60 s has not been measured yet).
// Needs root and the testbed's tools, like the testbed's own end-to-end test. Opt-in (TMA_FAULT_AGENTS=1) until it
// is reliable: 1 of 5 runs by hand passed (totals exact); in 3 others the group's committed offsets had not reached
// the end of the log 60–150 s after the testbed ended (open windows 0, lag 0 on the partitions reported), in 1 an
// agent stopped with snapshots still in its spool (the run was too short then; traffic now goes on 45 s after the
// outage).
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createStorage, type Storage } from '@tma/storage';
import { snapshotTopic } from '@tma/schema';
import { committedToEnd, createTopics, readDeadLetters, uniquePrefix, waitFor } from '../support/kafka';
import { ownBroker, ownBrokerPort, type OwnBroker } from '../support/own-broker';
import {
  AGGREGATOR,
  aggregatorEnv,
  buildDist,
  LOOPBACK_HTTP,
  metricSum,
  OPEN_WINDOWS,
  report,
  root,
  spawnNode,
  stopGracefully,
  type Child,
} from '../support/processes';
import { storedTotals } from '../support/test-bed';

jest.setTimeout(420_000);

const OUTAGE_MS = Number(process.env.TMA_FAULT_OUTAGE_S ?? 15) * 1000;
const TOOLS = ['ip', 'nsenter', 'tcpreplay', 'ethtool'];
const why: string[] = [];
if (process.env.TMA_FAULT_AGENTS !== '1') why.push('opt-in: TMA_FAULT_AGENTS=1 (not yet reliable, see the header)');
if (process.getuid?.() !== 0) why.push('needs root (network namespaces, BPF)');
for (const t of TOOLS) {
  try {
    execFileSync('which', [t], { stdio: 'ignore' });
  } catch {
    why.push(`missing tool ${t}`);
  }
}
const maybe = why.length ? it.skip : it;
if (why.length) process.stderr.write(`broker-outage-agents skipped: ${why.join('; ')}\n`);

const prefix = uniquePrefix('fkout');
const database = `tma_fkout_${randomBytes(4).toString('hex')}`;
// Made in beforeAll: a skipped file leaves nothing behind.
let dataDir = '';
let stateDir = '';
let broker: OwnBroker;
const children: Child[] = [];
let storage: Storage | undefined;

beforeAll(async () => {
  if (why.length) return;
  dataDir = mkdtempSync(join(tmpdir(), 'tma-fault-outage-'));
  stateDir = mkdtempSync(join(tmpdir(), 'tma-fault-outage-state-'));
  broker = ownBroker(ownBrokerPort(10));
  execFileSync('make', ['-s', '-C', join(root, 'bpf')], { stdio: 'inherit' });
  buildDist('apps/aggregator', 'apps/edge-agent', 'tools/testbed');
  await broker.start();
  await createTopics(prefix, 2, broker.client);
}, 240_000);

afterAll(async () => {
  for (const c of children) if (c.proc.exitCode === null && c.proc.signalCode === null) c.proc.kill('SIGTERM');
  await Promise.all(children.map((c) => c.exited));
  await storage?.close();
  await broker?.remove();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  if (stateDir) rmSync(stateDir, { recursive: true, force: true });
}, 60_000);

maybe('broker down with edge agents spooling: the stored totals equal what the testbed sent', async () => {
  const agg = spawnNode(
    [AGGREGATOR],
    aggregatorEnv(
      { prefix, dataDir, database, partitions: 2 },
      { ...LOOPBACK_HTTP, TMA_KAFKA_BROKERS: broker.brokers },
    ),
    /on (http:\/\/[\d.:]+)/,
  );
  children.push(agg);
  const url = await agg.ready;
  // Traffic goes on after the outage long enough for the broker to restart (~20 s) and the agents to replay their
  // spools: an agent stopped with a backlog keeps it on disk for its next start, which this run never has.
  const durationS = Math.ceil(OUTAGE_MS / 1000) + 45;
  const testbed = spawnNode(
    [join(root, 'tools/testbed/dist/main.js'), '--hosts', '2', '--interval', '2s', '--duration', `${durationS}s`],
    {
      ...process.env,
      TMA_KAFKA_BROKERS: broker.brokers,
      TMA_AGENT_TOPIC_PREFIX: prefix,
      TMA_STATE_DIR: stateDir,
    },
    /round 1:/,
  );
  children.push(testbed);
  await testbed.ready;

  const killedAt = Date.now();
  await broker.kill9();
  await new Promise((r) => setTimeout(r, OUTAGE_MS));
  await broker.start();
  report(
    'broker outage, agents spooling',
    `broker down for ${(OUTAGE_MS / 1000).toFixed(0)} s, back after`,
    Date.now() - killedAt,
  );

  const exit = await testbed.exited;
  if (exit.code !== 0)
    throw new Error(`testbed exited ${JSON.stringify(exit)}:\n${testbed.output.join('').slice(-4000)}`);
  try {
    await waitFor(
      'every offset committed',
      () => committedToEnd(`${prefix}-group`, snapshotTopic(prefix), broker.client),
      150_000,
      500,
    );
  } catch (err) {
    const m = await fetch(`${url}/metrics`).then(
      (r) => r.text(),
      (e: Error) => e.message,
    );
    throw new Error(
      `${(err as Error).message}\nmetrics:\n${m
        .split('\n')
        .filter((l) => /^tma_aggregator_(snapshots|dlq|dropped|open|consumer|paused|write_errors|watermark)/.test(l))
        .join(
          '\n',
        )}\naggregator:\n${agg.output.join('').slice(-3000)}\ntestbed:\n${testbed.output.join('').slice(-2500)}`,
    );
  }
  report('broker outage, agents spooling', 'broker back to every offset committed', Date.now() - killedAt - OUTAGE_MS);
  const m = await (await fetch(`${url}/metrics`)).text();
  process.stdout.write(
    `${/kafka, final:.*/.exec(testbed.output.join(''))?.[0]}\n${m
      .split('\n')
      .filter((l) => /^tma_aggregator_(snapshots|dlq|dropped|sequence)/.test(l))
      .join('\n')}\n`,
  );
  expect(await metricSum(url, OPEN_WINDOWS)).toBe(0);
  const dlqN = await metricSum(url, /^tma_aggregator_dlq_total\{[^}]*\} (\d+)/);
  const dead = await readDeadLetters(prefix, dlqN, 20_000, broker.client).catch((e: Error) => e.message);
  // The agents' last partial interval on stop may be shorter than 1 s (dead-lettered as invalid-interval); it
  // holds no packets here, since traffic has ended: the totals below would show it otherwise.
  process.stdout.write(`dead letters: ${JSON.stringify(dead).slice(0, 2000)}\n`);
  await stopGracefully(agg);

  const runs = readdirSync(join(stateDir, 'testbed')).filter((d) => d.startsWith('tma-'));
  expect(runs).toHaveLength(1);
  const runDir = join(stateDir, 'testbed', runs[0]);
  const truth = { packets: 0, bytes: 0 };
  for (const f of readdirSync(runDir).filter((n) => n.endsWith('.truth.json'))) {
    const t = JSON.parse(readFileSync(join(runDir, f), 'utf8')) as { packets: number; bytes: number };
    truth.packets += t.packets;
    truth.bytes += t.bytes;
  }
  expect(truth.packets).toBeGreaterThan(0);
  expect(existsSync(runDir)).toBe(true);
  storage = await createStorage({ kind: 'chdb', path: dataDir, database });
  const t = await storedTotals(storage);
  expect({ packets: t.packets, bytes: t.bytes }).toEqual(truth);
});
