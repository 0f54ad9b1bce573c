// Which tier answers which part of a range (embedded ClickHouse): whole UTC days from the 1 d tier where it has the
// day, other whole hours from the 1 h tier, the rest from 1 min rows — or a window's fleet row where it merged
// exactly the window's rows; every window counted once.
import { openTestStore, type TestStore } from '@tma/storage/testing';
import { withFleetRows } from './partial-store';
import { RowIndex } from './row-index';

const MINUTE = 60_000;
const HOUR = 3_600_000;
const DAY = 86_400_000;
const D0 = Math.floor(Date.now() / DAY) * DAY - 3 * DAY;

const F = D0 + 2 * DAY;

let store: TestStore;

function row(tier: '1m' | '1h' | '1d' | '1m-fleet', window: number, packets: number, partition = 0, version = 1) {
  const seconds = tier === '1h' ? 3600 : tier === '1d' ? 86_400 : 60;
  return {
    tier,
    window_start: Math.floor(window / 1000),
    window_seconds: seconds,
    topic: tier === '1m' ? 't' : '',
    partition,
    first_offset: 0,
    epoch: 0,
    last_offset: 0,
    version,
    writer: tier === '1m' ? 'w' : 'rollup',
    late: 0,
    snapshots: 1,
    packets,
    bytes: packets * 100,
    expires_at: 2_000_000_000,
    written_at: new Date(),
  };
}

beforeAll(async () => {
  store = await openTestStore('rowtiers');
  await store.storage.insertRows('agg_partials', [
    row('1d', D0, 1000), // day D0 in one row
    row('1h', D0 + 3 * HOUR, 100), // an hour of D0: the day row stands for it
    row('1m', D0 + 5 * MINUTE, 1), // a minute of D0 (its hour has no row)
    row('1h', D0 + DAY + 2 * HOUR, 200), // an hour of D0 + 1 (no day row)
    row('1m', D0 + DAY + 2 * HOUR + 5 * MINUTE, 2), // a minute of that hour: the hour row stands for it
    row('1m', D0 + DAY + 5 * HOUR + MINUTE, 4), // a minute of an hour without a row
    // Day D0 + 2: a window of two partition rows and its fleet row (version 3 + 4); a window whose fleet row
    // is stale (a row was written after it: 5 + 6 ≠ 5); a fleet row of a minute the hour row stands for.
    row('1m', F, 10, 0, 3),
    row('1m', F, 20, 1, 4),
    row('1m-fleet', F, 30, 0, 7),
    row('1m', F + MINUTE, 40, 0, 5),
    row('1m', F + MINUTE, 50, 1, 6),
    row('1m-fleet', F + MINUTE, 40, 0, 5),
    row('1h', F + HOUR, 70),
    row('1m', F + HOUR + MINUTE, 8, 0, 1),
    row('1m', F + HOUR + MINUTE, 9, 1, 1),
    row('1m-fleet', F + HOUR + MINUTE, 17, 0, 2),
  ]);
}, 60_000);

afterAll(async () => {
  await store?.close();
});

const ids = (rows: { tier: string; windowStart: number }[]) =>
  rows.map((r) => `${r.tier}@${(r.windowStart - D0) / MINUTE}`).sort();

describe.each([
  ['in-memory index', 60_000],
  ['ClickHouse listing', 0],
])('tiers of a range (%s)', (_name, refreshMs) => {
  let index: RowIndex;
  beforeAll(async () => {
    index = new RowIndex(store.storage, refreshMs);
    await index.start();
  });
  afterAll(() => index.stop());

  it('a range holding whole days reads the 1 d row for them, 1 h rows for other whole hours, 1 min rows else', async () => {
    const sel = await index.select({ from: D0 - 30 * MINUTE, to: D0 + 2 * DAY }, { hourTier: true });
    expect(ids(sel.rows)).toEqual([
      '1d@0',
      `1h@${(DAY + 2 * HOUR) / MINUTE}`,
      `1m@${(DAY + 5 * HOUR + MINUTE) / MINUTE}`,
    ]);
    expect(sel.tiers).toEqual({ '1d': 1, '1h': 1, '1m': 1 });
    expect(sel.rows.reduce((n, r) => n + r.packets, 0n)).toBe(1000n + 200n + 4n);
  });

  it('without the day tier (series of steps that are not whole days) the day is answered by hours and minutes', async () => {
    const sel = await index.select({ from: D0, to: D0 + DAY }, { hourTier: true, dayTier: false });
    expect(ids(sel.rows)).toEqual([`1h@${(3 * HOUR) / MINUTE}`, '1m@5']);
  });

  it('a range that holds no whole day never reads a day row; host filters (hourTier false) read 1 min rows only', async () => {
    const part = await index.select({ from: D0 + HOUR, to: D0 + DAY + HOUR }, { hourTier: true });
    expect(ids(part.rows)).toEqual([`1h@${(3 * HOUR) / MINUTE}`]);
    const hosts = await index.select({ from: D0 - 30 * MINUTE, to: D0 + 2 * DAY }, { hourTier: false });
    expect(hosts.tiers).toEqual({ '1m': 3 });
  });

  it("whole-fleet selections list the windows' fleet rows and read each one that merged exactly its window's rows", async () => {
    const range = { from: F, to: F + 2 * HOUR };
    const sel = await index.select(range, { hourTier: true });
    // the fleet row of a minute the hour row stands for is not listed
    expect(ids(sel.fleet ?? [])).toEqual([`1m-fleet@${(F - D0) / MINUTE}`, `1m-fleet@${(F + MINUTE - D0) / MINUTE}`]);
    const used = withFleetRows(sel);
    expect(ids(used.rows)).toEqual(
      [
        `1h@${(F + HOUR - D0) / MINUTE}`,
        `1m-fleet@${(F - D0) / MINUTE}`,
        `1m@${(F + MINUTE - D0) / MINUTE}`,
        `1m@${(F + MINUTE - D0) / MINUTE}`,
      ].sort(),
    );
    expect(used.tiers).toEqual({ '1h': 1, '1m': 2 });
    expect(used.rows.reduce((n, r) => n + r.packets, 0n)).toBe(70n + 30n + 40n + 50n);
    // host filters (hourTier false) never read fleet rows
    expect((await index.select(range, { hourTier: false })).fleet).toBeUndefined();
  });
});
