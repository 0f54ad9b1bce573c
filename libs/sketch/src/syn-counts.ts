// TCP flag counts per server address (SYN floods, docs/threats.md): a Count-Min sketch whose cell holds four counters,
// one per flag class, and the candidate addresses the kernels saw with the most SYNs. The kernel keys SYN (without
// ACK) and ACK (without SYN or RST) by the destination address, SYN-ACK and RST by the source: for one server address
// the sketch gives the SYNs it received against the handshakes it answered and the ACKs its clients sent. The address
// hash is the destination HLL's (hashKey(dstKey(addr)), the fleet's keyed hash); column = cmsColumn(hi, lo, row, bits).
// Merging adds cells and unites the candidates; estimates never fall under the truth, and exceed it by at most ε·N of
// their class (N: the class's total) at confidence 1 − e^−depth.
import { cmsColumn, hashKey } from './hash';
import { dstKey, formatAddress, parseAddress, toHex, type Address } from './keys';

export const SYN_CLASSES = ['syn', 'synAck', 'rst', 'ack'] as const;
export type SynClass = (typeof SYN_CLASSES)[number];

/** The kernel's dimensions (bpf/include/tma_types.h: TMA_SYN_DEPTH, TMA_SYN_WIDTH_BITS). */
export const SYN_DEPTH = 2;
export const SYN_WIDTH_BITS = 9;
/** Candidate addresses kept by a merged sketch at most (the kernel keeps 64 per CPU). */
export const SYN_MAX_CANDIDATES = 1024;

export type SynEstimate = Record<SynClass, number>;

/**
 * The wire form: the non-zero cells (flat index row × width + column, ascending) with one counter array per class
 * parallel to them, candidates as 16-byte addresses.
 */
export interface SynCountsData {
  depth: number;
  widthBits: number;
  cells: number[];
  syn: number[];
  synAck: number[];
  rst: number[];
  ack: number[];
  candidates: Uint8Array[];
}

export class SynCounts {
  readonly width: number;
  /** per class, depth × width counters, row-major */
  readonly cells: Record<SynClass, Float64Array>;
  /** candidate addresses by hex */
  readonly candidates = new Map<string, Uint8Array>();

  constructor(
    readonly depth = SYN_DEPTH,
    readonly widthBits = SYN_WIDTH_BITS,
  ) {
    if (!Number.isInteger(depth) || depth < 1 || depth > 8) throw new RangeError(`SYN depth ${depth} not in 1..8`);
    if (!Number.isInteger(widthBits) || widthBits < 4 || widthBits > 16)
      throw new RangeError(`SYN width bits ${widthBits} not in 4..16`);
    this.width = 2 ** widthBits;
    const n = depth * this.width;
    this.cells = {
      syn: new Float64Array(n),
      synAck: new Float64Array(n),
      rst: new Float64Array(n),
      ack: new Float64Array(n),
    };
  }

  private columns(addr: Address): number[] {
    const h = hashKey(dstKey(addr));
    return Array.from({ length: this.depth }, (_, r) => r * this.width + cmsColumn(h.hi, h.lo, r, this.widthBits));
  }

  /** Counts n packets of a class for an address (tests and simulators; the kernel counts the real ones). */
  add(addr: Address, cls: SynClass, n = 1): void {
    for (const c of this.columns(addr)) this.cells[cls][c] += n;
  }

  addCandidate(addr: Address): void {
    const bytes = typeof addr === 'string' ? parseAddress(addr) : addr;
    if (bytes.length !== 16) throw new RangeError(`a SYN candidate is a 16-byte address, got ${bytes.length}`);
    if (this.candidates.size >= SYN_MAX_CANDIDATES) return;
    this.candidates.set(toHex(bytes), Uint8Array.from(bytes));
  }

  /** Per class: the smallest of the address's cells (never under the truth). */
  estimate(addr: Address): SynEstimate {
    const cols = this.columns(addr);
    const out = {} as SynEstimate;
    for (const k of SYN_CLASSES) out[k] = Math.min(...cols.map((c) => this.cells[k][c]));
    return out;
  }

  /** N of a class: every row sums to it. */
  total(cls: SynClass): number {
    let s = 0;
    for (let i = 0; i < this.width; i++) s += this.cells[cls][i];
    return s;
  }

  /** ε·N of a class (ε = e / width) at confidence 1 − e^−depth. */
  errorBound(cls: SynClass): number {
    return (Math.E / this.width) * this.total(cls);
  }

  get confidence(): number {
    return 1 - Math.exp(-this.depth);
  }

  /** Adds another sketch of the same dimensions (the argument is left alone). */
  merge(o: SynCounts): this {
    if (o.depth !== this.depth || o.widthBits !== this.widthBits)
      throw new RangeError(
        `SYN counts ${o.depth}×2^${o.widthBits} cannot merge into ${this.depth}×2^${this.widthBits}`,
      );
    for (const k of SYN_CLASSES) {
      const a = this.cells[k];
      const b = o.cells[k];
      for (let i = 0; i < a.length; i++) a[i] += b[i];
    }
    for (const [hex, a] of o.candidates) if (this.candidates.size < SYN_MAX_CANDIDATES) this.candidates.set(hex, a);
    return this;
  }

  /** Candidate addresses as text, in hex order of their bytes. */
  candidateAddresses(): string[] {
    return [...this.candidates.keys()].sort().map((h) => formatAddress(this.candidates.get(h)!));
  }

  toData(): SynCountsData {
    const d: SynCountsData = {
      depth: this.depth,
      widthBits: this.widthBits,
      cells: [],
      syn: [],
      synAck: [],
      rst: [],
      ack: [],
      candidates: [...this.candidates.keys()].sort().map((h) => this.candidates.get(h)!),
    };
    const n = this.depth * this.width;
    for (let i = 0; i < n; i++) {
      if (SYN_CLASSES.every((k) => this.cells[k][i] === 0)) continue;
      d.cells.push(i);
      for (const k of SYN_CLASSES) d[k].push(this.cells[k][i]);
    }
    return d;
  }

  static fromData(d: SynCountsData): SynCounts {
    const s = new SynCounts(d.depth, d.widthBits);
    const n = s.depth * s.width;
    for (const k of SYN_CLASSES)
      if (d[k].length !== d.cells.length)
        throw new RangeError(`SYN ${k}: ${d[k].length} counters for ${d.cells.length} cells`);
    let last = -1;
    d.cells.forEach((c, j) => {
      if (!Number.isInteger(c) || c <= last || c >= n)
        throw new RangeError(`SYN cell index ${c} is not ascending within 0..${n - 1}`);
      last = c;
      for (const k of SYN_CLASSES) {
        const v = d[k][j];
        if (!(v >= 0) || !Number.isSafeInteger(v)) throw new RangeError(`SYN ${k} cell ${c}: not a count: ${v}`);
        s.cells[k][c] = v;
      }
    });
    for (const a of d.candidates) s.addCandidate(a);
    return s;
  }

  /**
   * Binary form for storage: 'T','S', version 1, depth, widthBits, candidates (u16 LE), then per class its
   * depth × width counters as u64 LE (exact below 2^53), then the candidates' 16 bytes each.
   */
  encode(): Uint8Array {
    const cells = this.depth * this.width;
    const cands = [...this.candidates.keys()].sort();
    const out = new Uint8Array(7 + 4 * cells * 8 + 16 * cands.length);
    const v = new DataView(out.buffer);
    out.set([0x54, 0x53, 1, this.depth, this.widthBits]);
    v.setUint16(5, cands.length, true);
    let o = 7;
    for (const k of SYN_CLASSES)
      for (let i = 0; i < cells; i++, o += 8) {
        const x = this.cells[k][i];
        v.setUint32(o, x % 4294967296, true);
        v.setUint32(o + 4, Math.floor(x / 4294967296), true);
      }
    for (const h of cands) {
      out.set(this.candidates.get(h)!, o);
      o += 16;
    }
    return out;
  }

  static decode(b: Uint8Array): SynCounts {
    if (b.length < 7 || b[0] !== 0x54 || b[1] !== 0x53 || b[2] !== 1) throw new RangeError('not SYN counts (v1)');
    const s = new SynCounts(b[3], b[4]);
    const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
    const n = v.getUint16(5, true);
    const cells = s.depth * s.width;
    if (b.length !== 7 + 4 * cells * 8 + 16 * n) throw new RangeError(`SYN counts: ${b.length} bytes, wrong length`);
    let o = 7;
    for (const k of SYN_CLASSES)
      for (let i = 0; i < cells; i++, o += 8)
        s.cells[k][i] = v.getUint32(o, true) + v.getUint32(o + 4, true) * 4294967296;
    for (let i = 0; i < n; i++, o += 16) s.addCandidate(b.subarray(o, o + 16));
    return s;
  }
}
