// Seeded traffic for accuracy tests and benchmarks: named datasets of flows with exact per-flow packet counts.
import { hashKeyInto } from '../hash';
import { flowKey } from '../keys';
import { Rng, Zipf } from './random';

// Bound once: global lookups are slow inside the test runner's vm context.
const imul = Math.imul;

export type DatasetName = 'uniform' | 'zipf-1.1' | 'zipf-1.5' | 'mice-elephants';
export const DATASETS: readonly DatasetName[] = ['uniform', 'zipf-1.1', 'zipf-1.5', 'mice-elephants'];

export interface Flows {
  /** 40-byte keys, flow i at i·40. */
  keys: Uint8Array;
  hi: Uint32Array;
  lo: Uint32Array;
  count: number;
}

/** n distinct flows (mixed IPv4/IPv6, TCP/UDP) with their hashes. */
export function makeFlows(n: number, rng: Rng): Flows {
  const keys = new Uint8Array(n * 40);
  const hi = new Uint32Array(n);
  const lo = new Uint32Array(n);
  const h = new Uint32Array(2);
  const src = new Uint8Array(16);
  const dst = new Uint8Array(16);
  for (let i = 0; i < n; i++) {
    const v6 = (i & 7) === 7;
    if (v6) {
      src.set([0x20, 0x01, 0x0d, 0xb8]);
      for (let j = 4; j < 16; j++) src[j] = rng.u32() & 0xff;
      dst.set([0x20, 0x01, 0x0d, 0xb8, 0, 1]);
      for (let j = 6; j < 16; j++) dst[j] = rng.u32() & 0xff;
    }
    // Unique by construction: the flow number is spread over the IPv4 source and the source port.
    const t = v6
      ? { src, dst, sport: i & 0xffff, dport: 443, proto: 6 }
      : {
          src: new Uint8Array([10, (i >>> 16) & 0xff, (i >>> 8) & 0xff, i & 0xff]),
          dst: new Uint8Array([192, 168, rng.u32() & 0xff, rng.u32() & 0xff]),
          sport: (i >>> 24) + 1024 + (rng.u32() & 0x3fff) * 2,
          dport: [53, 80, 443, 8080][rng.u32() & 3],
          proto: (rng.u32() & 1) === 0 ? 6 : 17,
        };
    flowKey(t, keys, i * 40);
    hashKeyInto(keys, h, 0, i * 40, 40);
    hi[i] = h[0];
    lo[i] = h[1];
  }
  return { keys, hi, lo, count: n };
}

/** A stream of `packets` flow indices over `flows` flows, drawn from the named distribution. */
export function makeStream(name: DatasetName, flows: number, packets: number, rng: Rng): Uint32Array {
  const out = new Uint32Array(packets);
  if (name === 'uniform') {
    for (let i = 0; i < packets; i++) out[i] = rng.int(flows);
  } else if (name === 'zipf-1.1' || name === 'zipf-1.5') {
    const zipf = new Zipf(flows, name === 'zipf-1.1' ? 1.1 : 1.5);
    // Ranks are mapped through a fixed permutation so heavy flows are not the first keys.
    const perm = new Uint32Array(flows);
    for (let i = 0; i < flows; i++) perm[i] = i;
    for (let i = flows - 1; i > 0; i--) {
      const j = rng.int(i + 1);
      const t = perm[i];
      perm[i] = perm[j];
      perm[j] = t;
    }
    for (let i = 0; i < packets; i++) out[i] = perm[zipf.sample(rng)];
  } else {
    // 20 elephants carry 60 % of packets; the rest are mice spread uniformly over the remaining flows.
    const elephants = 20;
    for (let i = 0; i < packets; i++)
      out[i] = rng.next() < 0.6 ? rng.int(elephants) : elephants + rng.int(flows - elephants);
  }
  return out;
}

/** Exact packets per flow of a stream. */
export function countStream(stream: Uint32Array, flows: number): Float64Array {
  const c = new Float64Array(flows);
  for (let i = 0; i < stream.length; i++) c[stream[i]]++;
  return c;
}

/** A packet size in bytes for packet i of flow f (deterministic, 64 … 1500). */
export function packetBytes(f: number, i: number): number {
  return 64 + (((imul(f, 2654435761) ^ imul(i, 40503)) >>> 0) % 1437);
}
