#!/usr/bin/env node
// Generates, from sketch-spec.json, the C constants for the kernel (bpf/include/tma_spec.h), the TypeScript constants
// (libs/sketch/src/spec.generated.ts) and the shared test vectors (test-vectors.json).
// Every value is computed here with a plain BigInt reference implementation of SPEC.md, written independently of the
// fast TypeScript and C code, so that both are checked against the spec rather than against each other.
//   node libs/sketch/spec/generate.js           write all outputs
//   node libs/sketch/spec/generate.js --check   exit 1 when any output differs from what would be written
'use strict';

const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');

const SPEC_DIR = __dirname;
const REPO = path.resolve(SPEC_DIR, '..', '..', '..');
const spec = JSON.parse(fs.readFileSync(path.join(SPEC_DIR, 'sketch-spec.json'), 'utf8'));

const OUT_C = path.join(REPO, 'bpf', 'include', 'tma_spec.h');
const OUT_TS = path.join(REPO, 'libs', 'sketch', 'src', 'spec.generated.ts');
const OUT_VECTORS = path.join(SPEC_DIR, 'test-vectors.json');

// ---------------------------------------------------------------- validation of the spec itself
function assert(cond, msg) {
  if (!cond) throw new Error(`sketch-spec.json: ${msg}`);
}
assert(spec.version === 1, 'this generator implements spec version 1');
assert(spec.hash.name === 'tma-nh64-v1', 'unknown hash name');
assert(spec.hash.keyWords === 10 && spec.key.bytes === 40, 'flow key is 40 bytes = 10 words');
assert(Number.isInteger(spec.cms.depth) && spec.cms.depth >= 1 && spec.cms.depth <= 16, 'cms.depth in 1..16');
assert(
  Number.isInteger(spec.cms.widthBits) && spec.cms.widthBits >= 4 && spec.cms.widthBits <= 24,
  'cms.widthBits in 4..24',
);
assert(spec.cms.counterBits === 64, 'cms counters are u64');
assert(
  Number.isInteger(spec.hll.precision) && spec.hll.precision >= 4 && spec.hll.precision <= 18,
  'hll.precision in 4..18',
);
assert(spec.hll.registerBits === 8, 'hll registers are one byte');
const c = spec.candidates;
assert(
  c.slots % c.ways === 0 && (c.slots & (c.slots - 1)) === 0 && (c.ways & (c.ways - 1)) === 0,
  'candidate slots/ways powers of two',
);
assert(
  Number.isInteger(c.defaultNoiseShift) && c.defaultNoiseShift >= 0 && c.defaultNoiseShift <= 31,
  'candidates.defaultNoiseShift in 0..31',
);
const HLLS = spec.distinctCounts.sketches;
assert(
  HLLS.every((h, i) => h.kind === i && /^[a-z]+$/.test(h.name) && /^hll[A-Z]\w*$/.test(h.wireField)),
  'distinctCounts.sketches: kinds 0..n-1 in order, lower-case names, wire fields hll…',
);
assert(
  HLLS.every((h) => /^hll_[a-z_]+$/.test(h.column) && typeof h.doc === 'string'),
  'distinctCounts.sketches: columns hll_…, a doc each',
);

// ---------------------------------------------------------------- BigInt reference of SPEC.md
const M32 = 0xffffffffn;
const M64 = (1n << 64n) - 1n;

function splitmix64(seed) {
  let state = seed & M64;
  return () => {
    state = (state + 0x9e3779b97f4a7c15n) & M64;
    let z = state;
    z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & M64;
    z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & M64;
    return z ^ (z >> 31n);
  };
}

/** 16 hex digits of a 64-bit seed, as configuration files and the seed identity spell it. */
const seedText = (s) => `0x${s.toString(16).padStart(16, '0')}`;

/** The hash key (K words and finaliser F) a seed expands to with splitmix64, and the seed's identity: the first four
 * bytes (big-endian) of SHA-256 over "tma-seed-id/<hash name>/<seed text>", a one-way derivation, so that the
 * identity every snapshot carries names the seed without revealing it. */
function expandSeed(seed) {
  const next = splitmix64(seed);
  const k = [];
  for (let j = 0; j < spec.hash.keyWords / 2; j++) {
    const z = next();
    k.push(z & M32, z >> 32n);
  }
  const f = next();
  const id = crypto
    .createHash('sha256')
    .update(`tma-seed-id/${spec.hash.name}/${seedText(seed)}`)
    .digest();
  return { seed, k, f, seedHash: BigInt(id.readUInt32BE(0)) };
}

const PUBLIC_SEED = BigInt(spec.hash.publicSeed);
assert(/^0x[0-9a-f]{16}$/.test(spec.hash.publicSeed), 'hash.publicSeed is 16 hex digits');
// A second seed for the vectors: the C and TypeScript hashes must agree under any seed, not just the public one.
const OTHER_SEED = 0x5ec7e75eed5eed01n;
// The key refHash uses; buildVectors switches it per seed.
let K;
let F;

/** Hash of n u32 words (n even, n <= keyWords) → { hi, lo } as BigInt u32. */
function refHash(words) {
  const n = words.length;
  if (n % 2 !== 0 || n > K.length) throw new Error(`bad word count ${n}`);
  let acc = 0n;
  for (let j = 0; j < n; j += 2) {
    const a = (words[j] + K[j]) & M32;
    const b = (words[j + 1] + K[j + 1]) & M32;
    acc = (acc + a * b) & M64;
  }
  let x = acc ^ F ^ BigInt(n);
  x ^= x >> 33n;
  x = (x * 0xff51afd7ed558ccdn) & M64;
  x ^= x >> 33n;
  x = (x * 0xc4ceb9fe1a85ec53n) & M64;
  x ^= x >> 33n;
  return { hi: x >> 32n, lo: x & M32 };
}

function refClz32(v) {
  let n = 0;
  for (let bit = 31n; bit >= 0n && ((v >> bit) & 1n) === 0n; bit--) n++;
  return n;
}

function refDerive(hi, lo) {
  const wb = BigInt(spec.cms.widthBits);
  const p = BigInt(spec.hll.precision);
  const cms = [];
  for (let i = 0n; i < BigInt(spec.cms.depth); i++) cms.push(Number(((lo + i * hi) & M32) >> (32n - wb)));
  const a = (hi << p) & M32;
  let rank;
  if (a !== 0n) rank = refClz32(a) + 1;
  else if (lo !== 0n) rank = 32 - spec.hll.precision + refClz32(lo) + 1;
  else rank = 64 - spec.hll.precision + 1;
  return { cms, hllIndex: Number(hi >> (32n - p)), hllRank: rank };
}

function bytesToWords(bytes) {
  const words = [];
  for (let i = 0; i < bytes.length; i += 4) {
    words.push(
      BigInt(bytes[i]) | (BigInt(bytes[i + 1]) << 8n) | (BigInt(bytes[i + 2]) << 16n) | (BigInt(bytes[i + 3]) << 24n),
    );
  }
  return words;
}

// ---------------------------------------------------------------- addresses and canonical keys (reference)
function parseIPv4(s) {
  const parts = s.split('.');
  if (parts.length !== 4) throw new Error(`bad IPv4 ${s}`);
  return parts.map((p) => {
    const v = Number(p);
    if (!/^\d{1,3}$/.test(p) || v > 255) throw new Error(`bad IPv4 ${s}`);
    return v;
  });
}

/** 16-byte form of an address: IPv6 as is, IPv4 as ::ffff:a.b.c.d. */
function addrBytes(s) {
  if (!s.includes(':')) return [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, ...parseIPv4(s)];
  let body = s;
  const lastColon = s.lastIndexOf(':');
  if (s.slice(lastColon + 1).includes('.')) {
    // Embedded dotted quad becomes the last two groups.
    const v4 = parseIPv4(s.slice(lastColon + 1));
    body = `${s.slice(0, lastColon + 1)}${((v4[0] << 8) | v4[1]).toString(16)}:${((v4[2] << 8) | v4[3]).toString(16)}`;
  }
  const halves = body.split('::');
  const groups = (t) => (t === '' ? [] : t.split(':').map((g) => parseInt(g, 16)));
  let g;
  if (halves.length === 2) {
    const head = groups(halves[0]);
    const rest = groups(halves[1]);
    g = [...head, ...new Array(Math.max(0, 8 - head.length - rest.length)).fill(0), ...rest];
  } else {
    g = groups(halves[0]);
  }
  if (g.length !== 8 || g.some((x) => !(x >= 0 && x <= 0xffff))) throw new Error(`bad IPv6 ${s}`);
  return g.flatMap((x) => [x >> 8, x & 0xff]);
}

/** RFC 5952 text for 16 address bytes (longest run of ≥2 zero groups becomes ::). */
function formatIPv6(bytes) {
  const g = [];
  for (let i = 0; i < 16; i += 2) g.push((bytes[i] << 8) | bytes[i + 1]);
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8;) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (arr) => arr.map((x) => x.toString(16)).join(':');
  if (best < 0) return hex(g);
  return `${hex(g.slice(0, best))}::${hex(g.slice(best + bestLen))}`;
}

function flowKey(t) {
  return [
    ...addrBytes(t.src),
    ...addrBytes(t.dst),
    t.sport >> 8,
    t.sport & 0xff,
    t.dport >> 8,
    t.dport & 0xff,
    t.proto,
    spec.key.flowDomain,
    0,
    0,
  ];
}
const addrKey = (addr, domain) => [...addrBytes(addr), domain, 0, 0, 0, 0, 0, 0, 0];
const portsKey = (t) => [t.dport >> 8, t.dport & 0xff, t.proto, spec.key.portsDomain, 0, 0, 0, 0];

const hex8 = (v) => `0x${v.toString(16).padStart(8, '0')}`;
const hexBytes = (b) => b.map((x) => x.toString(16).padStart(2, '0')).join('');

function keyVector(bytes, withCms) {
  const { hi, lo } = refHash(bytesToWords(bytes));
  const d = refDerive(hi, lo);
  const out = { key: hexBytes(bytes), hi: hex8(hi), lo: hex8(lo) };
  if (withCms) out.cms = d.cms;
  out.hllIndex = d.hllIndex;
  out.hllRank = d.hllRank;
  return out;
}

// ---------------------------------------------------------------- the vector set (deterministic)
function tuples() {
  const list = [
    { note: 'IPv4 TCP typical', src: '10.0.0.1', dst: '10.0.0.2', sport: 43210, dport: 443, proto: 6 },
    { note: 'IPv4 TCP reverse direction', src: '10.0.0.2', dst: '10.0.0.1', sport: 443, dport: 43210, proto: 6 },
    { note: 'IPv4 UDP DNS', src: '192.168.1.10', dst: '8.8.8.8', sport: 53000, dport: 53, proto: 17 },
    { note: 'IPv4 all-zero addresses and ports', src: '0.0.0.0', dst: '0.0.0.0', sport: 0, dport: 0, proto: 6 },
    {
      note: 'IPv4 all-ones addresses and ports',
      src: '255.255.255.255',
      dst: '255.255.255.255',
      sport: 65535,
      dport: 65535,
      proto: 17,
    },
    { note: 'IPv4 DHCP broadcast', src: '0.0.0.0', dst: '255.255.255.255', sport: 68, dport: 67, proto: 17 },
    { note: 'IPv4 loopback', src: '127.0.0.1', dst: '127.0.0.1', sport: 1, dport: 65535, proto: 6 },
    { note: 'IPv4 port 0 to 65535', src: '172.16.0.1', dst: '172.31.255.254', sport: 0, dport: 65535, proto: 6 },
    { note: 'IPv4 port 65535 to 0', src: '172.16.0.1', dst: '172.31.255.254', sport: 65535, dport: 0, proto: 6 },
    { note: 'ICMP echo request (type 8 code 0)', src: '10.1.2.3', dst: '10.3.2.1', sport: 8, dport: 0, proto: 1 },
    { note: 'ICMP echo reply (type 0 code 0)', src: '10.3.2.1', dst: '10.1.2.3', sport: 0, dport: 0, proto: 1 },
    { note: 'ICMP port unreachable (type 3 code 3)', src: '10.3.2.1', dst: '10.1.2.3', sport: 3, dport: 3, proto: 1 },
    { note: 'IPv4 GRE (no ports)', src: '203.0.113.5', dst: '198.51.100.7', sport: 0, dport: 0, proto: 47 },
    { note: 'IPv4 ESP (no ports)', src: '203.0.113.5', dst: '198.51.100.7', sport: 0, dport: 0, proto: 50 },
    { note: 'IPv4 SCTP', src: '203.0.113.5', dst: '198.51.100.7', sport: 2905, dport: 2905, proto: 132 },
    { note: 'IPv4 protocol 255', src: '1.2.3.4', dst: '5.6.7.8', sport: 0, dport: 0, proto: 255 },
    { note: 'IPv4 protocol 0 (HOPOPT)', src: '1.2.3.4', dst: '5.6.7.8', sport: 0, dport: 0, proto: 0 },
    {
      note: 'IPv4 later fragment of a UDP datagram (ports 0)',
      src: '192.0.2.1',
      dst: '192.0.2.2',
      sport: 0,
      dport: 0,
      proto: 17,
    },
    { note: 'IPv4 multicast', src: '192.168.0.5', dst: '224.0.0.251', sport: 5353, dport: 5353, proto: 17 },
    {
      note: 'IPv4 one-bit difference in source (a)',
      src: '10.0.0.0',
      dst: '10.0.0.9',
      sport: 1000,
      dport: 80,
      proto: 6,
    },
    {
      note: 'IPv4 one-bit difference in source (b)',
      src: '10.0.0.1',
      dst: '10.0.0.9',
      sport: 1000,
      dport: 80,
      proto: 6,
    },
    {
      note: 'IPv4 one-bit difference in source port',
      src: '10.0.0.1',
      dst: '10.0.0.9',
      sport: 1001,
      dport: 80,
      proto: 6,
    },
    { note: 'IPv6 TCP typical', src: '2001:db8::1', dst: '2001:db8::2', sport: 51000, dport: 443, proto: 6 },
    {
      note: 'IPv6 UDP QUIC',
      src: '2001:db8:85a3::8a2e:370:7334',
      dst: '2606:4700::6810:84e5',
      sport: 60000,
      dport: 443,
      proto: 17,
    },
    { note: 'IPv6 unspecified', src: '::', dst: '::', sport: 0, dport: 0, proto: 6 },
    { note: 'IPv6 loopback', src: '::1', dst: '::1', sport: 12345, dport: 22, proto: 6 },
    {
      note: 'IPv6 all ones',
      src: 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff',
      dst: 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff',
      sport: 65535,
      dport: 65535,
      proto: 17,
    },
    { note: 'IPv6 link-local to all-nodes multicast', src: 'fe80::1', dst: 'ff02::1', sport: 0, dport: 0, proto: 58 },
    {
      note: 'ICMPv6 echo request (type 128 code 0)',
      src: 'fe80::a00:27ff:fe4e:66a1',
      dst: 'fe80::1',
      sport: 128,
      dport: 0,
      proto: 58,
    },
    {
      note: 'ICMPv6 neighbour solicitation (type 135)',
      src: '::',
      dst: 'ff02::1:ff4e:66a1',
      sport: 135,
      dport: 0,
      proto: 58,
    },
    {
      note: 'ICMPv6 destination unreachable code 4',
      src: '2001:db8::1',
      dst: '2001:db8::2',
      sport: 1,
      dport: 4,
      proto: 58,
    },
    { note: 'IPv6 later fragment (ports 0)', src: '2001:db8::1', dst: '2001:db8::2', sport: 0, dport: 0, proto: 17 },
    {
      note: 'IPv6 IPv4-mapped text gives the same key as the IPv4 text',
      src: '::ffff:10.0.0.1',
      dst: '::ffff:10.0.0.2',
      sport: 43210,
      dport: 443,
      proto: 6,
    },
    {
      note: 'IPv6 IPv4-compatible (not mapped) differs from IPv4',
      src: '::10.0.0.1',
      dst: '::10.0.0.2',
      sport: 43210,
      dport: 443,
      proto: 6,
    },
    {
      note: 'IPv6 to IPv4-mapped destination',
      src: '64:ff9b::a00:1',
      dst: '::ffff:192.0.2.33',
      sport: 1,
      dport: 2,
      proto: 6,
    },
    { note: 'IPv6 SCTP', src: '2001:db8:0:1::5', dst: '2001:db8:0:2::6', sport: 36412, dport: 36412, proto: 132 },
    { note: 'IPv6 GRE (no ports)', src: '2001:db8::a', dst: '2001:db8::b', sport: 0, dport: 0, proto: 47 },
    { note: 'IPv6 protocol 255', src: '2001:db8::a', dst: '2001:db8::b', sport: 0, dport: 0, proto: 255 },
  ];
  // Pseudo-random tuples from a fixed splitmix64 stream fill the rest.
  const next = splitmix64(0x7665637300000001n);
  const protos = [6, 17, 1, 58, 6, 17, 132, 47];
  for (let i = 0; list.length < 64; i++) {
    const r = next();
    const v6 = (r & 1n) === 1n;
    const proto = protos[Number((r >> 1n) & 7n)];
    const addr = () => {
      const a = next();
      const b = next();
      if (!v6) return [24n, 16n, 8n, 0n].map((s) => Number((a >> s) & 0xffn)).join('.');
      const bytes = [];
      for (let k = 0n; k < 8n; k++) bytes.push(Number((a >> (8n * k)) & 0xffn));
      for (let k = 0n; k < 8n; k++) bytes.push(Number((b >> (8n * k)) & 0xffn));
      if ((a & 0x300n) === 0n) bytes.fill(0, 4, 12); // some runs of zero groups exercise :: compression
      return formatIPv6(bytes);
    };
    let sport = Number((r >> 8n) & 0xffffn);
    let dport = Number((r >> 24n) & 0xffffn);
    if (proto === 1 || proto === 58) {
      sport &= 0xff;
      dport &= 0x0f;
    }
    if (proto === 47) sport = dport = 0;
    list.push({ note: `random ${i}`, src: addr(), dst: addr(), sport, dport, proto });
  }
  return list;
}

/** Two-word keys found by search whose hash has (hi << p) == 0, so the rank comes from lo. */
function searchLowRankWords(count) {
  const found = [];
  const p = BigInt(spec.hll.precision);
  for (let i = 0n; found.length < count; i++) {
    const words = [i & M32, 0x5a5a5a5an];
    const { hi } = refHash(words);
    if (((hi << p) & M32) === 0n) found.push(words);
  }
  return found;
}

/** The vectors of one seed: flows (the four keys of each) and raw word inputs, hashed under that seed's key. */
function seedVectors(expanded) {
  ({ k: K, f: F } = expanded);
  const flows = tuples().map((t) => ({
    note: t.note,
    tuple: { src: t.src, dst: t.dst, sport: t.sport, dport: t.dport, proto: t.proto },
    flow: keyVector(flowKey(t), true),
    src: keyVector(addrKey(t.src, spec.key.srcDomain), false),
    dst: keyVector(addrKey(t.dst, spec.key.dstDomain), false),
    dport: keyVector(portsKey(t), false),
  }));

  const wordsCases = [
    [0n, 0n],
    [M32, M32],
    [(0n - K[0]) & M32, 12345n], // first factor wraps to zero: product 0
    [1n, 2n, 3n, 4n, 5n, 6n],
    [0n, 0n, 0n, 0n, 0n, 0n],
    [0xdeadbeefn, 0xcafebaben, 0x01234567n, 0x89abcdefn, 0xffffffffn, 0n],
    [0n, 0n, 0n, 0n, 0n, 0n, 0n, 0n, 0n, 0n],
    [M32, M32, M32, M32, M32, M32, M32, M32, M32, M32],
    [1n, 0n, 0n, 0n, 0n, 0n, 0n, 0n, 0n, 0n],
    [0n, 0n, 0n, 0n, 0n, 0n, 0n, 0n, 0n, 1n],
    [
      0x80000000n,
      0x7fffffffn,
      0x80000000n,
      0x7fffffffn,
      0x80000000n,
      0x7fffffffn,
      0x80000000n,
      0x7fffffffn,
      0x80000000n,
      0x7fffffffn,
    ],
    ...K.map((_, j) => K.map((k, i) => (i === j ? (0n - k) & M32 : k))), // each word cancels its key word once
    ...searchLowRankWords(2),
  ];
  const words = wordsCases.map((w) => {
    const { hi, lo } = refHash(w);
    return { words: w.map(hex8), hi: hex8(hi), lo: hex8(lo), ...refDerive(hi, lo) };
  });
  return {
    seed: seedText(expanded.seed),
    seedHash: hex8(expanded.seedHash),
    key: { k: K.map(hex8), f: hex16(F) },
    flows,
    words,
  };
}

function buildVectors() {
  const pm = (1n << BigInt(32 - spec.hll.precision)) - 1n; // bits of hi below the index
  const deriveCases = [
    [0n, 0n, 'hi<<p == 0 and lo == 0: maximum rank'],
    [M32, 0n, 'index all ones, rest of hi all ones'],
    [M32 & ~pm, 0n, 'index all ones, hi<<p == 0, lo == 0'],
    [M32 & ~pm, 1n, 'hi<<p == 0, lo == 1'],
    [0n, 0x80000000n, 'hi<<p == 0, lo top bit set'],
    [0n, M32, 'hi == 0, lo all ones'],
    [1n, 0n, 'lowest bit of hi set'],
    [1n << BigInt(31 - spec.hll.precision), 0n, 'top bit after the index set: rank 1'],
    [0x12345678n, 0x9abcdef0n, 'ordinary'],
    [0x80000000n, 0x80000000n, 'CMS rows add hi to lo mod 2^32'],
    [M32, M32, 'all ones'],
  ];
  const derive = deriveCases.map(([hi, lo, note]) => ({ note, hi: hex8(hi), lo: hex8(lo), ...refDerive(hi, lo) }));

  return {
    $comment:
      'Generated by libs/sketch/spec/generate.js from sketch-spec.json with a BigInt reference of SPEC.md; do not edit. Keys are hex bytes in canonical layout; hi/lo are the u32 halves of the 64-bit hash.',
    specVersion: spec.version,
    hash: spec.hash.name,
    params: { cmsDepth: spec.cms.depth, cmsWidthBits: spec.cms.widthBits, hllPrecision: spec.hll.precision },
    seeds: [expandSeed(PUBLIC_SEED), expandSeed(OTHER_SEED)].map(seedVectors),
    derive,
  };
}

// ---------------------------------------------------------------- renderers
const capitalize = (s) => s[0].toUpperCase() + s.slice(1);
const BANNER = 'Generated by libs/sketch/spec/generate.js from libs/sketch/spec/sketch-spec.json. Do not edit.';
const hex16 = (v) => `0x${v.toString(16).padStart(16, '0')}`;

function renderC() {
  const w = spec.cms.widthBits;
  const p = spec.hll.precision;
  const lines = [
    `/* ${BANNER}`,
    ' * Plain macros and one enum, so the same header compiles in BPF programs and in host C. */',
    '#ifndef TMA_SPEC_H',
    '#define TMA_SPEC_H',
    '',
    `#define TMA_SPEC_VERSION ${spec.version}`,
    `#define TMA_HASH_NAME "${spec.hash.name}"`,
    "/* Words of the hash key K; the key itself is a load-time value expanded from the deployment's seed. */",
    `#define TMA_HASH_KEY_WORDS ${spec.hash.keyWords}`,
    '',
    '/* Canonical keys: flow 40 bytes (10 words), src/dst address 24 bytes (6 words), ports 8 bytes (2 words). */',
    `#define TMA_FLOW_KEY_BYTES ${spec.key.bytes}`,
    `#define TMA_FLOW_KEY_WORDS ${spec.key.bytes / 4}`,
    '#define TMA_ADDR_KEY_BYTES 24',
    '#define TMA_ADDR_KEY_WORDS 6',
    '#define TMA_PORTS_KEY_BYTES 8',
    '#define TMA_PORTS_KEY_WORDS 2',
    `#define TMA_DOMAIN_FLOW ${spec.key.flowDomain}`,
    `#define TMA_DOMAIN_SRC ${spec.key.srcDomain}`,
    `#define TMA_DOMAIN_DST ${spec.key.dstDomain}`,
    `#define TMA_DOMAIN_PORTS ${spec.key.portsDomain}`,
    '',
    '/* Count-Min Sketch: depth rows of 2^widthBits u64 counters, row-major. */',
    `#define TMA_CMS_DEPTH ${spec.cms.depth}`,
    `#define TMA_CMS_WIDTH_BITS ${w}`,
    `#define TMA_CMS_WIDTH ${1 << w}`,
    `#define TMA_CMS_WIDTH_MASK ${(1 << w) - 1}`,
    `#define TMA_CMS_CELLS ${spec.cms.depth * (1 << w)}`,
    `#define TMA_CMS_COUNTER_BITS ${spec.cms.counterBits}`,
    '',
    '/* HyperLogLog: 2^p one-byte registers; rank in 1..64-p+1. */',
    `#define TMA_HLL_P ${p}`,
    `#define TMA_HLL_M ${1 << p}`,
    `#define TMA_HLL_RANK_MAX ${64 - p + 1}`,
    '',
    '/* The HLLs of a snapshot by kind (index of tma_state.hll), from the distinct-count registry. */',
    'enum tma_hll_kind {',
    ...HLLS.map((h) => `\tTMA_HLL_${h.name.toUpperCase()} = ${h.kind}, /* ${h.doc} */`),
    `\tTMA_HLL_KINDS = ${HLLS.length},`,
    '};',
    '',
    '/* Heavy-hitter candidate table (per CPU). */',
    `#define TMA_CAND_SLOTS ${c.slots}`,
    `#define TMA_CAND_WAYS ${c.ways}`,
    `#define TMA_CAND_SETS ${c.slots / c.ways}`,
    `#define TMA_CAND_THRESHOLD_DEFAULT ${c.defaultThresholdPackets}`,
    '/* The entry threshold is at least (IP packets so far >> TMA_CMS_WIDTH_BITS) << this: twice the mean CMS noise. */',
    `#define TMA_CAND_NOISE_SHIFT_DEFAULT ${c.defaultNoiseShift}`,
    '',
    `#define TMA_PROTOCOLS ${spec.protocols}`,
    `#define TMA_INTERVAL_MIN_MS ${spec.interval.minMs}`,
    `#define TMA_INTERVAL_DEFAULT_MS ${spec.interval.defaultMs}`,
    `#define TMA_INTERVAL_MAX_MS ${spec.interval.maxMs}`,
    '',
    '#endif /* TMA_SPEC_H */',
    '',
  ];
  return lines.join('\n');
}

function renderTs() {
  const w = spec.cms.widthBits;
  const p = spec.hll.precision;
  return `// ${BANNER}

/** Version of the sketch specification (and of the serialized sketch parameters). */
export const SPEC_VERSION = ${spec.version};
export const HASH_NAME = '${spec.hash.name}';
/** The public seed (64-bit hex): what tests and a deployment without a secret seed hash with; anyone can build
 * collisions against it (docs/sketch.md). */
export const PUBLIC_HASH_SEED = '${seedText(PUBLIC_SEED)}';
/** Words of the hash key K expanded from a seed. */
export const HASH_KEY_WORDS = ${spec.hash.keyWords};

export const FLOW_KEY_BYTES = ${spec.key.bytes};
export const ADDR_KEY_BYTES = 24;
export const PORTS_KEY_BYTES = 8;
export const DOMAIN_FLOW = ${spec.key.flowDomain};
export const DOMAIN_SRC = ${spec.key.srcDomain};
export const DOMAIN_DST = ${spec.key.dstDomain};
export const DOMAIN_PORTS = ${spec.key.portsDomain};

export const CMS_DEPTH = ${spec.cms.depth};
export const CMS_WIDTH_BITS = ${w};
export const CMS_WIDTH = ${1 << w};
export const CMS_COUNTER_BITS = ${spec.cms.counterBits};

export const HLL_P = ${p};
export const HLL_M = ${1 << p};
export const HLL_RANK_MAX = ${64 - p + 1};

/** The HLLs of a snapshot by kind: the kernel's enum tma_hll_kind (index of its hll array). */
export const HllKind = {
${HLLS.map((h) => `  ${capitalize(h.name)}: ${h.kind},`).join('\n')}
} as const;
export type HllKind = (typeof HllKind)[keyof typeof HllKind];
export const HLL_KINDS = ${HLLS.length};

/**
 * The distinct-count registry: each HLL's concept name, kernel kind, Avro field of the snapshot, ClickHouse column of
 * agg_partials and property of in-memory sketch sets (hll + Name). The ports wire field stays hllDestinationPorts:
 * snapshot schema v1 is frozen.
 */
export const HLL_SKETCHES = [
${HLLS.map(
  (h) =>
    `  {\n    name: '${h.name}',\n    kind: HllKind.${capitalize(h.name)},\n    doc: '${h.doc}',\n    wireField: '${h.wireField}',\n    column: '${h.column}',\n    property: 'hll${capitalize(h.name)}',\n  },`,
).join('\n')}
] as const;
export type HllSketch = (typeof HLL_SKETCHES)[number];
export type HllName = HllSketch['name'];
export type HllWireField = HllSketch['wireField'];
export type HllColumn = HllSketch['column'];
export type HllProperty = HllSketch['property'];

export const CAND_SLOTS = ${c.slots};
export const CAND_WAYS = ${c.ways};
export const CAND_THRESHOLD_DEFAULT = ${c.defaultThresholdPackets};
/** The entry threshold is at least (IP packets so far >> CMS_WIDTH_BITS) << this. */
export const CAND_NOISE_SHIFT_DEFAULT = ${c.defaultNoiseShift};

export const PROTOCOLS = ${spec.protocols};
export const INTERVAL_MIN_MS = ${spec.interval.minMs};
export const INTERVAL_DEFAULT_MS = ${spec.interval.defaultMs};
export const INTERVAL_MAX_MS = ${spec.interval.maxMs};
`;
}

/** Keeps short arrays of numbers or strings on one line so the vectors stay readable. */
function compactArrays(json) {
  return json.replace(
    /\[\s+((?:(?:-?\d+|"[^"\n]*"),\s+)*(?:-?\d+|"[^"\n]*"))\s+\]/g,
    (_, inner) => `[${inner.split(/,\s+/).join(', ')}]`,
  );
}

function sameJson(a, b) {
  try {
    return JSON.stringify(JSON.parse(a)) === JSON.stringify(JSON.parse(b));
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------- main
function main() {
  const check = process.argv.includes('--check');
  const outputs = [
    [OUT_C, renderC()],
    [OUT_TS, renderTs()],
    [OUT_VECTORS, `${compactArrays(JSON.stringify(buildVectors(), null, 2))}\n`],
  ];
  let stale = 0;
  for (const [file, text] of outputs) {
    const rel = path.relative(REPO, file);
    const current = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : null;
    if (current === text) continue;
    // JSON is compared by content, so reformatting the vectors (e.g. by prettier) does not make them stale.
    if (check && current !== null && file.endsWith('.json') && sameJson(current, text)) continue;
    if (check) {
      stale++;
      console.error(`stale: ${rel} (run: node libs/sketch/spec/generate.js)`);
    } else {
      fs.mkdirSync(path.dirname(file), { recursive: true });
      fs.writeFileSync(file, text);
      console.log(`wrote ${rel}`);
    }
  }
  if (stale > 0) process.exit(1);
}

module.exports = { refHash, refDerive, bytesToWords, addrBytes, formatIPv6 };
if (require.main === module) main();
