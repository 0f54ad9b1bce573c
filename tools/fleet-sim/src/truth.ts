// Exact counts behind the simulated snapshots, per window (the aggregator's windowing rule: by interval end).
import { TrafficTally } from '@tma/sketch/testing';

/** What the truth needs to know of a flow. */
export interface TruthFlow {
  key: Uint8Array;
  hex: string;
  proto: number;
  pktBytes: number;
  src: [number, number];
  dst: [number, number];
  dport: [number, number];
}

export interface FlowCount {
  key: Uint8Array;
  packets: number;
  bytes: number;
}

/** One window's exact counts (sources, destinations and ports by hash pair, flows by canonical key as hex). */
export class WindowTruth extends TrafficTally {
  snapshots = 0;
  readonly hosts = new Map<string, { packets: number; bytes: number; snapshots: number }>();
  readonly flows = new Map<string, FlowCount>();

  constructor(readonly windowStart: number) {
    super();
  }
}

const id = (h: [number, number]) => `${h[0]}:${h[1]}`;

export class GroundTruth {
  readonly windows = new Map<number, WindowTruth>();

  constructor(readonly windowMs: number) {}

  /** Adds one host's interval (flow → packets) to the window it falls in. */
  record(windowStart: number, hostId: string, counts: Map<TruthFlow, number>): void {
    let w = this.windows.get(windowStart);
    if (!w) {
      w = new WindowTruth(windowStart);
      this.windows.set(windowStart, w);
    }
    w.snapshots++;
    const h = w.hosts.get(hostId) ?? { packets: 0, bytes: 0, snapshots: 0 };
    h.snapshots++;
    w.hosts.set(hostId, h);
    for (const [f, p] of counts) {
      const b = p * f.pktBytes;
      w.add({ proto: f.proto, src: id(f.src), dst: id(f.dst), dport: id(f.dport) }, p, b);
      h.packets += p;
      h.bytes += b;
      const fc = w.flows.get(f.hex);
      if (fc) {
        fc.packets += p;
        fc.bytes += b;
      } else {
        w.flows.set(f.hex, { key: f.key, packets: p, bytes: b });
      }
    }
  }

  /** Window starts in time order. */
  windowStarts(): number[] {
    return [...this.windows.keys()].sort((a, b) => a - b);
  }

  /** Packets and bytes over every window. */
  totals(): { packets: number; bytes: number; snapshots: number } {
    let packets = 0;
    let bytes = 0;
    let snapshots = 0;
    for (const w of this.windows.values()) {
      packets += w.packets;
      bytes += w.bytes;
      snapshots += w.snapshots;
    }
    return { packets, bytes, snapshots };
  }

  /** The window's flows ranked by packets (or bytes), as hex keys with exact counts. */
  topFlows(windowStart: number, k: number, by: 'packets' | 'bytes' = 'packets'): (FlowCount & { hex: string })[] {
    const w = this.windows.get(windowStart);
    if (!w) return [];
    return [...w.flows]
      .map(([hex, f]) => ({ hex, ...f }))
      .sort((a, b) => b[by] - a[by])
      .slice(0, k);
  }
}
