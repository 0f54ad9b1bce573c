// A complete, valid SketchSnapshot for tests and examples. Sketch blobs are deterministic pseudo-random bytes
// (opaque to this library); pass real serialized sketches through `overrides` where they matter.
import type { Candidate, SketchSnapshot } from '../generated/schemas.generated';
import { NO_SYN_FLAGS } from '../syn-flags';

/** Deterministic bytes (xorshift32) so fixtures and snapshots compare equal across runs. */
export function sampleBytes(length: number, seed = 1): Buffer {
  const out = Buffer.alloc(length);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

/** Canonical 40-byte flow key for an IPv4 5-tuple (sketch specification layout; ports in network byte order). */
export function sampleFlowKey(
  src: [number, number, number, number],
  dst: [number, number, number, number],
  sport: number,
  dport: number,
  protocol: number,
): Buffer {
  const key = Buffer.alloc(40);
  key[10] = 0xff;
  key[11] = 0xff;
  key.set(src, 12);
  key[26] = 0xff;
  key[27] = 0xff;
  key.set(dst, 28);
  key.writeUInt16BE(sport, 32);
  key.writeUInt16BE(dport, 34);
  key[36] = protocol;
  key[37] = 0; // flow domain
  return key;
}

export function sampleSnapshot(overrides: Partial<SketchSnapshot> = {}): SketchSnapshot {
  const candidates: Candidate[] = [
    {
      key: sampleFlowKey([10, 0, 0, 1], [10, 0, 0, 2], 40000, 443, 6),
      packets: 120_000,
      bytes: 150_000_000,
      sincePackets: 119_950,
      sinceBytes: 149_940_000,
    },
    {
      key: sampleFlowKey([10, 0, 0, 3], [192, 0, 2, 53], 53000, 53, 17),
      packets: 4_000,
      bytes: 320_000,
      sincePackets: 3_960,
      sinceBytes: 316_800,
    },
  ];
  return {
    hostId: 'host-a',
    agentId: 'agent-3f2a',
    agentVersion: '0.1.0',
    bootId: '6c1f9e2e-5b0b-4d4e-9d7e-2f0c8a1b7c55',
    sequence: 42,
    intervalStartMs: 1_767_225_600_000,
    intervalEndMs: 1_767_225_610_000,
    interfaces: [
      { ifname: 'eth0', ifindex: 2, hook: 'TC', direction: 'INGRESS' },
      { ifname: 'eth0', ifindex: 2, hook: 'TC', direction: 'EGRESS' },
    ],
    samplingRate: 1,
    synFlags: NO_SYN_FLAGS,
    // Values of the sketch specification v1 (libs/sketch/spec/sketch-spec.json); a test keeps them in step.
    sketchSpec: {
      specVersion: 1,
      hashName: 'tma-nh64-v1',
      seedHash: 0xc7bf3614,
      cmsDepth: 4,
      cmsWidth: 4096,
      hllPrecision: 14,
    },
    cmsPackets: sampleBytes(96, 1),
    cmsBytes: sampleBytes(96, 2),
    hllFlows: sampleBytes(48, 3),
    hllSources: sampleBytes(48, 4),
    hllDestinations: sampleBytes(48, 5),
    hllDestinationPorts: sampleBytes(48, 6),
    candidates,
    totals: {
      packets: 124_100,
      bytes: 150_330_000,
      protocols: [
        { protocol: 6, packets: 120_050, bytes: 150_005_000 },
        { protocol: 17, packets: 4_050, bytes: 325_000 },
      ],
    },
    parseErrors: [{ reason: 'truncated-l4', count: 3 }],
    candidateEvictions: 7,
    spoolDrops: 0,
    candidateBounds: true,
    candidateFloorPackets: 63,
    candidateFloorBytes: 94_500,
    candidateThreshold: 32,
    evictedPackets: 310,
    evictedBytes: 24_800,
    spreadSketch: Buffer.alloc(0),
    prefixCounts: true,
    heavyPrefixes: [
      {
        side: 1,
        family: 4,
        length: 24,
        prefix: Buffer.from([198, 51, 100, 0]),
        packets: 2_100,
        bytes: 180_000,
        sincePackets: 1_990,
        sinceBytes: 171_000,
      },
    ],
    prefixFloors: [{ side: 1, family: 4, length: 24, packets: 110, bytes: 9_000 }],
    ...overrides,
  };
}
