// A synthetic kernel read-out built with libs/sketch, for tests that need snapshots but no kernel.
import {
  CountMinSketch,
  HyperLogLog,
  PrefixCounts,
  SpreadSketch,
  flowKeyPrefixes,
  portsKey,
  dstKey,
  flowKey,
  srcKey,
} from '@tma/sketch';
import { ERR_COUNT, HllKind, IF_SLOTS, PROTOCOLS, type EpochRead } from '@tma/kernel';

export function syntheticRead(flows: { sport: number; packets: number; bytesEach: number }[]): EpochRead {
  const cp = new CountMinSketch();
  const cb = new CountMinSketch();
  const hll = [new HyperLogLog(), new HyperLogLog(), new HyperLogLog(), new HyperLogLog()];
  const protoPackets = new Float64Array(PROTOCOLS);
  const protoBytes = new Float64Array(PROTOCOLS);
  const candidates: EpochRead['candidates'] = [];
  const spread = new SpreadSketch();
  const prefixes = new PrefixCounts();
  let packets = 0;
  let bytes = 0;
  for (const f of flows) {
    const t = { src: '198.18.0.2', dst: '198.18.0.1', sport: f.sport, dport: 443, proto: 6 };
    const key = flowKey(t);
    cp.addKey(key, f.packets);
    cb.addKey(key, f.packets * f.bytesEach);
    hll[HllKind.Flows].addKey(key);
    hll[HllKind.Sources].addKey(srcKey(t.src));
    hll[HllKind.Destinations].addKey(dstKey(t.dst));
    hll[HllKind.Ports].addKey(portsKey(t.dport, t.proto));
    spread.add(t.src, t.dst, t.dport, t.proto);
    // prefix counts exact: every prefix fits its table here
    for (const p of flowKeyPrefixes(key)) {
      const b = f.packets * f.bytesEach;
      prefixes.put({ ...p, packets: f.packets, bytes: b, sincePackets: f.packets, sinceBytes: b });
    }
    protoPackets[6] += f.packets;
    protoBytes[6] += f.packets * f.bytesEach;
    packets += f.packets;
    bytes += f.packets * f.bytesEach;
    // as the kernel's table: a flow enters at its 32nd packet with its estimate (32, alone in its cells) as slack
    if (f.packets >= 32)
      candidates.push({
        key,
        packets: f.packets,
        bytes: f.packets * f.bytesEach,
        sincePackets: f.packets - 32,
        sinceBytes: (f.packets - 32) * f.bytesEach,
      });
  }
  const errors = new Float64Array(ERR_COUNT);
  errors[9] = 3;
  return {
    copy: 0,
    generation: 0,
    totals: {
      packets: packets + 3,
      bytes: bytes + 60,
      nonIpPackets: 0,
      nonIpBytes: 0,
      errorPackets: 3,
      errorBytes: 60,
      candInserts: candidates.length,
      candEvictions: 2,
      candEvictedPackets: 0,
      candEvictedBytes: 0,
      pulls: 0,
    },
    protoPackets,
    protoBytes,
    errors,
    // everything arrived on the interface in slot 1
    ifPackets: Float64Array.from({ length: 2 * IF_SLOTS }, (_, i) => (i === 2 ? packets + 3 : 0)),
    ifBytes: Float64Array.from({ length: 2 * IF_SLOTS }, (_, i) => (i === 2 ? bytes + 60 : 0)),
    prefixes,
    cmsPackets: Float64Array.from(cp.cells),
    cmsBytes: Float64Array.from(cb.cells),
    hll: hll.map((h) => h.registers.slice()),
    candidates,
    candidateFloor: { packets: 31, bytes: 31 * Math.max(0, ...flows.map((f) => f.bytesEach)), thresholdPackets: 32 },
    spread,
    readMs: 0.5,
    barrierMs: 0.2,
  };
}
