// Binary form of every sketch. All serialized sketches share one 20-byte header:
//
//  0        4        5        6        7        8                 12       13       14                16                 20
//  +--------+--------+--------+--------+--------+-----------------+--------+--------+-----------------+------------------+---------
//  | magic  | format | family | encod- | spec   | seed hash       | param0 | param1 | reserved = 0    | payload length   | payload
//  | "TMAS" | = 1    |        | ing    | = 1    | u32 LE          | u8     | u8     | u16             | u32 LE           |
//  +--------+--------+--------+--------+--------+-----------------+--------+--------+-----------------+------------------+---------
//
// Each family's payload is described beside its serializer (cms.serialize.ts, hll.serialize.ts,
// heavy-hitters.serialize.ts). Integers in varints are at most 2^53 − 1 (8 bytes) and minimal. Decoding checks every
// field and throws a SketchDecodeError subclass; nothing is returned or changed unless the whole buffer is valid.
import { BadVersionError, CorruptError, IncompatibleParametersError, TooShortError } from './errors';
import { currentHashSeed } from './hash';
import { SPEC_VERSION } from './spec.generated';

// Bound once: global lookups are slow inside vm contexts (test runners).
const floor = Math.floor;
const MAX_SAFE = Number.MAX_SAFE_INTEGER;

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

/** A writer holding the header of a new serialized sketch, with room for `payloadBytes` (it grows if need be). */
export function startSketch(
  family: SketchFamily,
  encoding: SketchEncoding,
  seedHash: number,
  p0: number,
  p1: number,
  payloadBytes: number,
): ByteWriter {
  const w = new ByteWriter(SKETCH_HEADER_BYTES + payloadBytes);
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
  w.u32le(0); // payload length, set by finishSketch
  return w;
}

/** The serialized sketch of a startSketch writer: its payload length goes into the header. */
export function finishSketch(w: ByteWriter): Uint8Array {
  const len = w.pos - SKETCH_HEADER_BYTES;
  const b = w.buf;
  b[16] = len & 0xff;
  b[17] = (len >>> 8) & 0xff;
  b[18] = (len >>> 16) & 0xff;
  b[19] = (len >>> 24) & 0xff;
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

/** The checked header of a serialized sketch that must be of `family` with this seed hash (default: this process's). */
export function openSketch(
  bytes: Uint8Array,
  family: SketchFamily,
  seedHash = currentHashSeed().seedHash,
): SketchHeader {
  const h = readSketchHeader(bytes);
  if (h.family !== family)
    throw new IncompatibleParametersError(`expected a ${familyName(family)} sketch, got ${familyName(h.family)}`);
  if (h.seedHash !== seedHash) {
    throw new IncompatibleParametersError(
      `seed hash 0x${h.seedHash.toString(16)} differs from this fleet's 0x${seedHash.toString(16)}`,
    );
  }
  return h;
}

/** Sparse entries (index, value) of a family's last decode, in buffers reused across calls. */
export class SparseEntries<V extends Float64Array | Uint8Array> {
  index = new Uint32Array(0);
  value: V;

  constructor(private readonly make: (n: number) => V) {
    this.value = make(0);
  }

  /** Room for n entries (larger buffers replace the old ones). */
  reserve(n: number): void {
    if (this.index.length >= n) return;
    const size = Math.max(n, 1024);
    this.index = new Uint32Array(size);
    this.value = this.make(size);
  }
}

// ---------------------------------------------------------------- varints

/** Varint sizes by thresholds (faster than dividing). */
export function vsize(v: number): number {
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

// Read position of fastVarint: a module-level cursor keeps the hot sparse loops free of reader objects (a field of a
// shared object instead measured slower in the sparse CMS decode).
let cursor = 0;

/** Sets the position fastVarint reads at. */
export function seekVarints(pos: number): void {
  cursor = pos;
}

/** The position after the last varint read. */
export function varintsEnd(): number {
  return cursor;
}

/** LEB128 at bytes[cursor] (advancing it): minimal, at most 8 bytes, at most 2^53 − 1; typed errors otherwise. */
export function fastVarint(bytes: Uint8Array, end: number): number {
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

/** Writes v (a non-negative safe integer) as LEB128 at b[pos]; returns the next position. No bounds check. */
export function writeVarint(b: Uint8Array, pos: number, v: number): number {
  if (v < 0x80000000) {
    while (v >= 0x80) {
      b[pos++] = (v & 0x7f) | 0x80;
      v >>>= 7;
    }
    b[pos++] = v;
    return pos;
  }
  while (v >= 0x80) {
    b[pos++] = (v % 128) | 0x80;
    v = floor(v / 128);
  }
  b[pos++] = v;
  return pos;
}

/** Growable output buffer. */
export class ByteWriter {
  buf: Uint8Array;
  pos = 0;

  constructor(capacity = 256) {
    this.buf = new Uint8Array(capacity);
  }

  ensure(extra: number): void {
    if (this.pos + extra <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < this.pos + extra) cap *= 2;
    const next = new Uint8Array(cap);
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
  }

  u8(v: number): void {
    this.ensure(1);
    this.buf[this.pos++] = v;
  }

  u32le(v: number): void {
    this.ensure(4);
    const b = this.buf;
    b[this.pos] = v & 0xff;
    b[this.pos + 1] = (v >>> 8) & 0xff;
    b[this.pos + 2] = (v >>> 16) & 0xff;
    b[this.pos + 3] = (v >>> 24) & 0xff;
    this.pos += 4;
  }

  bytes(src: Uint8Array, offset = 0, length = src.length - offset): void {
    this.ensure(length);
    if (length <= 32) {
      // Short copies (addresses, ports) are cheaper as a loop than as a subarray view plus set().
      for (let i = 0; i < length; i++) this.buf[this.pos + i] = src[offset + i];
    } else {
      this.buf.set(src.subarray(offset, offset + length), this.pos);
    }
    this.pos += length;
  }

  varint(v: number): void {
    this.ensure(8);
    this.pos = writeVarint(this.buf, this.pos, v);
  }

  finish(): Uint8Array {
    return this.buf.slice(0, this.pos);
  }
}

/** Bounds-checked reader; every read failure is a typed decode error. */
export class ByteReader {
  pos: number;

  constructor(
    readonly buf: Uint8Array,
    start: number,
    readonly end: number,
  ) {
    this.pos = start;
  }

  need(n: number, what: string): void {
    if (this.pos + n > this.end) throw new CorruptError(`payload ends inside ${what}`);
  }

  u8(what: string): number {
    if (this.pos >= this.end) throw new CorruptError(`payload ends inside ${what}`);
    return this.buf[this.pos++];
  }

  varint(what: string): number {
    const b = this.buf;
    let v = 0;
    let scale = 1;
    for (let i = 0; i < 8; i++) {
      if (this.pos >= this.end) throw new CorruptError(`payload ends inside ${what}`);
      const byte = b[this.pos++];
      v += (byte & 0x7f) * scale;
      if (byte < 0x80) {
        if (i > 0 && byte === 0) throw new CorruptError(`non-minimal varint in ${what}`);
        if (v > MAX_SAFE) throw new CorruptError(`${what} exceeds 2^53 - 1`);
        return v;
      }
      scale *= 128;
    }
    throw new CorruptError(`varint longer than 8 bytes in ${what}`);
  }
}

export function readU32le(b: Uint8Array, o: number): number {
  return (b[o] | (b[o + 1] << 8) | (b[o + 2] << 16) | (b[o + 3] << 24)) >>> 0;
}
