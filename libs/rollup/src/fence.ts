// The ownership fence of agg_partials (libs/storage/migrations/0103_*, docs/aggregator.md "Fencing a write in
// flight"): which stored 1 min rows a reader counts. An instance that lost its partition (its group session
// expired while a ClickHouse write was in flight) can land that write after the partition's new owner loaded what
// was stored; the new owner merges those messages again, so the late row must not count. Every reader of partial
// rows applies this one rule: the aggregator (covered ranges, sequences, rollups) and the query API (row index).

/** One assignment of a partition, as recorded in agg_partition_owners. */
export interface OwnerEpoch {
  topic: string;
  partition: number;
  epoch: number;
  /** The offset the owner resumed from (the group's committed offset, or the log start if that is later). */
  fromOffset: number;
  /** First offsets of rows of earlier epochs at or past fromOffset that the owner loaded as covered (kept). */
  kept: readonly number[];
}

/** What the rule needs of a partial row. */
export interface FenceKey {
  topic: string;
  partition: number;
  epoch: number;
  firstOffset: number;
}

interface PartitionChain {
  /** Owners by ascending epoch. */
  owners: OwnerEpoch[];
  /** minFrom[i] = the lowest fromOffset of owners[i..]: rows below it are never fenced by those owners. */
  minFrom: number[];
}

const pkey = (topic: string, partition: number) => `${topic}\u0000${partition}`;

/** The owner chains of every partition, built from agg_partition_owners rows. */
export class OwnerChain {
  private readonly chains = new Map<string, PartitionChain>();

  constructor(owners: Iterable<OwnerEpoch> = []) {
    const by = new Map<string, OwnerEpoch[]>();
    for (const o of owners) {
      const k = pkey(o.topic, o.partition);
      const list = by.get(k) ?? [];
      list.push(o);
      by.set(k, list);
    }
    for (const [k, list] of by) {
      list.sort((a, b) => a.epoch - b.epoch);
      const minFrom = new Array<number>(list.length);
      for (let i = list.length - 1, m = Infinity; i >= 0; i--) minFrom[i] = m = Math.min(m, list[i].fromOffset);
      this.chains.set(k, { owners: list, minFrom });
    }
  }

  get size(): number {
    let n = 0;
    for (const c of this.chains.values()) n += c.owners.length;
    return n;
  }

  /** The highest epoch recorded for a partition (0 when none). */
  latest(topic: string, partition: number): number {
    const c = this.chains.get(pkey(topic, partition));
    return c ? c.owners[c.owners.length - 1].epoch : 0;
  }

  /**
   * The rule, its one definition: a row of epoch e is fenced (not counted) when a later epoch e' > e of its
   * partition resumed at or before the row's first offset and did not keep the row as covered. Such a row landed
   * after e' loaded what was stored, so e' merges its messages again. Rows before e' resumed stay: they were
   * committed or e' skipped their messages as covered.
   */
  fenced(row: FenceKey): boolean {
    const c = this.chains.get(pkey(row.topic, row.partition));
    if (!c) return false;
    // First owner with a later epoch (binary search: owners ascend by epoch).
    let lo = 0;
    let hi = c.owners.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (c.owners[mid].epoch > row.epoch) hi = mid;
      else lo = mid + 1;
    }
    if (lo === c.owners.length || row.firstOffset < c.minFrom[lo]) return false;
    for (let i = lo; i < c.owners.length; i++) {
      const o = c.owners[i];
      if (row.firstOffset >= o.fromOffset && !o.kept.includes(row.firstOffset)) return true;
    }
    return false;
  }

  /** The rows a reader counts. */
  unfenced<T>(rows: readonly T[], key: (row: T) => FenceKey = (r) => r as unknown as FenceKey): T[] {
    if (this.chains.size === 0) return [...rows];
    return rows.filter((r) => !this.fenced(key(r)));
  }
}

/** agg_partition_owners as read by every reader (64-bit integers arrive as text). */
export const OWNERS_SELECT = `SELECT topic, partition, epoch, toString(from_offset) AS from_offset, arrayMap(x -> toString(x), kept) AS kept
  FROM {database}.agg_partition_owners FINAL`;

export interface StoredOwner {
  topic: string;
  partition: number | string;
  epoch: number | string;
  from_offset: string;
  kept: string[];
}

export function ownerChainOf(rows: readonly StoredOwner[]): OwnerChain {
  return new OwnerChain(
    rows.map((r) => ({
      topic: r.topic,
      partition: Number(r.partition),
      epoch: Number(r.epoch),
      fromOffset: Number(r.from_offset),
      kept: r.kept.map(Number),
    })),
  );
}
