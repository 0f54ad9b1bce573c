// A bounds-checked pass over an Avro binary body, run before avsc decodes it.
// Why: avsc trusts the body. Reading past the end yields zeros instead of failing, so a corrupted array block count
// (say 2^50) makes it allocate and loop that many times: a hang and an out-of-memory on one bad message. It also
// accepts ints beyond 32 bits and invalid UTF-8. This walk checks every length, count, index and number against the
// writer schema and the bytes actually present, in one linear pass without allocating, and throws typed errors;
// avsc then only ever sees bodies that are well formed.
import { isUtf8 } from 'node:buffer';
import type { Type } from 'avsc';
import { InvalidBodyError, TruncatedMessageError } from './errors';

/** Advances over one value starting at `pos`; returns the position after it. */
type Step = (buf: Buffer, pos: number) => number;

/** Items whose encoding may be empty (e.g. null) cannot be bounded by the bytes left; cap them per message. */
export const MAX_EMPTY_ITEMS = 1 << 20;
/** Largest long magnitude carried (avsc's default long type refuses more: doubles lose precision). */
export const LONG_MAX = 2 ** 53 - 2;
const INT_MAX = 2 ** 31 - 1;

// Varint results travel through module state to keep the hot path free of allocations.
let varValue = 0;
let emptyItemBudget = 0;

/**
 * Reads a zig-zag varint of at most `maxBytes` bytes into `varValue`; returns the next position.
 * Works on the magnitude m = |n| or |n|-1 in doubles: each term is exact, so the sum is exact while below 2^53 and
 * lands at or above 2^53 otherwise; anything beyond `limit` is refused rather than rounded.
 */
function readVarint(
  buf: Buffer,
  pos: number,
  maxBytes: number,
  posLimit: number,
  negLimit: number,
  where: string,
): number {
  if (pos >= buf.length) throw new TruncatedMessageError(`message ends inside ${where}`);
  let b = buf[pos++];
  const negative = b & 1;
  let m = (b & 0x7f) >>> 1;
  let scale = 64;
  let n = 1;
  while (b & 0x80) {
    if (n >= maxBytes) throw new InvalidBodyError(`${where}: varint longer than ${maxBytes} bytes`);
    if (pos >= buf.length) throw new TruncatedMessageError(`message ends inside ${where}`);
    b = buf[pos++];
    m += (b & 0x7f) * scale;
    scale *= 128;
    n++;
  }
  if (m > (negative ? negLimit : posLimit)) throw new InvalidBodyError(`${where}: number out of range`);
  varValue = negative ? -m - 1 : m;
  return pos;
}

// Longs: avsc's safe range ±(2^53 − 2), so that avsc never refuses what the walk admitted. Ints: 32-bit signed.
const readLong = (buf: Buffer, pos: number, where: string) => readVarint(buf, pos, 10, LONG_MAX, LONG_MAX - 1, where);
const readInt = (buf: Buffer, pos: number, where: string) => readVarint(buf, pos, 5, INT_MAX, INT_MAX, where);

/** Reads a byte length and checks it fits in what is left; returns the position after the length. */
function readLength(buf: Buffer, pos: number, where: string): number {
  pos = readLong(buf, pos, where);
  if (varValue < 0) throw new InvalidBodyError(`${where}: negative length ${varValue}`);
  if (varValue > buf.length - pos) {
    throw new TruncatedMessageError(`${where}: length ${varValue} exceeds the ${buf.length - pos} byte(s) left`);
  }
  return pos;
}

/** Smallest possible encoding of a value of `type`, in bytes (0 for recursion, which can only under-estimate). */
export function minSize(type: Type, visiting: Set<Type> = new Set()): number {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const t = type as any;
  switch (t.typeName as string) {
    case 'null':
      return 0;
    case 'float':
      return 4;
    case 'double':
      return 8;
    case 'fixed':
      return t.size;
    case 'record':
    case 'error': {
      if (visiting.has(type)) return 0;
      visiting.add(type);
      let sum = 0;
      for (const f of t.fields) sum += minSize(f.type, visiting);
      visiting.delete(type);
      return sum;
    }
    default:
      return 1; // boolean, int, long, bytes, string, enum, union index, array/map terminator
  }
}

function compile(type: Type, where: string, cache: Map<Type, Step>): Step {
  const cached = cache.get(type);
  if (cached) return cached;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const t = type as any;
  let step: Step;
  switch (t.typeName as string) {
    case 'null':
      step = (_buf, pos) => pos;
      break;
    case 'boolean':
      step = (buf, pos) => {
        if (pos >= buf.length) throw new TruncatedMessageError(`message ends inside ${where}`);
        if (buf[pos] > 1) throw new InvalidBodyError(`${where}: boolean byte ${buf[pos]}`);
        return pos + 1;
      };
      break;
    case 'int':
      step = (buf, pos) => readInt(buf, pos, where);
      break;
    case 'long':
      step = (buf, pos) => readLong(buf, pos, where);
      break;
    case 'float':
    case 'double': {
      const size = t.typeName === 'float' ? 4 : 8;
      step = (buf, pos) => {
        if (pos + size > buf.length) throw new TruncatedMessageError(`message ends inside ${where}`);
        return pos + size;
      };
      break;
    }
    case 'bytes':
      step = (buf, pos) => {
        pos = readLength(buf, pos, where);
        return pos + varValue;
      };
      break;
    case 'string':
      step = (buf, pos) => {
        pos = readLength(buf, pos, where);
        const end = pos + varValue;
        if (!isUtf8(buf.subarray(pos, end))) throw new InvalidBodyError(`${where}: invalid UTF-8`);
        return end;
      };
      break;
    case 'fixed': {
      const size: number = t.size;
      step = (buf, pos) => {
        if (pos + size > buf.length) throw new TruncatedMessageError(`message ends inside ${where}`);
        return pos + size;
      };
      break;
    }
    case 'enum': {
      const count: number = t.symbols.length;
      step = (buf, pos) => {
        pos = readInt(buf, pos, where);
        if (varValue < 0 || varValue >= count)
          throw new InvalidBodyError(`${where}: enum index ${varValue} of ${count}`);
        return pos;
      };
      break;
    }
    case 'union:unwrapped':
    case 'union:wrapped': {
      let branches: Step[] = [];
      step = (buf, pos) => {
        pos = readInt(buf, pos, where);
        if (varValue < 0 || varValue >= branches.length) {
          throw new InvalidBodyError(`${where}: union branch ${varValue} of ${branches.length}`);
        }
        return branches[varValue](buf, pos);
      };
      cache.set(type, step);
      branches = (t.types as Type[]).map((b, i) => compile(b, `${where}<${i}>`, cache));
      return step;
    }
    case 'array':
    case 'map': {
      const isMap = t.typeName === 'map';
      const itemType: Type = isMap ? t.valuesType : t.itemsType;
      const itemMin = minSize(itemType) + (isMap ? 1 : 0);
      let item: Step = () => 0;
      const key = compile(stringType, `${where} key`, cache);
      step = (buf, pos) => {
        for (;;) {
          pos = readLong(buf, pos, `${where} block count`);
          let count = varValue;
          if (count === 0) return pos;
          let blockEnd = -1;
          if (count < 0) {
            // A negative count is followed by the block's size in bytes, which readers may use to skip it.
            count = -count;
            pos = readLength(buf, pos, `${where} block size`);
            blockEnd = pos + varValue;
          }
          if (itemMin > 0) {
            if (count > (buf.length - pos) / itemMin) {
              throw new TruncatedMessageError(
                `${where}: ${count} items cannot fit in the ${buf.length - pos} byte(s) left`,
              );
            }
          } else {
            emptyItemBudget -= count;
            if (emptyItemBudget < 0) throw new InvalidBodyError(`${where}: more than ${MAX_EMPTY_ITEMS} empty items`);
          }
          for (let i = 0; i < count; i++) {
            if (isMap) pos = key(buf, pos);
            pos = item(buf, pos);
          }
          if (blockEnd >= 0 && pos !== blockEnd)
            throw new InvalidBodyError(`${where}: block size does not match its items`);
        }
      };
      cache.set(type, step);
      item = compile(itemType, isMap ? `${where}{}` : `${where}[]`, cache);
      return step;
    }
    case 'record':
    case 'error': {
      let fields: Step[] = [];
      step = (buf, pos) => {
        for (let i = 0; i < fields.length; i++) pos = fields[i](buf, pos);
        return pos;
      };
      cache.set(type, step);
      const prefix = where ? `${where}.` : '';
      fields = (t.fields as Array<{ name: string; type: Type }>).map((f) =>
        compile(f.type, `${prefix}${f.name}`, cache),
      );
      return step;
    }
    default:
      throw new Error(`bounded walk: unsupported Avro type ${t.typeName}`);
  }
  // Primitive steps carry their field path, so they are cached only per path-independent type object when named.
  if (t.name) cache.set(type, step);
  return step;
}

// A bare string type, compiled for map keys (avsc types are only needed for their typeName here).
const stringType = { typeName: 'string' } as unknown as Type;

/** Compiles the bounded walk of a writer schema: returns the position after one complete value, or throws. */
export function compileBoundedWalk(type: Type): (buf: Buffer, start: number) => number {
  const root = compile(type, '', new Map());
  return (buf, start) => {
    emptyItemBudget = MAX_EMPTY_ITEMS;
    return root(buf, start);
  };
}
