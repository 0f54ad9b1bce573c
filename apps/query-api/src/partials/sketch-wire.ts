// Decoded sketches as plain descriptions for messages between threads (merge-pool.ts): class instances do not cross
// postMessage, their typed arrays do (copied; moved when transferred), so each side rebuilds its objects around the
// arrays it received. Kept off shared memory on purpose: the collector does not count SharedArrayBuffer memory, so
// decoded rows copied there for one request outlived it (measured: a week of uncached host-filtered rows held
// ~0.5 GiB more than on the event loop).
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
