// ClickHouse down: the aggregator pauses consumption, commits nothing, reports not ready, retries; when ClickHouse
// is back it writes everything once and the totals equal the ground truth.
import type { Storage } from '@tma/storage';
import { snapshotTopic } from '@tma/schema';
import { FleetSimulator, sendMessages } from '@tma/fleet-sim';
import { startAggregator, type AggregatorHandle } from '@tma/aggregation';
import { openTestStore, type TestStore } from '@tma/storage/testing';
import { createTopics, deleteTopics, kafka, producer, uniquePrefix, waitFor } from './support/kafka';
import { metric } from './support/metrics';

jest.setTimeout(180_000);

const MINUTE = 60_000;
const T0 = Math.floor(Date.now() / MINUTE) * MINUTE - 15 * MINUTE;
const prefix = uniquePrefix('bp');
const sim = new FleetSimulator({ hosts: 16, seed: 404, startMs: T0, intervalMs: 10_000 });
let store: TestStore;
let agg: AggregatorHandle | undefined;

/** The real storage, except that partial-row inserts fail while `down` is set (ClickHouse unreachable). */
function flaky(storage: Storage, state: { down: boolean }): Storage {
  return new Proxy(storage, {
    get(target, prop, receiver) {
      if (prop === 'insertRows') {
        return async (table: string, rows: readonly Record<string, unknown>[], options?: { dedupToken?: string }) => {
          if (state.down && table === 'agg_partials')
            throw new Error('connect ECONNREFUSED (simulated ClickHouse outage)');
          return target.insertRows(table, rows, options);
        };
      }
      const v = Reflect.get(target, prop, receiver);
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
}

beforeAll(async () => {
  store = await openTestStore('bp');
  await createTopics(prefix, 2);
});

afterAll(async () => {
  await agg?.close();
  await store?.close();
  await deleteTopics(prefix);
});

it('pauses while ClickHouse is down, commits nothing, then catches up exactly once', async () => {
  const state = { down: true };
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
    },
    storage: flaky(store.storage, state),
    logger: false,
  });
  expect(agg.url).toBeNull(); // hosted on a shared storage: no HTTP server of its own

  await waitFor('paused after failed writes', async () => {
    const text = await agg!.metricsText();
    return metric(text, 'tma_aggregator_paused') === 1 && metric(text, 'tma_aggregator_write_errors_total') >= 2
      ? true
      : undefined;
  });
  expect(agg.readiness()).toMatch(/ClickHouse writes are failing/);
  const admin = kafka.admin();
  await admin.connect();
  const committed = await admin.fetchOffsets({ groupId: `${prefix}-group`, topics: [snapshotTopic(prefix)] });
  await admin.disconnect();
  expect(committed[0].partitions.every((x) => Number(x.offset) < 0)).toBe(true); // nothing committed while down

  state.down = false;
  const expected = sim.truth.totals();
  await waitFor('caught up', async () => {
    const [r] = await store.storage.query<{ n: string }>(
      `SELECT sum(snapshots) AS n FROM {database}.agg_partials FINAL WHERE tier = '1m'`,
    );
    return Number(r.n) >= expected.snapshots ? true : undefined;
  });
  await waitFor('resumed and ready', async () => (agg!.readiness() === null ? true : undefined));
  const [t] = await store.storage.query<{ packets: string; snapshots: string }>(
    `SELECT sum(packets) AS packets, sum(snapshots) AS snapshots FROM {database}.agg_partials FINAL WHERE tier = '1m'`,
  );
  expect([Number(t.packets), Number(t.snapshots)]).toEqual([expected.packets, expected.snapshots]);
  expect(metric(await agg.metricsText(), 'tma_aggregator_paused')).toBe(0);
});
