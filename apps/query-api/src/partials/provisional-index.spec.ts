import type { PartialRef } from './partial-row';
import { overlayProvisional, provisionalFrom, type ProvisionalRef } from './provisional-index';
import type { RowSelection } from './row-index';
import { partialRef } from '../test-support/partial-ref';

const MIN = 60_000;
const HOUR = 3_600_000;
const H0 = 1_767_225_600_000; // an hour boundary

const ref = (tier: '1m' | '1h', ws: number, partition = 0, first = 0): PartialRef =>
  partialRef({ tier, windowStart: ws, partition, firstOffset: first });

function prov(ws: number, partition: number, first: number, last: number): ProvisionalRef {
  return {
    ...ref('1m', ws, partition, first),
    id: `p|1m|${ws / 1000}|t|${partition}`,
    version: '1767225600123',
    provisional: true,
    lastOffset: last,
    expiresAt: ws + HOUR,
  };
}

function selection(rows: PartialRef[]): RowSelection {
  const tiers: Record<string, number> = {};
  const windows = new Set(rows.map((r) => `${r.tier}|${r.windowStart}`));
  for (const w of windows) tiers[w.split('|')[0]] = (tiers[w.split('|')[0]] ?? 0) + 1;
  return { rows, tiers, windows: windows.size, fenced: [] };
}

const range = { from: H0, to: H0 + 2 * HOUR };

describe('overlayProvisional', () => {
  it('merges a provisional row only while no final row of its window and partition starts at or before its last offset', () => {
    const finals = [
      ref('1m', H0 + 5 * MIN, 0, 100), // final row holding offsets from 100: hides [90, 140] and [100, 140]
      ref('1m', H0 + 6 * MIN, 0, 200), // starts after the provisional row's last offset: disjoint, both count
      ref('1m', H0 + 7 * MIN, 1, 50), // another partition: hides nothing of partition 0
    ];
    const p = [
      prov(H0 + 5 * MIN, 0, 100, 140),
      prov(H0 + 6 * MIN, 0, 150, 190),
      prov(H0 + 7 * MIN, 0, 60, 70),
      prov(H0 + 8 * MIN, 0, 300, 310), // a window with no final row yet
    ];
    const out = overlayProvisional(selection(finals), p, range);
    const kept = out.rows.filter((r) => r.id.startsWith('p|')).map((r) => r.windowStart);
    expect(kept).toEqual([H0 + 6 * MIN, H0 + 7 * MIN, H0 + 8 * MIN]);
    expect(out.tiers['1m']).toBe(4); // three final windows plus the one only provisional rows hold
    expect(out.windows).toBe(4);
    expect(out.rows.map((r) => r.windowStart)).toEqual([...out.rows.map((r) => r.windowStart)].sort((a, b) => a - b));
    expect(provisionalFrom(out.rows)).toBe(new Date(H0 + 6 * MIN).toISOString());
  });

  it('hides the provisional row when a final row sharing its offsets starts before it', () => {
    // An earlier owner's provisional row [100, 140]; the new owner merged [50, 160] into one final row.
    const out = overlayProvisional(selection([ref('1m', H0, 0, 50)]), [prov(H0, 0, 100, 140)], range);
    expect(out.rows.map((r) => r.id)).toEqual([`1m|${H0 / 1000}|t|0|50|0`]);
    expect(provisionalFrom(out.rows)).toBeNull();
  });

  it('leaves out provisional rows of hours a 1 h row covers, and rows outside the range', () => {
    const out = overlayProvisional(
      selection([ref('1h', H0)]),
      [prov(H0 + 10 * MIN, 0, 1, 2), prov(H0 + HOUR + MIN, 0, 1, 2), prov(H0 + 3 * HOUR, 0, 1, 2)],
      range,
    );
    expect(out.rows.filter((r) => r.id.startsWith('p|')).map((r) => r.windowStart)).toEqual([H0 + HOUR + MIN]);
    expect(out.tiers).toEqual({ '1h': 1, '1m': 1 });
  });
});
