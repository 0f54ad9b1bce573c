// ClickHouse down: the aggregator pauses consumption, commits nothing, reports not ready, retries; when ClickHouse
// is back it writes everything once and the totals equal the ground truth.
import { snapshotTopic } from '@tma/schema';
import { sendMessages } from '@tma/fleet-sim';
import { failingPartialWrites } from './support/faults';
import { kafka, producer, waitFor } from './support/kafka';
import { metric } from './support/metrics';
import { storedTotals, useTestBed, waitUntilStored } from './support/test-bed';

jest.setTimeout(180_000);

const bed = useTestBed({ name: 'bp', partitions: 2, hosts: 16, seed: 404, minutesAgo: 15 });
const { prefix, sim } = bed;

it('pauses while ClickHouse is down, commits nothing, then catches up exactly once', async () => {
  const state = { down: true };
  const p = await producer();
  for (let r = 0; r < 12; r++) await sendMessages(p, snapshotTopic(prefix), sim.nextRound());
  await p.disconnect();
  const agg = await bed.start({ storage: failingPartialWrites(bed.store.storage, state), logger: false });
  expect(agg.url).toBeNull(); // hosted on a shared storage: no HTTP server of its own

  await waitFor('paused after failed writes', async () => {
    const text = await agg.metricsText();
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
  await waitUntilStored(bed.store.storage, expected.snapshots);
  await waitFor('resumed and ready', async () => (agg.readiness() === null ? true : undefined));
  const t = await storedTotals(bed.store.storage);
  expect([t.packets, t.snapshots]).toEqual([expected.packets, expected.snapshots]);
  expect(metric(await agg.metricsText(), 'tma_aggregator_paused')).toBe(0);
});
