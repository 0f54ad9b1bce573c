// Fault: the disk under an edge agent's spool fills up while the broker is down, end to end. The testbed runs one
// host and its agent (eBPF) with its spool and state on a small tmpfs mounted for the case; the broker is killed,
// the spool fills, the agent keeps counting and drops its oldest spooled snapshots, counting them; the drop count
// travels in its next snapshots. When the broker is back the rest is delivered. The accounting must close exactly:
// stored totals = what the testbed sent − the packets and bytes of the dropped snapshots (from the agent's own log
// of every snapshot it took), the dropped ones are exactly the count the agent published, and nothing is counted
// twice. Needs root, like the outage case. apps/edge-agent/src/disk-full.spec.ts covers the agent alone: drop
// order, torn writes, state retries, spooling again once space is back.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decode, snapshotTopic } from '@tma/schema';
import { createStorage, type Storage } from '@tma/storage';
import { committedToEnd, createTopics, readDeadLetters, readTopic, uniquePrefix, waitFor } from '../support/kafka';
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
  agentEvents,
  agentLogTail,
  agentsUnavailable,
  buildForAgents,
  endWhenDelivered,
  finished,
  groundTruth,
  spooled,
  startAgents,
} from '../support/agents-run';
import { storedTotals } from '../support/test-bed';

jest.setTimeout(360_000);

const OUTAGE_MS = 30_000;
const why = agentsUnavailable();
const maybe = why.length ? it.skip : it;
if (why.length) process.stderr.write(`disk-full-agent skipped: ${why.join('; ')}\n`);

const prefix = uniquePrefix('fkdisk');
const database = `tma_fkdisk_${randomBytes(4).toString('hex')}`;
let dataDir = '';
let stateDir = '';
let mnt = '';
let mounted = false;
let broker: OwnBroker | undefined;
const children: Child[] = [];
let storage: Storage | undefined;

beforeAll(async () => {
  if (why.length) return;
  dataDir = mkdtempSync(join(tmpdir(), 'tma-fault-disk-'));
  stateDir = mkdtempSync(join(tmpdir(), 'tma-fault-disk-state-'));
  mnt = mkdtempSync(join(tmpdir(), 'tma-fault-disk-spool-'));
  // Two or three snapshots of a traffic round (~100 KB each here): the outage fills it.
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=256k', 'tmpfs', mnt]);
  mounted = true;
  broker = ownBroker(ownBrokerPort(20));
  buildForAgents();
  await broker.start();
  await createTopics(prefix, 1, broker.client);
}, 240_000);

afterAll(async () => {
  for (const c of children) if (c.proc.exitCode === null && c.proc.signalCode === null) c.proc.kill('SIGTERM');
  await Promise.all(children.map((c) => c.exited));
  await storage?.close();
  await broker?.remove();
  if (mounted) execFileSync('umount', [mnt]);
  for (const d of [dataDir, mnt]) if (d) rmSync(d, { recursive: true, force: true });
  if (stateDir) keepOrRemove(stateDir);
}, 60_000);

maybe('disk full under the spool while the broker is down: totals = sent − the counted drops, exactly', async () => {
  const b = broker!;
  const spoolDir = join(mnt, 'spool');
  mkdirSync(spoolDir);
  const agg = spawnNode(
    [AGGREGATOR],
    aggregatorEnv({ prefix, dataDir, database, partitions: 1 }, { ...LOOPBACK_HTTP, TMA_KAFKA_BROKERS: b.brokers }),
    /on (http:\/\/[\d.:]+)/,
  );
  children.push(agg);
  const url = await agg.ready;
  const run = await startAgents({
    prefix,
    brokers: b.brokers,
    stateDir,
    hosts: 1,
    interval: '2s',
    durationS: OUTAGE_MS / 1000 + 240, // ended by endWhenDelivered
    env: { TMA_AGENT_SPOOL_DIR: spoolDir },
  });
  children.push(run.testbed);
  const runDir = run.runDir();
  // The aggregator knows the stream before the outage, so every drop is a gap in a sequence it has seen (across
  // the rejoin after the broker is back).
  await waitFor(
    'the aggregator taking the first snapshot',
    async () => ((await metricSum(url, SNAPSHOTS_TAKEN)) > 0 ? true : undefined),
    120_000,
  );

  const killedAt = Date.now();
  await b.kill9();
  await waitFor(
    'the agent dropping spooled snapshots',
    async () => (agentEvents(runDir, 1).some((e) => e.event === 'spool_full_dropped_oldest') ? true : undefined),
    OUTAGE_MS + 30_000,
  );
  await new Promise((r) => setTimeout(r, Math.max(0, killedAt + OUTAGE_MS - Date.now())));
  const takenBefore = await metricSum(url, SNAPSHOTS_TAKEN);
  await b.start();
  const backAt = Date.now();
  report('disk full under the spool', `broker down ${(OUTAGE_MS / 1000).toFixed(0)} s, back after`, backAt - killedAt);
  await waitFor(
    'the aggregator taking snapshots again',
    async () => ((await metricSum(url, SNAPSHOTS_TAKEN)) > takenBefore ? true : undefined),
    120_000,
  );
  report('disk full under the spool', 'broker back to the aggregator taking snapshots', Date.now() - backAt);
  const drainFrom = Date.now();
  const drained = await endWhenDelivered(run, [spoolDir], 3_000);
  report('disk full under the spool', "broker back to the agent's spool delivered", drainFrom + drained - backAt);

  await finished(run);
  const left = spooled(spoolDir);
  if (left > 0) throw new Error(`the agent stopped with ${left} snapshots spooled:\n${agentLogTail(runDir, 1)}`);
  await waitFor(
    'every offset committed',
    () => committedToEnd(`${prefix}-group`, snapshotTopic(prefix), b.client),
    120_000,
    500,
  );
  report('disk full under the spool', 'broker back to every offset committed', Date.now() - backAt);
  expect(await metricSum(url, OPEN_WINDOWS)).toBe(0);
  // Only the agent's last partial interval on stop may be refused (shorter than 1 s, after the traffic: no packets).
  const dlqN = await metricSum(url, /^tma_aggregator_dlq_total\{[^}]*\} (\d+)/);
  const dead = dlqN > 0 ? await readDeadLetters(prefix, dlqN, 20_000, b.client) : [];
  const outcomes = (await (await fetch(`${url}/metrics`)).text())
    .split('\n')
    .filter((l) => /^tma_aggregator_(snapshots_total|sequence|dlq_total)/.test(l));
  expect(dead.filter((d) => d.reason !== 'invalid-interval')).toEqual([]);
  await stopGracefully(agg);

  // What the agent took (its log of every snapshot) against what reached Kafka.
  const taken = new Map<number, { packets: number; bytes: number }>();
  for (const e of agentEvents(runDir, 1).filter((e) => e.event === 'snapshot'))
    taken.set(Number(e.sequence), { packets: Number(e.packets), bytes: Number(e.bytes) });
  const delivered = (await readTopic(snapshotTopic(prefix), b.client)).map((v) => decode(v).snapshot);
  const seqs = delivered.map((s) => Number(s.sequence));
  expect(new Set(seqs).size).toBe(seqs.length); // the agent sent each once
  const dropped = [...taken.keys()].filter((s) => !seqs.includes(s));
  const lost = dropped.reduce(
    (a, s) => ({ packets: a.packets + taken.get(s)!.packets, bytes: a.bytes + taken.get(s)!.bytes }),
    {
      packets: 0,
      bytes: 0,
    },
  );
  const sent = delivered.reduce((a, s) => a + Number(s.totals.packets), 0);
  process.stdout.write(
    `[fault] disk full under the spool: ${taken.size} snapshots taken, ${dropped.length} dropped (${lost.packets} packets), ${seqs.length} delivered (${sent} packets)\n${outcomes.join('\n')}\n`,
  );
  expect(dropped.length).toBeGreaterThan(0);
  // The drops were counted and published: the newest snapshot says how many.
  expect(Math.max(...delivered.map((s) => Number(s.spoolDrops)))).toBe(dropped.length);

  const truth = groundTruth(runDir);
  storage = await createStorage({ kind: 'chdb', path: dataDir, database });
  const t = await storedTotals(storage);
  expect({ packets: t.packets, bytes: t.bytes }).toEqual({
    packets: truth.packets - lost.packets,
    bytes: truth.bytes - lost.bytes,
  });
  // Nothing doubled: each delivered snapshot stored once; the aggregator saw the drops as sequence gaps.
  expect(t.snapshots).toBe(seqs.length - dead.length);
  // The aggregator's own view of the drops: a sequence gap for each, exactly, though its consumer rejoined in between
  // (stored rows or its memory give the stream's last sequence).
  const [g] = await storage.query<{ gaps: string; host_gaps: string }>(
    `SELECT sum(gaps) AS gaps, sum(arraySum(host_gaps)) AS host_gaps FROM {database}.agg_partials FINAL WHERE tier = '1m'`,
  );
  process.stdout.write(`[fault] disk full under the spool: sequence gaps stored ${g.gaps} (drops ${dropped.length})\n`);
  expect(Math.min(...seqs)).toBe(0);
  expect([Number(g.gaps), Number(g.host_gaps)]).toEqual([dropped.length, dropped.length]);
  expect(await overlappingOffsetRanges(storage)).toBe(0);
});
