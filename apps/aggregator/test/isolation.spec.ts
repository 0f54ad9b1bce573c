// One window ClickHouse keeps refusing does not stop the others: they are written and committed, the refused one is
// dead-lettered with its reason and offset range, and the instance keeps going.
import { snapshotTopic } from '@tma/schema';
import { sendMessages } from '@tma/fleet-sim';
import { poisonedWindows } from './support/faults';
import { committedToEnd, producer, readDeadLetters, waitFor } from './support/kafka';
import { metric } from './support/metrics';
import { useTestBed } from './support/test-bed';

jest.setTimeout(180_000);

const bed = useTestBed({ name: 'iso', partitions: 3, hosts: 12, seed: 77, minutesAgo: 10 });
const { prefix, sim } = bed;

it('writes and commits every other window when one window cannot be written', async () => {
  const p = await producer();
  for (let r = 0; r < 12; r++) await sendMessages(p, snapshotTopic(prefix), sim.nextRound());
  await p.disconnect();
  const victim = sim.truth.windows.get(sim.truth.windowStarts()[0])!.hosts.keys().next().value as string;
  const agg = await bed.start({ storage: poisonedWindows(bed.store.storage, victim), logger: false });

  await waitFor('every partition committed to its end', () => committedToEnd(`${prefix}-group`, snapshotTopic(prefix)));
  const letters = await readDeadLetters(prefix, 1);
  expect(letters[0].reason).toBe('window-failed');
  expect(letters[0].message).toMatch(/simulated poisoned window/);
  const poisoned = Number(letters[0].source.split('/')[1]);
  expect(metric(await agg.metricsText(), 'tma_aggregator_dlq_total')).toBeGreaterThan(0);

  // Every host outside the poisoned partition is stored exactly; none of its windows hold a row of that partition.
  const rows = await bed.query<{ partition: number; host: string; packets: string }>(
    `SELECT partition, h AS host, sum(p) AS packets FROM {database}.agg_partials FINAL
     ARRAY JOIN hosts AS h, host_packets AS p WHERE tier = '1m' GROUP BY partition, host`,
  );
  expect(rows.length).toBeGreaterThan(0);
  expect(rows.every((r) => Number(r.partition) !== poisoned)).toBe(true);
  expect(rows.some((r) => r.host === victim)).toBe(false);
  const truth = new Map<string, number>();
  for (const w of sim.truth.windowStarts())
    for (const [h, t] of sim.truth.windows.get(w)!.hosts) truth.set(h, (truth.get(h) ?? 0) + t.packets);
  for (const r of rows) expect(Number(r.packets)).toBe(truth.get(r.host));
  expect(rows.length).toBeGreaterThanOrEqual(truth.size - 8); // at most the poisoned partition's hosts missing
  expect(agg.readiness()).toBeNull();
});
