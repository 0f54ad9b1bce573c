// Two aggregator instances in one consumer group (one process: embedded chDB allows one process per data
// directory, so both share the test's Storage — exactly the single-machine mode). A second instance joins
// mid-window and the first leaves later: two rebalances, resent duplicates, and the stored answers must still
// equal the ground truth exactly.
import { snapshotTopic } from '@tma/schema';
import { sendMessages, type SimMessage } from '@tma/fleet-sim';
import type { AggregatorHandle } from '../src/start';
import { producer, waitFor } from './support/kafka';
import { storedWindows, truthWindows, useTestBed, waitUntilStored } from './support/test-bed';

jest.setTimeout(240_000);

const bed = useTestBed({ name: 'rebal', partitions: 4, hosts: 24, seed: 202, minutesAgo: 20 });
const { sim } = bed;
const q = bed.query;
const start = (writer: string) =>
  bed.start({
    env: bed.env({ TMA_AGG_IDLE_CLOSE: '1500ms', TMA_AGG_WRITER_ID: writer }),
    httpPort: 0,
    logger: ['error'],
  });

async function counter(h: AggregatorHandle, outcome: string): Promise<number> {
  const text = await h.service.metricsText();
  const m = new RegExp(`tma_aggregator_snapshots_total\\{outcome="${outcome}"[^}]*\\} (\\d+)`).exec(text);
  return m ? Number(m[1]) : 0;
}

it('two instances and two rebalances give the same answers as the ground truth', async () => {
  const p = await producer();
  const topic = snapshotTopic(bed.prefix);
  const rounds: SimMessage[][] = [];
  for (let r = 0; r < 18; r++) rounds.push(sim.nextRound());

  const a = await start('inst-a');
  await sendMessages(p, topic, rounds.slice(0, 5).flat());
  await waitFor('instance A merging', async () => ((await counter(a, 'accepted')) >= 60 ? true : undefined));

  // B joins in the middle of the second window: the group rebalances while A holds open windows.
  const b = await start('inst-b');
  await sendMessages(p, topic, rounds.slice(5, 11).flat());
  // Agents resending a round (e.g. after a lost acknowledgement) must not count twice.
  await sendMessages(p, topic, rounds[8]);
  await waitFor(
    'both instances merging',
    async () => ((await counter(b, 'accepted')) > 0 && b.service.readiness().ready ? true : undefined),
    60_000,
  );

  // A leaves gracefully (flushes its open windows); B takes every partition.
  await bed.close(a);
  const duplicatesSeenByA = await counter(a, 'duplicate'); // all A saw, up to its last batch
  await sendMessages(p, topic, rounds.slice(11).flat());
  await p.disconnect();

  const expected = sim.truth.totals().snapshots;
  await waitUntilStored(bed.store.storage, expected, 120_000);
  await new Promise((r) => setTimeout(r, 3000)); // anything extra (a double count) would land by now

  expect(await storedWindows(bed.store.storage)).toEqual(truthWindows(sim));
  const hosts = await q<{ host: string; packets: string }>(
    `SELECT h AS host, sum(p) AS packets FROM {database}.agg_partials FINAL ARRAY JOIN hosts AS h, host_packets AS p
     WHERE tier = '1m' GROUP BY host ORDER BY host`,
  );
  const truthHosts = new Map<string, number>();
  for (const w of sim.truth.windows.values())
    for (const [h, v] of w.hosts) truthHosts.set(h, (truthHosts.get(h) ?? 0) + v.packets);
  expect(hosts.map((h) => [h.host, Number(h.packets)])).toEqual([...truthHosts].sort((x, y) => (x[0] < y[0] ? -1 : 1)));

  // Both writers really shared the work.
  const writers = await q<{ writer: string }>(
    `SELECT DISTINCT writer FROM {database}.agg_partials FINAL WHERE tier = '1m' ORDER BY writer`,
  );
  expect(writers.map((w) => w.writer)).toEqual(['inst-a', 'inst-b']);
  // The 24 resent snapshots were recognised (an instance that re-reads a partition after a rebalance may see one again).
  expect(duplicatesSeenByA + (await counter(b, 'duplicate'))).toBeGreaterThanOrEqual(24);

  // Readable rollups agree with the partials once B has rebuilt them.
  await waitFor('rollups', async () => {
    const rows = await q<{ ws: string; packets: string }>(
      `SELECT toUnixTimestamp(window_start) * 1000 AS ws, packets FROM {database}.agg_window_totals FINAL WHERE tier = '1m' ORDER BY ws`,
    );
    const ok =
      rows.length === sim.truth.windowStarts().length &&
      rows.every((r) => Number(r.packets) === sim.truth.windows.get(Number(r.ws))!.packets);
    return ok ? true : undefined;
  });
});
