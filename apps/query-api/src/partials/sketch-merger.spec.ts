import { CandidateBlock } from '@tma/rollup';
import { CountMinSketch, HyperLogLog } from '@tma/sketch';
import { MergeMemo } from './merge-memo';
import type { PartialRef } from './partial-row';
import type { PartialStore } from './partial-store';
import { MERGE_BATCH, SketchMerger } from './sketch-merger';
import { partialRef } from '../test-support/partial-ref';

const ROWS = 1000;
const rows: PartialRef[] = Array.from({ length: ROWS }, (_, i) =>
  partialRef({ tier: '1m', windowStart: i * 60_000, epoch: 1, firstOffset: i, packets: 0n, bytes: 0n }),
);

/** A store whose rows each hold one count at their own index; it records how many rows one read decodes. */
function fakeStore() {
  const seen = { largest: 0, reads: 0 };
  const decode = (r: PartialRef, column: string): unknown => {
    const i = Number(r.id.split('|')[4]);
    if (column === 'candidates') return CandidateBlock.empty;
    if (column.startsWith('hll')) {
      const h = new HyperLogLog({ precision: 10 });
      h.add(i, i * 7 + 1);
      return h;
    }
    const c = new CountMinSketch({ depth: 2, widthBits: 6 });
    c.add(i, i + 1, column === 'cms_bytes' ? 100 : 1);
    return c;
  };
  const store = {
    sketches: async (list: readonly PartialRef[], column: string) => {
      seen.largest = Math.max(seen.largest, list.length);
      seen.reads++;
      return list.map((r) => decode(r, column));
    },
    memo: <T>(_kind: string, _rows: readonly PartialRef[], compute: () => Promise<T>) => compute(),
  };
  return { store: store as unknown as PartialStore, seen };
}

describe('SketchMerger streams its merges', () => {
  it(`holds at most ${MERGE_BATCH} rows' decoded sketches at a time, with the same result as one merge`, async () => {
    const { store, seen } = fakeStore();
    const merger = new SketchMerger(store);
    const flows = await merger.flows(rows);
    expect(seen.largest).toBeLessThanOrEqual(MERGE_BATCH);
    expect(seen.reads).toBeGreaterThanOrEqual(3 * Math.ceil(ROWS / MERGE_BATCH));
    expect(flows.cmsP.cells.reduce((a, b) => a + b, 0)).toBe(2 * ROWS); // depth 2: every count once per row
    expect(flows.cmsB.cells.reduce((a, b) => a + b, 0)).toBe(2 * ROWS * 100);
    const cms = await merger.cms(rows);
    expect(cms.cmsP.cells).toEqual(flows.cmsP.cells);
    const hll = await merger.hll(rows, 'hll_flows');
    const one = new HyperLogLog({ precision: 10 });
    for (let i = 0; i < ROWS; i++) one.add(i, i * 7 + 1);
    expect(hll.estimate()).toBe(one.estimate());
    expect(seen.largest).toBeLessThanOrEqual(MERGE_BATCH);
  });
});

describe('MergeMemo', () => {
  it('keeps merges within its byte budget, least recently used out first', async () => {
    const sketch = () => new CountMinSketch({ depth: 2, widthBits: 12 }); // 64 KiB of cells
    const memo = new MergeMemo(true, 200 * 1024);
    const keep = await memo.memo('a', rows.slice(0, 1), async () => sketch());
    for (let i = 1; i < 10; i++) {
      await memo.memo('x', rows.slice(i, i + 1), async () => sketch());
      await memo.memo('a', rows.slice(0, 1), async () => sketch()); // used again: stays
      expect(memo.bytes).toBeLessThanOrEqual(200 * 1024);
    }
    expect(await memo.memo('a', rows.slice(0, 1), async () => sketch())).toBe(keep);
    const big = new MergeMemo(true, 1024);
    await big.memo('b', rows, async () => sketch()); // larger than the whole budget: answered, not kept
    expect(big.bytes).toBe(0);
  });
});
