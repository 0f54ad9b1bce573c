// Totals past 2^53 on the real engine (embedded chDB). A 1 min row of one partition keeps every count ≤ 2^53 − 1
// (the merger refuses a snapshot that would pass it), but sums of stored rows do not: a window over partitions, an
// hour over windows. Those are written and read back exactly (UInt64 as decimal text, bigint in between), their
// merged sketches stay readable, and a stored total up to 2^64 − 1 reads back as written.
import { CountMinSketch, decodeCountMinSketch, encodeCountMinSketch } from '@tma/sketch';
import { encode, type SketchSnapshot } from '@tma/schema';
import { FleetSimulator } from '@tma/fleet-sim';
import { openTestStore, type TestStore } from '@tma/storage/testing';
import { HOUR_MS, PartialRowStore, hourRow } from './partial-row-store';
import {
  emptyMerged,
  mergeStoredPartial,
  partialRowFromAccumulator,
  STORED_PARTIAL_BINARY,
  STORED_PARTIAL_SELECT,
  type StoredPartial,
} from './rows';
import { WindowMerger } from './window-merger';

const MIN = 60_000;
// Recent and hour-aligned: rows past their TTL would be dropped on insert.
const H0 = Math.floor(Date.now() / HOUR_MS) * HOUR_MS - 2 * HOUR_MS;
const retention = {
  partials: 86_400,
  windowTotals: 86_400,
  topFlows: 86_400,
  hostTotals: 86_400,
  protocolTotals: 86_400,
  hourTier: 86_400 * 30,
};
const TWO_52 = 2 ** 52;
const TWO_53 = 2n ** 53n;

let store: TestStore;
let sink: PartialRowStore;
const q = <T>(sql: string, params = {}) => store.storage.query<T>(sql, params);
/** The stored partial rows of a tier's window, as the rebuilds and the query API read them. */
const stored = (tier: string, ws: number) =>
  store.storage.query<StoredPartial>(
    `SELECT ${STORED_PARTIAL_SELECT} FROM {database}.agg_partials FINAL WHERE tier = {tier:String} AND window_start = {ws:UInt32}`,
    { tier, ws: ws / 1000 },
    { binaryColumns: [...STORED_PARTIAL_BINARY] },
  );

/** A valid snapshot of `host` in the minute starting at `ws` whose packets and bytes (all TCP) are `n`. */
function big(host: string, ws: number, n: number, seq: number): Buffer {
  const [base] = new FleetSimulator({ hosts: 1, seed: 5, startMs: ws, intervalMs: 10_000, hostPrefix: `${host}-` })
    .nextRoundSnapshots()
    .map((s) => s);
  // The byte CMS holds the bytes (four keys of about n/4, so merged cells stay ≤ 2^53 − 1 while the rows sum past it).
  const cms = new CountMinSketch();
  const quarter = Math.floor(n / 4);
  for (let k = 0; k < 4; k++)
    cms.add(0x9e3779b9 * (k + 1), 0x85ebca6b * (k + 7) + host.length, k < 3 ? quarter : n - 3 * quarter);
  const s: SketchSnapshot = {
    ...base,
    hostId: host,
    sequence: seq,
    totals: { ...base.totals, packets: n, bytes: n, protocols: [{ protocol: 6, packets: n, bytes: n }] },
    cmsPackets: Buffer.from(encodeCountMinSketch(cms)),
    cmsBytes: Buffer.from(encodeCountMinSketch(cms)),
  };
  return encode(s);
}

beforeAll(async () => {
  store = await openTestStore('big');
  sink = new PartialRowStore(store.storage, retention, 10);
  const opts = { windowMs: MIN, allowedLatenessMs: 0, idleCloseMs: 1, maxFutureMs: 1e12, maxOpenWindows: 6 };
  // Minute 0: a host on each of two partitions with 2^52 each (the window: 2^53). Minute 1: 5 more on partition 0
  // (the hour: 2^53 + 5, which no double holds).
  const sends: [number, string, number, number][] = [
    [0, 'big-a', H0, TWO_52],
    [1, 'big-b', H0, TWO_52],
    [0, 'big-a', H0 + MIN, 5],
  ];
  const mergers = [new WindowMerger(opts), new WindowMerger(opts)];
  mergers.forEach((m, p) => m.assign({ topic: 'snap', partition: p, committed: 0, covered: [] }));
  const offsets = [0, 0];
  for (const [p, host, ws, n] of sends) {
    const value = big(host, ws, n, offsets[p] + 1);
    const out = mergers[p].ingest({ topic: 'snap', partition: p, offset: offsets[p]++, value }, Date.now());
    expect(out.kind).toBe('accepted');
  }
  for (const [p, m] of mergers.entries())
    await sink.writePartials(m.takeFlush(Date.now(), true).map((a) => partialRowFromAccumulator(a, `w${p}`, 86_400)));
  await sink.finalizeWindow('1m', H0, MIN);
  await sink.buildHour(H0);
}, 60_000);

afterAll(async () => {
  await store?.close();
});

describe('totals past 2^53 through chDB', () => {
  it('a window summed over partitions: exactly 2^53 in the readable rollups', async () => {
    const [t] = await q<{ packets: string; bytes: string }>(
      `SELECT toString(packets) AS packets, toString(bytes) AS bytes FROM {database}.agg_window_totals FINAL
       WHERE tier = '1m' AND window_start = {ws:UInt32}`,
      { ws: H0 / 1000 },
    );
    expect(t).toEqual({ packets: String(TWO_53), bytes: String(TWO_53) });
    const [p] = await q<{ bytes: string }>(
      `SELECT toString(bytes) AS bytes FROM {database}.agg_protocol_totals FINAL WHERE tier = '1m' AND window_start = {ws:UInt32} AND protocol = 6`,
      { ws: H0 / 1000 },
    );
    expect(p.bytes).toBe(String(TWO_53));
  });

  it('an hour summed over windows: 2^53 + 5 written and read back exactly, its merged sketches readable', async () => {
    const rows = await stored('1h', H0);
    expect(rows).toHaveLength(1);
    expect(String(rows[0].bytes)).toBe(String(TWO_53 + 5n));
    // Read as the query API and the next rebuild read it: exact, and the byte CMS (rows summing to 2^53 + 5) decodes.
    const m = emptyMerged(H0, 3600);
    for (const r of rows) mergeStoredPartial(m, r);
    expect([m.packets, m.bytes]).toEqual([TWO_53 + 5n, TWO_53 + 5n]);
    expect(m.hosts.get('big-a')?.bytes).toBe(2n ** 52n + 5n);
    expect(m.protocols.get(6)).toEqual({ packets: TWO_53 + 5n, bytes: TWO_53 + 5n });
    expect(m.cmsBytes.total).toBe(Number(TWO_53 + 5n));
    expect(decodeCountMinSketch(rows[0].cms_bytes).total).toBe(Number(TWO_53 + 5n));
    const [t] = await q<{ bytes: string }>(
      `SELECT toString(bytes) AS bytes FROM {database}.agg_window_totals FINAL WHERE tier = '1h' AND window_start = {ws:UInt32}`,
      { ws: H0 / 1000 },
    );
    expect(t.bytes).toBe(String(TWO_53 + 5n));
    // Rebuilding the hour from its stored rows again succeeds (the 1 h row stays readable).
    await expect(sink.buildHour(H0)).resolves.toMatchObject({ bytes: TWO_53 + 5n });
  });

  it('an hour row at 2^53 + 1 and at 2^64 − 1 round-trips exactly', async () => {
    for (const [i, n] of [TWO_53 + 1n, 2n ** 64n - 1n].entries()) {
      const ws = H0 + (i + 1) * HOUR_MS;
      const m = emptyMerged(ws, 3600);
      m.partials = 1;
      m.snapshots = 1;
      m.packets = n;
      m.bytes = n;
      m.protocols.set(17, { packets: n, bytes: n - 1n });
      m.hosts.set('h', { boot: 'b', lastSeq: 1, agentVersion: 'v', packets: n, bytes: n, snapshots: 1, gaps: 0 });
      await store.storage.insertRows('agg_partials', [
        hourRow(m, retention.hourTier) as unknown as Record<string, unknown>,
      ]);
      const rows = await stored('1h', ws);
      const back = emptyMerged(ws, 3600);
      mergeStoredPartial(back, rows[0]);
      expect([back.packets, back.bytes]).toEqual([n, n]);
      expect(back.protocols.get(17)).toEqual({ packets: n, bytes: n - 1n });
      expect(back.hosts.get('h')?.bytes).toBe(n);
    }
  });
});
