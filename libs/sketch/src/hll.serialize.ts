// Binary form of a HyperLogLog (family 2), after the shared header of serial-format.ts:
//
//  family 2 HLL:         param0 = precision p, param1 = register bits (8)
//    encoding 0 dense:   2^p register bytes, each 0 … 65 − p
//    encoding 1 sparse:  varint n, then n × varint(gap · 64 + value), value 1 … 65 − p, index as for the CMS
import { CorruptError, IncompatibleParametersError } from './errors';
import { HyperLogLog, HyperLogLogOptions } from './hll';
import { SketchEncoding, SketchFamily, finishSketch, openSketch, startSketch } from './serial-format';
import { SKETCH_HEADER_BYTES, SparseEntries, fastVarint, seekVarints, varintsEnd, vsize } from './serial-format';
import type { EncodeOptions } from './serial-format';
import { HLL_P } from './spec.generated';
import { checkedMaxBytesInto } from './wasm/simd';

export function encodeHyperLogLog(hll: HyperLogLog, options: EncodeOptions = {}): Uint8Array {
  const regs = hll.registers;
  const mode = options.encoding ?? 'auto';
  let sparse = 0;
  let nnz = 0;
  let prev = -1;
  // Sparse only when it halves the size, as for the CMS: a dense register array decodes with one copy and a SIMD
  // range check (a few µs), a sparse one entry by entry (~15 ns each), so near-full sparse sketches cost the
  // aggregator far more than the bytes they save.
  const sparseLimit = regs.length >>> 1;
  for (let i = 0; i < regs.length && (mode === 'sparse' || sparse <= sparseLimit); i++) {
    if (regs[i] === 0) continue;
    sparse += vsize((i - prev - 1) * 64 + regs[i]);
    prev = i;
    nnz++;
  }
  sparse += vsize(nnz); // (a partial count when the loop stopped early: dense wins then)
  const encoding =
    mode === 'dense'
      ? SketchEncoding.Dense
      : mode === 'sparse'
        ? SketchEncoding.Sparse
        : sparse <= sparseLimit
          ? SketchEncoding.Sparse
          : SketchEncoding.Dense;
  const payload = encoding === SketchEncoding.Sparse ? sparse : regs.length;
  const w = startSketch(SketchFamily.HyperLogLog, encoding, hll.seedHash, hll.p, 8, payload);
  if (encoding === SketchEncoding.Dense) {
    w.bytes(regs);
  } else {
    w.varint(nnz);
    prev = -1;
    for (let i = 0; i < regs.length; i++) {
      if (regs[i] === 0) continue;
      w.varint((i - prev - 1) * 64 + regs[i]);
      prev = i;
    }
  }
  return finishSketch(w);
}

export interface DecodeHyperLogLogOptions extends HyperLogLogOptions {
  seedHash?: number;
}

let hllScratch = new HyperLogLog();
const sparse = new SparseEntries((n) => new Uint8Array(n));

interface HllContent {
  p: number;
  rankMax: number;
  /** Dense: the registers are bytes[SKETCH_HEADER_BYTES … end), not yet range-checked. */
  dense: boolean;
  /** Sparse: n checked entries in `sparse`. */
  n: number;
  end: number;
}

function readHll(bytes: Uint8Array, expect: DecodeHyperLogLogOptions): HllContent {
  const h = openSketch(bytes, SketchFamily.HyperLogLog, expect.seedHash);
  const p = expect.precision ?? HLL_P;
  if (h.param0 !== p || h.param1 !== 8)
    throw new IncompatibleParametersError(
      `HLL precision ${h.param0} with ${h.param1}-bit registers; expected ${p} with 8`,
    );
  const m = 2 ** p;
  const rankMax = 64 - p + 1;
  const end = SKETCH_HEADER_BYTES + h.payloadLength;
  if (h.encoding === SketchEncoding.Dense) {
    if (h.payloadLength !== m) throw new CorruptError(`dense HLL payload of ${h.payloadLength} bytes; expected ${m}`);
    return { p, rankMax, dense: true, n: m, end };
  }
  seekVarints(SKETCH_HEADER_BYTES);
  const n = fastVarint(bytes, end);
  if (n > m || n > end - varintsEnd()) throw new CorruptError(`HLL sparse entry count ${n} does not fit`);
  sparse.reserve(n);
  const idx = sparse.index;
  const val = sparse.value;
  let index = -1;
  for (let k = 0; k < n; k++) {
    const x = fastVarint(bytes, end);
    const v = x % 64;
    index += (x - v) / 64 + 1;
    if (index >= m) throw new CorruptError(`HLL sparse index ${index} beyond ${m} registers`);
    if (v === 0 || v > rankMax) throw new CorruptError(`HLL register value ${v} outside 1..${rankMax}`);
    idx[k] = index;
    val[k] = v;
  }
  if (varintsEnd() !== end) throw new CorruptError(`${end - varintsEnd()} bytes after the last HLL entry`);
  return { p, rankMax, dense: false, n, end };
}

function registerAbove(registers: Uint8Array, rankMax: number): CorruptError {
  let max = 0;
  for (let i = 0; i < registers.length; i++) if (registers[i] > max) max = registers[i];
  return new CorruptError(`an HLL register holds ${max}, above the maximum rank ${rankMax}`);
}

/** A new sketch from its serialized form. Throws a SketchDecodeError subclass on any invalid input. */
export function decodeHyperLogLog(bytes: Uint8Array, expect: DecodeHyperLogLogOptions = {}): HyperLogLog {
  const c = readHll(bytes, expect);
  const out = new HyperLogLog({ precision: c.p });
  if (c.dense) {
    // Registers go straight into the new sketch and are range-checked there; on an error it is dropped.
    out.registers.set(bytes.subarray(SKETCH_HEADER_BYTES, c.end));
    if (out.hasRegisterAbove(c.rankMax)) throw registerAbove(out.registers, c.rankMax);
  } else {
    const { index, value } = sparse;
    for (let k = 0; k < c.n; k++) out.registers[index[k]] = value[k];
  }
  return out;
}

/** Register-wise max of a serialized sketch into `target`; validated first, `target` unchanged on any error. */
export function mergeEncodedHyperLogLog(target: HyperLogLog, bytes: Uint8Array): HyperLogLog {
  const c = readHll(bytes, { precision: target.p, seedHash: target.seedHash });
  if (c.dense) {
    const payload = bytes.subarray(SKETCH_HEADER_BYTES, c.end);
    // SIMD: range check and max in the module's memory, target written only after the check passed.
    const done = checkedMaxBytesInto(target.registers, payload, c.rankMax);
    if (done === 'merged') return target;
    if (done === 'above') throw registerAbove(payload, c.rankMax);
    if (hllScratch.p !== c.p) hllScratch = new HyperLogLog({ precision: c.p });
    hllScratch.registers.set(payload);
    if (hllScratch.hasRegisterAbove(c.rankMax)) throw registerAbove(payload, c.rankMax);
    return target.merge(hllScratch);
  }
  const regs = target.registers;
  const { index, value } = sparse;
  for (let k = 0; k < c.n; k++) {
    const i = index[k];
    if (value[k] > regs[i]) regs[i] = value[k];
  }
  return target;
}

/**
 * Validates a serialized HLL exactly as decoding or merging it would (same errors, dense registers range-checked),
 * without keeping it.
 */
export function checkEncodedHyperLogLog(bytes: Uint8Array, expect: DecodeHyperLogLogOptions = {}): void {
  const c = readHll(bytes, expect);
  if (!c.dense) return;
  const rankMax = c.rankMax;
  for (let i = SKETCH_HEADER_BYTES; i < c.end; i++)
    if (bytes[i] > rankMax) throw registerAbove(bytes.subarray(SKETCH_HEADER_BYTES, c.end), rankMax);
}

/** @internal A validated serialized HLL for merge targets kept elsewhere (HllWindow). */
export interface HllForMerge {
  /** Dense: the registers, not yet range-checked (at most `rankMax` each). Sparse: n checked entries. */
  dense: boolean;
  registers: Uint8Array;
  rankMax: number;
  n: number;
  index: Uint32Array;
  value: Uint8Array;
}

/** @internal Validates `bytes` (an HLL of the expected precision) but for the dense registers' range. */
export function readHyperLogLogForMerge(bytes: Uint8Array, expect: DecodeHyperLogLogOptions): HllForMerge {
  const c = readHll(bytes, expect);
  return {
    dense: c.dense,
    registers: bytes.subarray(SKETCH_HEADER_BYTES, c.end),
    rankMax: c.rankMax,
    n: c.n,
    index: sparse.index,
    value: sparse.value,
  };
}

/** @internal The decode error for a dense HLL with a register above `rankMax`. */
export function hllRegisterAboveError(registers: Uint8Array, rankMax: number): CorruptError {
  return registerAbove(registers, rankMax);
}
