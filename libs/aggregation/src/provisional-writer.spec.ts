// Provisional rows on the real engine (embedded chDB): only open windows that changed are written, one row per
// window and partition whose newest write wins, late windows never, and nothing moves a commit position.
import { FleetSimulator } from '@tma/fleet-sim';
import { decodeCandidateList } from '@tma/sketch';
import { openTestStore, type TestStore } from '@tma/storage/testing';
import { AggregatorMetrics } from './metrics';
import { nextProvisionalAt, PROVISIONAL_TABLE, ProvisionalWriter } from './provisional-writer';
import { WindowMerger } from './window-merger';

const MIN = 60_000;
// Recent: a provisional row expires an hour after its window starts and would be dropped on insert.
const T0 = Math.floor(Date.now() / MIN) * MIN - 5 * MIN;
const opts = { windowMs: MIN, allowedLatenessMs: 30_000, idleCloseMs: 5_000, maxFutureMs: 1e12, maxOpenWindows: 6 };
const logger = { log: () => undefined, warn: () => undefined, error: () => undefined };

let store: TestStore;

beforeAll(async () => {
  store = await openTestStore('provisional');
}, 60_000);

afterAll(async () => {
  await store?.close();
});

interface Stored {
  ws: string;
  packets: string;
  snapshots: string;
  version: string;
  first: string;
  last: string;
}
const stored = () =>
  store.storage.query<Stored>(
    `SELECT toUnixTimestamp(window_start) * 1000 AS ws, packets, snapshots, toString(version) AS version,
            toString(first_offset) AS first, toString(last_offset) AS last
     FROM {database}.${PROVISIONAL_TABLE} FINAL ORDER BY window_start`,
  );

describe('ProvisionalWriter', () => {
  it('writes the open windows that changed, newest write winning, never late windows, commits untouched', async () => {
    const sim = new FleetSimulator({ hosts: 4, seed: 5, startMs: T0, intervalMs: 10_000 });
    const merger = new WindowMerger(opts);
    merger.assign({ topic: 't', partition: 3, committed: 0, covered: [] });
    const writer = new ProvisionalWriter(
      { writerId: 'w1', provisionalTtlSeconds: 3600 },
      merger,
      store.storage,
      new AggregatorMetrics({ defaultMetrics: false }),
      logger,
    );
    let offset = 0;
    const round = () => {
      for (const m of sim.nextRound())
        expect(merger.ingest({ topic: 't', partition: 3, offset: offset++, value: m.value }, Date.now()).kind).toBe(
          'accepted',
        );
    };
    const truthOf = (w: number) => sim.truth.windows.get(w)!;

    for (let r = 0; r < 3; r++) round(); // 3 of the first window's 6 intervals
    const commitsBefore = merger.commitPositions();
    const first = writer.take();
    expect(first.rows).toHaveLength(1);
    // The candidates keep their completeness floor, as in a final row (else every answer's floor is unknown).
    expect(decodeCandidateList(first.rows[0].candidates).floor).toBeDefined();
    expect(await writer.write(first)).toBe(true);
    expect(merger.commitPositions()).toEqual(commitsBefore);
    let rows = await stored();
    expect(rows).toHaveLength(1);
    expect(Number(rows[0].ws)).toBe(T0);
    expect(Number(rows[0].packets)).toBe(truthOf(T0).packets);
    expect(Number(rows[0].snapshots)).toBe(12);
    expect([rows[0].first, rows[0].last]).toEqual(['0', '11']);
    const v1 = BigInt(rows[0].version);

    expect(writer.take().rows).toHaveLength(0); // unchanged: nothing written again

    for (let r = 0; r < 4; r++) round(); // the first window complete, one interval into the next
    const second = writer.take();
    expect(second.rows.map((r) => r.window_start * 1000)).toEqual([T0, T0 + MIN]);
    await writer.write(second);
    rows = await stored();
    expect(rows.map((r) => Number(r.ws))).toEqual([T0, T0 + MIN]); // one row per window and partition
    expect(Number(rows[0].packets)).toBe(truthOf(T0).packets);
    expect(Number(rows[0].snapshots)).toBe(24);
    expect(BigInt(rows[0].version)).toBeGreaterThan(v1);
    expect(Number(rows[1].packets)).toBe(truthOf(T0 + MIN).packets);

    // The first window is written as final; a late snapshot for it opens a late window: never provisional.
    const flushed = merger.takeFlush(Date.now(), true);
    merger.confirmFlush(flushed);
    expect(writer.take().rows).toHaveLength(0);
  });

  it('leaves out windows whose row would already have expired (old data being caught up)', () => {
    const old = new FleetSimulator({ hosts: 2, seed: 6, startMs: T0 - 3 * 3_600_000, intervalMs: 10_000 });
    const merger = new WindowMerger(opts);
    merger.assign({ topic: 't', partition: 0, committed: 0, covered: [] });
    let offset = 0;
    for (const m of old.nextRound())
      merger.ingest({ topic: 't', partition: 0, offset: offset++, value: m.value }, Date.now());
    const writer = new ProvisionalWriter(
      { writerId: 'w', provisionalTtlSeconds: 3600 },
      merger,
      store.storage,
      new AggregatorMetrics({ defaultMetrics: false }),
      logger,
    );
    expect(merger.openAccumulators()).toBe(1);
    expect(writer.take().rows).toHaveLength(0);
  });
});

describe('nextProvisionalAt', () => {
  it('keeps building under a tenth of the consumer thread and inserting under a quarter of the connection', () => {
    expect(nextProvisionalAt(1000, 1, 50)).toBe(1150); // a small fleet: the interval decides
    expect(nextProvisionalAt(1000, 240, 480)).toBe(1000 + 2160); // 4 rows of 60 ms: next cycle 2.2 s later
    expect(nextProvisionalAt(1000, 10, 900)).toBe(1000 + 2700); // a slow insert spaces the cycles too
  });
});
