// Two aggregator instances in one consumer group (one process: embedded chDB allows one process per data
// directory, so both share the test's Storage — exactly the single-machine mode). A second instance joins
// mid-window and the first leaves later: two rebalances, resent duplicates, and the stored answers must still
// equal the ground truth exactly.
import { snapshotTopic } from '@tma/schema';
import { FleetSimulator, sendMessages, type SimMessage } from '@tma/fleet-sim';
import { startAggregator, type AggregatorHandle } from '@tma/aggregation';
import { openTestStore, type TestStore } from '@tma/storage/testing';
import { createTopics, deleteTopics, producer, uniquePrefix, waitFor } from './support/kafka';

jest.setTimeout(240_000);

const MINUTE = 60_000;
const T0 = Math.floor(Date.now() / MINUTE) * MINUTE - 20 * MINUTE;
const prefix = uniquePrefix('rebal');
const sim = new FleetSimulator({ hosts: 24, seed: 202, startMs: T0, intervalMs: 10_000 });
let store: TestStore;
const handles: AggregatorHandle[] = [];

const env = (writer: string) => ({
  ...process.env,
  TMA_TOPIC_PREFIX: prefix,
  TMA_AGG_GROUP_ID: `${prefix}-group`,
  TMA_AGG_TOPIC_PARTITIONS: '4',
  TMA_AGG_ALLOWED_LATENESS: '5s',
  TMA_AGG_IDLE_CLOSE: '1500ms',
  TMA_AGG_FLUSH_INTERVAL: '200ms',
  TMA_AGG_ROLLUP_DELAY: '500ms',
  TMA_AGG_WRITER_ID: writer,
});

beforeAll(async () => {
  store = await openTestStore('rebal');
  await createTopics(prefix, 4);
});

afterAll(async () => {
  for (const h of handles) await h.close().catch(() => undefined);
  await store?.close();
  await deleteTopics(prefix);
});

const q = <T>(sql: string, params = {}) => store.storage.query<T>(sql, params);

async function counter(h: AggregatorHandle, outcome: string): Promise<number> {
  const text = await h.service.metricsText();
  const m = new RegExp(`tma_aggregator_snapshots_total\\{outcome="${outcome}"[^}]*\\} (\\d+)`).exec(text);
  return m ? Number(m[1]) : 0;
}

it('two instances and two rebalances give the same answers as the ground truth', async () => {
  const p = await producer();
  const topic = snapshotTopic(prefix);
  const rounds: SimMessage[][] = [];
  for (let r = 0; r < 18; r++) rounds.push(sim.nextRound());

  const a = await startAggregator({ env: env('inst-a'), storage: store.storage, httpPort: 0, logger: ['error'] });
  handles.push(a);
  await sendMessages(p, topic, rounds.slice(0, 5).flat());
  await waitFor('instance A merging', async () => ((await counter(a, 'accepted')) >= 60 ? true : undefined));

  // B joins in the middle of the second window: the group rebalances while A holds open windows.
  const b = await startAggregator({ env: env('inst-b'), storage: store.storage, httpPort: 0, logger: ['error'] });
  handles.push(b);
  await sendMessages(p, topic, rounds.slice(5, 11).flat());
  // Agents resending a round (e.g. after a lost acknowledgement) must not count twice.
  await sendMessages(p, topic, rounds[8]);
  await waitFor(
    'both instances merging',
    async () => ((await counter(b, 'accepted')) > 0 && b.service.readiness().ready ? true : undefined),
    60_000,
  );

  // A leaves gracefully (flushes its open windows); B takes every partition.
  const duplicatesSeenByA = await counter(a, 'duplicate');
  await a.close();
  handles.splice(handles.indexOf(a), 1);
  await sendMessages(p, topic, rounds.slice(11).flat());
  await p.disconnect();

  const expected = sim.truth.totals().snapshots;
  await waitFor(
    'every snapshot stored',
    async () => {
      const [r] = await q<{ n: string }>(
        `SELECT sum(snapshots) AS n FROM {database}.agg_partials FINAL WHERE tier = '1m'`,
      );
      return Number(r.n) >= expected ? true : undefined;
    },
    120_000,
  );
  await new Promise((r) => setTimeout(r, 3000)); // anything extra (a double count) would land by now

  const perWindow = await q<{ ws: string; packets: string; bytes: string; snapshots: string }>(
    `SELECT toUnixTimestamp(window_start) * 1000 AS ws, sum(packets) AS packets, sum(bytes) AS bytes, sum(snapshots) AS snapshots
     FROM {database}.agg_partials FINAL WHERE tier = '1m' GROUP BY ws ORDER BY ws`,
  );
  expect(perWindow.map((r) => [Number(r.ws), Number(r.packets), Number(r.bytes), Number(r.snapshots)])).toEqual(
    sim.truth.windowStarts().map((w) => {
      const t = sim.truth.windows.get(w)!;
      return [w, t.packets, t.bytes, t.snapshots];
    }),
  );
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
