// Binary form of every sketch. All serialized sketches share one 20-byte header:
//
//  0        4        5        6        7        8                 12       13       14                16                 20
//  +--------+--------+--------+--------+--------+-----------------+--------+--------+-----------------+------------------+---------
//  | magic  | format | family | encod- | spec   | seed hash       | param0 | param1 | reserved = 0    | payload length   | payload
//  | "TMAS" | = 1    |        | ing    | = 1    | u32 LE          | u8     | u8     | u16             | u32 LE           |
//  +--------+--------+--------+--------+--------+-----------------+--------+--------+-----------------+------------------+---------
//
//  family 1 CMS:         param0 = depth, param1 = widthBits
//    encoding 0 dense:   u8 cell width b (0 … 7 bytes, that of the largest cell), then depth·2^widthBits cells of
//                        b bytes each, little-endian, row-major
//    encoding 1 sparse:  varint n, then n × (varint gap, varint ref [, varint literal]): index = previous index + 1
//                        + gap (the first index is its gap); ref 0 = a literal value ≥ 1 follows and is appended
//                        to the value list, ref k ≥ 1 = the k-th value of that list (a flow repeats its count in
//                        every row, so rows 1 … d−1 mostly cost a one-byte reference).
//                        Every row must sum to the same total N.
//  family 2 HLL:         param0 = precision p, param1 = register bits (8)
//    encoding 0 dense:   2^p register bytes, each 0 … 65 − p
//    encoding 1 sparse:  varint n, then n × varint(gap · 64 + value), value 1 … 65 − p, index as for the CMS
//  family 3 candidates:  param0 = key bytes (40), param1 = 0; encoding 0:
//                        varint n, then n × (u8 flags: bit0 source is IPv4, bit1 destination is IPv4;
//                        source 4|16 bytes, destination 4|16 bytes, sport u16 BE, dport u16 BE, proto u8,
//                        varint packets, varint bytes). Keys are unique.
//
// Integers in varints are at most 2^53 − 1 (8 bytes) and minimal. The encoder picks sparse when it is at most half
// the size of dense (a quiet host's CMS is a few hundred bytes; dense decodes several times faster). Decoding checks
// every field and throws a SketchDecodeError subclass; nothing is returned or changed unless the whole buffer is valid.
import { CountMinSketch, CountMinSketchOptions } from './cms';
import { BadVersionError, CorruptError, IncompatibleParametersError, TooShortError } from './errors';
import { ByteReader, ByteWriter, readU32le } from './bytes';
import { Candidate } from './heavy-hitters';
import { HyperLogLog, HyperLogLogOptions } from './hll';
import { checkedMaxBytesInto } from './wasm/simd';
import { FlowKeySet, isFlowKey, isIPv4Mapped, toHex } from './keys';
import {
  CMS_DEPTH,
  CMS_WIDTH_BITS,
  DOMAIN_FLOW,
  FLOW_KEY_BYTES,
  HLL_P,
  SEED_HASH,
  SPEC_VERSION,
} from './spec.generated';

const MAX_SAFE = Number.MAX_SAFE_INTEGER;
const TWO32 = 4294967296;
const floor = Math.floor;

export const SKETCH_MAGIC = 0x53414d54; // "TMAS" read as u32 LE
export const SKETCH_FORMAT_VERSION = 1;
export const SKETCH_HEADER_BYTES = 20;

export const SketchFamily = { CountMin: 1, HyperLogLog: 2, Candidates: 3 } as const;
export type SketchFamily = (typeof SketchFamily)[keyof typeof SketchFamily];

export const SketchEncoding = { Dense: 0, Sparse: 1 } as const;
export type SketchEncoding = (typeof SketchEncoding)[keyof typeof SketchEncoding];

export interface EncodeOptions {
  /** Force an encoding; by default the smaller one. */
  encoding?: 'auto' | 'dense' | 'sparse';
}

export interface SketchHeader {
  formatVersion: number;
  family: SketchFamily;
  encoding: SketchEncoding;
  specVersion: number;
  seedHash: number;
  param0: number;
  param1: number;
  payloadLength: number;
}

function writeHeader(
  w: ByteWriter,
  family: SketchFamily,
  encoding: SketchEncoding,
  seedHash: number,
  p0: number,
  p1: number,
): number {
  w.u32le(SKETCH_MAGIC);
  w.u8(SKETCH_FORMAT_VERSION);
  w.u8(family);
  w.u8(encoding);
  w.u8(SPEC_VERSION);
  w.u32le(seedHash);
  w.u8(p0);
  w.u8(p1);
  w.u8(0);
  w.u8(0);
  const lengthAt = w.pos;
  w.u32le(0);
  return lengthAt;
}

function finishPayload(w: ByteWriter, lengthAt: number): Uint8Array {
  const len = w.pos - SKETCH_HEADER_BYTES;
  const b = w.buf;
  b[lengthAt] = len & 0xff;
  b[lengthAt + 1] = (len >>> 8) & 0xff;
  b[lengthAt + 2] = (len >>> 16) & 0xff;
  b[lengthAt + 3] = (len >>> 24) & 0xff;
  return w.finish();
}

/** Reads and checks the header (magic, versions, reserved bytes, length); family-specific checks are the decoders'. */
export function readSketchHeader(bytes: Uint8Array): SketchHeader {
  if (!(bytes instanceof Uint8Array)) throw new CorruptError('a serialized sketch is a Uint8Array');
  if (bytes.length < SKETCH_HEADER_BYTES)
    throw new TooShortError(`${bytes.length} bytes is shorter than the ${SKETCH_HEADER_BYTES}-byte sketch header`);
  if (readU32le(bytes, 0) !== SKETCH_MAGIC) throw new CorruptError('bad magic: not a TMA sketch');
  const h: SketchHeader = {
    formatVersion: bytes[4],
    family: bytes[5] as SketchFamily,
    encoding: bytes[6] as SketchEncoding,
    specVersion: bytes[7],
    seedHash: readU32le(bytes, 8),
    param0: bytes[12],
    param1: bytes[13],
    payloadLength: readU32le(bytes, 16),
  };
  if (h.formatVersion !== SKETCH_FORMAT_VERSION)
    throw new BadVersionError(`sketch format version ${h.formatVersion}; this reader knows ${SKETCH_FORMAT_VERSION}`);
  if (h.specVersion !== SPEC_VERSION)
    throw new BadVersionError(`sketch specification version ${h.specVersion}; this reader knows ${SPEC_VERSION}`);
  if (
    h.family !== SketchFamily.CountMin &&
    h.family !== SketchFamily.HyperLogLog &&
    h.family !== SketchFamily.Candidates
  ) {
    throw new CorruptError(`unknown sketch family ${h.family}`);
  }
  if (h.encoding !== SketchEncoding.Dense && h.encoding !== SketchEncoding.Sparse)
    throw new CorruptError(`unknown encoding ${h.encoding}`);
  if (bytes[14] !== 0 || bytes[15] !== 0) throw new CorruptError('reserved header bytes are not zero');
  if (SKETCH_HEADER_BYTES + h.payloadLength > bytes.length) {
    throw new TooShortError(
      `payload of ${h.payloadLength} bytes announced, ${bytes.length - SKETCH_HEADER_BYTES} present`,
    );
  }
  if (SKETCH_HEADER_BYTES + h.payloadLength < bytes.length)
    throw new CorruptError(`${bytes.length - SKETCH_HEADER_BYTES - h.payloadLength} bytes after the payload`);
  return h;
}

const familyName = (f: number) => (f === 1 ? 'CMS' : f === 2 ? 'HLL' : 'candidates');

function expectFamily(h: SketchHeader, family: SketchFamily, seedHash = SEED_HASH): void {
  if (h.family !== family)
    throw new IncompatibleParametersError(`expected a ${familyName(family)} sketch, got ${familyName(h.family)}`);
  if (h.seedHash !== seedHash) {
    throw new IncompatibleParametersError(
      `seed hash 0x${h.seedHash.toString(16)} differs from this fleet's 0x${seedHash.toString(16)}`,
    );
  }
}

// ---------------------------------------------------------------- Count-Min Sketch

/** Varint sizes by thresholds (faster than dividing). */
function vsize(v: number): number {
  return v < 0x80
    ? 1
    : v < 0x4000
      ? 2
      : v < 0x200000
        ? 3
        : v < 0x10000000
          ? 4
          : v < 0x800000000
            ? 5
            : v < 0x40000000000
              ? 6
              : v < 0x2000000000000
                ? 7
                : 8;
}

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
  const w = new ByteWriter(SKETCH_HEADER_BYTES + dense);
  const lengthAt = writeHeader(w, SketchFamily.CountMin, SketchEncoding.Dense, cms.seedHash, cms.depth, cms.widthBits);
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
  return finishPayload(w, lengthAt);
}

function encodeCmsSparse(cms: CountMinSketch, nnz: number): Uint8Array {
  const cells = cms.cells;
  const w = new ByteWriter(SKETCH_HEADER_BYTES + 8 + 3 * nnz);
  const lengthAt = writeHeader(w, SketchFamily.CountMin, SketchEncoding.Sparse, cms.seedHash, cms.depth, cms.widthBits);
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
  return finishPayload(w, lengthAt);
}

export interface DecodeCountMinOptions extends CountMinSketchOptions {
  /** Seed hash the reader requires (default: this fleet's). */
  seedHash?: number;
}

// Read position of fastVarint: a module-level cursor keeps the hot sparse loops free of reader objects.
let cursor = 0;

/** LEB128 at bytes[cursor] (advancing it): minimal, at most 8 bytes, at most 2^53 − 1; typed errors otherwise. */
function fastVarint(bytes: Uint8Array, end: number): number {
  if (cursor >= end) throw new CorruptError('payload ends inside a varint');
  let byte = bytes[cursor++];
  if (byte < 0x80) return byte;
  let v = byte & 0x7f;
  let scale = 128;
  for (let k = 1; k < 8; k++) {
    if (cursor >= end) throw new CorruptError('payload ends inside a varint');
    byte = bytes[cursor++];
    v += (byte & 0x7f) * scale;
    if (byte < 0x80) {
      if (byte === 0) throw new CorruptError('non-minimal varint');
      if (v > MAX_SAFE) throw new CorruptError('varint exceeds 2^53 - 1');
      return v;
    }
    scale *= 128;
  }
  throw new CorruptError('varint longer than 8 bytes');
}

// Decoded-but-not-applied content lives in scratch buffers reused across calls: a decode is fully validated before
// any sketch is created or changed, and busy aggregators do not pay for fresh 128 KiB allocations per snapshot.
let denseScratch = new Float64Array(0);
let indexScratch = new Uint32Array(0);
let valueScratch = new Float64Array(0);

interface CmsContent {
  depth: number;
  widthBits: number;
  total: number;
  /** Dense: every cell in denseScratch[0 … size). Sparse: n entries in indexScratch / valueScratch. */
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

/** Validation pass over the aligned words (no stores): every row must sum alike; returns the total. */
function checkWordRows(cw: number, depth: number, width: number): number {
  const w = alignedWords;
  const wordsPerRow = (cw * width) >>> 2;
  let total = 0;
  let j = 0;
  for (let row = 0; row < depth; row++) {
    const rowEnd = j + wordsPerRow;
    let sum = 0;
    if (cw === 4) {
      for (; j < rowEnd; j++) sum += w[j];
    } else if (cw === 3) {
      for (; j < rowEnd; j += 3) {
        const w0 = w[j];
        const w1 = w[j + 1];
        const w2 = w[j + 2];
        sum +=
          (w0 & 0xffffff) + ((w0 >>> 24) | ((w1 & 0xffff) << 8)) + ((w1 >>> 16) | ((w2 & 0xff) << 16)) + (w2 >>> 8);
      }
    } else {
      for (; j < rowEnd; j++) {
        const x = w[j];
        sum += (x & 0xffff) + (x >>> 16);
      }
    }
    if (row === 0) total = sum;
    else if (sum !== total) throw rowMismatch(row, sum, total);
  }
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

function rowMismatch(row: number, sum: number, total: number): CorruptError {
  return new CorruptError(`CMS row ${row} sums to ${sum}, row 0 to ${total}`);
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
      if (row === 0) total = sum;
      else if (sum !== total) throw rowMismatch(row, sum, total);
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
    if (row === 0) total = sum;
    else if (sum !== total) throw rowMismatch(row, sum, total);
  }
  return total;
}

/**
 * Validates a serialized CMS. Dense cells are written to `dense` (or to denseScratch when it is not given) as they
 * are read; sparse entries go to indexScratch / valueScratch. On a decode error the written cells are garbage, so
 * `dense` must be a buffer nobody else sees yet.
 */
function readCms(
  bytes: Uint8Array,
  expect: DecodeCountMinOptions,
  dense?: Float64Array,
  addInto?: Float64Array,
): CmsContent {
  const h = readSketchHeader(bytes);
  expectFamily(h, SketchFamily.CountMin, expect.seedHash);
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
  if (h.encoding === SketchEncoding.Dense) {
    if (h.payloadLength < 1) throw new CorruptError('dense CMS payload without its cell width');
    const cw = bytes[pos++];
    if (cw > 7) throw new CorruptError(`dense CMS cell width ${cw} bytes (at most 7)`);
    if (h.payloadLength !== 1 + cw * size)
      throw new CorruptError(`dense CMS payload of ${h.payloadLength} bytes; expected ${1 + cw * size}`);
    if (addInto !== undefined && wordCells(cw, width)) {
      // Merging: one pass validates the words, a second adds them to the target (no scratch cells).
      loadAligned(bytes, pos, cw * size);
      total = checkWordRows(cw, depth, width);
      if (total > MAX_SAFE) throw new CorruptError(`CMS total ${total} exceeds 2^53 - 1`);
      addWordCells(cw, size, addInto);
      return { depth, widthBits, total, dense: true, n: size, applied: true };
    }
    let cells = dense;
    if (cells === undefined) {
      if (denseScratch.length < size) denseScratch = new Float64Array(size);
      cells = denseScratch;
    }
    total = decodeDenseCells(bytes, pos, cw, depth, width, cells);
    if (total > MAX_SAFE) throw new CorruptError(`CMS total ${total} exceeds 2^53 - 1`);
    return { depth, widthBits, total, dense: true, n: size };
  }
  cursor = pos;
  const n = fastVarint(bytes, end);
  if (n > size || n * 2 > end - cursor) throw new CorruptError(`CMS sparse entry count ${n} does not fit`);
  if (indexScratch.length < n) {
    indexScratch = new Uint32Array(Math.max(n, 1024));
    valueScratch = new Float64Array(Math.max(n, 1024));
  }
  const idx = indexScratch;
  const val = valueScratch;
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
  if (cursor !== end) throw new CorruptError(`${end - cursor} bytes after the last CMS entry`);
  // Row sums from the entries (indices ascend, so rows come in order).
  let row = 0;
  let sum = 0;
  for (let k = 0; k <= n; k++) {
    const entryRow = k < n ? idx[k] >>> widthBits : depth;
    while (row < entryRow) {
      if (row === 0) total = sum;
      else if (sum !== total) throw new CorruptError(`CMS row ${row} sums to ${sum}, row 0 to ${total}`);
      row++;
      sum = 0;
    }
    if (k < n) sum += val[k];
  }
  if (total > MAX_SAFE) throw new CorruptError(`CMS total ${total} exceeds 2^53 - 1`);
  return { depth, widthBits, total, dense: false, n };
}

/** A new sketch from its serialized form. Throws a SketchDecodeError subclass on any invalid input. */
export function decodeCountMinSketch(bytes: Uint8Array, expect: DecodeCountMinOptions = {}): CountMinSketch {
  const out = new CountMinSketch({ depth: expect.depth ?? CMS_DEPTH, widthBits: expect.widthBits ?? CMS_WIDTH_BITS });
  // Dense cells are decoded straight into the new sketch: on an error it is dropped, never returned.
  const c = readCms(bytes, expect, out.cells);
  if (!c.dense) for (let k = 0; k < c.n; k++) out.cells[indexScratch[k]] = valueScratch[k];
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
      for (let k = 0; k < c.n; k++) cells[indexScratch[k]] += valueScratch[k];
    }
  }
  return CountMinSketch.withTotal(target, target.total + c.total);
}

// ---------------------------------------------------------------- HyperLogLog

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
  const w = new ByteWriter(SKETCH_HEADER_BYTES + (encoding === SketchEncoding.Sparse ? sparse : regs.length));
  const lengthAt = writeHeader(w, SketchFamily.HyperLogLog, encoding, hll.seedHash, hll.p, 8);
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
  return finishPayload(w, lengthAt);
}

export interface DecodeHyperLogLogOptions extends HyperLogLogOptions {
  seedHash?: number;
}

let hllScratch = new HyperLogLog();
let hllIndexScratch = new Uint32Array(0);
let hllValueScratch = new Uint8Array(0);

interface HllContent {
  p: number;
  rankMax: number;
  /** Dense: the registers are bytes[SKETCH_HEADER_BYTES … end), not yet range-checked. */
  dense: boolean;
  /** Sparse: n checked entries in hllIndexScratch / hllValueScratch. */
  n: number;
  end: number;
}

function readHll(bytes: Uint8Array, expect: DecodeHyperLogLogOptions): HllContent {
  const h = readSketchHeader(bytes);
  expectFamily(h, SketchFamily.HyperLogLog, expect.seedHash);
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
  cursor = SKETCH_HEADER_BYTES;
  const n = fastVarint(bytes, end);
  if (n > m || n > end - cursor) throw new CorruptError(`HLL sparse entry count ${n} does not fit`);
  if (hllIndexScratch.length < n) {
    hllIndexScratch = new Uint32Array(Math.max(n, 1024));
    hllValueScratch = new Uint8Array(Math.max(n, 1024));
  }
  let index = -1;
  for (let k = 0; k < n; k++) {
    const x = fastVarint(bytes, end);
    const v = x % 64;
    index += (x - v) / 64 + 1;
    if (index >= m) throw new CorruptError(`HLL sparse index ${index} beyond ${m} registers`);
    if (v === 0 || v > rankMax) throw new CorruptError(`HLL register value ${v} outside 1..${rankMax}`);
    hllIndexScratch[k] = index;
    hllValueScratch[k] = v;
  }
  if (cursor !== end) throw new CorruptError(`${end - cursor} bytes after the last HLL entry`);
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
    for (let k = 0; k < c.n; k++) out.registers[hllIndexScratch[k]] = hllValueScratch[k];
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
  for (let k = 0; k < c.n; k++) {
    const i = hllIndexScratch[k];
    if (hllValueScratch[k] > regs[i]) regs[i] = hllValueScratch[k];
  }
  return target;
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
  return { total: c.total, dense: c.dense, n: c.n, index: indexScratch, value: valueScratch };
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
    index: hllIndexScratch,
    value: hllValueScratch,
  };
}

/** @internal The decode error for a dense HLL with a register above `rankMax`. */
export function hllRegisterAboveError(registers: Uint8Array, rankMax: number): CorruptError {
  return registerAbove(registers, rankMax);
}

// ---------------------------------------------------------------- candidates

export function encodeCandidates(candidates: Iterable<Candidate>, seedHash = SEED_HASH): Uint8Array {
  const list = Array.isArray(candidates) ? (candidates as Candidate[]) : [...candidates];
  const w = new ByteWriter(SKETCH_HEADER_BYTES + 8 + list.length * 24);
  const lengthAt = writeHeader(w, SketchFamily.Candidates, SketchEncoding.Dense, seedHash, FLOW_KEY_BYTES, 0);
  w.varint(list.length);
  const seen = new FlowKeySet();
  for (const c of list) {
    const k = c.key;
    if (k.length !== FLOW_KEY_BYTES || !isFlowKey(k))
      throw new RangeError('a candidate key is a 40-byte canonical flow key');
    if (!seen.add(k)) throw new RangeError(`duplicate candidate key ${toHex(k)}: merge them first (CandidateSet)`);
    if (!Number.isSafeInteger(c.packets) || c.packets < 0 || !Number.isSafeInteger(c.bytes) || c.bytes < 0) {
      throw new RangeError('candidate counts must be non-negative integers');
    }
    const src4 = isIPv4Mapped(k, 0);
    const dst4 = isIPv4Mapped(k, 16);
    w.u8((src4 ? 1 : 0) | (dst4 ? 2 : 0));
    if (src4) w.bytes(k, 12, 4);
    else w.bytes(k, 0, 16);
    if (dst4) w.bytes(k, 28, 4);
    else w.bytes(k, 16, 16);
    w.bytes(k, 32, 5); // sport, dport (network order), proto
    w.varint(c.packets);
    w.varint(c.bytes);
  }
  return finishPayload(w, lengthAt);
}

function readAddress(r: ByteReader, v4: boolean, key: Uint8Array, at: number): void {
  const b = r.buf;
  if (v4) {
    r.need(4, 'a candidate address');
    key[at + 10] = 0xff;
    key[at + 11] = 0xff;
    for (let i = 0; i < 4; i++) key[at + 12 + i] = b[r.pos + i];
    r.pos += 4;
  } else {
    r.need(16, 'a candidate address');
    for (let i = 0; i < 16; i++) key[at + i] = b[r.pos + i];
    r.pos += 16;
    if (isIPv4Mapped(key, at)) throw new CorruptError('IPv4-mapped address stored in IPv6 form');
  }
}

export function decodeCandidates(bytes: Uint8Array, expect: { seedHash?: number } = {}): Candidate[] {
  const h = readSketchHeader(bytes);
  expectFamily(h, SketchFamily.Candidates, expect.seedHash);
  if (h.encoding !== SketchEncoding.Dense) throw new CorruptError(`candidate lists have no encoding ${h.encoding}`);
  if (h.param0 !== FLOW_KEY_BYTES || h.param1 !== 0)
    throw new IncompatibleParametersError(`candidate keys of ${h.param0} bytes; expected ${FLOW_KEY_BYTES}`);
  const end = SKETCH_HEADER_BYTES + h.payloadLength;
  const r = new ByteReader(bytes, SKETCH_HEADER_BYTES, end);
  const n = r.varint('the candidate count');
  if (n * 16 > end - r.pos) throw new CorruptError(`candidate count ${n} does not fit the payload`);
  const out: Candidate[] = new Array(n);
  const seen = new FlowKeySet();
  for (let i = 0; i < n; i++) {
    const flags = r.u8('candidate flags');
    if (flags > 3) throw new CorruptError(`candidate flags 0x${flags.toString(16)}`);
    const key = new Uint8Array(FLOW_KEY_BYTES);
    readAddress(r, (flags & 1) !== 0, key, 0);
    readAddress(r, (flags & 2) !== 0, key, 16);
    r.need(5, 'candidate ports and protocol');
    for (let j = 0; j < 5; j++) key[32 + j] = bytes[r.pos + j];
    r.pos += 5;
    key[37] = DOMAIN_FLOW;
    const packets = r.varint('candidate packets');
    const byteCount = r.varint('candidate bytes');
    if (!seen.add(key)) throw new CorruptError('duplicate candidate key');
    out[i] = { key, packets, bytes: byteCount };
  }
  if (r.pos !== end) throw new CorruptError(`${end - r.pos} bytes after the last candidate`);
  return out;
}

// ---------------------------------------------------------------- any family

export type DecodedSketch =
  | { family: 'cms'; sketch: CountMinSketch }
  | { family: 'hll'; sketch: HyperLogLog }
  | { family: 'candidates'; candidates: Candidate[] };

/** Decodes any serialized sketch with this fleet's parameters. */
export function decodeSketch(bytes: Uint8Array): DecodedSketch {
  const h = readSketchHeader(bytes);
  if (h.family === SketchFamily.CountMin) return { family: 'cms', sketch: decodeCountMinSketch(bytes) };
  if (h.family === SketchFamily.HyperLogLog) return { family: 'hll', sketch: decodeHyperLogLog(bytes) };
  return { family: 'candidates', candidates: decodeCandidates(bytes) };
}
