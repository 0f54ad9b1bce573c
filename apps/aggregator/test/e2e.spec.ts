// End to end on real Kafka and the real engine (embedded chDB): simulated hosts → Kafka → aggregator → ClickHouse,
// with bad messages mixed into the stream.
import { encode, snapshotTopic } from '@tma/schema';
import { FleetSimulator, sendMessages } from '@tma/fleet-sim';
import type { AggregatorHandle } from '../src/start';
import { producer, readDeadLetters, waitFor } from './support/kafka';
import { storedTotals, useTestBed, waitUntilStored } from './support/test-bed';

jest.setTimeout(180_000);

const bed = useTestBed({ name: 'e2e', partitions: 4, hosts: 24, seed: 101, minutesAgo: 10 });
const { prefix, sim, startMs: T0 } = bed;
const q = bed.query;
let agg: AggregatorHandle | undefined;

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

    agg = await bed.start({
      env: bed.env({ TMA_AGG_WRITER_ID: 'e2e-a', TMA_AGG_TOP_K: '50' }),
      httpPort: 0,
      logger: ['warn', 'error'],
    });
    const truth = sim.truth;
    await waitUntilStored(bed.store.storage, truth.totals().snapshots, 90_000);
    // A window's rollups are rebuilt each time its partial rows grow (one per partition at least): complete once
    // the newest rebuild merged every partial row stored for it.
    await waitFor('rollups of every window, over all its partial rows', async () => {
      const rows = await q<{ n: string }>(
        `SELECT count() AS n FROM {database}.agg_window_totals AS t FINAL
         INNER JOIN (SELECT window_start, count() AS rows FROM {database}.agg_partials FINAL WHERE tier = '1m' GROUP BY window_start) AS p
           ON p.window_start = t.window_start
         WHERE t.tier = '1m' AND t.partials = p.rows`,
      );
      return Number(rows[0].n) >= truth.windowStarts().length ? true : undefined;
    });
    expect((await storedTotals(bed.store.storage)).snapshots).toBe(truth.totals().snapshots);

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

  it('flushes on shutdown and the 1 h and 1 d tiers hold the same totals', async () => {
    await bed.close(agg!);
    for (const tier of ['1h', '1d']) {
      const rows = await q<{ packets: string; snapshots: string }>(
        `SELECT sum(packets) AS packets, sum(snapshots) AS snapshots FROM {database}.agg_partials FINAL WHERE tier = {tier:String}`,
        { tier },
      );
      expect(Number(rows[0].packets)).toBe(sim.truth.totals().packets);
      expect(Number(rows[0].snapshots)).toBe(sim.truth.totals().snapshots);
    }
  });
});
