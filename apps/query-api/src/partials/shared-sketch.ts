// Decoded sketches in shared memory, and their plain descriptions for messages between threads. A typed array over
// a SharedArrayBuffer crosses postMessage without a copy, so the merge workers (merge-pool.ts) read the cached
// decoded rows and the kept merges in place; class instances do not cross, so each side rebuilds its objects
// around the same arrays.
import { CandidateBlock } from '@tma/rollup';
import { type CandidateFloor, CountMinSketch, HyperLogLog } from '@tma/sketch';

export interface CmsWire {
  depth: number;
  widthBits: number;
  total: number;
  cells: Float64Array;
}

export interface HllWire {
  p: number;
  registers: Uint8Array;
}

export interface BlockWire {
  keyData: Uint8Array;
  keyBytes: number;
  hi: Uint32Array;
  lo: Uint32Array;
  packets: Float64Array;
  bytes: Float64Array;
  sincePackets: Float64Array;
  sinceBytes: Float64Array;
  floor: CandidateFloor | undefined;
  sampled: boolean;
  unionIndex: Int32Array | undefined;
}

type Typed = Uint8Array | Uint32Array | Int32Array | Float64Array;

export function isShared(a: Typed): boolean {
  return a.buffer instanceof SharedArrayBuffer;
}

/** The same values in shared memory (the array itself when it already is). */
export function shared<T extends Typed>(a: T): T {
  if (isShared(a)) return a;
  const Ctor = a.constructor as new (b: SharedArrayBuffer, offset?: number, length?: number) => T;
  const out = new Ctor(new SharedArrayBuffer(a.byteLength), 0, a.length);
  out.set(a as never);
  return out;
}

// The sketch classes allocate their arrays in their constructors; these rebuild one around given arrays (the
// fields are read-only to callers, not frozen).
function withCells(c: CountMinSketch, cells: Float64Array, total: number): CountMinSketch {
  (c as unknown as { cells: Float64Array }).cells = cells;
  return CountMinSketch.withTotal(c, total);
}

function withRegisters(h: HyperLogLog, registers: Uint8Array): HyperLogLog {
  (h as unknown as { registers: Uint8Array }).registers = registers;
  (h as unknown as { words: Uint32Array }).words = new Uint32Array(
    registers.buffer,
    registers.byteOffset,
    registers.length >>> 2,
  );
  return h;
}

export function cmsToWire(c: CountMinSketch): CmsWire {
  return { depth: c.depth, widthBits: c.widthBits, total: c.total, cells: c.cells };
}

export function cmsFromWire(w: CmsWire): CountMinSketch {
  return withCells(new CountMinSketch({ depth: w.depth, widthBits: w.widthBits }), w.cells, w.total);
}

/** `scratch` over another sketch's arrays: merging many rows through one object allocates nothing per row. */
/** Another shape gets its own object, so the merge refuses it as it would any mismatched sketch. */
export function reuseCms(scratch: CountMinSketch, w: CmsWire): CountMinSketch {
  if (w.depth !== scratch.depth || w.widthBits !== scratch.widthBits) return cmsFromWire(w);
  return withCells(scratch, w.cells, w.total);
}

export function reuseHll(scratch: HyperLogLog, w: HllWire): HyperLogLog {
  if (w.p !== scratch.p) return hllFromWire(w);
  return withRegisters(scratch, w.registers);
}

export function hllToWire(h: HyperLogLog): HllWire {
  return { p: h.p, registers: h.registers };
}

export function hllFromWire(w: HllWire): HyperLogLog {
  return withRegisters(new HyperLogLog({ precision: w.p }), w.registers);
}

export function blockToWire(b: CandidateBlock): BlockWire {
  return {
    keyData: b.keyData,
    keyBytes: b.keyBytes,
    hi: b.hi,
    lo: b.lo,
    packets: b.packets,
    bytes: b.bytes,
    sincePackets: b.sincePackets,
    sinceBytes: b.sinceBytes,
    floor: b.floor,
    sampled: b.sampled,
    unionIndex: b.unionIndex,
  };
}

export function blockFromWire(w: BlockWire): CandidateBlock {
  const b = new CandidateBlock(
    w.keyData,
    w.keyBytes,
    w.hi,
    w.lo,
    w.packets,
    w.bytes,
    w.sincePackets,
    w.sinceBytes,
    w.floor,
    w.sampled,
  );
  if (w.unionIndex) b.unionIndex = w.unionIndex;
  return b;
}

/** A CMS, HLL or candidate block with its arrays in shared memory (copied once; the same object when they are). */
export function toShared<T>(v: T): T {
  if (v instanceof CountMinSketch) {
    return (
      isShared(v.cells)
        ? v
        : withCells(new CountMinSketch({ depth: v.depth, widthBits: v.widthBits }), shared(v.cells), v.total)
    ) as T;
  }
  if (v instanceof HyperLogLog) {
    return (isShared(v.registers) ? v : withRegisters(new HyperLogLog({ precision: v.p }), shared(v.registers))) as T;
  }
  if (v instanceof CandidateBlock) {
    if (isShared(v.hi) && isShared(v.keyData) && (!v.unionIndex || isShared(v.unionIndex))) return v;
    const w = blockToWire(v);
    return blockFromWire({
      ...w,
      keyData: shared(w.keyData),
      hi: shared(w.hi),
      lo: shared(w.lo),
      packets: shared(w.packets),
      bytes: shared(w.bytes),
      sincePackets: shared(w.sincePackets),
      sinceBytes: shared(w.sinceBytes),
      unionIndex: w.unionIndex && shared(w.unionIndex),
    }) as T;
  }
  return v;
}
