// Merge targets whose counters live in WebAssembly memory, so a window adds a snapshot's CMS with f64x2.add and
// maxes its HLLs with i8x16.max_u in place: one copy of the snapshot's cells into the module's memory, no copies of
// the window. Measured on the fleet's 2-vCPU VMs (bench/sketch): merging a busy snapshot (2 CMS + 4 HLL) takes about
// half as long as into CountMinSketch / HyperLogLog windows, whose CMS adds are scalar JS loops.
//
// The window never hands out a view of its memory (toSketch() copies), so a block returned to the arena on dispose()
// or garbage collection cannot be seen through a stale view. Where WebAssembly SIMD is missing, the windows hold a
// plain sketch and merge with the JS loops.
import { CmsShape, CountMinSketch, CountMinSketchOptions, cmsIncompatibility, cmsParameters } from '../cms';
import { refuseMergeIf } from '../errors';
import { HllShape, HyperLogLog, HyperLogLogOptions, hllIncompatibility, hllPrecision } from '../hll';
import { FleetHashed } from '../hash';
import { mergeEncodedCountMinSketch, readCountMinForMerge } from '../cms.serialize';
import { hllRegisterAboveError, mergeEncodedHyperLogLog, readHyperLogLogForMerge } from '../hll.serialize';
import { loadSimdKernels, SimdKernels } from './simd';

/**
 * Size of the windows' memory: 1 GiB of address space, 8 192 CMS of 4 × 4096 cells or ~3 200 windows of 2 CMS + 4 HLL.
 * It is reserved once and never grown (growing would detach a buffer; see simd.ts); untouched pages cost no RAM.
 * Windows beyond it fall back to the JS sketches.
 */
const ARENA_PAGES = 16384;

/** Blocks of the kernels' memory by size (all multiples of 16 bytes); freed blocks are reused by size. */
class Arena {
  private top = 0;
  private readonly free = new Map<number, number[]>();
  private readonly f64: Float64Array;
  private readonly u8: Uint8Array;
  /** Staging blocks by size: where a snapshot's cells are copied before a merge. */
  private readonly staging = new Map<number, number>();

  constructor(readonly k: SimdKernels) {
    this.f64 = new Float64Array(k.memory.buffer);
    this.u8 = new Uint8Array(k.memory.buffer);
  }

  /** A zeroed block, or −1 when the memory is full. */
  alloc(bytes: number): number {
    const reuse = this.free.get(bytes)?.pop();
    if (reuse !== undefined) {
      this.u8.fill(0, reuse, reuse + bytes);
      return reuse;
    }
    if (this.top + bytes > this.u8.length) return -1;
    const at = this.top; // fresh memory is zero
    this.top += bytes;
    return at;
  }

  release(at: number, bytes: number): void {
    let list = this.free.get(bytes);
    if (!list) this.free.set(bytes, (list = []));
    list.push(at);
  }

  /** The staging block for `bytes`, or −1 when the memory is full. */
  stage(bytes: number): number {
    let at = this.staging.get(bytes);
    if (at === undefined) {
      at = this.alloc(bytes);
      if (at >= 0) this.staging.set(bytes, at);
    }
    return at;
  }

  doubles(): Float64Array {
    return this.f64;
  }

  bytes(): Uint8Array {
    return this.u8;
  }
}

let arena: Arena | null | undefined;

function getArena(): Arena | null {
  if (arena === undefined) {
    const k = loadSimdKernels(ARENA_PAGES);
    arena = k && new Arena(k);
  }
  return arena;
}

// A window dropped without dispose() returns its block when collected (safe: no view of it ever escaped).
const blocks = new FinalizationRegistry<{ a: Arena; at: number; bytes: number }>((b) => b.a.release(b.at, b.bytes));

interface Block {
  a: Arena;
  at: number;
  bytes: number;
}

function claim(owner: object, bytes: number): Block | null {
  const a = getArena();
  // A staging block of this size first (a merge needs one), then the window's own.
  if (a === null || a.stage(bytes) < 0) return null;
  const at = a.alloc(bytes);
  if (at < 0) return null;
  const b = { a, at, bytes };
  blocks.register(owner, b, owner);
  return b;
}

function release(owner: object, b: Block): void {
  blocks.unregister(owner);
  b.a.release(b.at, b.bytes);
}

/** What both windows share: a block of the arena or, failing that, a plain sketch; dispose(); merge checks. */
abstract class Window<S extends { merge(other: S): unknown }> extends FleetHashed {
  protected block: Block | null = null;
  /** The sketch holding the counters when SIMD is missing or the memory is full. */
  protected fallback: S | null = null;
  private disposed = false;

  protected constructor(private readonly family: 'CMS' | 'HLL') {
    super();
  }

  /** Claims `bytes` of the arena, or makes the fallback sketch. */
  protected init(bytes: number, fallback: () => S): void {
    this.block = claim(this, bytes);
    if (this.block === null) this.fallback = fallback();
  }

  /** Whether the counters live in WebAssembly memory (false: the JS fallback). */
  get simd(): boolean {
    return this.block !== null;
  }

  /** Returns the memory to the arena at once; the window is unusable afterwards. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    if (this.block) release(this, this.block);
    this.block = null;
    this.fallback = null;
  }

  /**
   * Merges a sketch: into the fallback, or by copying its counters to the staging block (`stage` writes them at the
   * byte offset given) and running `kernel` on the window's block and the staged counters.
   */
  protected mergeStaged(sketch: S, kernel: 'add_f64' | 'max_u8', stage: (a: Arena, at: number) => void): void {
    this.live(sketch);
    const b = this.block;
    if (b === null) {
      this.fallback!.merge(sketch);
      return;
    }
    const at = b.a.stage(b.bytes);
    stage(b.a, at);
    b.a.k[kernel](b.at, at, b.bytes);
  }

  /** Why `other` cannot merge into this window, or null. */
  protected abstract incompatibility(other: S): string | null;

  /** Throws after dispose(), and (changing nothing) when `other` cannot merge into this window. */
  protected live(other?: S): void {
    if (this.disposed) throw new Error(`${this.family === 'CMS' ? 'CmsWindow' : 'HllWindow'} used after dispose()`);
    if (other) refuseMergeIf(this.family, this.incompatibility(other));
  }
}

/** A Count-Min window: merge CountMinSketches into it, read it back with toSketch(). */
export class CmsWindow extends Window<CountMinSketch> implements CmsShape {
  readonly depth: number;
  readonly widthBits: number;
  private n = 0;

  constructor(options: CountMinSketchOptions = {}) {
    super('CMS');
    const { depth, widthBits } = cmsParameters(options);
    this.depth = depth;
    this.widthBits = widthBits;
    this.init(8 * depth * 2 ** widthBits, () => new CountMinSketch({ depth, widthBits }));
  }

  get total(): number {
    return this.n;
  }

  /** Adds every cell of `sketch` (not modified). Refuses, changing nothing, what CountMinSketch.merge refuses. */
  merge(sketch: CountMinSketch): this {
    this.mergeStaged(sketch, 'add_f64', (a, at) => a.doubles().set(sketch.cells, at >>> 3));
    this.n += sketch.total;
    return this;
  }

  /**
   * Adds a serialized CMS without materialising it: dense cells are decoded into the module's memory and added
   * there, sparse ones cell by cell. Fully validated first; on any error the window is unchanged.
   */
  mergeEncoded(bytes: Uint8Array): this {
    this.live();
    const b = this.block;
    if (b === null) {
      const before = this.fallback!.total;
      mergeEncodedCountMinSketch(this.fallback!, bytes);
      this.n += this.fallback!.total - before;
      return this;
    }
    const stage = b.a.stage(b.bytes);
    const d = b.a.doubles();
    const expect = { depth: this.depth, widthBits: this.widthBits, seedHash: this.seedHash };
    const c = readCountMinForMerge(bytes, expect, d.subarray(stage >>> 3, (stage + b.bytes) >>> 3));
    if (c.dense) {
      b.a.k.add_f64(b.at, stage, b.bytes);
    } else {
      const base = b.at >>> 3;
      for (let k = 0; k < c.n; k++) d[base + c.index[k]] += c.value[k];
    }
    this.n += c.total;
    return this;
  }

  /** A CountMinSketch holding a copy of the window's cells. */
  toSketch(): CountMinSketch {
    this.live();
    const b = this.block;
    if (b === null) return this.fallback!.clone();
    const out = new CountMinSketch({ depth: this.depth, widthBits: this.widthBits });
    out.cells.set(b.a.doubles().subarray(b.at >>> 3, (b.at + b.bytes) >>> 3));
    return CountMinSketch.withTotal(out, this.n);
  }

  protected incompatibility(other: CountMinSketch): string | null {
    return cmsIncompatibility(this, other);
  }
}

/** A HyperLogLog window: merge HyperLogLogs into it (register max), read it back with toSketch(). */
export class HllWindow extends Window<HyperLogLog> implements HllShape {
  readonly p: number;

  constructor(options: HyperLogLogOptions = {}) {
    super('HLL');
    const p = hllPrecision(options);
    this.p = p;
    this.init(2 ** p, () => new HyperLogLog({ precision: p }));
  }

  /** Register-wise max with `sketch` (not modified). Refuses, changing nothing, what HyperLogLog.merge refuses. */
  merge(sketch: HyperLogLog): this {
    this.mergeStaged(sketch, 'max_u8', (a, at) => a.bytes().set(sketch.registers, at));
    return this;
  }

  /** Register-wise max of a serialized HLL; validated first, the window unchanged on any error. */
  mergeEncoded(bytes: Uint8Array): this {
    this.live();
    const b = this.block;
    if (b === null) {
      mergeEncodedHyperLogLog(this.fallback!, bytes);
      return this;
    }
    const c = readHyperLogLogForMerge(bytes, { precision: this.p, seedHash: this.seedHash });
    if (c.dense) {
      const stage = b.a.stage(b.bytes);
      b.a.bytes().set(c.registers, stage);
      if (b.a.k.any_above(stage, b.bytes, c.rankMax) !== 0) throw hllRegisterAboveError(c.registers, c.rankMax);
      b.a.k.max_u8(b.at, stage, b.bytes);
    } else {
      const regs = b.a.bytes();
      for (let k = 0; k < c.n; k++) {
        const i = b.at + c.index[k];
        if (c.value[k] > regs[i]) regs[i] = c.value[k];
      }
    }
    return this;
  }

  /** A HyperLogLog holding a copy of the window's registers. */
  toSketch(): HyperLogLog {
    this.live();
    const b = this.block;
    if (b === null) return this.fallback!.clone();
    const out = new HyperLogLog({ precision: this.p });
    out.registers.set(b.a.bytes().subarray(b.at, b.at + b.bytes));
    return out;
  }

  protected incompatibility(other: HyperLogLog): string | null {
    return hllIncompatibility(this, other);
  }
}
