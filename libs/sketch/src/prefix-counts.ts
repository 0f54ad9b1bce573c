// Heavy-prefix counts with bounds, mergeable over CPUs, hosts, partitions and windows (docs/sketch.md, "Heavy
// prefixes"). Each listed prefix carries an upper bound (packets, bytes) and a lower bound (sincePackets, sinceBytes)
// of its traffic; every prefix a table does not list had at most that table's floor. Two counts of disjoint traffic
// add: a prefix listed in one and not the other gets the other's floor added to its upper bound and nothing to its
// lower bound, and floors add. Traffic without prefix data (older agents, sampled snapshots) raises every floor by its
// totals: any prefix may hold all of it.
import { PREFIX_TABLES, tableOf, prefixText, type PrefixSide } from './prefixes';

export interface PrefixCount {
  table: number;
  lo: number;
  hi: number;
  /** upper bounds */
  packets: number;
  bytes: number;
  /** lower bounds (counted exactly since the prefix entered its table) */
  sincePackets: number;
  sinceBytes: number;
}

/** A heavy prefix of an answer, with its bounds. */
export interface HeavyPrefix {
  prefix: string;
  side: 'src' | 'dst';
  family: 4 | 6;
  length: number;
  lower: number;
  upper: number;
  /** lower ≥ threshold: heavy whatever the rest of the traffic was; otherwise only possibly heavy */
  certain: boolean;
}

const id = (table: number, lo: number, hi: number): string => `${table}:${lo}:${hi}`;

export class PrefixCounts {
  readonly entries = new Map<string, PrefixCount>();
  readonly floorPackets = new Float64Array(PREFIX_TABLES);
  readonly floorBytes = new Float64Array(PREFIX_TABLES);

  get(table: number, lo: number, hi: number): PrefixCount | undefined {
    return this.entries.get(id(table, lo, hi));
  }

  /** Adds traffic whose prefixes are unknown: every prefix may hold all of it. */
  addUnknown(packets: number, bytes: number): this {
    for (let t = 0; t < PREFIX_TABLES; t++) {
      this.floorPackets[t] += packets;
      this.floorBytes[t] += bytes;
    }
    for (const e of this.entries.values()) {
      e.packets += packets;
      e.bytes += bytes;
    }
    return this;
  }

  /** Adds the counts of disjoint traffic (another CPU, host, partition or window), in place. */
  add(other: PrefixCounts): this {
    for (const [k, e] of this.entries)
      if (!other.entries.has(k)) {
        e.packets += other.floorPackets[e.table];
        e.bytes += other.floorBytes[e.table];
      }
    for (const [k, o] of other.entries) {
      const e = this.entries.get(k);
      if (e) {
        e.packets += o.packets;
        e.bytes += o.bytes;
        e.sincePackets += o.sincePackets;
        e.sinceBytes += o.sinceBytes;
      } else
        this.entries.set(k, {
          ...o,
          packets: o.packets + this.floorPackets[o.table],
          bytes: o.bytes + this.floorBytes[o.table],
        });
    }
    for (let t = 0; t < PREFIX_TABLES; t++) {
      this.floorPackets[t] += other.floorPackets[t];
      this.floorBytes[t] += other.floorBytes[t];
    }
    return this;
  }

  /** Sets or adds to one prefix (the kernel reader's entries). */
  put(e: PrefixCount): void {
    const k = id(e.table, e.lo, e.hi);
    const seen = this.entries.get(k);
    if (seen) {
      seen.packets += e.packets;
      seen.bytes += e.bytes;
      seen.sincePackets += e.sincePackets;
      seen.sinceBytes += e.sinceBytes;
    } else this.entries.set(k, { ...e });
  }

  /**
   * Keeps the `perTable` prefixes of each table with the largest upper packet bound; a prefix let go raises its
   * table's floor to its upper bounds, so the floor still bounds every prefix the list leaves out.
   */
  cap(perTable: number): this {
    const byTable: PrefixCount[][] = Array.from({ length: PREFIX_TABLES }, () => []);
    for (const e of this.entries.values()) byTable[e.table].push(e);
    for (const list of byTable) {
      if (list.length <= perTable) continue;
      list.sort((a, b) => b.packets - a.packets || b.bytes - a.bytes);
      for (const e of list.slice(perTable)) {
        this.floorPackets[e.table] = Math.max(this.floorPackets[e.table], e.packets);
        this.floorBytes[e.table] = Math.max(this.floorBytes[e.table], e.bytes);
        this.entries.delete(id(e.table, e.lo, e.hi));
      }
    }
    return this;
  }

  /**
   * Prefixes of one side whose upper bound reaches `threshold` (by packets or bytes), heaviest lower bound first.
   * Complete: every prefix at that side's levels with at least `threshold` is listed, unless `threshold` ≤ the floor
   * of its table (floorOf says which levels that is).
   */
  heavy(side: PrefixSide, by: 'packets' | 'bytes', threshold: number): HeavyPrefix[] {
    const out: HeavyPrefix[] = [];
    for (const e of this.entries.values()) {
      const t = tableOf(e.table);
      if (t.side !== side) continue;
      const upper = by === 'packets' ? e.packets : e.bytes;
      const lower = by === 'packets' ? e.sincePackets : e.sinceBytes;
      if (upper < threshold || upper === 0) continue;
      out.push({
        prefix: prefixText(t.family, e.lo, e.hi, t.length),
        side: side === 0 ? 'src' : 'dst',
        family: t.family,
        length: t.length,
        lower,
        upper,
        certain: lower >= threshold,
      });
    }
    return out.sort((a, b) => b.lower - a.lower || b.upper - a.upper || (a.prefix < b.prefix ? -1 : 1));
  }

  /** The floor of every level of one side: a prefix not listed there had at most this. */
  floors(side: PrefixSide, by: 'packets' | 'bytes'): { family: 4 | 6; length: number; floor: number }[] {
    const out: { family: 4 | 6; length: number; floor: number }[] = [];
    for (let t = 0; t < PREFIX_TABLES; t++) {
      const d = tableOf(t);
      if (d.side !== side) continue;
      out.push({ family: d.family, length: d.length, floor: by === 'packets' ? this.floorPackets[t] : this.floorBytes[t] });
    }
    return out;
  }

  /** Compact JSON: [floorsPackets, floorsBytes, [[table, lo, hi, packets, bytes, sincePackets, sinceBytes], …]]. */
  encode(): string {
    const rows: number[][] = [];
    for (const e of this.entries.values())
      rows.push([e.table, e.lo, e.hi, e.packets, e.bytes, e.sincePackets, e.sinceBytes]);
    return JSON.stringify([Array.from(this.floorPackets), Array.from(this.floorBytes), rows]);
  }

  static decode(text: string): PrefixCounts {
    const out = new PrefixCounts();
    const [fp, fb, rows] = JSON.parse(text) as [number[], number[], number[][]];
    for (let t = 0; t < PREFIX_TABLES; t++) {
      out.floorPackets[t] = fp[t] ?? 0;
      out.floorBytes[t] = fb[t] ?? 0;
    }
    for (const [table, lo, hi, packets, bytes, sincePackets, sinceBytes] of rows)
      out.entries.set(id(table, lo, hi), { table, lo, hi, packets, bytes, sincePackets, sinceBytes });
    return out;
  }

  clone(): PrefixCounts {
    return new PrefixCounts().add(this);
  }
}
