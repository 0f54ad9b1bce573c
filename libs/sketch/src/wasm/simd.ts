// WebAssembly SIMD kernels for the HyperLogLog hot paths: register-wise max 16 registers per instruction
// (i8x16.max_u) and a range check of 16 registers per instruction. Measured on the fleet's 2-vCPU VMs at p = 14: a
// scalar JS merge (four registers per step, SWAR) ~10 µs, the same in SIMD ~0.8 µs plus three 16 KiB copies into
// and out of the module's memory, ~2.5 µs in all. CMS cells stay in JS: copying 128 KiB of doubles in and out
// would cost more than f64x2.add saves. Everything falls back to the JS loops where WebAssembly SIMD is missing.
import { encodeModule, FunctionDef, I32, op, V128 } from './encoder';

// dst[i] = max(dst[i], src[i]) for i < len (len a multiple of 16; dst, src 16-byte aligned).
const maxU8: FunctionDef = {
  name: 'max_u8',
  params: [I32, I32, I32], // 0 dst, 1 src, 2 len
  results: [],
  locals: [I32], // 3 i
  body: [
    op.block,
    op.loop,
    [...op.localGet(3), ...op.localGet(2), ...op.i32GeU, ...op.brIf(1)],
    [...op.localGet(0), ...op.localGet(3), ...op.i32Add], // store address
    [...op.localGet(0), ...op.localGet(3), ...op.i32Add, ...op.v128Load()],
    [...op.localGet(1), ...op.localGet(3), ...op.i32Add, ...op.v128Load()],
    op.i8x16MaxU,
    op.v128Store(),
    [...op.localGet(3), ...op.i32Const(16), ...op.i32Add, ...op.localSet(3)],
    op.br(0),
    op.end,
    op.end,
  ],
};

// 1 when some byte of ptr[0 … len) exceeds limit, else 0 (len a multiple of 16).
const anyAbove: FunctionDef = {
  name: 'any_above',
  params: [I32, I32, I32], // 0 ptr, 1 len, 2 limit
  results: [I32],
  locals: [I32, V128], // 3 i, 4 running max (starts at zero)
  body: [
    op.block,
    op.loop,
    [...op.localGet(3), ...op.localGet(1), ...op.i32GeU, ...op.brIf(1)],
    [...op.localGet(4), ...op.localGet(0), ...op.localGet(3), ...op.i32Add, ...op.v128Load()],
    [...op.i8x16MaxU, ...op.localSet(4)],
    [...op.localGet(3), ...op.i32Const(16), ...op.i32Add, ...op.localSet(3)],
    op.br(0),
    op.end,
    op.end,
    [...op.localGet(4), ...op.localGet(2), ...op.i8x16Splat, ...op.i8x16GtU, ...op.v128AnyTrue],
  ],
};

// dst[i] += src[i] for len bytes of f64 pairs (len a multiple of 16; dst, src 16-byte aligned).
const addF64: FunctionDef = {
  ...maxU8,
  name: 'add_f64',
  body: maxU8.body.map((code) => (code === op.i8x16MaxU ? op.f64x2Add : code)),
};

/** The module's bytes (exported for tests and for inspection with any wasm tool). */
// The module imports its memory, and every user sizes that memory once and never grows it: growing replaces (detaches)
// the old ArrayBuffer, and the first detached ArrayBuffer anywhere in a process makes V8 check every typed-array
// access for detachment from then on — measured: a 16 384-double add loop went from 14.6 to 29.1 µs, process-wide.
// (A shared memory grows without detaching, but copies into a SharedArrayBuffer are 2–3× slower.) Pages a memory
// reserves but nobody touches cost address space, not RAM.
export const SIMD_MODULE_BYTES = encodeModule(1, [maxU8, anyAbove, addF64]);

// The few WebAssembly APIs used, declared here: the library compiles without DOM or Node type libraries.
export interface WasmMemory {
  readonly buffer: ArrayBuffer;
}
declare const WebAssembly: {
  validate(bytes: Uint8Array): boolean;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: unknown };
  Memory: new (descriptor: { initial: number }) => WasmMemory;
};

export interface SimdKernels {
  memory: WasmMemory;
  max_u8(dst: number, src: number, len: number): void;
  any_above(ptr: number, len: number, limit: number): number;
  add_f64(dst: number, src: number, len: number): void;
}
type Kernels = SimdKernels;

/** Memory of the copy-in/copy-out kernels below: two HLLs at the largest precision (p = 18), 512 KiB. */
const COPY_PAGES = 8;

let kernels: Kernels | null | undefined;
let enabled = true;
let heap = new Uint8Array(0);

/** A new instance of the kernels with its own memory of `pages` × 64 KiB, or null where WebAssembly SIMD is unavailable. */
export function loadSimdKernels(pages: number): SimdKernels | null {
  try {
    if (typeof WebAssembly !== 'object' || !WebAssembly.validate(SIMD_MODULE_BYTES)) return null;
    const memory = new WebAssembly.Memory({ initial: pages });
    const instance = new WebAssembly.Instance(new WebAssembly.Module(SIMD_MODULE_BYTES), { env: { memory } });
    return { ...(instance.exports as Omit<SimdKernels, 'memory'>), memory };
  } catch {
    return null; // no SIMD support, compilation refused or no memory: the JS paths serve
  }
}

/** The copy kernels when `bytes` fit their memory, or null when SIMD is unavailable or switched off. */
function ready(bytes: number): Kernels | null {
  if (!enabled) return null;
  if (kernels === undefined) {
    kernels = loadSimdKernels(COPY_PAGES);
    if (kernels) heap = new Uint8Array(kernels.memory.buffer);
  }
  return kernels !== null && bytes <= heap.length ? kernels : null;
}

/** Whether the SIMD kernels are in use. */
export function simdActive(): boolean {
  return ready(0) !== null;
}

/** Switches the SIMD kernels off (false) or back on; for benchmarks and tests comparing both paths. */
export function useSimd(on: boolean): void {
  enabled = on;
}

/**
 * a[i] = max(a[i], b[i]) for byte arrays of one length (a multiple of 16). Returns false, changing nothing, when the
 * SIMD kernels are unavailable (the caller runs its JS loop).
 */
export function maxBytesInto(a: Uint8Array, b: Uint8Array): boolean {
  const len = a.length;
  if ((len & 15) !== 0 || b.length !== len) return false;
  const k = ready(2 * len);
  if (k === null) return false;
  heap.set(a, 0);
  heap.set(b, len);
  k.max_u8(0, len, len);
  a.set(heap.subarray(0, len));
  return true;
}

/**
 * Checks `src` (a multiple of 16 bytes long) for a byte above `limit` (< 128) and, when there is none, maxes it
 * into `a` (same length). Returns 'merged', 'above' (nothing changed) or 'unavailable' (nothing done).
 */
export function checkedMaxBytesInto(a: Uint8Array, src: Uint8Array, limit: number): 'merged' | 'above' | 'unavailable' {
  const len = a.length;
  if ((len & 15) !== 0 || src.length !== len) return 'unavailable';
  const k = ready(2 * len);
  if (k === null) return 'unavailable';
  heap.set(src, len);
  if (k.any_above(len, len, limit) !== 0) return 'above';
  heap.set(a, 0);
  k.max_u8(0, len, len);
  a.set(heap.subarray(0, len));
  return 'merged';
}

/** True/false when some byte of `src` (a multiple of 16 bytes long) exceeds `limit`; null when SIMD is unavailable. */
export function anyByteAbove(src: Uint8Array, limit: number): boolean | null {
  const len = src.length;
  if ((len & 15) !== 0) return null;
  const k = ready(len);
  if (k === null) return null;
  heap.set(src, 0);
  return k.any_above(0, len, limit) !== 0;
}
