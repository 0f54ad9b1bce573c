// Exact counts behind synthetic traffic: what a host's or a window's sketches estimate, counted without error, so
// tests can hold every estimate against the truth.

export interface Counts {
  packets: number;
  bytes: number;
}

/** Adds packets and bytes to the entry `key` of `map` (created at zero). */
export function addCounts<K>(map: Map<K, Counts>, key: K, packets: number, bytes: number): Counts {
  let c = map.get(key);
  if (!c) {
    c = { packets: 0, bytes: 0 };
    map.set(key, c);
  }
  c.packets += packets;
  c.bytes += bytes;
  return c;
}

/**
 * Totals of a set of flows: packets and bytes overall and per IP protocol, and the distinct sources, destinations
 * and (destination port, protocol) pairs the HLLs estimate, each identified by any string unique to it.
 */
export class TrafficTally {
  packets = 0;
  bytes = 0;
  readonly protocols = new Map<number, Counts>();
  readonly distinctSources = new Set<string>();
  readonly distinctDestinations = new Set<string>();
  readonly distinctPorts = new Set<string>();

  /** Counts `packets` packets of `bytes` bytes of one flow. */
  add(flow: { proto: number; src: string; dst: string; dport: string }, packets: number, bytes: number): void {
    this.packets += packets;
    this.bytes += bytes;
    addCounts(this.protocols, flow.proto, packets, bytes);
    this.distinctSources.add(flow.src);
    this.distinctDestinations.add(flow.dst);
    this.distinctPorts.add(flow.dport);
  }
}
