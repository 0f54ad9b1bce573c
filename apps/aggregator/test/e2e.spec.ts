// End to end on real Kafka and the real engine (embedded chDB): simulated hosts → Kafka → aggregator → ClickHouse,
// with bad messages mixed into the stream.
import { encode } from '@tma/schema';
import { FleetSimulator, sendMessages } from '@tma/fleet-sim';
import { startAggregator, type AggregatorHandle } from '@tma/aggregation';
import { openTestStore, type TestStore } from '@tma/storage/testing';
import { createTopics, deleteTopics, producer, readDeadLetters, uniquePrefix, waitFor } from './support/kafka';
import { snapshotTopic } from '@tma/schema';

jest.setTimeout(180_000);

const MINUTE = 60_000;
// Recent event times: older rows would be past their retention and dropped by TTL on insert.
const T0 = Math.floor(Date.now() / MINUTE) * MINUTE - 10 * MINUTE;
const prefix = uniquePrefix('e2e');
const sim = new FleetSimulator({ hosts: 24, seed: 101, startMs: T0, intervalMs: 10_000 });
let store: TestStore;
let agg: AggregatorHandle | undefined;

const env = {
  ...process.env,
  TMA_TOPIC_PREFIX: prefix,
  TMA_AGG_GROUP_ID: `${prefix}-group`,
  TMA_AGG_TOPIC_PARTITIONS: '4',
  TMA_AGG_ALLOWED_LATENESS: '5s',
  TMA_AGG_IDLE_CLOSE: '1s',
  TMA_AGG_FLUSH_INTERVAL: '200ms',
  TMA_AGG_ROLLUP_DELAY: '500ms',
  TMA_AGG_WRITER_ID: 'e2e-a',
  TMA_AGG_TOP_K: '50',
};

beforeAll(async () => {
  store = await openTestStore('e2e');
  await createTopics(prefix, 4);
});

afterAll(async () => {
  await agg?.close();
  await store?.close();
  await deleteTopics(prefix);
});

const q = <T>(sql: string, params = {}) => store.storage.query<T>(sql, params);

async function storedSnapshots(): Promise<number> {
  const [r] = await q<{ n: string }>(`SELECT sum(snapshots) AS n FROM {database}.agg_partials FINAL WHERE tier = '1m'`);
  return Number(r.n);
}

describe('aggregator end to end', () => {
  it('stores fleet totals equal to the ground truth, top flows within bounds, bad messages in the DLQ with reasons', async () => {
    const p = await producer();
    const topic = snapshotTopic(prefix);
    const good = [];
    for (let r = 0; r < 12; r++) good.push(...sim.nextRound());
    const [wrong] = new FleetSimulator({ hosts: 1, seed: 9, startMs: T0, hostPrefix: 'bad-' }).nextRoundSnapshots();
    const valid = good[0].value;
    const bad = [
      { key: 'bad-garbage', value: Buffer.from('definitely not avro') },
      { key: 'bad-truncated', value: valid.subarray(0, valid.length >> 1) },
      { key: 'bad-schema', value: Buffer.concat([valid.subarray(0, 2), Buffer.alloc(8, 0x5a), valid.subarray(10)]) },
      { key: 'bad-seed', value: encode({ ...wrong, sketchSpec: { ...wrong.sketchSpec, seedHash: 0x12345678 } }) },
    ];
    // Bad messages in the middle of the good stream.
    await sendMessages(p, topic, good.slice(0, 100));
    await p.send({ topic, acks: -1, messages: bad });
    await sendMessages(p, topic, good.slice(100));
    await p.disconnect();

    agg = await startAggregator({ env, storage: store.storage, httpPort: 0, logger: ['warn', 'error'] });
    const truth = sim.truth;
    await waitFor(
      'every snapshot stored',
      async () => ((await storedSnapshots()) >= truth.totals().snapshots ? true : undefined),
      90_000,
    );
    await waitFor('rollups of every window', async () => {
      const rows = await q<{ n: string }>(
        `SELECT count() AS n FROM {database}.agg_window_totals FINAL WHERE tier = '1m'`,
      );
      return Number(rows[0].n) >= truth.windowStarts().length ? true : undefined;
    });
    expect(await storedSnapshots()).toBe(truth.totals().snapshots);

    const totals = await q<{ ws: string; packets: string; bytes: string; hosts: string }>(
      `SELECT toUnixTimestamp(window_start) * 1000 AS ws, packets, bytes, hosts FROM {database}.agg_window_totals FINAL WHERE tier = '1m' ORDER BY ws`,
    );
    expect(totals.map((t) => [Number(t.ws), Number(t.packets), Number(t.bytes), Number(t.hosts)])).toEqual(
      truth.windowStarts().map((w) => {
        const t = truth.windows.get(w)!;
        return [w, t.packets, t.bytes, t.hosts.size];
      }),
    );
    for (const w of truth.windowStarts()) {
      const top = await q<{ flow_key_hex: string; packets: number; packets_bound: number }>(
        `SELECT flow_key_hex, packets, packets_bound FROM {database}.agg_top_flows FINAL
         WHERE tier = '1m' AND window_start = {ws:UInt32} AND ranked_by = 'packets' ORDER BY rank LIMIT 10`,
        { ws: w / 1000 },
      );
      const exact = truth.windows.get(w)!.flows;
      expect(
        top
          .map((f) => f.flow_key_hex)
          .slice(0, 5)
          .sort(),
      ).toEqual(
        truth
          .topFlows(w, 5)
          .map((f) => f.hex)
          .sort(),
      );
      for (const f of top) {
        const e = exact.get(f.flow_key_hex)!.packets;
        expect(f.packets).toBeGreaterThanOrEqual(e);
        expect(f.packets - e).toBeLessThanOrEqual(f.packets_bound);
      }
    }

    // Every host's agent version is stored beside its counters, in every tier.
    const versions = await q<{ tier: string; host: string; v: string[] }>(
      `SELECT tier, host, groupUniqArray(v) AS v FROM {database}.agg_partials FINAL
       ARRAY JOIN hosts AS host, host_agent_version AS v GROUP BY tier, host`,
    );
    expect(new Set(versions.map((r) => r.host)).size).toBe(24);
    expect(versions.every((r) => r.v.length === 1 && r.v[0] === 'fleet-sim')).toBe(true);

    const dead = await readDeadLetters(prefix, 4);
    expect(Object.fromEntries(dead.map((d) => [d.key, d.reason]))).toEqual({
      'bad-garbage': 'bad-magic',
      'bad-truncated': 'truncated',
      'bad-schema': 'unknown-schema',
      'bad-seed': 'wrong-seed',
    });
    expect(dead.every((d) => d.message.length > 0 && d.source.startsWith(`${snapshotTopic(prefix)}/`))).toBe(true);

    const metrics = await (await fetch(`${agg.url}/metrics`)).text();
    expect(metrics).toMatch(/tma_aggregator_dlq_total\{reason="wrong-seed",writer="e2e-a"\} 1/);
    expect(metrics).toMatch(
      new RegExp(`tma_aggregator_snapshots_total\\{outcome="accepted",writer="e2e-a"\\} ${truth.totals().snapshots}`),
    );
    expect(metrics).not.toMatch(/outcome="late"/); // in-order hosts: nothing late, whatever order partitions are read in
    expect(metrics).toMatch(/tma_aggregator_write_seconds_bucket/);
    expect((await fetch(`${agg.url}/health`)).status).toBe(200);
    expect((await fetch(`${agg.url}/ready`)).status).toBe(200);
  });

  it('flushes on shutdown and the 1 h tier holds the same totals', async () => {
    await agg!.close();
    agg = undefined;
    const hours = await q<{ packets: string; snapshots: string }>(
      `SELECT sum(packets) AS packets, sum(snapshots) AS snapshots FROM {database}.agg_partials FINAL WHERE tier = '1h'`,
    );
    expect(Number(hours[0].packets)).toBe(sim.truth.totals().packets);
    expect(Number(hours[0].snapshots)).toBe(sim.truth.totals().snapshots);
  });
});
