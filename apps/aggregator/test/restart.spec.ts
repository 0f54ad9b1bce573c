// kafkajs stops a consumer for good after an error it does not retry; the aggregator starts a new one with backoff,
// says why in its log, becomes ready again and still stores every snapshot exactly once.
import type { LoggerService } from '@nestjs/common';
import { snapshotTopic } from '@tma/schema';
import { FleetSimulator, sendMessages } from '@tma/fleet-sim';
import { startAggregator, type AggregatorHandle } from '@tma/aggregation';
import { openTestStore, type TestStore } from '@tma/storage/testing';
import { createTopics, deleteTopics, producer, uniquePrefix, waitFor } from './support/kafka';
import { metric } from './support/metrics';

jest.setTimeout(180_000);

const MINUTE = 60_000;
const T0 = Math.floor(Date.now() / MINUTE) * MINUTE - 10 * MINUTE;
const prefix = uniquePrefix('rs');
const sim = new FleetSimulator({ hosts: 8, seed: 505, startMs: T0, intervalMs: 10_000 });
let store: TestStore;
let agg: AggregatorHandle | undefined;
const lines: string[] = [];
const logger: LoggerService = {
  log: (m: unknown) => void lines.push(`log ${String(m)}`),
  warn: (m: unknown) => void lines.push(`warn ${String(m)}`),
  error: (m: unknown) => void lines.push(`error ${String(m)}`),
};

beforeAll(async () => {
  store = await openTestStore('rs');
  await createTopics(prefix, 2);
});

afterAll(async () => {
  await agg?.close();
  await store?.close();
  await deleteTopics(prefix);
});

it('restarts a consumer kafkajs gave up on, with backoff, and stores every snapshot once', async () => {
  const p = await producer();
  for (let r = 0; r < 12; r++) await sendMessages(p, snapshotTopic(prefix), sim.nextRound());
  await p.disconnect();
  agg = await startAggregator({
    env: {
      ...process.env,
      TMA_TOPIC_PREFIX: prefix,
      TMA_AGG_GROUP_ID: `${prefix}-group`,
      TMA_AGG_TOPIC_PARTITIONS: '2',
      TMA_AGG_ALLOWED_LATENESS: '5s',
      TMA_AGG_IDLE_CLOSE: '1s',
      TMA_AGG_FLUSH_INTERVAL: '200ms',
      TMA_AGG_ROLLUP_DELAY: '500ms',
      TMA_AGG_FAULT_CRASH_BATCHES: '2',
    },
    storage: store.storage,
    logger,
  });
  const expected = sim.truth.totals();
  await waitFor('everything stored after the restarts', async () => {
    const [r] = await store.storage.query<{ n: string }>(
      `SELECT sum(snapshots) AS n FROM {database}.agg_partials FINAL WHERE tier = '1m'`,
    );
    return Number(r.n) >= expected.snapshots ? true : undefined;
  });
  await waitFor('ready again', async () => (agg!.readiness() === null ? true : undefined));
  const [t] = await store.storage.query<{ packets: string; snapshots: string }>(
    `SELECT sum(packets) AS packets, sum(snapshots) AS snapshots FROM {database}.agg_partials FINAL WHERE tier = '1m'`,
  );
  expect([Number(t.packets), Number(t.snapshots)]).toEqual([expected.packets, expected.snapshots]);
  // Two crashes, each logged with its cause and the delay (1 s, then 2 s unless a batch went through in between).
  const stopped = lines.filter((l) => l.includes('consumer stopped by an error kafkajs does not retry'));
  expect(stopped).toHaveLength(2);
  expect(stopped[0]).toMatch(/injected non-retriable failure 1 .*starting a new consumer in 1s \(attempt 1\)/);
  expect(stopped[1]).toMatch(
    /injected non-retriable failure 2 .*starting a new consumer in (1s \(attempt 1\)|2s \(attempt 2\))/,
  );
  expect(lines.filter((l) => l.includes('consumer restarted'))).toHaveLength(2);
  expect(metric(await agg.metricsText(), 'tma_aggregator_consumer_restarts_total')).toBe(2);
});
