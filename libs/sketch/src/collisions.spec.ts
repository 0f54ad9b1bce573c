// The collision families of tma-nh64-v1 (docs/sketch.md, Collisions), derived here from the construction and the
// public key exactly as an attacker would: under the public seed each crafted set collapses, under a random secret
// seed the same keys collide no more than random 64-bit hashes would (the birthday number).
import { randomBytes } from 'node:crypto';
import { expandHashSeed, hashKey, PUBLIC_HASH_KEY, useHashSeed, type HashSeed } from './hash';
import { flowKey, srcKey } from './keys';

const N = 1 << 16;
const M32 = 2 ** 32;

/** How many of the keys' 64-bit hashes, and of their top 32 bits, repeat an earlier one. */
function collisions(keys: Uint8Array[]): { full: number; hi: number } {
  const full = new Set<string>();
  const hi = new Set<number>();
  for (const k of keys) {
    const h = hashKey(k);
    full.add(`${h.hi}:${h.lo}`);
    hi.add(h.hi);
  }
  return { full: keys.length - full.size, hi: keys.length - hi.size };
}

/** IPv4 text whose canonical key word (bytes 12..15 of the mapped address, little-endian) is w. */
const v4 = (w: number) => `${w & 255}.${(w >>> 8) & 255}.${(w >>> 16) & 255}.${w >>> 24}`;

/** Family 1: a zero NH factor. Address word 2 (bytes 8..11) = −K2 makes (w2 + K2)·(w3 + K3) zero whatever word 3
 * (bytes 12..15) is: 2^32 addresses of one /64 share a source hash, and a flow hash when the rest is equal. */
function zeroFactorSources(k: readonly number[]): { sources: Uint8Array[]; flows: Uint8Array[] } {
  const w2 = (M32 - k[2]) % M32;
  const sources: Uint8Array[] = [];
  const flows: Uint8Array[] = [];
  for (let i = 0; i < N; i++) {
    const a = new Uint8Array(16);
    a.set([0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 2]); // 2001:db8:1:2::/64
    new DataView(a.buffer).setUint32(8, w2, true);
    new DataView(a.buffer).setUint32(12, Math.imul(i, 0x9e3779b1) >>> 0, true);
    sources.push(srcKey(a));
    flows.push(flowKey({ src: a, dst: '2001:db8::53', sport: 40000, dport: 53, proto: 17 }));
  }
  return { sources, flows };
}

const gcd = (a: bigint, b: bigint): bigint => (b === 0n ? (a < 0n ? -a : a) : gcd(b, a % b));
/** [g, x, y] with a·x + b·y = g = gcd(a, b). */
function egcd(a: bigint, b: bigint): [bigint, bigint, bigint] {
  if (b === 0n) return [a, 1n, 0n];
  const [g, x, y] = egcd(b, a % b);
  return [g, y, x - (a / b) * y];
}
const dot = (u: bigint[], v: bigint[]) => u.reduce((s, x, i) => s + x * v[i], 0n);
/** round(a / b) for b > 0 */
const roundDiv = (a: bigint, b: bigint) => (a >= 0n ? (2n * a + b) / (2n * b) : -((-2n * a + b) / (2n * b)));

/** The shortest (a, b, e) ≠ 0 with c1·a + c2·b + c3·e = 0: a basis of that rank-2 lattice, Lagrange-reduced. */
function shortestRelation(c1: bigint, c2: bigint, c3: bigint): bigint[] {
  const [g12, x, y] = egcd(c1, c2);
  const g = gcd(g12, c3);
  let u = [c2 / g12, -c1 / g12, 0n];
  let v = [(-c3 / g) * x, (-c3 / g) * y, g12 / g];
  for (;;) {
    if (dot(u, u) > dot(v, v)) [u, v] = [v, u];
    const mu = roundDiv(dot(u, v), dot(u, u));
    if (mu === 0n) return u;
    v = v.map((t, i) => t - mu * u[i]);
  }
}

/** Family 2: small IPv4 differences. With IPv4-mapped addresses and a fixed protocol, NH is linear in the source
 * word (factor c_s = 0xffff0000 + K2), the destination word (c_d = 0xffff0000 + K6) and the ports word (c_p =
 * proto + K9), so any integer relation c_s·a + c_d·b + c_p·e = 0 is a collision of (src, dst, ports) with
 * (src + a, dst + b, ports + e). Three 32-bit factors have relations of about 16 bits: neighbouring flows collide. */
function linearTwins(k: readonly number[]): { keys: Uint8Array[]; relation: bigint[] } {
  const proto = 6;
  const c = [0xffff0000 + k[2], 0xffff0000 + k[6], proto + k[9]].map((x) => BigInt(x % M32));
  const relation = shortestRelation(c[0], c[1], c[2]);
  const [a, b, e] = relation.map(Number);
  // bases where word + key stays far from 2^32 on both twins, so no addition wraps between them
  const mid = (key: number, off: number) => (2 ** 31 - key + off + M32) % M32;
  const keys: Uint8Array[] = [];
  for (let i = 0; i < N / 2; i++) {
    const s = mid(k[3], 7 * i);
    const d = mid(k[7], 0);
    const p = mid(k[8], 0);
    for (const [ws, wd, wp] of [
      [s, d, p],
      [(s + a + M32) % M32, (d + b + M32) % M32, (p + e + M32) % M32],
    ]) {
      const sport = ((wp & 255) << 8) | ((wp >>> 8) & 255);
      const dport = (((wp >>> 16) & 255) << 8) | (wp >>> 24);
      keys.push(flowKey({ src: v4(ws), dst: v4(wd), sport, dport, proto }));
    }
  }
  return { keys, relation };
}

describe('collision families of tma-nh64-v1', () => {
  const secret: HashSeed = expandHashSeed(randomBytes(8).readBigUInt64LE(0));
  afterEach(() => useHashSeed(PUBLIC_HASH_KEY));

  it('under the public seed, 2^16 sources of one /64 with word 2 = −K2 have one source hash and one flow hash', () => {
    const { sources, flows } = zeroFactorSources(PUBLIC_HASH_KEY.k);
    useHashSeed(PUBLIC_HASH_KEY);
    expect(collisions(sources).full).toBe(N - 1);
    expect(collisions(flows).full).toBe(N - 1);
  });

  it('under the public seed, IPv4 flows and their neighbours (16-bit differences) collide in pairs', () => {
    const { keys, relation } = linearTwins(PUBLIC_HASH_KEY.k);
    expect(relation.every((x) => x !== 0n && (x < 0n ? -x : x) < 1n << 18n)).toBe(true);
    useHashSeed(PUBLIC_HASH_KEY);
    expect(collisions(keys).full).toBe(N / 2);
  });

  it('under a random secret seed, the same crafted keys collide like random 64-bit hashes (birthday number)', () => {
    const sets = [
      zeroFactorSources(PUBLIC_HASH_KEY.k).sources,
      zeroFactorSources(PUBLIC_HASH_KEY.k).flows,
      linearTwins(PUBLIC_HASH_KEY.k).keys,
    ];
    useHashSeed(secret);
    for (const keys of sets) {
      const c = collisions(keys);
      // birthday number of 2^16 random 64-bit hashes: C(2^16, 2) / 2^64 ≈ 2^-33 pairs, so none
      expect(c.full).toBe(0);
      // of their top 32 bits: C(2^16, 2) / 2^32 ≈ 0.5 pairs; more than 8 has probability below 1e-8
      expect(c.hi).toBeLessThanOrEqual(8);
    }
  });

  it('the families of a secret key collide under it, so it is the secrecy of the key that protects', () => {
    useHashSeed(secret);
    expect(collisions(zeroFactorSources(secret.k).sources).full).toBe(N - 1);
    expect(collisions(linearTwins(secret.k).keys).full).toBe(N / 2);
  });
});
