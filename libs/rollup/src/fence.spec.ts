// The ownership fence on golden cases: which partial rows a reader counts, given the owner chain of a partition.
import { OwnerChain, ownerChainOf, type FenceKey, type OwnerEpoch } from './fence';

const owner = (epoch: number, fromOffset: number, kept: number[] = [], partition = 0, topic = 't'): OwnerEpoch => ({
  topic,
  partition,
  epoch,
  fromOffset,
  kept,
});
const row = (epoch: number, firstOffset: number, partition = 0, topic = 't'): FenceKey => ({
  topic,
  partition,
  epoch,
  firstOffset,
});

describe('OwnerChain.fenced', () => {
  it('keeps every row when no owner is recorded (rows written before epochs existed, or another partition)', () => {
    const none = new OwnerChain();
    expect(none.fenced(row(0, 0))).toBe(false);
    const other = new OwnerChain([owner(5, 100, [], 1)]);
    expect(other.fenced(row(3, 500, 0))).toBe(false);
    expect(new OwnerChain([owner(5, 100, [], 0, 'u')]).fenced(row(3, 500, 0, 't'))).toBe(false);
  });

  it("drops an old owner's row that starts at or past the new owner's start, and only that", () => {
    const chain = new OwnerChain([owner(3, 0), owner(7, 100)]);
    expect(chain.fenced(row(3, 99))).toBe(false); // committed before the takeover
    expect(chain.fenced(row(3, 100))).toBe(true); // the late write: epoch 7 merges offset 100 again
    expect(chain.fenced(row(3, 250))).toBe(true);
    expect(chain.fenced(row(7, 100))).toBe(false); // the new owner's own row
    expect(chain.fenced(row(7, 5))).toBe(false);
  });

  it('keeps the rows the new owner loaded as covered (it skipped their messages)', () => {
    const chain = new OwnerChain([owner(3, 0), owner(7, 100, [120, 180])]);
    expect(chain.fenced(row(3, 120))).toBe(false);
    expect(chain.fenced(row(3, 180))).toBe(false);
    expect(chain.fenced(row(3, 110))).toBe(true); // landed after the load: not kept
  });

  it('a later epoch fences every earlier one, not only its predecessor', () => {
    const chain = new OwnerChain([owner(2, 20), owner(4, 50, [60]), owner(9, 80)]);
    expect(chain.fenced(row(2, 60))).toBe(false); // kept by 4, and 9 resumed after it
    expect(chain.fenced(row(2, 55))).toBe(true); // fenced by 4
    expect(chain.fenced(row(2, 90))).toBe(true); // fenced by 4 and by 9
    expect(chain.fenced(row(4, 79))).toBe(false);
    expect(chain.fenced(row(4, 80))).toBe(true); // fenced by 9
    expect(chain.fenced(row(0, 10))).toBe(false); // a row from before epochs, below every start
    expect(chain.fenced(row(0, 60))).toBe(true); // fenced by 2, whatever 4 kept
  });

  it('the order of the owners rows does not matter; an epoch between recorded ones is fenced by the later ones', () => {
    const a = new OwnerChain([owner(9, 80), owner(2, 0), owner(4, 50)]);
    const b = new OwnerChain([owner(2, 0), owner(4, 50), owner(9, 80)]);
    for (const r of [row(3, 49), row(3, 50), row(5, 79), row(5, 80), row(9, 1000), row(10, 0)])
      expect(a.fenced(r)).toBe(b.fenced(r));
    expect(a.fenced(row(3, 50))).toBe(true);
    expect(a.fenced(row(5, 79))).toBe(false);
    expect(a.fenced(row(5, 80))).toBe(true);
  });

  it('a later owner resuming below an earlier one still fences what it re-reads', () => {
    // Epoch 6 resumed at 40 (the group's commit went back: another group, or offsets reset).
    const chain = new OwnerChain([owner(4, 100), owner(6, 40)]);
    expect(chain.fenced(row(4, 39))).toBe(false);
    expect(chain.fenced(row(4, 40))).toBe(true);
    expect(chain.fenced(row(5, 200))).toBe(true);
  });

  it('latest() is the highest recorded epoch of the partition', () => {
    const chain = new OwnerChain([owner(2, 0), owner(9, 80), owner(4, 50), owner(11, 0, [], 3)]);
    expect(chain.latest('t', 0)).toBe(9);
    expect(chain.latest('t', 3)).toBe(11);
    expect(chain.latest('t', 1)).toBe(0);
    expect(chain.size).toBe(4);
  });

  it('unfenced() filters rows of any shape, and reads stored owners rows (64-bit integers as text)', () => {
    const chain = ownerChainOf([
      { topic: 't', partition: '0', epoch: '3', from_offset: '0', kept: [] },
      { topic: 't', partition: 0, epoch: 7, from_offset: '100', kept: ['150'] },
    ]);
    const rows = [
      { id: 'a', k: row(3, 90) },
      { id: 'b', k: row(3, 120) },
      { id: 'c', k: row(3, 150) },
      { id: 'd', k: row(7, 120) },
    ];
    expect(chain.unfenced(rows, (r) => r.k).map((r) => r.id)).toEqual(['a', 'c', 'd']);
    expect(new OwnerChain().unfenced(rows, (r) => r.k)).toHaveLength(4);
  });
});
