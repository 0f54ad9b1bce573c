// Little helpers for the binary formats: LEB128 varints for non-negative safe integers (up to 2^53 − 1, 8 bytes).
import { CorruptError } from './errors';

// Bound once: global lookups are slow inside vm contexts (test runners).
const floor = Math.floor;
const MAX_SAFE = Number.MAX_SAFE_INTEGER;

/** Bytes needed for v as an unsigned LEB128 varint. */
export function varintSize(v: number): number {
  let n = 1;
  while (v >= 128) {
    v = floor(v / 128);
    n++;
  }
  return n;
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
