import { decode, encode } from '@tma/schema';
import { FleetSimulator } from '@tma/fleet-sim';
import {
  CmsWindow,
  CountMinSketch,
  HllWindow,
  HyperLogLog,
  decodeCountMinSketch,
  decodeHyperLogLog,
  encodeCountMinSketch,
  encodeHyperLogLog,
  mergeEncodedCountMinSketch,
  mergeEncodedHyperLogLog,
} from '@tma/sketch';
import { SequenceTracker } from './dedup';
import { windowOf } from '@tma/rollup';
import { WindowMerger } from './window-merger';
import { validateMessage, type ValidSnapshot } from './validate';
import { WindowAccumulator } from './window-accumulator';
import { MERGER_OPTIONS, NOW, T0 } from './merger.fixture';

const opts = MERGER_OPTIONS;

/** The plain path the windows replace: every blob merged into CountMinSketch / HyperLogLog with the JS loops. */
class PlainWindow {
  cmsPackets = new CountMinSketch();
  cmsBytes = new CountMinSketch();
  hll = [new HyperLogLog(), new HyperLogLog(), new HyperLogLog(), new HyperLogLog()];

  add(v: ValidSnapshot): void {
    const s = v.snapshot;
    if (v.scaled) {
      this.cmsPackets.merge(v.scaled.cmsPackets);
      this.cmsBytes.merge(v.scaled.cmsBytes);
    } else {
      mergeEncodedCountMinSketch(this.cmsPackets, s.cmsPackets);
      mergeEncodedCountMinSketch(this.cmsBytes, s.cmsBytes);
    }
    [s.hllFlows, s.hllSources, s.hllDestinations, s.hllDestinationPorts].forEach((b, i) =>
      mergeEncodedHyperLogLog(this.hll[i], b),
    );
  }
}

const bits = (c: CountMinSketch) => Buffer.from(c.cells.buffer, c.cells.byteOffset, c.cells.byteLength);

/**
 * Messages of a small fleet: a third of the hosts send dense blobs, a third sparse ones (both merged from bytes),
 * a third are sampled 1 in 4 (their CMS arrive decoded and scaled).
 */
function messages(rounds: number): Buffer[] {
  const sim = new FleetSimulator({ hosts: 9, seed: 7, startMs: T0, intervalMs: 10_000 });
  const out: Buffer[] = [];
  for (let r = 0; r < rounds; r++) {
    sim.nextRound().forEach((m, i) => {
      const s = decode(m.value).snapshot;
      if (i % 3 === 2) return out.push(encode({ ...s, samplingRate: 4 }));
      const encoding = i % 3 === 0 ? 'dense' : 'sparse';
      const cms = (b: Uint8Array) => Buffer.from(encodeCountMinSketch(decodeCountMinSketch(b), { encoding }));
      const hll = (b: Uint8Array) => Buffer.from(encodeHyperLogLog(decodeHyperLogLog(b), { encoding }));
      out.push(
        encode({
          ...s,
          cmsPackets: cms(s.cmsPackets),
          cmsBytes: cms(s.cmsBytes),
          hllFlows: hll(s.hllFlows),
          hllSources: hll(s.hllSources),
          hllDestinations: hll(s.hllDestinations),
          hllDestinationPorts: hll(s.hllDestinationPorts),
        }),
      );
    });
  }
  return out;
}

describe('WindowAccumulator', () => {
  const values = messages(13);

  it('merges bit-identically to plain CountMinSketch / HyperLogLog windows (dense, sparse and sampled snapshots)', () => {
    const e = new WindowMerger(opts);
    e.assign({ topic: 't', partition: 0, committed: 0, covered: [] });
    const plain = new Map<number, PlainWindow>();
    let sampled = 0;
    values.forEach((value, offset) => {
      const out = e.ingest({ topic: 't', partition: 0, offset, value }, NOW);
      expect(out.kind).toBe('accepted');
      const v = validateMessage(value, { nowMs: NOW, maxFutureMs: opts.maxFutureMs });
      if (v.scaled) sampled++;
      const w = windowOf(v.snapshot.intervalEndMs, opts.windowMs);
      if (!plain.has(w)) plain.set(w, new PlainWindow());
      plain.get(w)!.add(v);
    });
    expect(sampled).toBeGreaterThan(0);
    const probe = new CmsWindow();
    expect(probe.simd).toBe(true); // the windows under test hold their counters in WebAssembly memory
    probe.dispose();
    const flushed = e.takeFlush(NOW, true);
    expect(flushed.map((a) => a.windowStart).sort()).toEqual([...plain.keys()].sort());
    for (const acc of flushed) {
      expect(acc.isOpen).toBe(false);
      const p = plain.get(acc.windowStart)!;
      expect(acc.cmsPackets.total).toBe(p.cmsPackets.total);
      expect(acc.cmsBytes.total).toBe(p.cmsBytes.total);
      expect(acc.cmsPackets.total).toBeGreaterThan(0);
      expect(bits(acc.cmsPackets).equals(bits(p.cmsPackets))).toBe(true);
      expect(bits(acc.cmsBytes).equals(bits(p.cmsBytes))).toBe(true);
      expect(
        Buffer.from(encodeCountMinSketch(acc.cmsPackets)).equals(Buffer.from(encodeCountMinSketch(p.cmsPackets))),
      ).toBe(true);
      [acc.hllFlows, acc.hllSources, acc.hllDestinations, acc.hllPorts].forEach((h, i) => {
        expect(Buffer.from(h.registers).equals(Buffer.from(p.hll[i].registers))).toBe(true);
        expect(Buffer.from(encodeHyperLogLog(h)).equals(Buffer.from(encodeHyperLogLog(p.hll[i])))).toBe(true);
      });
    }
  });

  it('keeps its sealed sketches for retried writes and refuses merges after seal() or dispose()', () => {
    const v = validateMessage(values[0], { nowMs: NOW, maxFutureMs: opts.maxFutureMs });
    const a = new WindowAccumulator('t', 0, T0, 60_000, false);
    expect(() => a.cmsPackets).toThrow(/before seal/);
    a.add(v, 0, 0);
    const cms = a.seal().cmsPackets;
    expect(a.seal().cmsPackets).toBe(cms); // idempotent: a retry encodes the same sketch
    a.dispose(); // a sealed window keeps its plain sketches
    expect(a.cmsPackets).toBe(cms);
    expect(() => a.add(v, 1, 0)).toThrow(/sealed/);

    const b = new WindowAccumulator('t', 0, T0, 60_000, false);
    b.add(v, 0, 0);
    b.dispose();
    expect(b.isOpen).toBe(false);
    expect(() => b.add(v, 1, 0)).toThrow(/disposed/);
    expect(() => b.seal()).toThrow(/dispose/);
  });

  it("names the host's stream by its agent id and keeps the streams it replaced within the window, bounded", () => {
    const one = new FleetSimulator({ hosts: 1, seed: 12, startMs: T0, intervalMs: 2_000 });
    const snaps = Array.from({ length: 12 }, () => decode(one.nextRound()[0].value).snapshot);
    const as = (i: number, agent?: string, seq?: number) => {
      const s = { ...snaps[i] };
      if (agent) s.agentId = agent;
      if (seq !== undefined) s.sequence = seq;
      return validateMessage(encode(s), { nowMs: NOW, maxFutureMs: opts.maxFutureMs });
    };
    const a = new WindowAccumulator('t', 0, T0, 60_000, false);
    const host = snaps[0].hostId;
    const old = snaps[0].agentId;
    [0, 1, 2].forEach((i) => a.add(as(i), i, 0)); // old agent: 0..2
    a.add(as(3, 'new', 0), 3, 0); // lost its state: 0 again under a new id
    a.add(as(4, 'new', 1), 4, 0);
    let h = a.hosts.get(host)!;
    expect([h.agent, h.lastSeq, h.earlier]).toEqual(['new', 1, [{ boot: snaps[0].bootId, agent: old, lastSeq: 2 }]]);
    a.add(as(5, undefined, 3), 5, 0); // the old agent again: its position comes back from the earlier ones
    h = a.hosts.get(host)!;
    expect([h.agent, h.lastSeq, h.earlier!.map((e) => [e.agent, e.lastSeq])]).toEqual([old, 3, [['new', 1]]]);
    for (let k = 0; k < 6; k++) a.add(as(6 + k, `cycled-${k}`, 0), 6 + k, 0);
    expect(a.hosts.get(host)!.earlier).toHaveLength(4); // a host cycling agent ids cannot grow the row
    expect(a.hosts.get(host)!.snapshots).toBe(12);
    a.dispose();
  });

  it('returns the windows of every dropped window on revoke, revokeAll and re-assign', () => {
    const cmsDispose = jest.spyOn(CmsWindow.prototype, 'dispose');
    const hllDispose = jest.spyOn(HllWindow.prototype, 'dispose');
    const accDispose = jest.spyOn(WindowAccumulator.prototype, 'dispose');
    try {
      const e = new WindowMerger(opts);
      const load = (partition: number) => {
        e.sequences = new SequenceTracker(); // the same messages again: not duplicates
        e.assign({ topic: 't', partition, committed: 0, covered: [] });
        values.slice(0, 63).forEach((value, offset) => e.ingest({ topic: 't', partition, offset, value }, NOW));
      };
      const windows = new Set(values.slice(0, 63).map((v) => windowOf(decode(v).snapshot.intervalEndMs, 60_000))).size;
      expect(windows).toBeGreaterThan(1);
      const expectDropped = (accs: number) => {
        expect(accDispose.mock.contexts.length).toBe(accs);
        for (const a of accDispose.mock.contexts) expect((a as WindowAccumulator).isOpen).toBe(false);
        expect(cmsDispose.mock.calls.length).toBe(2 * accs);
        expect(hllDispose.mock.calls.length).toBe(4 * accs);
      };
      load(0);
      load(1);
      e.revoke('t', 1);
      expectDropped(windows);
      load(0); // re-assigned from its commit: what partition 0 held is dropped
      expectDropped(2 * windows);
      load(1);
      e.revokeAll();
      expectDropped(4 * windows);
      // Flushed windows are sealed (windows disposed there, not again on revoke).
      load(2);
      e.takeFlush(NOW, true);
      expect(cmsDispose.mock.calls.length).toBe(2 * 5 * windows);
      e.revokeAll();
      expect(cmsDispose.mock.calls.length).toBe(2 * 5 * windows);
    } finally {
      cmsDispose.mockRestore();
      hllDispose.mockRestore();
      accDispose.mockRestore();
    }
  });
});
