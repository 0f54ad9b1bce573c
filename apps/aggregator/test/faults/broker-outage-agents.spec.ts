// Fault: the Kafka broker down (kill -9) for 60 s with real edge agents running. The testbed (tools/testbed) runs
// 2 hosts in network namespaces, an agent on each (eBPF), and replays traffic whose ground truth it knows; the
// agents spool their snapshots to disk while the broker is away and replay them in order when it returns. The
// aggregator process stores what arrives; its totals must equal the packets and bytes the testbed sent: 0 lost,
// 0 counted twice. TMA_FAULT_OUTAGE_S changes the outage (default 60). Needs root and the testbed's tools, like the
// testbed's own end-to-end test; skipped, saying why, otherwise (or with TMA_FAULT_AGENTS=0).
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createStorage, type Storage } from '@tma/storage';
import { snapshotTopic } from '@tma/schema';
import { committedToEnd, createTopics, readDeadLetters, uniquePrefix, waitFor } from '../support/kafka';
import { ownBroker, ownBrokerPort, type OwnBroker } from '../support/own-broker';
import {
  AGGREGATOR,
  aggregatorEnv,
  LOOPBACK_HTTP,
  metricSum,
  OPEN_WINDOWS,
  overlappingOffsetRanges,
  report,
  SNAPSHOTS_TAKEN,
  spawnNode,
  stopGracefully,
  type Child,
} from '../support/processes';
import {
  keepOrRemove,
  agentLogTail,
  agentsUnavailable,
  buildForAgents,
  defaultSpoolDir,
  endWhenDelivered,
  finished,
  groundTruth,
  spooled,
  startAgents,
} from '../support/agents-run';
import { storedTotals } from '../support/test-bed';

jest.setTimeout(360_000);

const OUTAGE_MS = Number(process.env.TMA_FAULT_OUTAGE_S ?? 60) * 1000;
const HOSTS = 2;
const why = agentsUnavailable();
const maybe = why.length ? it.skip : it;
if (why.length) process.stderr.write(`broker-outage-agents skipped: ${why.join('; ')}\n`);

const prefix = uniquePrefix('fkout');
const database = `tma_fkout_${randomBytes(4).toString('hex')}`;
// Made in beforeAll: a skipped file leaves nothing behind.
let dataDir = '';
let stateDir = '';
let broker: OwnBroker | undefined;
const children: Child[] = [];
let storage: Storage | undefined;

beforeAll(async () => {
  if (why.length) return;
  dataDir = mkdtempSync(join(tmpdir(), 'tma-fault-outage-'));
  stateDir = mkdtempSync(join(tmpdir(), 'tma-fault-outage-state-'));
  broker = ownBroker(ownBrokerPort(10));
  buildForAgents();
  await broker.start();
  await createTopics(prefix, 2, broker.client);
}, 240_000);

afterAll(async () => {
  for (const c of children) if (c.proc.exitCode === null && c.proc.signalCode === null) c.proc.kill('SIGTERM');
  await Promise.all(children.map((c) => c.exited));
  await storage?.close();
  await broker?.remove();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  if (stateDir) keepOrRemove(stateDir);
}, 60_000);

maybe('broker down 60 s with edge agents spooling: the stored totals equal what the testbed sent', async () => {
  const b = broker!;
  const agg = spawnNode(
    [AGGREGATOR],
    aggregatorEnv({ prefix, dataDir, database, partitions: 2 }, { ...LOOPBACK_HTTP, TMA_KAFKA_BROKERS: b.brokers }),
    /on (http:\/\/[\d.:]+)/,
  );
  children.push(agg);
  const url = await agg.ready;
  // Traffic goes on after the outage until the agents have replayed their spools (endWhenDelivered); the duration
  // only bounds a run that never gets there.
  const run = await startAgents({
    prefix,
    brokers: b.brokers,
    stateDir,
    hosts: HOSTS,
    durationS: Math.ceil(OUTAGE_MS / 1000) + 240,
  });
  children.push(run.testbed);

  const killedAt = Date.now();
  await b.kill9();
  await new Promise((r) => setTimeout(r, OUTAGE_MS));
  const takenBefore = await metricSum(url, SNAPSHOTS_TAKEN);
  await b.start();
  const backAt = Date.now();
  report('broker down 60 s, agents spooling', 'kill to broker answering again', backAt - killedAt);
  await waitFor(
    'the aggregator taking snapshots again',
    async () => ((await metricSum(url, SNAPSHOTS_TAKEN)) > takenBefore ? true : undefined),
    120_000,
  );
  report('broker down 60 s, agents spooling', 'broker back to the aggregator taking snapshots', Date.now() - backAt);
  const runDir = run.runDir();
  const spools = Array.from({ length: HOSTS }, (_, i) => defaultSpoolDir(runDir, i + 1));
  const drainFrom = Date.now();
  const drained = await endWhenDelivered(run, spools, 4_000);
  report(
    'broker down 60 s, agents spooling',
    "broker back to the agents' spools delivered",
    drainFrom + drained - backAt,
  );

  await finished(run);
  // Every agent stopped with its spool delivered (else the totals below miss what is still on its disk).
  for (let h = 1; h <= HOSTS; h++) {
    const left = spooled(defaultSpoolDir(runDir, h));
    if (left > 0) throw new Error(`agent h${h} stopped with ${left} snapshots spooled:\n${agentLogTail(runDir, h)}`);
  }
  await waitFor(
    'every offset committed',
    () => committedToEnd(`${prefix}-group`, snapshotTopic(prefix), b.client),
    120_000,
    500,
  ).catch(async (err: Error) => {
    const m = await fetch(`${url}/metrics`).then(
      (r) => r.text(),
      (e: Error) => e.message,
    );
    const lines = m
      .split('\n')
      .filter((l) => /^tma_aggregator_(snapshots|dlq|open|consumer|paused|write_errors)/.test(l));
    throw new Error(`${err.message}\nmetrics:\n${lines.join('\n')}\naggregator:\n${agg.output.join('').slice(-3000)}`);
  });
  report('broker down 60 s, agents spooling', 'broker back to every offset committed', Date.now() - backAt);
  process.stdout.write(`${/kafka, final:.*/.exec(run.testbed.output.join(''))?.[0]}\n`);
  expect(await metricSum(url, OPEN_WINDOWS)).toBe(0);
  const dlqN = await metricSum(url, /^tma_aggregator_dlq_total\{[^}]*\} (\d+)/);
  // The agents' last partial interval on stop may be shorter than 1 s (dead-lettered as invalid-interval); it
  // holds no packets here, since traffic has ended: the totals below would show it otherwise.
  const dead = dlqN > 0 ? await readDeadLetters(prefix, dlqN, 20_000, b.client) : [];
  expect(dead.filter((d) => d.reason !== 'invalid-interval')).toEqual([]);
  await stopGracefully(agg);

  const truth = groundTruth(runDir);
  expect(truth.packets).toBeGreaterThan(0);
  storage = await createStorage({ kind: 'chdb', path: dataDir, database });
  const t = await storedTotals(storage);
  expect({ packets: t.packets, bytes: t.bytes }).toEqual(truth);
  expect(await overlappingOffsetRanges(storage)).toBe(0);
});
