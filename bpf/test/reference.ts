// An independent BigInt rendering of SPEC.md (tma-nh64-v1, keys, CMS/HLL indices) for the kernel tests: it is
// itself checked against libs/sketch/spec/test-vectors.json before anything is compared with the kernel.
const M64 = (1n << 64n) - 1n;
const M32 = (1n << 32n) - 1n;

function splitmix(seed: bigint): () => bigint {
  let state = seed;
  return () => {
    state = (state + 0x9e3779b97f4a7c15n) & M64;
    let z = state;
    z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & M64;
    z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & M64;
    return z ^ (z >> 31n);
  };
}

export const PUBLIC_SEED = 0x746d612d73656564n;
let K: bigint[] = [];
let F = 0n;

/** Sets the seed the reference hashes with (the kernel under test must be loaded with the same one). */
export function useReferenceSeed(seed: bigint): void {
  const next = splitmix(seed);
  K = [];
  for (let j = 0; j < 5; j++) {
    const z = next();
    K.push(z & M32, z >> 32n);
  }
  F = next();
}
useReferenceSeed(PUBLIC_SEED);

export interface Hash {
  hi: number;
  lo: number;
  h: bigint;
}

export function hashKey(key: Uint8Array): Hash {
  const n = key.length / 4;
  const dv = new DataView(key.buffer, key.byteOffset, key.length);
  let acc = 0n;
  for (let j = 0; j < n / 2; j++) {
    const a = (BigInt(dv.getUint32(8 * j, true)) + K[2 * j]) & M32;
    const b = (BigInt(dv.getUint32(8 * j + 4, true)) + K[2 * j + 1]) & M32;
    acc = (acc + a * b) & M64;
  }
  let x = acc ^ F ^ BigInt(n);
  x ^= x >> 33n;
  x = (x * 0xff51afd7ed558ccdn) & M64;
  x ^= x >> 33n;
  x = (x * 0xc4ceb9fe1a85ec53n) & M64;
  x ^= x >> 33n;
  return { h: x, hi: Number(x >> 32n), lo: Number(x & M32) };
}

export function cmsColumn(h: Hash, row: number, widthBits = 12): number {
  return Number(((BigInt(h.lo) + BigInt(row) * BigInt(h.hi)) & M32) >> BigInt(32 - widthBits));
}

export const hllIndex = (h: Hash, p = 14): number => h.hi >>> (32 - p);

export function hllRank(h: Hash, p = 14): number {
  const a = (h.hi << p) >>> 0;
  if (a !== 0) return Math.clz32(a) + 1;
  if (h.lo !== 0) return 32 - p + Math.clz32(h.lo) + 1;
  return 64 - p + 1;
}

/** 16-byte canonical address: IPv6 as is, IPv4 mapped. */
function addr16(text: string): Uint8Array {
  const out = new Uint8Array(16);
  if (!text.includes(':')) {
    out[10] = 0xff;
    out[11] = 0xff;
    text.split('.').forEach((o, i) => (out[12 + i] = Number(o)));
    return out;
  }
  const [head, tail] = text.split('::') as [string, string | undefined];
  const parse = (s: string | undefined): number[] => {
    if (!s) return [];
    const groups: number[] = [];
    for (const g of s.split(':')) {
      if (g.includes('.')) {
        const o = g.split('.').map(Number);
        groups.push((o[0] << 8) | o[1], (o[2] << 8) | o[3]);
      } else groups.push(parseInt(g, 16));
    }
    return groups;
  };
  const h = parse(head);
  const t = tail === undefined ? [] : parse(tail);
  const groups = tail === undefined ? h : [...h, ...new Array(8 - h.length - t.length).fill(0), ...t];
  groups.forEach((g, i) => {
    out[2 * i] = g >> 8;
    out[2 * i + 1] = g & 0xff;
  });
  return out;
}

export interface Tuple {
  src: string;
  dst: string;
  sport: number;
  dport: number;
  proto: number;
}

export function flowKey(t: Tuple): Uint8Array {
  const k = new Uint8Array(40);
  k.set(addr16(t.src), 0);
  k.set(addr16(t.dst), 16);
  k[32] = t.sport >> 8;
  k[33] = t.sport & 0xff;
  k[34] = t.dport >> 8;
  k[35] = t.dport & 0xff;
  k[36] = t.proto;
  return k;
}

export function addrKey(a: Uint8Array, domain: 1 | 2): Uint8Array {
  const k = new Uint8Array(24);
  k.set(a, 0);
  k[16] = domain;
  return k;
}

export function portsKey(dport: number, proto: number): Uint8Array {
  return Uint8Array.from([dport >> 8, dport & 0xff, proto, 3, 0, 0, 0, 0]);
}

/** Everything the kernel touches for one flow key: CMS flat cells, and (index, rank) in each HLL. */
export function expectedIndices(key: Uint8Array) {
  const h = hashKey(key);
  const dport = (key[34] << 8) | key[35];
  const at = (x: Hash) => ({ index: hllIndex(x), rank: hllRank(x) });
  return {
    hash: h,
    cells: [0, 1, 2, 3].map((row) => row * 4096 + cmsColumn(h, row)),
    hll: [
      at(h),
      at(hashKey(addrKey(key.subarray(0, 16), 1))),
      at(hashKey(addrKey(key.subarray(16, 32), 2))),
      at(hashKey(portsKey(dport, key[36]))),
    ],
  };
}

export const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

export const fromHexKey = (h: string): Uint8Array => Uint8Array.from(Buffer.from(h, 'hex'));
