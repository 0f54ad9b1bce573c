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

/**
 * A listed prefix's map key. A number (no string built per prefix) whenever it fits exactly in 53 bits: every IPv4
 * level and IPv6 /32 and /48 (hi < 2^16); the IPv6 /64 level keeps a string. Keys of the two kinds never collide.
 */
const id = (table: number, lo: number, hi: number): number | string =>
  hi < 0x10000 ? table + 16 * (lo + 0x100000000 * hi) : `${table}:${lo}:${hi}`;

/**
 * A listed prefix as kept: its upper bounds less its table's floor (what the parts that list it add beyond their
 * floors), so adding counts that do not list it costs nothing: U = floor + excess. A merge of n parts is then O(size
 * of each part) instead of touching every prefix already listed.
 */
interface Kept {
  table: number;
  lo: number;
  hi: number;
  excessPackets: number;
  excessBytes: number;
  sincePackets: number;
  sinceBytes: number;
}

export class PrefixCounts {
  private readonly kept = new Map<number | string, Kept>();
  /** Per table: every prefix not listed had at most this (change through setFloor, which keeps listed bounds). */
  // Plain arrays: one PrefixCounts is made per snapshot, and a typed array's allocation costs more than its use here.
  readonly floorPackets: number[] = new Array<number>(PREFIX_TABLES).fill(0);
  readonly floorBytes: number[] = new Array<number>(PREFIX_TABLES).fill(0);

  private view(k: Kept): PrefixCount {
    return {
      table: k.table,
      lo: k.lo,
      hi: k.hi,
      packets: this.floorPackets[k.table] + k.excessPackets,
      bytes: this.floorBytes[k.table] + k.excessBytes,
      sincePackets: k.sincePackets,
      sinceBytes: k.sinceBytes,
    };
  }

  /** Listed prefixes. */
  get size(): number {
    return this.kept.size;
  }

  /** One listed prefix (a copy), or undefined. */
  get(table: number, lo: number, hi: number): PrefixCount | undefined {
    const k = this.kept.get(id(table, lo, hi));
    return k && this.view(k);
  }

  /** Every listed prefix (copies). */
  list(): PrefixCount[] {
    return [...this.kept.values()].map((k) => this.view(k));
  }

  /** Sets a table's floor, keeping the bounds of the prefixes it lists. */
  setFloor(table: number, packets: number, bytes: number): this {
    const dp = packets - this.floorPackets[table];
    const db = bytes - this.floorBytes[table];
    if (dp === 0 && db === 0) return this;
    for (const k of this.kept.values())
      if (k.table === table) {
        k.excessPackets -= dp;
        k.excessBytes -= db;
      }
    this.floorPackets[table] = packets;
    this.floorBytes[table] = bytes;
    return this;
  }

  /** Adds traffic whose prefixes are unknown: every prefix may hold all of it (every floor and upper bound rise). */
  addUnknown(packets: number, bytes: number): this {
    for (let t = 0; t < PREFIX_TABLES; t++) {
      this.floorPackets[t] += packets;
      this.floorBytes[t] += bytes;
    }
    return this;
  }

  /** Adds the counts of disjoint traffic (another CPU, host, partition or window), in place; `other` is unchanged. */
  add(other: PrefixCounts): this {
    for (const [key, o] of other.kept) {
      const k = this.kept.get(key);
      if (k) {
        k.excessPackets += o.excessPackets;
        k.excessBytes += o.excessBytes;
        k.sincePackets += o.sincePackets;
        k.sinceBytes += o.sinceBytes;
      } else
        this.kept.set(key, {
          table: o.table,
          lo: o.lo,
          hi: o.hi,
          excessPackets: o.excessPackets,
          excessBytes: o.excessBytes,
          sincePackets: o.sincePackets,
          sinceBytes: o.sinceBytes,
        });
    }
    for (let t = 0; t < PREFIX_TABLES; t++) {
      this.floorPackets[t] += other.floorPackets[t];
      this.floorBytes[t] += other.floorBytes[t];
    }
    return this;
  }

  /**
   * Adds counts to one prefix within the same traffic (the kernel reader's ways and folds): to its bounds when it is
   * listed; else it is listed with exactly these bounds.
   */
  put(e: PrefixCount): void {
    const key = id(e.table, e.lo, e.hi);
    const k = this.kept.get(key);
    if (k) {
      k.excessPackets += e.packets;
      k.excessBytes += e.bytes;
      k.sincePackets += e.sincePackets;
      k.sinceBytes += e.sinceBytes;
    } else
      this.kept.set(key, {
        table: e.table,
        lo: e.lo,
        hi: e.hi,
        excessPackets: e.packets - this.floorPackets[e.table],
        excessBytes: e.bytes - this.floorBytes[e.table],
        sincePackets: e.sincePackets,
        sinceBytes: e.sinceBytes,
      });
  }

  /**
   * Keeps the `perTable` prefixes of each table with the largest upper packet bound; a prefix let go raises its
   * table's floor to its upper bounds, so the floor still bounds every prefix the list leaves out.
   */
  cap(perTable: number): this {
    const byTable: Kept[][] = Array.from({ length: PREFIX_TABLES }, () => []);
    for (const k of this.kept.values()) byTable[k.table].push(k);
    byTable.forEach((list, t) => {
      if (list.length <= perTable) return;
      list.sort((a, b) => b.excessPackets - a.excessPackets || b.excessBytes - a.excessBytes);
      let p = this.floorPackets[t];
      let b = this.floorBytes[t];
      for (const k of list.slice(perTable)) {
        p = Math.max(p, this.floorPackets[t] + k.excessPackets);
        b = Math.max(b, this.floorBytes[t] + k.excessBytes);
        this.kept.delete(id(k.table, k.lo, k.hi));
      }
      this.setFloor(t, p, b);
    });
    return this;
  }

  /**
   * Prefixes of one side whose upper bound reaches `threshold` (by packets or bytes), heaviest lower bound first.
   * Complete: every prefix at that side's levels with at least `threshold` is listed, unless `threshold` ≤ the floor
   * of its table (floors() says which levels that is).
   */
  heavy(side: PrefixSide, by: 'packets' | 'bytes', threshold: number): HeavyPrefix[] {
    const out: HeavyPrefix[] = [];
    for (const k of this.kept.values()) {
      const t = tableOf(k.table);
      if (t.side !== side) continue;
      const e = this.view(k);
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
    for (const k of this.kept.values()) {
      const e = this.view(k);
      rows.push([e.table, e.lo, e.hi, e.packets, e.bytes, e.sincePackets, e.sinceBytes]);
    }
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
      out.put({ table, lo, hi, packets, bytes, sincePackets, sinceBytes });
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
  for (const e of pc.list()) {
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

const IPV4_LO_MASKS = [0xff, 0xffff, 0xffffff];
const IPV6_HI_MASKS = [0, 0xffff, 0xffffffff];

/** The little-endian 32-bit word at `at`, bytes beyond the array read as 0 (prefixWords of the zero-padded bytes). */
function le32Padded(b: Uint8Array, at: number): number {
  let w = 0;
  for (let i = 3; i >= 0; i--) w = (w << 8) | (at + i < b.length ? b[at + i] : 0);
  return w >>> 0;
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
    out.setFloor(t, f.packets, f.bytes);
    known[t] = true;
  }
  for (let t = 0; t < PREFIX_TABLES; t++) if (!known[t]) out.setFloor(t, s.totals.packets, s.totals.bytes);
  for (const p of s.heavyPrefixes ?? []) {
    const t = wireTable(p.side, p.family, p.length);
    if (t < 0) throw new RangeError(`prefix at an unknown level: side ${p.side}, IPv${p.family} /${p.length}`);
    const level = tableOf(t).level;
    // masked to the level, whatever bits the sender left; bytes past the prefix's length read as 0
    const lm = p.family === 4 ? IPV4_LO_MASKS[level] : 0xffffffff;
    const hm = p.family === 4 ? 0 : IPV6_HI_MASKS[level];
    const lo = le32Padded(p.prefix, 0);
    const hi = le32Padded(p.prefix, 4);
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
