import { FLEET_MINUTE_TIER, MINUTE_TIER, type Tier } from '@tma/rollup';
import type { PartialRef } from './partial-row';
import { ofSeed, withFleetRows } from './partial-store';
import type { ProvisionalRef } from './provisional-index';
import type { RowSelection } from './row-index';
import { partialRef } from '../test-support/partial-ref';

const W = 1_767_225_600_000;
const MIN = 60_000;

const ref = (tier: Tier, ws: number, partition: number, version: number, seedId = 7): PartialRef =>
  partialRef({
    tier,
    windowStart: ws,
    topic: tier === FLEET_MINUTE_TIER ? '' : 't',
    partition,
    version: String(version),
    seedId,
  });

const selection = (rows: PartialRef[], fleet: PartialRef[]): RowSelection => ({
  rows,
  tiers: { [MINUTE_TIER]: new Set(rows.map((r) => r.windowStart)).size },
  windows: new Set(rows.map((r) => r.windowStart)).size,
  fenced: [],
  fleet,
});

describe('withFleetRows', () => {
  const a = ref(MINUTE_TIER, W, 0, 30);
  const b = ref(MINUTE_TIER, W, 1, 12);
  const c = ref(MINUTE_TIER, W + MIN, 0, 40);
  const d = ref(MINUTE_TIER, W + MIN, 1, 41);

  it('puts a fleet row in place of exactly the rows it merged (versions sum), the window counted once', () => {
    const f = ref(FLEET_MINUTE_TIER, W, 0, 42);
    const out = withFleetRows(selection([a, b, c, d], [f]));
    expect(out.rows).toEqual([f, c, d]);
    expect(out.tiers).toEqual({ [MINUTE_TIER]: 2 });
    expect(out.fleet).toBeUndefined();
  });

  it('keeps the rows when the sums differ (a late row since, or a rewrite) or the window has one row', () => {
    const stale = ref(FLEET_MINUTE_TIER, W, 0, 41);
    const single = ref(FLEET_MINUTE_TIER, W + 2 * MIN, 0, 5);
    const e = ref(MINUTE_TIER, W + 2 * MIN, 0, 5);
    expect(withFleetRows(selection([a, b, c, d, e], [stale, single])).rows).toEqual([a, b, c, d, e]);
  });

  it('leaves provisional rows of the window in place (the fleet row holds final rows only)', () => {
    const p: ProvisionalRef = {
      ...ref(MINUTE_TIER, W, 2, 999),
      id: 'p|x',
      provisional: true,
      lastOffset: 9,
      expiresAt: 0,
    };
    const f = ref(FLEET_MINUTE_TIER, W, 0, 42);
    expect(withFleetRows(selection([a, b, p], [f])).rows).toEqual(expect.arrayContaining([f, p]));
    expect(withFleetRows(selection([a, b, p], [f])).rows).toHaveLength(2);
  });
});

describe('ofSeed', () => {
  it("keeps one seed's rows and counts the windows that lost rows", () => {
    const rows = [ref(MINUTE_TIER, W, 0, 1, 7), ref(MINUTE_TIER, W, 1, 1, 9), ref(MINUTE_TIER, W + MIN, 0, 1, 9)];
    const out = ofSeed(selection(rows, []), 7);
    expect(out.rows).toEqual([rows[0]]);
    expect(out.otherSeedWindows).toBe(2);
    expect(out.tiers).toEqual({ [MINUTE_TIER]: 1 });
  });
});
