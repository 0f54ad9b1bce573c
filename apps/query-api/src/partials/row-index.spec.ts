// The row index on embedded ClickHouse leaves out rows the ownership fence drops (libs/rollup fence.ts), from its
// in-memory index and from the ClickHouse listing alike, and names them for SQL readers of the same range.
import { openTestStore, type TestStore } from '@tma/storage/testing';
import { RowIndex } from './row-index';

const MINUTE = 60_000;
const W = Math.floor(Date.now() / MINUTE) * MINUTE - 10 * MINUTE;
const range = { from: W, to: W + 2 * MINUTE };

let store: TestStore;

function row(window: number, partition: number, first: number, last: number, epoch: number, packets: number) {
  return {
    tier: '1m',
    window_start: Math.floor(window / 1000),
    window_seconds: 60,
    topic: 't',
    partition,
    first_offset: first,
    epoch,
    last_offset: last,
    version: last + 1,
    writer: `w${epoch}`,
    late: 0,
    snapshots: last - first + 1,
    packets,
    bytes: packets * 100,
    expires_at: Math.floor(window / 1000) + 86_400,
    written_at: new Date(),
  };
}

beforeAll(async () => {
  store = await openTestStore('rowidx');
  await store.storage.insertRows('agg_partials', [
    row(W, 0, 0, 9, 3, 10), // committed by epoch 3
    row(W, 0, 10, 19, 3, 20), // epoch 3's late write, landed after epoch 7 resumed at 10: fenced
    row(W, 0, 10, 19, 7, 20), // epoch 7 merged the same messages again
    row(W + MINUTE, 0, 20, 29, 3, 40), // stored before epoch 7 loaded its covered rows: kept
    row(W + MINUTE, 1, 0, 4, 3, 80), // another partition, no later owner
  ]);
  await store.storage.insertRows('agg_partition_owners', [
    { topic: 't', partition: 0, epoch: 3, owner: 'a', from_offset: 0, kept: [], at: new Date(), expires_at: 2e9 },
    { topic: 't', partition: 0, epoch: 7, owner: 'b', from_offset: 10, kept: [20], at: new Date(), expires_at: 2e9 },
  ]);
}, 60_000);

afterAll(async () => {
  await store?.close();
});

describe.each([
  ['in-memory index', 60_000],
  ['ClickHouse listing', 0],
])('RowIndex (%s)', (_name, refreshMs) => {
  it('selects every row but the fenced one, and names the fenced one', async () => {
    const index = new RowIndex(store.storage, refreshMs);
    await index.start();
    try {
      const sel = await index.select(range, { hourTier: false });
      expect(sel.rows.map((r) => r.id).sort()).toEqual(
        [
          `1m|${W / 1000}|t|0|0|3`,
          `1m|${W / 1000}|t|0|10|7`,
          `1m|${W / 1000 + 60}|t|0|20|3`,
          `1m|${W / 1000 + 60}|t|1|0|3`,
        ].sort(),
      );
      expect(sel.fenced).toEqual([`1m|${W / 1000}|t|0|10|3`]);
      expect(sel.rows.reduce((n, r) => n + r.packets, 0n)).toBe(BigInt(10 + 20 + 40 + 80));
      expect(sel.windows).toBe(2);
    } finally {
      index.stop();
    }
  });
});

describe('RowIndex refresh', () => {
  it('picks up rows committed after the last refresh, each once, by its part block per (shard, partition)', async () => {
    const index = new RowIndex(store.storage, 60_000);
    await index.start();
    try {
      const later = { from: W + 5 * MINUTE, to: W + 6 * MINUTE };
      expect((await index.select(later, { hourTier: false })).rows).toEqual([]);
      await store.storage.insertRows('agg_partials', [row(W + 5 * MINUTE, 2, 0, 4, 3, 5)]);
      await index.refresh();
      await store.storage.insertRows('agg_partials', [row(W + 5 * MINUTE, 3, 0, 4, 3, 7)]);
      await index.refresh();
      await index.refresh(); // nothing new: nothing read twice
      const sel = await index.select(later, { hourTier: false });
      expect(sel.rows.map((r) => r.id).sort()).toEqual([
        `1m|${(W + 5 * MINUTE) / 1000}|t|2|0|3`,
        `1m|${(W + 5 * MINUTE) / 1000}|t|3|0|3`,
      ]);
      expect(sel.rows.reduce((n, r) => n + r.packets, 0n)).toBe(12n);
    } finally {
      index.stop();
    }
  });
});
