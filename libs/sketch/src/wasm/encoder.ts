// A tiny WebAssembly binary encoder: just enough of the format (https://webassembly.github.io/spec/core/binary/)
// to write the sketch library's SIMD kernels as readable instruction lists in TypeScript, so the repository carries
// no opaque .wasm bytes and needs no toolchain. Only what the kernels use is here.

export type Bytes = number[];
type Code = readonly number[];

/** Unsigned LEB128. */
export function uleb(n: number): Bytes {
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new RangeError(`uleb128 of ${n}`);
  const out: Bytes = [];
  do {
    let b = n & 0x7f;
    n = Math.floor(n / 128);
    if (n !== 0) b |= 0x80;
    out.push(b);
  } while (n !== 0);
  return out;
}

/** Signed LEB128 of a 32-bit integer. */
export function sleb(n: number): Bytes {
  if (!Number.isInteger(n) || n < -0x80000000 || n > 0x7fffffff) throw new RangeError(`sleb128 of ${n}`);
  const out: Bytes = [];
  for (;;) {
    const b = n & 0x7f;
    n >>= 7;
    const done = (n === 0 && (b & 0x40) === 0) || (n === -1 && (b & 0x40) !== 0);
    out.push(done ? b : b | 0x80);
    if (done) return out;
  }
}

const vec = (items: Code[]): Bytes => [...uleb(items.length), ...items.flat()];
// Export names here are ASCII.
const name = (s: string): Bytes => vec([...s].map((c) => [c.charCodeAt(0) & 0x7f]));
const section = (id: number, body: Code): Bytes => [id, ...uleb(body.length), ...body];

const MAGIC = [0x00, 0x61, 0x73, 0x6d]; // "\0asm"
const VERSION = [0x01, 0x00, 0x00, 0x00];

export const I32 = 0x7f;
export const V128 = 0x7b;

/** Instructions, each a byte sequence (concatenate them into a function body). */
export const op = {
  block: [0x02, 0x40], // block with no result
  loop: [0x03, 0x40],
  end: [0x0b],
  br: (depth: number): Bytes => [0x0c, ...uleb(depth)],
  brIf: (depth: number): Bytes => [0x0d, ...uleb(depth)],
  localGet: (i: number): Bytes => [0x20, ...uleb(i)],
  localSet: (i: number): Bytes => [0x21, ...uleb(i)],
  i32Const: (v: number): Bytes => [0x41, ...sleb(v)],
  i32GeU: [0x4f],
  i32Add: [0x6a],
  // SIMD (prefix 0xfd, then the opcode as uleb128); memarg = log2(alignment), offset.
  v128Load: (offset = 0): Bytes => [0xfd, ...uleb(0x00), 4, ...uleb(offset)],
  v128Store: (offset = 0): Bytes => [0xfd, ...uleb(0x0b), 4, ...uleb(offset)],
  i8x16Splat: [0xfd, ...uleb(0x0f)],
  i8x16GtU: [0xfd, ...uleb(0x28)],
  v128AnyTrue: [0xfd, ...uleb(0x53)],
  i8x16MaxU: [0xfd, ...uleb(0x79)],
  f64x2Add: [0xfd, ...uleb(0xf0)],
} as const;

export interface FunctionDef {
  name: string;
  params: number[];
  results: number[];
  /** Extra locals, numbered after the parameters. */
  locals: number[];
  body: Code[];
}

/**
 * A module that imports its memory (`env.memory`, at least `minPages` × 64 KiB: the caller sizes it) and exports the
 * given functions.
 */
export function encodeModule(minPages: number, functions: FunctionDef[]): Uint8Array {
  const types = functions.map((f) => [0x60, ...vec(f.params.map((t) => [t])), ...vec(f.results.map((t) => [t]))]);
  const code = functions.map((f) => {
    const locals = vec(f.locals.map((t) => [1, t])); // one entry per local: count 1, type
    const body = [...locals, ...f.body.flat(), ...op.end];
    return [...uleb(body.length), ...body];
  });
  const exportEntries = functions.map((f, i) => [...name(f.name), 0x00, ...uleb(i)]);
  return new Uint8Array([
    ...MAGIC,
    ...VERSION,
    ...section(1, vec(types)),
    ...section(2, vec([[...name('env'), ...name('memory'), 0x02, 0x00, ...uleb(minPages)]])), // import: memory, min pages
    ...section(3, vec(functions.map((_, i) => uleb(i)))),
    ...section(7, vec(exportEntries)),
    ...section(10, vec(code)),
  ]);
}
