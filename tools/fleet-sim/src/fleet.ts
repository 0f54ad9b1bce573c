// A fleet of virtual hosts: each owns a pool of flows and, every interval, sends Zipf-distributed traffic over some
// of them plus a share over heavy-hitter flows that every host sees. Each host's interval becomes a real snapshot
// (libs/sketch sketches, libs/schema Avro framing) exactly as an edge agent would publish it, and the exact counts
// behind it are kept as ground truth, by the same windowing rule the aggregator uses.
import { windowOf } from '@tma/rollup';
import {
  flowKeyPrefixes,
  PrefixCounts,
  prefixCountsToWire,
  CAND_NOISE_SHIFT_DEFAULT,
  CAND_SLOTS,
  CAND_THRESHOLD_DEFAULT,
  CMS_WIDTH,
  MAX_FRAME_BYTES,
  CountMinSketch,
  declaredSpec,
  HyperLogLog,
  portsKey,
  dstKey,
  encodeSnapshotSketches,
  flowKey,
  hashKeyInto,
  parseAddress,
  srcKey,
  toHex,
  SpreadSketch,
  encodeSpread,
} from '@tma/sketch';
import { Rng, Zipf, withDefaults } from '@tma/sketch/testing';
import { NO_SYN_FLAGS, encode, type SketchSnapshot } from '@tma/schema';
import { GroundTruth, type TruthFlow } from './truth';

export interface FleetOptions {
  /** Virtual hosts (default 1,000). */
  hosts?: number;
  /** PRNG seed: same seed, same fleet and traffic. */
  seed?: number;
  /** Snapshot interval (default 10 s). */
  intervalMs?: number;
  /** Start of the first interval, epoch ms (default: now, rounded down to the interval). */
  startMs?: number;
  /** Flows each host owns (default 128). */
  poolSize?: number;
  /** Distinct pool flows a host sends on per interval (default 32). */
  flowsPerInterval?: number;
  /** Mean packets per host per interval (default 20,000; each host draws 0.5–1.5×). */
  packetsPerInterval?: number;
  /** Heavy-hitter flows shared by every host (default 16). */
  heavyHitters?: number;
  /** Share of each host's packets on the shared heavy hitters (default 0.3). */
  heavyShare?: number;
  /** Zipf exponent of flow popularity (default 1.1). */
  zipfS?: number;
  /** Window width the ground truth is kept by (default 60 s, the aggregator's default). */
  windowMs?: number;
  /** Keep ground truth (default true; benchmarks turn it off). */
  truth?: boolean;
  /** Host id prefix (default "sim-host-"). */
  hostPrefix?: string;
}

/** Traffic added to a host's interval on top of its own mix (attack scenarios): a 5-tuple and its packets. */
export interface ExtraFlow {
  src: string;
  dst: string;
  sport: number;
  dport: number;
  proto: number;
  packets: number;
  /** Bytes per packet (default 100). */
  pktBytes?: number;
}

/** One message as it goes on the wire: Kafka key = host id, value = framed Avro snapshot. */
export interface SimMessage {
  key: string;
  value: Buffer;
  hostId: string;
  sequence: number;
  intervalEndMs: number;
}

interface PoolFlow extends TruthFlow {
  /** Hash of the flow key. */
  flow: [number, number];
}

interface Host {
  id: string;
  bootId: string;
  agentId: string;
  sequence: number;
  rng: Rng;
  pool: PoolFlow[];
}

const PORTS = [443, 80, 53, 22, 8080, 5432, 6379, 9092, 123, 3306, 8443, 25, 993, 5671, 11211, 27017];

const scratch = new Uint32Array(2);
function hashPair(key: Uint8Array): [number, number] {
  hashKeyInto(key, scratch);
  return [scratch[0], scratch[1]];
}

const ip4 = (a: number, b: number, c: number, d: number) => Uint8Array.of(a, b, c, d);
const addrScratch = new Uint8Array(24);
const portScratch = new Uint8Array(8);

const big = (h: [number, number]): bigint => (BigInt(h[0] >>> 0) << 32n) | BigInt(h[1] >>> 0);

function makeFlow(
  src: Uint8Array,
  dst: Uint8Array,
  sport: number,
  dport: number,
  proto: number,
  pktBytes: number,
): PoolFlow {
  const key = flowKey({ src, dst, sport, dport, proto });
  return {
    key,
    hex: toHex(key),
    proto,
    pktBytes,
    flow: hashPair(key),
    src: hashPair(srcKey(src, addrScratch)),
    dst: hashPair(dstKey(dst, addrScratch)),
    dport: hashPair(portsKey(dport, proto, portScratch)),
  };
}

/** The aggregator's windowing rule, so the ground truth is kept per the same windows. */
export { windowOf };

export class FleetSimulator {
  readonly options: Required<FleetOptions>;
  readonly truth: GroundTruth;
  private readonly hosts: Host[] = [];
  private readonly heavy: PoolFlow[] = [];
  private readonly flowZipf: Zipf;
  private readonly heavyZipf: Zipf;
  private round = 0;
  /** Extra flows per host and round, from the next round on (null: none); recorded in the ground truth too. */
  extraTraffic: ((hostId: string, round: number) => readonly ExtraFlow[]) | null = null;
  // One set of sketches reused for every host (cleared between hosts): no per-snapshot allocation of 330 KB.
  private readonly cmsP = new CountMinSketch();
  private readonly cmsB = new CountMinSketch();
  private readonly hllFlows = new HyperLogLog();
  private readonly hllSources = new HyperLogLog();
  private readonly hllDestinations = new HyperLogLog();
  private readonly hllPorts = new HyperLogLog();
  private spread = new SpreadSketch();

  constructor(options: FleetOptions = {}) {
    const intervalMs = options.intervalMs ?? 10_000;
    this.options = withDefaults<Required<FleetOptions>>(options, {
      hosts: 1000,
      seed: 1,
      intervalMs,
      startMs: Math.floor(Date.now() / intervalMs) * intervalMs,
      poolSize: 128,
      flowsPerInterval: 32,
      packetsPerInterval: 20_000,
      heavyHitters: 16,
      heavyShare: 0.3,
      zipfS: 1.1,
      windowMs: 60_000,
      truth: true,
      hostPrefix: 'sim-host-',
    });
    const o = this.options;
    if (!Number.isInteger(o.hosts) || o.hosts < 1 || o.hosts > 65_000)
      throw new RangeError(`hosts must be in 1..65000, got ${o.hosts}`);
    if (o.flowsPerInterval > o.poolSize) throw new RangeError('flowsPerInterval cannot exceed poolSize');
    if (!(o.heavyShare >= 0 && o.heavyShare < 1)) throw new RangeError('heavyShare must be in [0, 1)');
    this.truth = new GroundTruth(o.windowMs);
    this.flowZipf = new Zipf(o.poolSize, o.zipfS);
    this.heavyZipf = new Zipf(Math.max(1, o.heavyHitters), o.zipfS);
    const root = new Rng(o.seed);
    const hhRng = root.fork(0xfeed);
    for (let j = 0; j < o.heavyHitters; j++) {
      this.heavy.push(
        makeFlow(
          ip4(172, 16, j >> 8, j & 255),
          ip4(203, 0, 113, (j % 250) + 1),
          40_000 + j,
          j % 3 === 0 ? 443 : 80,
          6,
          hhRng.between(600, 1500),
        ),
      );
    }
    for (let h = 0; h < o.hosts; h++) {
      const rng = root.fork(h);
      const a = 1 + (h >> 8);
      const b = h & 255;
      const ip = ip4(10, a, b, 1 + (h % 200));
      const pool: PoolFlow[] = [];
      const seen = new Set<string>();
      while (pool.length < o.poolSize) {
        const r = rng.next();
        const proto = r < 0.7 ? 6 : r < 0.95 ? 17 : 1;
        const dst = ip4(198, 18 + rng.between(0, 1), rng.between(0, 255), rng.between(1, 254));
        const sport = proto === 1 ? 8 : rng.between(32_768, 60_999);
        const dport = proto === 1 ? 0 : PORTS[Math.min(PORTS.length - 1, Math.floor(-Math.log(1 - rng.next()) * 3))];
        const f = makeFlow(ip, dst, sport, dport, proto, proto === 17 ? rng.between(64, 512) : rng.between(64, 1500));
        if (seen.has(f.hex)) continue;
        seen.add(f.hex);
        pool.push(f);
      }
      const hex = (n: number) => n.toString(16).padStart(8, '0');
      const x = rng.u32();
      this.hosts.push({
        id: `${o.hostPrefix}${String(h).padStart(5, '0')}`,
        bootId: `${hex(x)}-${hex(rng.u32()).slice(0, 4)}-4${hex(rng.u32()).slice(0, 3)}-8${hex(rng.u32()).slice(0, 3)}-${hex(rng.u32())}${hex(x).slice(0, 4)}`,
        agentId: `agent-${hex(rng.u32())}`,
        sequence: 0,
        rng,
        pool,
      });
    }
  }

  get hostIds(): string[] {
    return this.hosts.map((h) => h.id);
  }

  /** Shared heavy-hitter flows (canonical keys as hex), most popular first. */
  get heavyHitterKeys(): string[] {
    return this.heavy.map((f) => f.hex);
  }

  /** Intervals generated so far. */
  get rounds(): number {
    return this.round;
  }

  /** One interval of every host: a snapshot per host, in host order. */
  nextRound(): SimMessage[] {
    const out: SimMessage[] = [];
    for (let i = 0; i < this.hosts.length; i++) out.push(this.hostSnapshot(i));
    this.round++;
    return out;
  }

  /** Snapshot objects before encoding (for tests that want to alter fields). */
  nextRoundSnapshots(): SketchSnapshot[] {
    const out: SketchSnapshot[] = [];
    for (let i = 0; i < this.hosts.length; i++) out.push(this.buildSnapshot(i));
    this.round++;
    return out;
  }

  private hostSnapshot(i: number): SimMessage {
    const snap = this.buildSnapshot(i);
    return {
      key: snap.hostId,
      value: encode(snap),
      hostId: snap.hostId,
      sequence: snap.sequence,
      intervalEndMs: snap.intervalEndMs,
    };
  }

  private buildSnapshot(i: number): SketchSnapshot {
    const o = this.options;
    const host = this.hosts[i];
    const rng = host.rng;
    const startMs = o.startMs + this.round * o.intervalMs;
    const endMs = startMs + o.intervalMs;
    const total = Math.max(1, Math.round(o.packetsPerInterval * (0.5 + rng.next())));
    const heavyPackets = Math.round(total * o.heavyShare);

    // Flows and their packets this interval.
    const counts = new Map<PoolFlow, number>();
    const chosen = new Set<number>();
    for (let tries = 0; chosen.size < o.flowsPerInterval && tries < o.flowsPerInterval * 20; tries++)
      chosen.add(this.flowZipf.sample(rng));
    let wsum = 0;
    for (const k of chosen) wsum += this.flowZipf.weight(k);
    const rest = total - heavyPackets;
    for (const k of chosen) {
      const p = Math.max(1, Math.round((rest * this.flowZipf.weight(k)) / wsum));
      counts.set(host.pool[k], p);
    }
    for (let j = 0; j < this.heavy.length && heavyPackets > 0; j++) {
      const p = Math.round(heavyPackets * this.heavyZipf.weight(j) * (0.8 + 0.4 * rng.next()));
      if (p > 0) counts.set(this.heavy[j], p);
    }

    for (const x of this.extraTraffic?.(host.id, this.round) ?? []) {
      const f = makeFlow(parseAddress(x.src), parseAddress(x.dst), x.sport, x.dport, x.proto, x.pktBytes ?? 100);
      counts.set(f, x.packets);
    }

    const cmsP = this.cmsP;
    const cmsB = this.cmsB;
    cmsP.clear();
    cmsB.clear();
    this.hllFlows.clear();
    this.hllSources.clear();
    this.hllDestinations.clear();
    this.hllPorts.clear();
    this.spread = new SpreadSketch();
    let packets = 0;
    let bytes = 0;
    const protos = new Map<number, { packets: number; bytes: number }>();
    for (const [f, p] of counts) {
      const b = p * f.pktBytes;
      packets += p;
      bytes += b;
      cmsP.add(f.flow[0], f.flow[1], p);
      cmsB.add(f.flow[0], f.flow[1], b);
      this.hllFlows.add(f.flow[0], f.flow[1]);
      this.hllSources.add(f.src[0], f.src[1]);
      this.hllDestinations.add(f.dst[0], f.dst[1]);
      this.hllPorts.add(f.dport[0], f.dport[1]);
      // per-source spreads, as the kernel adds them (the canonical source address is the key's first 16 bytes)
      this.spread.addHashed(f.key.subarray(0, 16), big(f.src), big(f.dst), big(f.dport));
      const pt = protos.get(f.proto) ?? { packets: 0, bytes: 0 };
      pt.packets += p;
      pt.bytes += b;
      protos.set(f.proto, pt);
    }
    const { candidates, floor, threshold } = kernelCandidates(counts, cmsP, cmsB, packets);

    const snapshot: SketchSnapshot = {
      hostId: host.id,
      agentId: host.agentId,
      agentVersion: 'fleet-sim',
      bootId: host.bootId,
      sequence: host.sequence++,
      intervalStartMs: startMs,
      intervalEndMs: endMs,
      interfaces: [{ ifname: 'eth0', ifindex: 2, hook: 'TC', direction: 'INGRESS' }],
      samplingRate: 1,
      sketchSpec: declaredSpec(),
      ...encodeSnapshotSketches({
        cmsPackets: cmsP,
        cmsBytes: cmsB,
        hllFlows: this.hllFlows,
        hllSources: this.hllSources,
        hllDestinations: this.hllDestinations,
        hllDestinationPorts: this.hllPorts,
      }),
      candidates,
      totals: {
        packets,
        bytes,
        protocols: [...protos]
          .sort((a, b) => a[0] - b[0])
          .map(([protocol, t]) => ({ protocol, packets: t.packets, bytes: t.bytes })),
      },
      parseErrors: [],
      candidateEvictions: 0,
      spoolDrops: 0,
      candidateBounds: true,
      candidateFloorPackets: floor.packets,
      candidateFloorBytes: floor.bytes,
      candidateThreshold: threshold,
      // the simulator does not model TCP flags
      synFlags: NO_SYN_FLAGS,
      evictedPackets: 0,
      evictedBytes: 0,
      spreadSketch: Buffer.from(encodeSpread(this.spread)),
      ...kernelPrefixes(counts),
    };
    if (o.truth) {
      this.truth.record(windowOf(endMs, o.windowMs), host.id, counts);
    }
    return snapshot;
  }
}

/**
 * Heavy prefixes as the agent reports them, kept simple: every prefix counted exactly (the kernel's Space-Saving sets
 * give upper and lower bounds around the truth; here both are the truth), cut to the snapshot's prefixes per table,
 * which raises the floors as the agent's cut does.
 */
export function kernelPrefixes(
  counts: Map<PoolFlow, number>,
): Pick<SketchSnapshot, 'prefixCounts' | 'heavyPrefixes' | 'prefixFloors'> {
  const pc = new PrefixCounts();
  for (const [f, p] of counts) {
    const b = p * f.pktBytes;
    for (const x of flowKeyPrefixes(f.key)) pc.put({ ...x, packets: p, bytes: b, sincePackets: p, sinceBytes: b });
  }
  const wire = prefixCountsToWire(pc);
  return {
    prefixCounts: true,
    heavyPrefixes: wire.heavyPrefixes.map((x) => ({ ...x, prefix: Buffer.from(x.prefix) })),
    prefixFloors: wire.prefixFloors,
  };
}

/**
 * Candidates as the kernel's table reports them, not exact counts: a flow enters when its CMS estimate reaches the
 * entry threshold (the configured minimum or twice the mean cell noise), starting at that estimate, and counts
 * exactly from then on. Packets of a flow and of the noise in its cells are taken as spread evenly over the
 * interval, so the flow enters at t = threshold / (its packets + its cells' noise): its upper count is the threshold
 * (the entry estimate) plus what it sends after t; what it sent before t is the slack its since-entry count lacks.
 * The table keeps the CAND_SLOTS largest; the floor bounds every flow it leaves out.
 */
export function kernelCandidates(
  counts: Map<PoolFlow, number>,
  cmsP: CountMinSketch,
  cmsB: CountMinSketch,
  total: number,
): {
  candidates: SketchSnapshot['candidates'];
  floor: { packets: number; bytes: number };
  threshold: number;
} {
  const threshold = Math.max(CAND_THRESHOLD_DEFAULT, Math.floor(total / CMS_WIDTH) * 2 ** CAND_NOISE_SHIFT_DEFAULT);
  const out: SketchSnapshot['candidates'] = [];
  for (const [f, p] of counts) {
    const est = cmsP.estimate(f.flow[0], f.flow[1]);
    if (est < threshold) continue;
    const estB = cmsB.estimate(f.flow[0], f.flow[1]);
    const before = Math.min(p, Math.floor((p * threshold) / est)); // own packets up to the entry
    const entryP = Math.max(threshold, before); // the estimate at entry, never below the flow's own count
    const entryB = Math.max(Math.ceil((estB * entryP) / est), before * f.pktBytes);
    out.push({
      key: Buffer.from(f.key),
      packets: entryP + (p - before),
      bytes: entryB + (p - before) * f.pktBytes,
      sincePackets: p - before,
      sinceBytes: (p - before) * f.pktBytes,
    });
  }
  out.sort((a, b) => b.packets - a.packets);
  const floor = { packets: threshold - 1, bytes: (threshold - 1) * MAX_FRAME_BYTES };
  if (out.length > CAND_SLOTS) {
    for (const c of out.slice(CAND_SLOTS)) {
      floor.packets = Math.max(floor.packets, c.packets);
      floor.bytes = Math.max(floor.bytes, c.bytes);
    }
    out.length = CAND_SLOTS;
  }
  return { candidates: out, floor, threshold };
}
