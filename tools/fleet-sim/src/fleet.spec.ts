import { decode } from '@tma/schema';
import { decodeCountMinSketch, decodeHyperLogLog, toHex } from '@tma/sketch';
import { FleetSimulator, windowOf } from './fleet';
import { Rng, Zipf } from '@tma/sketch/testing';

describe('fleet simulator', () => {
  it('is deterministic for a seed', () => {
    const a = new FleetSimulator({ hosts: 5, seed: 7, startMs: 0 }).nextRound();
    const b = new FleetSimulator({ hosts: 5, seed: 7, startMs: 0 }).nextRound();
    const c = new FleetSimulator({ hosts: 5, seed: 8, startMs: 0 }).nextRound();
    expect(a.map((m) => m.value.toString('hex'))).toEqual(b.map((m) => m.value.toString('hex')));
    expect(a[0].value.equals(c[0].value)).toBe(false);
  });

  it('publishes real snapshots whose sketches and totals agree with the ground truth', () => {
    const sim = new FleetSimulator({ hosts: 20, seed: 3, startMs: 1_767_225_600_000, intervalMs: 10_000 });
    let packets = 0;
    let bytes = 0;
    const seqs = new Map<string, number[]>();
    for (let r = 0; r < 7; r++) {
      for (const m of sim.nextRound()) {
        const { snapshot: s } = decode(m.value);
        expect(m.key).toBe(s.hostId);
        const cms = decodeCountMinSketch(s.cmsPackets);
        expect(cms.total).toBe(s.totals.packets);
        expect(decodeCountMinSketch(s.cmsBytes).total).toBe(s.totals.bytes);
        expect(s.totals.protocols.reduce((t, p) => t + p.packets, 0)).toBe(s.totals.packets);
        expect(decodeHyperLogLog(s.hllFlows).estimate()).toBeGreaterThan(0);
        for (const c of s.candidates) expect(cms.estimateKey(c.key)).toBeGreaterThanOrEqual(c.packets);
        packets += s.totals.packets;
        bytes += s.totals.bytes;
        seqs.set(s.hostId, [...(seqs.get(s.hostId) ?? []), s.sequence]);
      }
    }
    const t = sim.truth.totals();
    expect(t).toEqual({ packets, bytes, snapshots: 140 });
    for (const list of seqs.values()) expect(list).toEqual([0, 1, 2, 3, 4, 5, 6]);
    // 7 intervals of 10 s from a minute boundary: 6 end inside the first minute, the 7th in the second.
    expect(sim.truth.windowStarts()).toEqual([1_767_225_600_000, 1_767_225_660_000]);
    expect(sim.truth.windows.get(1_767_225_600_000)!.snapshots).toBe(120);
  });

  it('shares heavy hitters across hosts, at the top of the ground truth', () => {
    const sim = new FleetSimulator({ hosts: 30, seed: 5, startMs: 0 });
    sim.nextRound();
    const top = sim.truth.topFlows(0, 3);
    expect(top.map((f) => f.hex)).toEqual(sim.heavyHitterKeys.slice(0, 3));
    expect(toHex(top[0].key)).toBe(top[0].hex);
  });

  it('windows an interval by its end', () => {
    expect(windowOf(60_000, 60_000)).toBe(0);
    expect(windowOf(60_001, 60_000)).toBe(60_000);
  });

  it('draws Zipf ranks with the right weights', () => {
    const z = new Zipf(100, 1.1);
    const rng = new Rng(1);
    const hits = new Array(100).fill(0);
    for (let i = 0; i < 100_000; i++) hits[z.sample(rng)]++;
    expect(hits[0] / 100_000).toBeCloseTo(z.weight(0), 2);
    expect(hits[0]).toBeGreaterThan(hits[1]);
  });
});
