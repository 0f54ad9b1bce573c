// The aggregator's tables on the real engine (embedded chDB): partial rows, idempotent rewrites, recovery
// lookups, readable rollups and the 1 h tier, checked against the simulator's ground truth.
import { decodeCandidateList, fromHex } from '@tma/sketch';
import { CandidateBlock, mergedCandidates, unionBlocks, type PartialRow } from '@tma/rollup';
import { FleetSimulator } from '@tma/fleet-sim';
import { WindowMerger } from './window-merger';
import { partialRowFromAccumulator } from './rows';
import { PartialRowStore, DAY_MS, HOUR_MS } from './partial-row-store';
import { openTestStore, type TestStore } from '@tma/storage/testing';

// Recent, hour-aligned: rows older than their TTL would be dropped on insert.
const T0 = Math.floor(Date.now() / 3_600_000) * 3_600_000 - 3_600_000;
const retention = {
  partials: 86_400,
  windowTotals: 86_400,
  topFlows: 86_400,
  hostTotals: 86_400,
  protocolTotals: 86_400,
  hourTier: 86_400 * 30,
  dayTier: 86_400 * 30,
};
const opts = { windowMs: 60_000, allowedLatenessMs: 30_000, idleCloseMs: 5_000, maxFutureMs: 1e12, maxOpenWindows: 6 };

let store: TestStore;
let sink: PartialRowStore;
/** The rows written per partition, in window order. */
const written: PartialRow[][] = [];
const sim = new FleetSimulator({ hosts: 12, seed: 21, startMs: T0, intervalMs: 10_000 });

beforeAll(async () => {
  store = await openTestStore('sink');
  sink = new PartialRowStore(store.storage, retention, 20);
  // Two partitions, as two writers would see them: hosts split by index parity.
  const mergers = [new WindowMerger(opts), new WindowMerger(opts)];
  mergers.forEach((e, p) => e.assign({ topic: 'snap', partition: p, committed: 0, covered: [] }));
  const offsets = [0, 0];
  for (let r = 0; r < 12; r++) {
    sim.nextRound().forEach((m, i) => {
      const p = i % 2;
      expect(mergers[p].ingest({ topic: 'snap', partition: p, offset: offsets[p]++, value: m.value }, T0).kind).toBe(
        'accepted',
      );
    });
  }
  for (const [p, e] of mergers.entries()) {
    const accs = e.takeFlush(T0, true);
    const rows = accs.map((a) => partialRowFromAccumulator(a, `writer-${p}`, retention.partials));
    written.push(rows);
    await sink.writePartials(rows);
    await sink.writePartials(rows); // a retry after a lost acknowledgement: must not count twice
  }
  for (const w of sim.truth.windowStarts()) await sink.finalizeWindow('1m', w, 60_000);
  await sink.buildHour(Math.floor(T0 / HOUR_MS) * HOUR_MS);
}, 120_000);

afterAll(async () => {
  await store?.close();
});

const q = <T>(sql: string, params = {}) => store.storage.query<T>(sql, params);

describe('aggregator tables on embedded ClickHouse', () => {
  it('stores fleet totals per window exactly (written twice, counted once)', async () => {
    const rows = await q<{ ws: string; packets: string; bytes: string; snapshots: string }>(
      `SELECT toUnixTimestamp(window_start) * 1000 AS ws, sum(packets) AS packets, sum(bytes) AS bytes, sum(snapshots) AS snapshots
       FROM {database}.agg_partials FINAL WHERE tier = '1m' GROUP BY ws ORDER BY ws`,
    );
    expect(rows.map((r) => [Number(r.ws), Number(r.packets), Number(r.bytes), Number(r.snapshots)])).toEqual(
      sim.truth.windowStarts().map((w) => {
        const t = sim.truth.windows.get(w)!;
        return [w, t.packets, t.bytes, t.snapshots];
      }),
    );
  });

  it('writes readable rollups: totals, hosts and protocols exact; cardinalities within 4 standard errors', async () => {
    for (const w of sim.truth.windowStarts()) {
      const truth = sim.truth.windows.get(w)!;
      const [t] = await q<Record<string, string>>(
        'SELECT * FROM {database}.agg_window_totals FINAL WHERE tier = {tier:String} AND window_start = {ws:UInt32}',
        { tier: '1m', ws: w / 1000 },
      );
      expect(Number(t.packets)).toBe(truth.packets);
      expect(Number(t.bytes)).toBe(truth.bytes);
      expect(Number(t.hosts)).toBe(truth.hosts.size);
      const se = Number(t.hll_standard_error);
      for (const [est, exact] of [
        [t.distinct_flows, truth.flows.size],
        [t.distinct_sources, truth.distinctSources.size],
        [t.distinct_destinations, truth.distinctDestinations.size],
        [t.distinct_ports, truth.distinctPorts.size],
      ] as const) {
        expect(Math.abs(Number(est) - exact)).toBeLessThanOrEqual(Math.max(2, 4 * se * exact));
      }
      const hosts = await q<{ host: string; packets: string; bytes: string }>(
        `SELECT host, packets, bytes FROM {database}.agg_host_totals FINAL WHERE tier = '1m' AND window_start = {ws:UInt32} ORDER BY host`,
        { ws: w / 1000 },
      );
      expect(hosts.map((h) => [h.host, Number(h.packets), Number(h.bytes)])).toEqual(
        [...truth.hosts].sort((a, b) => (a[0] < b[0] ? -1 : 1)).map(([h, v]) => [h, v.packets, v.bytes]),
      );
      const protos = await q<{ protocol: number; packets: string }>(
        `SELECT protocol, packets FROM {database}.agg_protocol_totals FINAL WHERE tier = '1m' AND window_start = {ws:UInt32} ORDER BY protocol`,
        { ws: w / 1000 },
      );
      expect(protos.map((p) => [Number(p.protocol), Number(p.packets)])).toEqual(
        [...truth.protocols].sort((a, b) => a[0] - b[0]).map(([p, v]) => [p, v.packets]),
      );
    }
  });

  it('ranks top flows like the ground truth, every estimate within its bound', async () => {
    const w = sim.truth.windowStarts()[0];
    const top = await q<{
      rank: number;
      flow_key_hex: string;
      packets: number;
      packets_bound: number;
      bytes: number;
      bytes_bound: number;
    }>(
      `SELECT rank, flow_key_hex, packets, packets_bound, bytes, bytes_bound FROM {database}.agg_top_flows FINAL
       WHERE tier = '1m' AND window_start = {ws:UInt32} AND ranked_by = 'packets' ORDER BY rank`,
      { ws: w / 1000 },
    );
    expect(top.length).toBeGreaterThanOrEqual(10);
    const truth = sim.truth.windows.get(w)!.flows;
    for (const f of top) {
      const exact = truth.get(f.flow_key_hex)!;
      expect(exact).toBeDefined();
      expect(fromHex(f.flow_key_hex)).toHaveLength(40);
      expect(f.packets).toBeGreaterThanOrEqual(exact.packets);
      expect(f.packets - exact.packets).toBeLessThanOrEqual(f.packets_bound);
      expect(f.bytes - exact.bytes).toBeLessThanOrEqual(f.bytes_bound);
    }
    // The true top 5 heavy hitters are the reported top 5.
    expect(
      top
        .slice(0, 5)
        .map((f) => f.flow_key_hex)
        .sort(),
    ).toEqual(
      sim.truth
        .topFlows(w, 5)
        .map((f) => f.hex)
        .sort(),
    );
  });

  it('builds the 1 h tier from the 1 min partials', async () => {
    const hour = Math.floor(T0 / HOUR_MS) * HOUR_MS;
    const [p] = await q<{ n: string; packets: string }>(
      `SELECT count() AS n, sum(packets) AS packets FROM {database}.agg_partials FINAL WHERE tier = '1h' AND window_start = {ws:UInt32}`,
      { ws: hour / 1000 },
    );
    expect(Number(p.n)).toBe(1);
    expect(Number(p.packets)).toBe(sim.truth.totals().packets);
    const [t] = await q<{ packets: string; partials: number }>(
      `SELECT packets, partials FROM {database}.agg_window_totals FINAL WHERE tier = '1h' AND window_start = {ws:UInt32}`,
      { ws: hour / 1000 },
    );
    expect(Number(t.packets)).toBe(sim.truth.totals().packets);
    // Rebuilding after more partials replaces the row (higher version), never adds one.
    await sink.buildHour(hour);
    const [again] = await q<{ n: string }>(`SELECT count() AS n FROM {database}.agg_partials FINAL WHERE tier = '1h'`);
    expect(Number(again.n)).toBe(1);
  });

  it("writes each window's fleet row: its rows merged, version the sum of theirs, candidates their full union", async () => {
    const rows = await q<{ ws: string; n: string; packets: string; versions: string }>(
      `SELECT toUnixTimestamp(window_start) * 1000 AS ws, count() AS n, sum(packets) AS packets, sum(version) AS versions
       FROM {database}.agg_partials FINAL WHERE tier = '1m' GROUP BY ws ORDER BY ws`,
    );
    const fleet = await q<{ ws: string; packets: string; version: string; hosts: string[]; candidates: string }>(
      `SELECT toUnixTimestamp(window_start) * 1000 AS ws, packets, version, hosts, length(candidates) AS candidates
       FROM {database}.agg_partials FINAL WHERE tier = '1m-fleet' ORDER BY ws`,
    );
    // Every window here has a row from each of the two writers.
    expect(rows.every((r) => Number(r.n) === 2)).toBe(true);
    expect(fleet.map((f) => [Number(f.ws), Number(f.packets), Number(f.version), f.hosts.length])).toEqual(
      rows.map((r) => [Number(r.ws), Number(r.packets), Number(r.versions), 12]),
    );
    expect(fleet.every((f) => Number(f.candidates) > 0)).toBe(true);
    // Not an input of the 1 h tier: the hour holds each packet once.
    const [h] = await q<{ packets: string }>(
      `SELECT packets FROM {database}.agg_partials FINAL WHERE tier = '1h' AND window_start = {ws:UInt32}`,
      { ws: Math.floor(T0 / HOUR_MS) * 3600 },
    );
    expect(Number(h.packets)).toBe(sim.truth.totals().packets);
  });

  it('builds the 1 d tier from the 1 h rows, candidates a frequent-items summary with its floor', async () => {
    const day = Math.floor(T0 / DAY_MS) * DAY_MS;
    const m = await sink.buildDay(day);
    expect(m.partials).toBe(1); // the one hour of data
    const rows = await q<{ packets: string; version: string; candidates: string }>(
      `SELECT packets, toString(version) AS version, hex(candidates) AS candidates FROM {database}.agg_partials FINAL
       WHERE tier = '1d' AND window_start = {ws:UInt32}`,
      { ws: day / 1000 },
    );
    expect(rows.length).toBe(1);
    expect(Number(rows[0].packets)).toBe(sim.truth.totals().packets);
    const list = decodeCandidateList(fromHex(rows[0].candidates));
    expect(list.frequent?.k).toBe(10_000);
    expect(list.floor).toBeDefined();
    // Every listed flow's lower bound is at most its truth; every flow not listed is within the floor.
    const truth = new Map<string, number>();
    for (const w of sim.truth.windowStarts())
      for (const f of sim.truth.topFlows(w, Number.MAX_SAFE_INTEGER))
        truth.set(f.hex, (truth.get(f.hex) ?? 0) + f.packets);
    const listed = new Set<string>();
    for (const c of list.candidates) {
      const hex = Buffer.from(c.key).toString('hex');
      listed.add(hex);
      expect(c.sincePackets ?? 0).toBeLessThanOrEqual(truth.get(hex) ?? 0);
    }
    for (const [hex, packets] of truth) if (!listed.has(hex)) expect(packets).toBeLessThanOrEqual(list.floor!.packets);
    const [t] = await q<{ packets: string }>(
      `SELECT packets FROM {database}.agg_window_totals FINAL WHERE tier = '1d' AND window_start = {ws:UInt32}`,
      { ws: day / 1000 },
    );
    expect(Number(t.packets)).toBe(sim.truth.totals().packets);
  });

  it('finds the rows past a committed offset, for recovery', async () => {
    const covered = await sink.coveredRanges('snap', 0, 0);
    expect(covered.length).toBe(sim.truth.windowStarts().length);
    expect(covered[0]).toEqual({ windowStart: T0, first: 0, last: 35 });
    expect(await sink.coveredRanges('snap', 0, 1000)).toEqual([]);
    const many = await sink.coveredRangesMany(
      'snap',
      new Map([
        [0, 0],
        [1, 40],
      ]),
    );
    expect(many.get(0)).toEqual(covered);
    expect(many.get(1)).toEqual(await sink.coveredRanges('snap', 1, 40));
    expect(await sink.recentSequencesMany('snap', [0, 1])).toHaveLength(12);
    const seqs = await sink.recentSequences('snap', 1);
    expect(seqs).toHaveLength(6);
    expect(seqs.every((s) => s.last === 11)).toBe(true);
  });

  it('leaves rows the ownership fence drops out of recovery and rollups, and counts the rows a later owner kept', async () => {
    const w = sim.truth.windowStarts()[0];
    const before = await sink.finalizeWindow('1m', w, 60_000);
    // Epoch 1's write for partition 7 lands after epoch 2 resumed at offset 100 without it: fenced.
    const late = new FleetSimulator({ hosts: 2, seed: 99, startMs: T0, intervalMs: 10_000 });
    const merger = new WindowMerger(opts);
    merger.assign({ topic: 'snap', partition: 7, committed: 100, covered: [], epoch: 1 });
    late
      .nextRound()
      .forEach((m, i) => merger.ingest({ topic: 'snap', partition: 7, offset: 100 + i, value: m.value }, T0));
    const rows = merger.takeFlush(T0, true).map((a) => partialRowFromAccumulator(a, 'old-owner', retention.partials));
    expect(rows.map((r) => [r.epoch, r.first_offset])).toEqual([[1, 100]]);
    await sink.writeOwners([{ topic: 'snap', partition: 7, epoch: 2, fromOffset: 100, kept: [] }], 'new-owner');
    await sink.writePartials(rows);
    expect(await sink.coveredRanges('snap', 7, 0)).toEqual([]);
    expect(await sink.recentSequences('snap', 7)).toEqual([]);
    const fenced = await sink.finalizeWindow('1m', w, 60_000);
    expect([fenced.packets, fenced.partials, fenced.fencedRows]).toEqual([before.packets, before.partials, 1]);
    // Had epoch 2 loaded it as covered, it would count.
    await sink.writeOwners([{ topic: 'snap', partition: 7, epoch: 2, fromOffset: 100, kept: [100] }], 'new-owner');
    expect(await sink.coveredRanges('snap', 7, 0)).toEqual([{ windowStart: w, first: 100, last: 101 }]);
    expect(await sink.recentSequences('snap', 7)).toHaveLength(2);
    const kept = await sink.finalizeWindow('1m', w, 60_000);
    expect(kept.packets).toBe(before.packets + BigInt(rows[0].packets));
    expect(kept.partials).toBe(before.partials + 1);
  });

  it('counts the sequences a host skipped across a rebalance from the stored rows alone', async () => {
    // One host on partition 9: sequences 0..9 stored by the old owner, 10..30 never sent (an agent's drops), then
    // a new owner with no memory of the stream resumes from the stored rows and reads 31.
    const one = new FleetSimulator({ hosts: 1, seed: 77, startMs: T0, intervalMs: 2_000 });
    const values = Array.from({ length: 32 }, () => one.nextRound()[0]);
    const old = new WindowMerger(opts);
    old.assign({ topic: 'snap', partition: 9, committed: 0, covered: [] });
    for (let i = 0; i < 10; i++)
      expect(old.ingest({ topic: 'snap', partition: 9, offset: i, value: values[i].value }, T0).kind).toBe('accepted');
    await sink.writePartials(
      old.takeFlush(T0, true).map((a) => partialRowFromAccumulator(a, 'old-owner', retention.partials)),
    );
    const next = new WindowMerger(opts);
    next.assign({ topic: 'snap', partition: 9, committed: 10, covered: [] });
    for (const s of await sink.recentSequences('snap', 9)) next.sequences.restore(s.host, s.boot, s.agent, s.last);
    const out = next.ingest({ topic: 'snap', partition: 9, offset: 10, value: values[31].value }, T0);
    expect(out).toMatchObject({ kind: 'accepted', gap: 21 });
    expect(next.ingest({ topic: 'snap', partition: 9, offset: 11, value: values[9].value }, T0).kind).toBe('duplicate');
  });

  it('merges a window in one order (partition, then offsets), whatever order its rows were written in', async () => {
    // A rebuild lists candidate flows in the order it merges rows: read in the sorting key's order, the rollups are
    // the same whichever instance wrote which partition, and when.
    const w = T0 - 30 * 60_000;
    const moved = (r: PartialRow, firstOffset: number): PartialRow => ({
      ...r,
      window_start: w / 1000,
      first_offset: firstOffset,
      expires_at: w / 1000 + retention.partials,
    });
    // partition 0's two rows (two windows' lists: the same flows first seen in other orders) and partition 1's,
    // written last first, each in its own insert
    const inOrder = [moved(written[0][0], 0), moved(written[0][1], 500), moved(written[1][0], 0)];
    for (const r of [...inOrder].reverse()) await sink.writePartials([r]);
    const want = unionBlocks(inOrder.map((r) => CandidateBlock.from(decodeCandidateList(r.candidates))));
    const wrong = unionBlocks(
      [...inOrder].reverse().map((r) => CandidateBlock.from(decodeCandidateList(r.candidates))),
    );
    expect(want.toArray()).not.toEqual(wrong.toArray()); // the order shows
    const m = await sink.finalizeWindow('1m', w, 60_000);
    expect(m.partials).toBe(3);
    expect(mergedCandidates(m).toArray()).toEqual(want.toArray());
  });
});
