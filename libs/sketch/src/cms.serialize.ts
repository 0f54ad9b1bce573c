// Binary form of a Count-Min Sketch (family 1), after the shared header of serial-format.ts:
//
//  family 1 CMS:         param0 = depth, param1 = widthBits
//    encoding 0 dense:   u8 cell width b (0 … 7 bytes, that of the largest cell), then depth·2^widthBits cells of
//                        b bytes each, little-endian, row-major
//    encoding 1 sparse:  varint n, then n × (varint gap, varint ref [, varint literal]): index = previous index + 1
//                        + gap (the first index is its gap); ref 0 = a literal value ≥ 1 follows and is appended
//                        to the value list, ref k ≥ 1 = the k-th value of that list (a flow repeats its count in
//                        every row, so rows 1 … d−1 mostly cost a one-byte reference).
//                        Every row must sum to the same total N.
//
// The encoder picks sparse when it is at most half the size of dense (a quiet host's CMS is a few hundred bytes;
// dense decodes several times faster).
import { CountMinSketch, CountMinSketchOptions } from './cms';
import { CorruptError, IncompatibleParametersError } from './errors';
import { SketchEncoding, SketchFamily, finishSketch, openSketch, startSketch } from './serial-format';
import { SKETCH_HEADER_BYTES, SparseEntries, fastVarint, seekVarints, varintsEnd, vsize } from './serial-format';
import type { EncodeOptions } from './serial-format';
import { CMS_DEPTH, CMS_WIDTH_BITS } from './spec.generated';

const MAX_SAFE = Number.MAX_SAFE_INTEGER;
const TWO32 = 4294967296;
const floor = Math.floor;

/** Bytes needed for the largest cell (0 when every cell is 0). */
function cellWidth(max: number): number {
  let b = 0;
  while (max >= 1) {
    b++;
    max = floor(max / 256);
  }
  return b;
}
export function encodeCountMinSketch(cms: CountMinSketch, options: EncodeOptions = {}): Uint8Array {
  const cells = cms.cells;
  let nnz = 0;
  let max = 0;
  for (let i = 0; i < cells.length; i++) {
    const v = cells[i];
    if (v !== 0) {
      nnz++;
      if (v > max) max = v;
    }
  }
  // Counters are exact only up to 2^53 − 1 (8.3 days of 100 Gb/s in one cell); refuse to ship a rounded one.
  if (max > MAX_SAFE) throw new RangeError(`a CMS cell exceeds 2^53 - 1 (${max}): counts are no longer exact`);
  const width = cellWidth(max);
  const dense = 1 + width * cells.length;
  const mode = options.encoding ?? 'auto';
  // Sparse only when it halves the size: dense cells decode several times faster, and the busy hosts where the
  // two are close are the ones the aggregator decodes most. A sparse entry costs at least 2 bytes.
  if (mode === 'sparse' || (mode === 'auto' && 2 * nnz < 0.5 * dense)) {
    const sparse = encodeCmsSparse(cms, nnz);
    if (mode === 'sparse' || sparse.length < 0.5 * (SKETCH_HEADER_BYTES + dense)) return sparse;
  }
  const w = startSketch(SketchFamily.CountMin, SketchEncoding.Dense, cms.seedHash, cms.depth, cms.widthBits, dense);
  const buf = w.buf;
  let pos = w.pos;
  buf[pos++] = width;
  if (width <= 4) {
    for (let i = 0; i < cells.length; i++) {
      const v = cells[i];
      for (let k = 0; k < width; k++) buf[pos++] = (v >>> (8 * k)) & 0xff;
    }
  } else {
    for (let i = 0; i < cells.length; i++) {
      const v = cells[i];
      const lo = v % TWO32;
      const hi = (v - lo) / TWO32;
      buf[pos] = lo & 0xff;
      buf[pos + 1] = (lo >>> 8) & 0xff;
      buf[pos + 2] = (lo >>> 16) & 0xff;
      buf[pos + 3] = lo >>> 24;
      for (let k = 4; k < width; k++) buf[pos + k] = (hi >>> (8 * (k - 4))) & 0xff;
      pos += width;
    }
  }
  w.pos = pos;
  return finishSketch(w);
}

function encodeCmsSparse(cms: CountMinSketch, nnz: number): Uint8Array {
  const cells = cms.cells;
  const w = startSketch(
    SketchFamily.CountMin,
    SketchEncoding.Sparse,
    cms.seedHash,
    cms.depth,
    cms.widthBits,
    8 + 3 * nnz,
  );
  w.varint(nnz);
  const refs = new Map<number, number>();
  let listed = 0;
  let prev = -1;
  for (let i = 0; i < cells.length; i++) {
    const v = cells[i];
    if (v === 0) continue;
    w.varint(i - prev - 1);
    prev = i;
    const ref = refs.get(v);
    if (ref !== undefined && vsize(ref) <= vsize(v)) {
      w.varint(ref);
    } else {
      w.u8(0);
      w.varint(v);
      listed++;
      if (ref === undefined) refs.set(v, listed);
    }
  }
  return finishSketch(w);
}

export interface DecodeCountMinOptions extends CountMinSketchOptions {
  /** Seed hash the reader requires (default: this fleet's). */
  seedHash?: number;
}

// Decoded-but-not-applied content lives in scratch buffers reused across calls: a decode is fully validated before
// any sketch is created or changed, and busy aggregators do not pay for fresh 128 KiB allocations per snapshot.
let denseScratch = new Float64Array(0);
const sparse = new SparseEntries((n) => new Float64Array(n));

interface CmsContent {
  depth: number;
  widthBits: number;
  total: number;
  /** Dense: every cell in denseScratch[0 … size). Sparse: n entries in `sparse`. */
  dense: boolean;
  n: number;
  /** Already added to the `addInto` cells. */
  applied?: boolean;
}

// The cells of a dense CMS are copied to a 4-byte-aligned scratch buffer and read as u32 words: 3-byte cells come
// four per three words, 2-byte cells two per word. One memcpy plus word loads is about twice as fast as DataView
// loads at unaligned offsets (the cells start at byte 21). Typed-array words are platform-endian: big-endian
// machines take the DataView path.
const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;
let alignedBytes = new Uint8Array(0);
let alignedWords = new Uint32Array(0);

/** Whether cells of `cw` bytes in rows of `width` are read as aligned words. */
function wordCells(cw: number, width: number): boolean {
  return LITTLE_ENDIAN && (cw === 2 || cw === 4 || (cw === 3 && (width & 3) === 0));
}

function loadAligned(bytes: Uint8Array, pos: number, len: number): void {
  if (alignedBytes.length < len) {
    alignedBytes = new Uint8Array((len + 3) & ~3);
    alignedWords = new Uint32Array(alignedBytes.buffer);
  }
  alignedBytes.set(bytes.subarray(pos, pos + len));
}

// Row sums are doubles: exact while they stay ≤ 2^53 − 1 (cells are non-negative, so every partial sum is too).
// A merged sketch (a 1 h tier row, a fleet-wide window) may sum past that with every cell still exact: its rows
// are then compared exactly (exactRowSums, BigInt, rare) instead of refused or compared after rounding.
let beyondSafe = false;

/** The running total after row `row` summed to `sum`: row 0 sets it, every other row must match it. */
function rowTotal(row: number, sum: number, total: number): number {
  if (sum > MAX_SAFE || total > MAX_SAFE) {
    beyondSafe = true; // compared exactly once the cells are read
    return row === 0 ? sum : total;
  }
  if (row === 0) return sum;
  if (sum !== total) throw new CorruptError(`CMS row ${row} sums to ${sum}, row 0 to ${total}`);
  return total;
}

/** Every row's exact sum must be the same; returns it (as the nearest double: N only scales error bounds). */
function checkExactRows(rowSum: (row: number) => bigint, depth: number): number {
  const total = rowSum(0);
  for (let row = 1; row < depth; row++) {
    const sum = rowSum(row);
    if (sum !== total) throw new CorruptError(`CMS row ${row} sums to ${sum}, row 0 to ${total}`);
  }
  return Number(total);
}

/** Exact row sums of dense cells of `cw` bytes at bytes[pos] (little-endian, row-major). */
function exactDenseRowSums(bytes: Uint8Array, pos: number, cw: number, width: number): (row: number) => bigint {
  return (row) => {
    let sum = 0n;
    for (let i = row * width, end = i + width; i < end; i++) {
      let v = 0;
      for (let k = cw - 1; k >= 0; k--) v = v * 256 + bytes[pos + i * cw + k];
      sum += BigInt(v);
    }
    return sum;
  };
}

/** Exact row sums of the n sparse entries (indices ascending). */
function exactSparseRowSums(n: number, widthBits: number): (row: number) => bigint {
  const sums = new Map<number, bigint>();
  for (let k = 0; k < n; k++) {
    const row = sparse.index[k] >>> widthBits;
    sums.set(row, (sums.get(row) ?? 0n) + BigInt(sparse.value[k]));
  }
  return (row) => sums.get(row) ?? 0n;
}

/** Sum of the cells in aligned words [j, end) (cells of cw bytes), nothing stored. */
function wordRowSum(w: Uint32Array, cw: number, j: number, end: number): number {
  let sum = 0;
  if (cw === 4) {
    for (; j < end; j++) sum += w[j];
  } else if (cw === 3) {
    for (; j < end; j += 3) {
      const w0 = w[j];
      const w1 = w[j + 1];
      const w2 = w[j + 2];
      sum += (w0 & 0xffffff) + ((w0 >>> 24) | ((w1 & 0xffff) << 8)) + ((w1 >>> 16) | ((w2 & 0xff) << 16)) + (w2 >>> 8);
    }
  } else {
    for (; j < end; j++) sum += (w[j] & 0xffff) + (w[j] >>> 16);
  }
  return sum;
}

/** Validation pass over the aligned words (no stores): every row must sum alike; returns the total. */
function checkWordRows(cw: number, depth: number, width: number): number {
  const wordsPerRow = (cw * width) >>> 2;
  let total = 0;
  for (let row = 0; row < depth; row++)
    total = rowTotal(row, wordRowSum(alignedWords, cw, row * wordsPerRow, (row + 1) * wordsPerRow), total);
  return total;
}

/** cells[i] += cell i of the aligned words (after checkWordRows passed). */
function addWordCells(cw: number, size: number, cells: Float64Array): void {
  const w = alignedWords;
  if (cw === 4) {
    for (let i = 0; i < size; i++) cells[i] += w[i];
  } else if (cw === 3) {
    for (let i = 0, j = 0; i < size; i += 4, j += 3) {
      const w0 = w[j];
      const w1 = w[j + 1];
      const w2 = w[j + 2];
      cells[i] += w0 & 0xffffff;
      cells[i + 1] += (w0 >>> 24) | ((w1 & 0xffff) << 8);
      cells[i + 2] += (w1 >>> 16) | ((w2 & 0xff) << 16);
      cells[i + 3] += w2 >>> 8;
    }
  } else {
    for (let i = 0, j = 0; i < size; i += 2, j++) {
      const x = w[j];
      cells[i] += x & 0xffff;
      cells[i + 1] += x >>> 16;
    }
  }
}

/** Reads depth·width fixed-width cells at bytes[pos] into `cells`, checking that every row sums alike; returns the total. */
function decodeDenseCells(
  bytes: Uint8Array,
  pos: number,
  cw: number,
  depth: number,
  width: number,
  cells: Float64Array,
): number {
  const size = depth * width;
  if (cw === 0) {
    cells.fill(0, 0, size);
    return 0;
  }
  if (wordCells(cw, width)) {
    loadAligned(bytes, pos, cw * size);
    const w = alignedWords;
    let total = 0;
    let i = 0;
    let j = 0;
    for (let row = 0; row < depth; row++) {
      const rowEnd = i + width;
      let sum = 0;
      if (cw === 4) {
        for (; i < rowEnd; i++) {
          const v = w[i];
          cells[i] = v;
          sum += v;
        }
      } else if (cw === 3) {
        // Four cells in three words: c0 = w0[0..24), c1 = w0[24..32) w1[0..16), c2 = w1[16..32) w2[0..8), c3 = w2[8..32).
        for (; i < rowEnd; i += 4, j += 3) {
          const w0 = w[j];
          const w1 = w[j + 1];
          const w2 = w[j + 2];
          const c0 = w0 & 0xffffff;
          const c1 = (w0 >>> 24) | ((w1 & 0xffff) << 8);
          const c2 = (w1 >>> 16) | ((w2 & 0xff) << 16);
          const c3 = w2 >>> 8;
          cells[i] = c0;
          cells[i + 1] = c1;
          cells[i + 2] = c2;
          cells[i + 3] = c3;
          sum += c0 + c1 + c2 + c3; // < 2^26: exact as an integer
        }
      } else {
        for (; i < rowEnd; i += 2, j++) {
          const x = w[j];
          const c0 = x & 0xffff;
          const c1 = x >>> 16;
          cells[i] = c0;
          cells[i + 1] = c1;
          sum += c0 + c1;
        }
      }
      total = rowTotal(row, sum, total);
    }
    return total;
  }
  // Other widths (1 and 5 … 7 bytes, or a big-endian machine): per cell.
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let total = 0;
  let i = 0;
  for (let row = 0; row < depth; row++) {
    let sum = 0;
    const rowEnd = i + width;
    if (cw === 1) {
      for (; i < rowEnd; i++) {
        const v = bytes[pos++];
        cells[i] = v;
        sum += v;
      }
    } else if (cw <= 4) {
      for (; i < rowEnd; i++, pos += cw) {
        let v = 0;
        for (let k = cw - 1; k >= 0; k--) v = v * 256 + bytes[pos + k];
        cells[i] = v;
        sum += v;
      }
    } else {
      for (; i < rowEnd; i++, pos += cw) {
        let hi = 0;
        for (let k = cw - 1; k >= 4; k--) hi = hi * 256 + bytes[pos + k];
        const v = hi * TWO32 + dv.getUint32(pos, true);
        if (v > MAX_SAFE) throw new CorruptError(`CMS cell ${i} exceeds 2^53 - 1`);
        cells[i] = v;
        sum += v;
      }
    }
    total = rowTotal(row, sum, total);
  }
  return total;
}

/**
 * Validates a serialized CMS. Dense cells are written to `dense` (or to denseScratch when it is not given) as they
 * are read; sparse entries go to `sparse`. On a decode error the written cells are garbage, so
 * `dense` must be a buffer nobody else sees yet.
 */
function readCms(
  bytes: Uint8Array,
  expect: DecodeCountMinOptions,
  dense?: Float64Array,
  addInto?: Float64Array,
  checkOnly = false,
): CmsContent {
  const h = openSketch(bytes, SketchFamily.CountMin, expect.seedHash);
  const depth = expect.depth ?? CMS_DEPTH;
  const widthBits = expect.widthBits ?? CMS_WIDTH_BITS;
  if (h.param0 !== depth || h.param1 !== widthBits) {
    throw new IncompatibleParametersError(
      `CMS depth ${h.param0} widthBits ${h.param1}; expected depth ${depth} widthBits ${widthBits}`,
    );
  }
  const width = 2 ** widthBits;
  const size = depth * width;
  const end = SKETCH_HEADER_BYTES + h.payloadLength;
  let pos = SKETCH_HEADER_BYTES;
  let total = -1;
  beyondSafe = false;
  if (h.encoding === SketchEncoding.Dense) {
    if (h.payloadLength < 1) throw new CorruptError('dense CMS payload without its cell width');
    const cw = bytes[pos++];
    if (cw > 7) throw new CorruptError(`dense CMS cell width ${cw} bytes (at most 7)`);
    if (h.payloadLength !== 1 + cw * size)
      throw new CorruptError(`dense CMS payload of ${h.payloadLength} bytes; expected ${1 + cw * size}`);
    if ((addInto !== undefined || checkOnly) && wordCells(cw, width)) {
      // Merging: one pass validates the words, a second adds them to the target (no scratch cells). Checking
      // only: the first pass alone.
      loadAligned(bytes, pos, cw * size);
      total = checkWordRows(cw, depth, width);
      if (beyondSafe) total = checkExactRows(exactDenseRowSums(bytes, pos, cw, width), depth);
      if (addInto !== undefined) addWordCells(cw, size, addInto);
      return { depth, widthBits, total, dense: true, n: size, applied: addInto !== undefined };
    }
    let cells = dense;
    if (cells === undefined) {
      if (denseScratch.length < size) denseScratch = new Float64Array(size);
      cells = denseScratch;
    }
    total = decodeDenseCells(bytes, pos, cw, depth, width, cells);
    if (beyondSafe) total = checkExactRows(exactDenseRowSums(bytes, pos, cw, width), depth);
    return { depth, widthBits, total, dense: true, n: size };
  }
  seekVarints(pos);
  const n = fastVarint(bytes, end);
  if (n > size || n * 2 > end - varintsEnd()) throw new CorruptError(`CMS sparse entry count ${n} does not fit`);
  sparse.reserve(n);
  const idx = sparse.index;
  const val = sparse.value;
  // Literal values are listed in order of appearance; a reference k ≥ 1 names the k-th of them. The list shares
  // denseScratch's memory (it is free in sparse mode) so no buffer is allocated per decode.
  if (denseScratch.length < n) denseScratch = new Float64Array(Math.max(n, size));
  const listedValues = denseScratch;
  let listed = 0;
  let index = -1;
  for (let k = 0; k < n; k++) {
    index += fastVarint(bytes, end) + 1;
    if (index >= size) throw new CorruptError(`CMS sparse index ${index} beyond ${size} cells`);
    const ref = fastVarint(bytes, end);
    let v: number;
    if (ref === 0) {
      v = fastVarint(bytes, end);
      if (v === 0) throw new CorruptError('CMS sparse entry with value 0');
      listedValues[listed++] = v;
    } else {
      if (ref > listed) throw new CorruptError(`CMS value reference ${ref} beyond ${listed} listed values`);
      v = listedValues[ref - 1];
    }
    idx[k] = index;
    val[k] = v;
  }
  if (varintsEnd() !== end) throw new CorruptError(`${end - varintsEnd()} bytes after the last CMS entry`);
  // Row sums from the entries (indices ascend, so rows come in order).
  let row = 0;
  let sum = 0;
  for (let k = 0; k <= n; k++) {
    const entryRow = k < n ? idx[k] >>> widthBits : depth;
    while (row < entryRow) {
      total = rowTotal(row, sum, total);
      row++;
      sum = 0;
    }
    if (k < n) sum += val[k];
  }
  if (beyondSafe) total = checkExactRows(exactSparseRowSums(n, widthBits), depth);
  return { depth, widthBits, total, dense: false, n };
}

/** A new sketch from its serialized form. Throws a SketchDecodeError subclass on any invalid input. */
export function decodeCountMinSketch(bytes: Uint8Array, expect: DecodeCountMinOptions = {}): CountMinSketch {
  const out = new CountMinSketch({ depth: expect.depth ?? CMS_DEPTH, widthBits: expect.widthBits ?? CMS_WIDTH_BITS });
  // Dense cells are decoded straight into the new sketch: on an error it is dropped, never returned.
  const c = readCms(bytes, expect, out.cells);
  if (!c.dense) {
    const { index, value } = sparse;
    for (let k = 0; k < c.n; k++) out.cells[index[k]] = value[k];
  }
  return CountMinSketch.withTotal(out, c.total);
}

/**
 * Adds a serialized sketch into `target` without materialising it: a sparse (quiet-host) sketch costs only its
 * non-zero cells. The input is fully validated first; on any error `target` is unchanged.
 */
export function mergeEncodedCountMinSketch(target: CountMinSketch, bytes: Uint8Array): CountMinSketch {
  const cells = target.cells;
  const expect = { depth: target.depth, widthBits: target.widthBits, seedHash: target.seedHash };
  const c = readCms(bytes, expect, undefined, cells);
  if (!c.applied) {
    // Dense cells the word path could not take, or sparse entries: validated into scratch, now added.
    if (c.dense) {
      const src = denseScratch;
      for (let i = 0; i < c.n; i++) cells[i] += src[i];
    } else {
      const { index, value } = sparse;
      for (let k = 0; k < c.n; k++) cells[index[k]] += value[k];
    }
  }
  return CountMinSketch.withTotal(target, target.total + c.total);
}

/**
 * Validates a serialized CMS exactly as decoding or merging it would (same errors), without keeping its cells;
 * returns its total. What an aggregator runs on every blob of a snapshot before merging any of them.
 */
export function checkEncodedCountMinSketch(bytes: Uint8Array, expect: DecodeCountMinOptions = {}): number {
  return readCms(bytes, expect, undefined, undefined, true).total;
}

/** @internal A validated serialized CMS for merge targets kept elsewhere (CmsWindow). */
export interface CmsForMerge {
  total: number;
  /** Dense: all cells are in the `dense` array given. Sparse: n entries in index / value. */
  dense: boolean;
  n: number;
  index: Uint32Array;
  value: Float64Array;
}

/** @internal Validates `bytes` (a CMS of the expected parameters); dense cells are written to `dense`. */
export function readCountMinForMerge(
  bytes: Uint8Array,
  expect: DecodeCountMinOptions,
  dense: Float64Array,
): CmsForMerge {
  const c = readCms(bytes, expect, dense);
  return { total: c.total, dense: c.dense, n: c.n, index: sparse.index, value: sparse.value };
}
