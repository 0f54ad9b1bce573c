// Fault: kill -9 of the Kafka broker while snapshots stream in and the aggregator (dist/main.js) consumes, twice;
// each time the broker stays down a few seconds and is restarted on its data directory. The case runs its own broker
// (support/own-broker.ts) so the run's shared one is not disturbed. The producer resends a round whose send failed,
// as an agent replays its spool: a copy Kafka had already stored must be dropped as a duplicate, never counted.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Producer } from 'kafkajs';
import { createStorage, type Storage } from '@tma/storage';
import { snapshotTopic } from '@tma/schema';
import { FleetSimulator, sendMessages } from '@tma/fleet-sim';
import { committedToEnd, createTopics, producer, uniquePrefix, waitFor } from '../support/kafka';
import { ownBroker } from '../support/own-broker';
import {
  AGGREGATOR,
  aggregatorEnv,
  buildDist,
  LOOPBACK_HTTP,
  metricSum,
  OPEN_WINDOWS,
  overlappingOffsetRanges,
  report,
  SHORT_SESSION,
  SNAPSHOTS_TAKEN,
  spawnNode,
  stopGracefully,
  type Child,
} from '../support/processes';
import { storedWindows, truthWindows } from '../support/test-bed';

jest.setTimeout(300_000);

const MINUTE = 60_000;
const OUTAGE_MS = 3_000;
const prefix = uniquePrefix('fkbroker');
const dataDir = mkdtempSync(join(tmpdir(), 'tma-fault-broker-'));
const database = `tma_fkbroker_${randomBytes(4).toString('hex')}`;
const sim = new FleetSimulator({
  hosts: 16,
  seed: 713,
  startMs: Math.floor(Date.now() / MINUTE) * MINUTE - 20 * MINUTE,
  intervalMs: 10_000,
});
const broker = ownBroker();
let storage: Storage | undefined;
let agg: Child | undefined;

beforeAll(async () => {
  buildDist('apps/aggregator');
  await broker.start();
  await createTopics(prefix, 4, broker.client);
}, 180_000);

afterAll(async () => {
  if (agg && agg.proc.exitCode === null && agg.proc.signalCode === null) agg.proc.kill('SIGKILL');
  await storage?.close();
  rmSync(dataDir, { recursive: true, force: true });
  await broker.remove();
}, 60_000);

/** Every round is sent until Kafka acknowledges it, resent after a failure. */
async function streamWithResend(p: Producer, rounds: number, gapMs: number, resends: { n: number }) {
  const topic = snapshotTopic(prefix);
  for (let r = 0; r < rounds; r++) {
    const messages = sim.nextRound();
    for (;;) {
      try {
        await sendMessages(p, topic, messages);
        break;
      } catch {
        resends.n++;
        await new Promise((res) => setTimeout(res, 500));
      }
    }
    await new Promise((res) => setTimeout(res, gapMs));
  }
}

it('kill -9 of the Kafka broker mid-stream, twice: producers and the aggregator recover, 0 lost, 0 counted twice', async () => {
  agg = spawnNode(
    [AGGREGATOR],
    aggregatorEnv(
      { prefix, dataDir, database, partitions: 4 },
      { ...SHORT_SESSION, ...LOOPBACK_HTTP, TMA_KAFKA_BROKERS: broker.brokers },
    ),
    /on (http:\/\/[\d.:]+)/,
  );
  const url = await agg.ready;
  const p = await producer(broker.client);
  const resends = { n: 0 };
  const stream = streamWithResend(p, 60, 400, resends);

  for (let kill = 1; kill <= 2; kill++) {
    await waitFor('snapshots taken', async () => ((await metricSum(url, SNAPSHOTS_TAKEN)) > 0 ? true : undefined));
    await new Promise((r) => setTimeout(r, 1_000 + Math.random() * 2_000));
    const takenBefore = await metricSum(url, SNAPSHOTS_TAKEN);
    const killedAt = Date.now();
    await broker.kill9();
    await new Promise((r) => setTimeout(r, OUTAGE_MS));
    await broker.start();
    report('broker kill -9', `kill ${kill}: broker ready again after`, Date.now() - killedAt);
    await waitFor(
      'aggregator taking snapshots again',
      async () => ((await metricSum(url, SNAPSHOTS_TAKEN)) > takenBefore ? true : undefined),
      120_000,
    );
    report('broker kill -9', `kill ${kill}: kill to aggregator taking snapshots again`, Date.now() - killedAt);
  }

  await stream;
  await p.disconnect();
  const t0 = Date.now();
  await waitFor(
    'every offset committed',
    () => committedToEnd(`${prefix}-group`, snapshotTopic(prefix), broker.client),
    120_000,
    500,
  );
  report('broker kill -9', `stream end to every offset committed (${resends.n} failed sends resent)`, Date.now() - t0);
  expect(await metricSum(url, OPEN_WINDOWS)).toBe(0);
  await stopGracefully(agg);

  storage = await createStorage({ kind: 'chdb', path: dataDir, database });
  expect(await storedWindows(storage)).toEqual(truthWindows(sim));
  expect(await overlappingOffsetRanges(storage)).toBe(0);
});
