// Synthetic fleet windows for the detector tests: real sketches (CMS, HLLs, candidates admitted at the kernel's
// threshold) built from a list of flows per host, a benign Zipf mix per host, and attack traffic to add to it.
import { CandidateBlock, unionBlocks } from '@tma/rollup';
import {
  CAND_THRESHOLD_DEFAULT,
  CountMinSketch,
  HyperLogLog,
  SpreadSketch,
  SynCounts,
  dstKey,
  flowKey,
  portsKey,
  srcKey,
} from '@tma/sketch';
import { Rng, Zipf } from '@tma/sketch/testing';
import type { HostGroup, WindowData } from './window';

export interface SimFlow {
  host: string;
  src: string;
  dst: string;
  sport: number;
  dport: number;
  proto: number;
  packets: number;
  /**
   * TCP: how many of the packets are SYNs (default: one connection per 50 packets, each SYN answered by a SYN-ACK and
   * the rest ACKs); with `syn` set, `synAck` SYN-ACKs answer them (default 0: a spoofed flood) and the rest are ACKs.
   */
  syn?: number;
  synAck?: number;
}

/** The kernel's SYN candidate minimum (bpf/include/tma_types.h TMA_SYN_CAND_MIN). */
const SYN_CAND_MIN = 16;

export const WINDOW_MS = 60_000;

function distinct() {
  return { sources: new HyperLogLog(), destinations: new HyperLogLog(), ports: new HyperLogLog() };
}

/** A fleet window as the aggregator would merge it: one host group per host (one host per partition). */
export function buildWindow(windowStart: number, flows: readonly SimFlow[]): WindowData {
  const cms = new CountMinSketch();
  const fleet = { flows: new HyperLogLog(), ...distinct() };
  const hosts = new Map<string, { packets: number; bytes: number }>();
  const perHost = new Map<
    string,
    {
      packets: number;
      d: ReturnType<typeof distinct>;
      cands: Map<string, SimFlow>;
      spread: SpreadSketch;
      syn: SynCounts;
      synTo: Map<string, number>;
    }
  >();
  const fleetSyn = new SynCounts();
  let packets = 0;
  for (const f of flows) {
    const key = flowKey(f);
    cms.addKey(key, f.packets);
    packets += f.packets;
    const t = hosts.get(f.host) ?? { packets: 0, bytes: 0 };
    t.packets += f.packets;
    t.bytes += f.packets * 500;
    hosts.set(f.host, t);
    const g = perHost.get(f.host) ?? {
      packets: 0,
      d: distinct(),
      cands: new Map(),
      spread: new SpreadSketch(),
      syn: new SynCounts(),
      synTo: new Map<string, number>(),
    };
    g.spread.add(f.src, f.dst, f.dport, f.proto);
    if (f.proto === 6) {
      const syn = f.syn ?? Math.max(1, Math.round(f.packets / 50));
      const synAck = f.syn === undefined ? syn : (f.synAck ?? 0);
      g.syn.add(f.dst, 'syn', syn);
      g.syn.add(f.dst, 'synAck', synAck);
      g.syn.add(f.dst, 'ack', Math.max(0, f.packets - syn));
      const to = (g.synTo.get(f.dst) ?? 0) + syn;
      g.synTo.set(f.dst, to);
      if (to >= SYN_CAND_MIN) g.syn.addCandidate(f.dst);
    }
    g.packets += f.packets;
    perHost.set(f.host, g);
    fleet.flows.addKey(key);
    for (const d of [fleet, g.d]) {
      d.sources.addKey(srcKey(f.src));
      d.destinations.addKey(dstKey(f.dst));
      d.ports.addKey(portsKey(f.dport, f.proto));
    }
    if (f.packets >= CAND_THRESHOLD_DEFAULT) {
      const k = Buffer.from(key).toString('hex');
      const was = g.cands.get(k);
      g.cands.set(k, { ...f, packets: f.packets + (was?.packets ?? 0) });
    }
  }
  const groups: HostGroup[] = [...perHost].map(([host, g]) => ({
    hosts: [host],
    packets: g.packets,
    distinct: g.d,
    candidates: CandidateBlock.from(
      [...g.cands.values()].map((f) => ({ key: flowKey(f), packets: f.packets, bytes: f.packets * 500 })),
    ),
    spread: g.spread,
    syn: g.syn,
  }));
  const spread = new SpreadSketch();
  for (const g of groups) spread.merge(g.spread!);
  for (const g of groups) fleetSyn.merge(g.syn!);
  return {
    windowStart,
    windowMs: WINDOW_MS,
    packets,
    bytes: packets * 500,
    cmsPackets: cms,
    distinct: fleet,
    candidates: unionBlocks(groups.map((g) => g.candidates)),
    hosts,
    groups,
    spread,
    syn: fleetSyn,
  };
}

const PORTS = [443, 80, 53, 22, 8080, 5432, 6379, 123, 3306, 25];

/** A benign fleet: each host has a pool of flows whose popularity is Zipf(s); per window a random volume. */
export class BenignFleet {
  private readonly pools: { host: string; flows: Omit<SimFlow, 'packets'>[] }[] = [];
  private readonly zipf: Zipf;
  readonly rng: Rng;

  constructor(
    seed: number,
    readonly hostCount = 8,
    readonly poolSize = 200,
    readonly packetsPerHost = 50_000,
    s = 1.1,
  ) {
    this.rng = new Rng(seed);
    this.zipf = new Zipf(poolSize, s);
    for (let i = 0; i < hostCount; i++) {
      const host = `host-${i}`;
      const flows: Omit<SimFlow, 'packets'>[] = [];
      for (let j = 0; j < poolSize; j++)
        flows.push({
          host,
          src: `10.0.${i}.${1 + (j % 5)}`,
          dst: `198.18.${this.rng.int(8)}.${1 + this.rng.int(250)}`,
          sport: 32_768 + this.rng.int(28_000),
          dport: PORTS[Math.min(PORTS.length - 1, Math.floor(-Math.log(1 - this.rng.next()) * 2))],
          proto: 6,
        });
      this.pools.push({ host, flows });
    }
  }

  /** One window of benign traffic: every host draws its volume (0.7–1.3×) and spreads it over its pool by Zipf. */
  flows(): SimFlow[] {
    const out: SimFlow[] = [];
    for (const p of this.pools) {
      const total = Math.round(this.packetsPerHost * (0.7 + 0.6 * this.rng.next()));
      const counts = new Map<number, number>();
      // Most packets by weight, the rest sampled so the tail changes from window to window.
      for (let j = 0; j < this.poolSize; j++) counts.set(j, Math.floor(total * 0.9 * this.zipf.weight(j)));
      for (let k = 0; k < total * 0.1; k += 10) {
        const j = this.zipf.sample(this.rng);
        counts.set(j, (counts.get(j) ?? 0) + 10);
      }
      for (const [j, n] of counts) if (n > 0) out.push({ ...p.flows[j], packets: n });
    }
    return out;
  }
}
