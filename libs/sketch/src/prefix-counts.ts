// Heavy-prefix counts with bounds, mergeable over CPUs, hosts, partitions and windows (docs/sketch.md, "Heavy
// prefixes"). Each listed prefix carries an upper bound (packets, bytes) and a lower bound (sincePackets, sinceBytes)
// of its traffic; every prefix a table does not list had at most that table's floor. Two counts of disjoint traffic
// add: a prefix listed in one and not the other gets the other's floor added to its upper bound and nothing to its
// lower bound, and floors add. Traffic without prefix data (older agents, sampled snapshots) raises every floor by its
// totals: any prefix may hold all of it.
import {
  PREFIX_LENGTHS,
  PREFIX_TABLES,
  prefixBytes,
  prefixTable,
  prefixText,
  prefixWords,
  tableOf,
  type PrefixSide,
} from './prefixes';

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
      out.push({
        family: d.family,
        length: d.length,
        floor: by === 'packets' ? this.floorPackets[t] : this.floorBytes[t],
      });
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

/** A listed prefix as the snapshot carries it (schema v2 heavyPrefixes). */
export interface WirePrefix {
  side: number;
  family: number;
  length: number;
  prefix: Uint8Array;
  packets: number;
  bytes: number;
  sincePackets: number;
  sinceBytes: number;
}

/** A table's floor as the snapshot carries it (schema v2 prefixFloors). */
export interface WirePrefixFloor {
  side: number;
  family: number;
  length: number;
  packets: number;
  bytes: number;
}

/** Prefixes kept per side, family and level in a snapshot (the rest raise the floor): ~12 KB at most. */
export const SNAPSHOT_PREFIXES_PER_TABLE = 32;

/** The table of a wire (side, family, length), or -1 when it is not one of the levels. */
export function wireTable(side: number, family: number, length: number): number {
  if ((side !== 0 && side !== 1) || (family !== 4 && family !== 6)) return -1;
  const level = (PREFIX_LENGTHS[family] as readonly number[]).indexOf(length);
  return level < 0 ? -1 : prefixTable(side, family, level);
}

/** The snapshot fields of a host's counts, cut to `perTable` prefixes per table. */
export function prefixCountsToWire(
  counts: PrefixCounts,
  perTable = SNAPSHOT_PREFIXES_PER_TABLE,
): { heavyPrefixes: WirePrefix[]; prefixFloors: WirePrefixFloor[] } {
  const pc = counts.clone().cap(perTable);
  const heavyPrefixes: WirePrefix[] = [];
  for (const e of pc.entries.values()) {
    const d = tableOf(e.table);
    heavyPrefixes.push({
      side: d.side,
      family: d.family,
      length: d.length,
      prefix: prefixBytes(d.family, e.lo, e.hi).subarray(0, d.family === 4 ? 4 : 8),
      packets: e.packets,
      bytes: e.bytes,
      sincePackets: e.sincePackets,
      sinceBytes: e.sinceBytes,
    });
  }
  const prefixFloors: WirePrefixFloor[] = [];
  for (let t = 0; t < PREFIX_TABLES; t++) {
    const d = tableOf(t);
    prefixFloors.push({
      side: d.side,
      family: d.family,
      length: d.length,
      packets: pc.floorPackets[t],
      bytes: pc.floorBytes[t],
    });
  }
  return { heavyPrefixes, prefixFloors };
}

/**
 * A snapshot's counts: its listed prefixes and floors when it carries prefix counts, otherwise (older agents, sampled
 * snapshots) none listed and every floor at its total traffic. A table the snapshot gives no floor for is unknown
 * too. Throws a RangeError on a prefix at a level that is not one of the tables'.
 */
export function prefixCountsFromWire(s: {
  prefixCounts?: boolean;
  heavyPrefixes?: WirePrefix[];
  prefixFloors?: WirePrefixFloor[];
  totals: { packets: number; bytes: number };
}): PrefixCounts {
  const out = new PrefixCounts();
  if (!s.prefixCounts) return out.addUnknown(s.totals.packets, s.totals.bytes);
  const known = new Array<boolean>(PREFIX_TABLES).fill(false);
  for (const f of s.prefixFloors ?? []) {
    const t = wireTable(f.side, f.family, f.length);
    if (t < 0) throw new RangeError(`prefix floor at an unknown level: side ${f.side}, IPv${f.family} /${f.length}`);
    out.floorPackets[t] = f.packets;
    out.floorBytes[t] = f.bytes;
    known[t] = true;
  }
  for (let t = 0; t < PREFIX_TABLES; t++)
    if (!known[t]) {
      out.floorPackets[t] = s.totals.packets;
      out.floorBytes[t] = s.totals.bytes;
    }
  for (const p of s.heavyPrefixes ?? []) {
    const t = wireTable(p.side, p.family, p.length);
    if (t < 0) throw new RangeError(`prefix at an unknown level: side ${p.side}, IPv${p.family} /${p.length}`);
    const full = new Uint8Array(8);
    full.set(p.prefix.subarray(0, 8));
    const { lo, hi } = prefixWords(full);
    // masked to the level, whatever bits the sender left
    const lm = p.family === 4 ? [0xff, 0xffff, 0xffffff][tableOf(t).level] : 0xffffffff;
    const hm = p.family === 4 ? 0 : [0, 0xffff, 0xffffffff][tableOf(t).level];
    out.put({
      table: t,
      lo: (lo & lm) >>> 0,
      hi: (hi & hm) >>> 0,
      packets: p.packets,
      bytes: p.bytes,
      sincePackets: p.sincePackets,
      sinceBytes: p.sinceBytes,
    });
  }
  return out;
}
