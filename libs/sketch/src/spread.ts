// Per-source spreads: SpreadSketch (Tang, Huang, Lee, INFOCOM 2020) with a 2^5-register HLL in place of the paper's
// multiresolution bitmap, bit for bit the kernel's (bpf/include/tma_spread.h). ROWS × WIDTH buckets; a source updates
// the bucket at column(source hash, row) of every row with two elements, (source, destination) and (source,
// destination port + protocol), each hashed from the keyed hashes of its parts. A bucket keeps 4-bit registers of
// both, and the source whose element reached the highest rank (its level): the sketch names its heavy spreaders.
// Merge: registers by max, the candidate of the higher level (ties: the smaller address), so any order of merges
// (CPUs, hosts, partitions, windows) gives the same sketch. docs/threats.md "Per-source spreads".
import {
  BadVersionError,
  CorruptError,
  IncompatibleParametersError,
  IncompatibleSketchError,
  TooShortError,
} from './errors';
import { currentHashSeed, FleetHashed, hashKey, hashIncompatibility } from './hash';
import { HyperLogLog } from './hll';
import { dstKey, formatAddress, parseAddress, portsKey, srcKey, type Address } from './keys';

export const SPREAD_ROWS = 1;
export const SPREAD_WIDTH_BITS = 10;
export const SPREAD_WIDTH = 1 << SPREAD_WIDTH_BITS;
export const SPREAD_BUCKETS = SPREAD_ROWS * SPREAD_WIDTH;
export const SPREAD_P = 5;
export const SPREAD_REGS = 1 << SPREAD_P;
export const SPREAD_RANK_MAX = 15;
export const SPREAD_LEVEL_MAX = 64 - SPREAD_P + 1;
export const SPREAD_MIX = 0x9e3779b97f4a7c15n;
/** struct tma_spread_bucket: src[16], dst regs[16], port regs[16], level, pad[15]. */
export const SPREAD_BUCKET_BYTES = 64;
export const SPREAD_BUCKET = { src: 0, dst: 16, port: 32, level: 48 } as const;
/** Bytes of struct tma_spread (the kernel's per-CPU, per-copy block). */
export const SPREAD_BYTES = SPREAD_BUCKETS * SPREAD_BUCKET_BYTES;
/** Relative standard error of one bucket's HLL (1.04 / √32). */
export const SPREAD_STANDARD_ERROR = 1.04 / Math.sqrt(SPREAD_REGS);
/** Serialized form's version (first byte). */
export const SPREAD_FORMAT_VERSION = 1;

const M64 = (1n << 64n) - 1n;

/** The two spreads of a source. */
export type SpreadKind = 'destinations' | 'ports';

/** A source a bucket names, with its spreads (min over rows of its buckets) and the bounds of each. */
export interface SpreadSource {
  /** canonical 16-byte address */
  src: Uint8Array;
  /** IPv4 dotted or IPv6 text */
  address: string;
  destinations: SpreadEstimate;
  ports: SpreadEstimate;
}

export interface SpreadEstimate {
  /** min over rows of the source's bucket estimates: the SpreadSketch estimate (collisions only add) */
  value: number;
  /** value less the row's typical bucket (what colliding sources add), and 3 standard errors below */
  lower: number;
  /** 3 standard errors above value */
  upper: number;
}

const toBig = (h: { hi: number; lo: number }): bigint => (BigInt(h.hi >>> 0) << 32n) | BigInt(h.lo >>> 0);

/** Element hash of a pair (tma_spread_element). */
export const spreadElement = (hsrc: bigint, hother: bigint): bigint => ((hsrc ^ hother) * SPREAD_MIX) & M64;

/** Column of the source's bucket in `row` (tma_spread_column). */
export function spreadColumn(hsrc: bigint, row: number): number {
  const lo = Number(hsrc & 0xffffffffn);
  const hi = Number(hsrc >> 32n);
  return ((lo + Math.imul(row, hi)) >>> 0) >>> (32 - SPREAD_WIDTH_BITS);
}

/** Leading zeros of the element below its register index, plus one (1 … SPREAD_LEVEL_MAX). */
export function spreadRank(e: bigint): number {
  const x = (e << BigInt(SPREAD_P)) & M64;
  const hi = Number(x >> 32n);
  if (hi !== 0) return Math.clz32(hi) + 1;
  const lo = Number(x & 0xffffffffn);
  return lo !== 0 ? 32 + Math.clz32(lo) + 1 : SPREAD_LEVEL_MAX;
}

/** Register index of an element: its top p bits. */
export const spreadRegister = (e: bigint): number => Number(e >> BigInt(64 - SPREAD_P));

/** The keyed hashes of a packet's parts, as the kernel computes them (source, destination, destination port key). */
export function spreadHashes(src: Address, dst: Address, dport: number, proto: number) {
  return {
    hs: toBig(hashKey(srcKey(src))),
    hd: toBig(hashKey(dstKey(dst))),
    hp: toBig(hashKey(portsKey(dport, proto))),
  };
}

const compareBytes = (a: Uint8Array, ao: number, b: Uint8Array, bo: number, n: number): number => {
  for (let i = 0; i < n; i++) if (a[ao + i] !== b[bo + i]) return a[ao + i] - b[bo + i];
  return 0;
};

export class SpreadSketch extends FleetHashed {
  /** The buckets in the kernel's layout (SPREAD_BUCKET_BYTES each, row-major). */
  readonly buckets: Uint8Array;
  /** noise() of the current content (cleared by every change). */
  private noiseCache: Record<SpreadKind, number[]> | undefined;

  constructor(buckets?: Uint8Array) {
    super();
    if (buckets && buckets.length !== SPREAD_BYTES)
      throw new RangeError(`a spread sketch holds ${SPREAD_BYTES} bytes, got ${buckets.length}`);
    this.buckets = buckets ? Uint8Array.from(buckets) : new Uint8Array(SPREAD_BYTES);
  }

  /** True when no packet reached it. */
  isEmpty(): boolean {
    for (let b = 0; b < SPREAD_BUCKETS; b++)
      if (this.buckets[b * SPREAD_BUCKET_BYTES + SPREAD_BUCKET.level]) return false;
    return true;
  }

  private setRegister(at: number, e: bigint): void {
    const i = spreadRegister(e);
    const byte = this.buckets[at + (i >> 1)];
    const shift = (i & 1) * 4;
    const r = (byte >> shift) & 15;
    const rank = Math.min(spreadRank(e), SPREAD_RANK_MAX);
    if (rank > r) this.buckets[at + (i >> 1)] = (byte & ~(15 << shift)) | (rank << shift);
  }

  /** The higher rank of the packet's two elements passes the level: its source becomes the bucket's candidate. */
  private setLevel(at: number, src: Uint8Array, rank: number): void {
    if (rank > this.buckets[at + SPREAD_BUCKET.level]) {
      this.buckets[at + SPREAD_BUCKET.level] = rank;
      this.buckets.set(src.subarray(0, 16), at + SPREAD_BUCKET.src);
    }
  }

  /** One packet's pairs, from the keyed hashes of its parts (tma_spread_add). `src`: canonical 16-byte address. */
  addHashed(src: Uint8Array, hs: bigint, hd: bigint, hp: bigint): void {
    this.noiseCache = undefined;
    const ed = spreadElement(hs, hd);
    const ep = spreadElement(hs, hp);
    for (let row = 0; row < SPREAD_ROWS; row++) {
      const at = (row * SPREAD_WIDTH + spreadColumn(hs, row)) * SPREAD_BUCKET_BYTES;
      this.setRegister(at + SPREAD_BUCKET.dst, ed);
      this.setRegister(at + SPREAD_BUCKET.port, ep);
      this.setLevel(at, src, Math.max(spreadRank(ed), spreadRank(ep)));
    }
  }

  /** One packet from `src` to `dst`:`dport` over `proto`. */
  add(src: Address, dst: Address, dport: number, proto: number): void {
    const { hs, hd, hp } = spreadHashes(src, dst, dport, proto);
    this.addHashed(parseAddress(src), hs, hd, hp);
  }

  /** Merges another sketch (or a kernel block in the same layout) into this one; `other` is not changed. */
  merge(other: SpreadSketch | Uint8Array): this {
    if (other instanceof SpreadSketch) {
      const why = other === this ? 'a sketch cannot merge itself' : hashIncompatibility(this, other);
      if (why) throw new IncompatibleSketchError(`spread sketch: ${why}`);
    }
    const o = other instanceof SpreadSketch ? other.buckets : other;
    if (o.length !== SPREAD_BYTES) throw new RangeError(`a spread sketch holds ${SPREAD_BYTES} bytes, got ${o.length}`);
    this.noiseCache = undefined;
    for (let b = 0; b < SPREAD_BUCKETS; b++) {
      const at = b * SPREAD_BUCKET_BYTES;
      const level = o[at + SPREAD_BUCKET.level];
      if (level !== 0) this.mergeBucket(at, o, at, level);
    }
    return this;
  }

  /**
   * Merges a serialized sketch (encodeSpread) without decoding it into a sketch of its own: only its filled buckets
   * are visited. The same result as merge(decodeSpread(bytes)); the whole form is checked first, so a bad one
   * changes nothing. Zero bytes (no sketch) change nothing.
   */
  mergeEncoded(bytes: Uint8Array): this {
    if (!readEncodedSpread(bytes, this.seedHash)) return this;
    this.noiseCache = undefined;
    readEncodedSpread(bytes, this.seedHash, (b, level, o) =>
      this.mergeBucket(b * SPREAD_BUCKET_BYTES, bytes, o, level),
    );
    return this;
  }

  /** One bucket of another sketch (its src, dst, port bytes at `from` in `o`, its level given) into bucket `at`. */
  private mergeBucket(at: number, o: Uint8Array, from: number, level: number): void {
    const a = this.buckets;
    for (let i = SPREAD_BUCKET.dst; i < SPREAD_BUCKET.level; i++) {
      const x = a[at + i];
      const y = o[from + i];
      a[at + i] = Math.max(x & 15, y & 15) | (Math.max(x >> 4, y >> 4) << 4);
    }
    const la = a[at + SPREAD_BUCKET.level];
    if (level > la || (level === la && compareBytes(o, from, a, at, 16) < 0)) {
      a[at + SPREAD_BUCKET.level] = level;
      a.set(o.subarray(from, from + 16), at);
    }
  }

  /** HLL estimate of one bucket's spread. */
  bucketEstimate(bucket: number, kind: SpreadKind): number {
    const at = bucket * SPREAD_BUCKET_BYTES + (kind === 'destinations' ? SPREAD_BUCKET.dst : SPREAD_BUCKET.port);
    const regs = new Uint8Array(SPREAD_REGS);
    for (let i = 0; i < SPREAD_REGS; i++) regs[i] = (this.buckets[at + (i >> 1)] >> ((i & 1) * 4)) & 15;
    return HyperLogLog.fromRegisters(regs, { precision: SPREAD_P }).estimate();
  }

  /**
   * What colliding sources add to a bucket of each row: the median bucket estimate of the row (most buckets hold no
   * heavy spreader), per kind.
   */
  noise(): Record<SpreadKind, number[]> {
    if (this.noiseCache) return this.noiseCache;
    const out: Record<SpreadKind, number[]> = { destinations: [], ports: [] };
    for (const kind of ['destinations', 'ports'] as const)
      for (let row = 0; row < SPREAD_ROWS; row++) {
        const e: number[] = [];
        for (let c = 0; c < SPREAD_WIDTH; c++) e.push(this.bucketEstimate(row * SPREAD_WIDTH + c, kind));
        e.sort((x, y) => x - y);
        out[kind].push(e[e.length >> 1]);
      }
    this.noiseCache = out;
    return out;
  }

  /** A source's spreads: the min over rows of its buckets' estimates, with bounds. */
  estimate(src: Address, noise = this.noise()): Record<SpreadKind, SpreadEstimate> {
    const hs = toBig(hashKey(srcKey(src)));
    const one = (kind: SpreadKind): SpreadEstimate => {
      let value = Infinity;
      let corrected = Infinity;
      for (let row = 0; row < SPREAD_ROWS; row++) {
        const e = this.bucketEstimate(row * SPREAD_WIDTH + spreadColumn(hs, row), kind);
        value = Math.min(value, e);
        corrected = Math.min(corrected, Math.max(0, e - noise[kind][row]));
      }
      const z = 3 * SPREAD_STANDARD_ERROR;
      return { value, lower: Math.max(0, corrected * (1 - z)), upper: value * (1 + z) };
    };
    return { destinations: one('destinations'), ports: one('ports') };
  }

  /** The sources the buckets name (each once), without estimates. */
  sourcesNamed(): { src: Uint8Array; address: string }[] {
    const seen = new Map<string, Uint8Array>();
    for (let b = 0; b < SPREAD_BUCKETS; b++) {
      const at = b * SPREAD_BUCKET_BYTES;
      if (this.buckets[at + SPREAD_BUCKET.level] === 0) continue;
      const src = this.buckets.slice(at, at + 16);
      seen.set(Buffer.from(src).toString('hex'), src);
    }
    return [...seen.values()].map((src) => ({ src, address: formatAddress(src) }));
  }

  /** Every source a bucket names, with its spreads, largest destination or port spread first. */
  sources(): SpreadSource[] {
    const noise = this.noise();
    const out = this.sourcesNamed().map(({ src, address }) => ({ src, address, ...this.estimate(src, noise) }));
    const top = (s: SpreadSource) => Math.max(s.destinations.lower, s.ports.lower);
    return out.sort((a, b) => top(b) - top(a));
  }

  clone(): SpreadSketch {
    return new SpreadSketch(this.buckets);
  }
}

/**
 * Serialized form (snapshots, stored rows): byte 0 version, 1 rows, 2 width bits, 3 p, bytes 4..7 the seed hash
 * (u32 LE), then per bucket its level and, when not 0, its 16-byte source and 32 register bytes. Empty: zero bytes.
 */
export function encodeSpread(s: SpreadSketch | undefined): Uint8Array {
  if (!s || s.isEmpty()) return new Uint8Array(0);
  const parts: Uint8Array[] = [];
  const head = new Uint8Array(8);
  head[0] = SPREAD_FORMAT_VERSION;
  head[1] = SPREAD_ROWS;
  head[2] = SPREAD_WIDTH_BITS;
  head[3] = SPREAD_P;
  new DataView(head.buffer).setUint32(4, s.seedHash >>> 0, true);
  parts.push(head);
  let n = 8;
  for (let b = 0; b < SPREAD_BUCKETS; b++) {
    const at = b * SPREAD_BUCKET_BYTES;
    const level = s.buckets[at + SPREAD_BUCKET.level];
    if (level === 0) {
      parts.push(new Uint8Array(1));
      n += 1;
      continue;
    }
    const rec = new Uint8Array(49);
    rec[0] = level;
    rec.set(s.buckets.subarray(at, at + 48), 1);
    parts.push(rec);
    n += 49;
  }
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/**
 * Checks a serialized spread sketch — header, this build's parameters, the seed identity `seedHash`, every bucket,
 * nothing after the last — and calls `bucket` with each filled bucket's index, level and the offset of its 48 bytes
 * (src, dst, port). False for zero bytes (data from before spreads were kept).
 */
function readEncodedSpread(
  bytes: Uint8Array | undefined | null,
  seedHash: number,
  bucket?: (b: number, level: number, at: number) => void,
): boolean {
  if (!bytes || bytes.length === 0) return false;
  if (bytes.length < 8) throw new TooShortError(`spread sketch: ${bytes.length} bytes, header is 8`);
  if (bytes[0] !== SPREAD_FORMAT_VERSION) throw new BadVersionError(`spread sketch: version ${bytes[0]}`);
  if (bytes[1] !== SPREAD_ROWS || bytes[2] !== SPREAD_WIDTH_BITS || bytes[3] !== SPREAD_P)
    throw new IncompatibleParametersError(
      `spread sketch: ${bytes[1]} rows × 2^${bytes[2]}, p ${bytes[3]} is not this build's`,
    );
  const seed = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(4, true);
  if (seed !== seedHash >>> 0)
    throw new IncompatibleParametersError(`spread sketch: seed hash ${seed} differs from ${seedHash >>> 0}`);
  let o = 8;
  for (let b = 0; b < SPREAD_BUCKETS; b++) {
    if (o >= bytes.length) throw new TooShortError('spread sketch: cut off');
    const level = bytes[o++];
    if (level === 0) continue;
    if (level > SPREAD_LEVEL_MAX || o + 48 > bytes.length) throw new CorruptError('spread sketch: bad bucket');
    bucket?.(b, level, o);
    o += 48;
  }
  if (o !== bytes.length) throw new CorruptError('spread sketch: trailing bytes');
  return true;
}

/** The sketch of a serialized form; undefined for zero bytes (data from before spreads were kept). */
export function decodeSpread(bytes: Uint8Array | undefined | null): SpreadSketch | undefined {
  const s = new SpreadSketch();
  const filled = readEncodedSpread(bytes, s.seedHash, (b, level, o) => {
    const at = b * SPREAD_BUCKET_BYTES;
    s.buckets.set(bytes!.subarray(o, o + 48), at);
    s.buckets[at + SPREAD_BUCKET.level] = level;
  });
  return filled ? s : undefined;
}

/**
 * The checks of decodeSpread (the same errors) without building the sketch: for the aggregator's validation, which
 * then merges the form with SpreadSketch.mergeEncoded. Zero bytes pass (no sketch).
 */
export function checkEncodedSpread(bytes: Uint8Array | undefined | null): void {
  readEncodedSpread(bytes, currentHashSeed().seedHash);
}
