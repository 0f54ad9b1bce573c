import { encode, type SketchSnapshot } from '@tma/schema';
import { FleetSimulator } from '@tma/fleet-sim';
import { SequenceTracker } from './dedup';
import { windowOf } from '@tma/rollup';
import { WindowMerger, type InboundMessage } from './window-merger';
import { emptyMerged, mergeStoredPartial, partialRowFromAccumulator, type StoredPartial } from './rows';
import type { WindowAccumulator } from './window-accumulator';
import { MERGER_OPTIONS, NOW, T0 } from './merger.fixture';

const opts = MERGER_OPTIONS;

function feed(_merger: WindowMerger, values: Buffer[], partition = 0, from = 0): InboundMessage[] {
  return values.map((value, i) => ({ topic: 't', partition, offset: from + i, value }));
}

/** Round-trips accumulators through the stored row shape, as the query API would read them. */
function asStored(acc: WindowAccumulator): StoredPartial {
  const r = partialRowFromAccumulator(acc, 'w', 3600) as unknown as StoredPartial;
  return r;
}

describe('SequenceTracker', () => {
  it('flags duplicates, counts gaps, accepts reordered fills once, and restarts with a new boot', () => {
    const t = new SequenceTracker();
    expect(t.observe('h', 'agent', 'b1', 5)).toEqual({ kind: 'new', gap: 0 });
    expect(t.observe('h', 'agent', 'b1', 6)).toEqual({ kind: 'new', gap: 0 });
    expect(t.observe('h', 'agent', 'b1', 6)).toEqual({ kind: 'duplicate' });
    expect(t.observe('h', 'agent', 'b1', 9)).toEqual({ kind: 'new', gap: 2 });
    expect(t.observe('h', 'agent', 'b1', 7)).toEqual({ kind: 'fill' });
    expect(t.observe('h', 'agent', 'b1', 7)).toEqual({ kind: 'duplicate' });
    expect(t.observe('h', 'agent', 'b1', 5)).toEqual({ kind: 'duplicate' });
    expect(t.observe('h', 'agent', 'b2', 0)).toEqual({ kind: 'new', gap: 0 });
    expect(t.observe('h', 'agent', 'b1', 200)).toEqual({ kind: 'new', gap: 190 });
    expect(t.observe('h', 'agent', 'b1', 100)).toEqual({ kind: 'duplicate' }); // older than the 64-sequence memory
  });

  it('keeps a bounded number of streams (agent, boot) per host', () => {
    const t = new SequenceTracker(2);
    t.observe('h', 'agent', 'a', 1);
    t.observe('h', 'agent', 'b', 1);
    t.observe('h', 'agent', 'c', 1);
    expect(t.last('h', 'agent', 'a')).toBeUndefined();
    expect(t.last('h', 'agent', 'c')).toBe(1);
  });
});

describe('WindowMerger', () => {
  const sim = new FleetSimulator({ hosts: 6, seed: 11, startMs: T0, intervalMs: 10_000 });
  const rounds: Buffer[][] = [];
  for (let r = 0; r < 13; r++) rounds.push(sim.nextRound().map((m) => m.value));

  it('merges a window exactly: totals equal the ground truth, rows close when the watermark passes', () => {
    const e = new WindowMerger(opts);
    e.assign({ topic: 't', partition: 0, committed: 0, covered: [] });
    const msgs = feed(e, rounds.slice(0, 10).flat());
    for (const m of msgs) expect(e.ingest(m, NOW).kind).toBe('accepted');
    // Watermark T0+100 s: window 0 ends at 60 s, +30 s lateness = 90 s → closed; window 1 still open.
    const flushed = e.takeFlush(NOW);
    expect(flushed.map((a) => a.windowStart)).toEqual([T0]);
    const w0 = sim.truth.windows.get(T0)!;
    expect(flushed[0].packets).toBe(w0.packets);
    expect(flushed[0].bytes).toBe(w0.bytes);
    expect(flushed[0].snapshots).toBe(36);
    expect(flushed[0].cmsPackets.total).toBe(w0.packets);
    for (const [host, h] of w0.hosts) expect(flushed[0].hosts.get(host)?.packets).toBe(h.packets);
    // Nothing is committed past the open window's first offset.
    e.confirmFlush(flushed);
    expect(e.commitPositions()).toEqual([{ topic: 't', partition: 0, offset: 36 }]);
  });

  it('drops duplicates, records gaps, merges a late snapshot as a further late row', () => {
    const e = new WindowMerger(opts);
    e.assign({ topic: 't', partition: 0, committed: 0, covered: [] });
    const all = rounds.slice(0, 13).flat();
    // Drop host 0's round 2 (a gap) and deliver round 0 twice.
    const values = all.filter((_, i) => i !== 2 * 6);
    const withDup = [...values.slice(0, 6), ...values.slice(0, 6), ...values.slice(6)];
    const out = feed(e, withDup).map((m) => e.ingest(m, NOW));
    expect(out.filter((o) => o.kind === 'duplicate')).toHaveLength(6);
    expect(out.reduce((g, o) => g + (o.kind === 'accepted' ? o.gap : 0), 0)).toBe(1);
    e.confirmFlush(e.takeFlush(NOW));
    // The missing snapshot arrives after window 0 closed: merged, flagged late, written on the next flush.
    const late = e.ingest({ topic: 't', partition: 0, offset: withDup.length, value: all[2 * 6] }, NOW);
    expect(late).toMatchObject({ kind: 'accepted', late: true, windowStart: T0, gap: 0 });
    const rows = e.takeFlush(NOW);
    expect(rows).toHaveLength(1);
    expect(rows[0].late).toBe(true);
    expect(rows[0].snapshots).toBe(1);
  });

  it('rejects wrong seeds, wrong parameters, garbage and truncation with reasons', () => {
    const e = new WindowMerger(opts);
    e.assign({ topic: 't', partition: 0, committed: 0, covered: [] });
    const s: SketchSnapshot[] = new FleetSimulator({ hosts: 1, seed: 2, startMs: T0 }).nextRoundSnapshots();
    const wrongSeed = encode({ ...s[0], sketchSpec: { ...s[0].sketchSpec, seedHash: 1 } });
    const wrongSpec = encode({ ...s[0], sketchSpec: { ...s[0].sketchSpec, cmsWidth: 2048 } });
    const badSketch = encode({ ...s[0], hllFlows: Buffer.from('not a sketch') });
    const good = encode(s[0]);
    const cases: [Buffer | null, string][] = [
      [wrongSeed, 'wrong-seed'],
      [wrongSpec, 'wrong-spec'],
      [badSketch, 'bad-sketch'],
      [Buffer.from('garbage!'), 'bad-magic'],
      [good.subarray(0, good.length - 7), 'truncated'],
      [Buffer.concat([good.subarray(0, 2), Buffer.alloc(8, 0xab), good.subarray(10)]), 'unknown-schema'],
      [null, 'empty-message'],
    ];
    cases.forEach(([value, reason], i) => {
      expect(e.ingest({ topic: 't', partition: 0, offset: i, value }, NOW)).toMatchObject({ kind: 'rejected', reason });
    });
    expect(e.ingest({ topic: 't', partition: 0, offset: 99, value: good }, NOW).kind).toBe('accepted');
    // Rejected messages hold nothing back: the commit moves up to the open window's first message.
    expect(e.commitPositions()).toEqual([{ topic: 't', partition: 0, offset: 99 }]);
  });

  it('after a restart skips exactly what stored rows hold and ends with the same totals', () => {
    const values = rounds.slice(0, 13).flat();
    const a = new WindowMerger(opts);
    a.assign({ topic: 't', partition: 0, committed: 0, covered: [] });
    for (const m of feed(a, values.slice(0, 70))) a.ingest(m, NOW);
    const written = a.takeFlush(NOW); // window 0 closed: written, but the process dies before committing
    a.confirmFlush(written);
    const covered = written.map((w) => ({ windowStart: w.windowStart, first: w.firstOffset, last: w.lastOffset }));

    const b = new WindowMerger(opts);
    b.assign({ topic: 't', partition: 0, committed: 0, covered });
    const outs = feed(b, values).map((m) => b.ingest(m, NOW));
    expect(outs.filter((o) => o.kind === 'skipped')).toHaveLength(36);
    const rest = b.takeFlush(NOW, true);
    const merged = emptyMerged(0, 60);
    for (const acc of [...written, ...rest]) mergeStoredPartial(merged, asStored(acc));
    expect(merged.packets).toBe(BigInt(sim.truth.totals().packets));
    expect(merged.snapshots).toBe(values.length);
  });

  it('assigns intervals to windows by their end', () => {
    expect(windowOf(T0 + 60_000, 60_000)).toBe(T0);
    expect(windowOf(T0 + 60_001, 60_000)).toBe(T0 + 60_000);
  });

  it('bounds memory: a snapshot needing a window beyond the limit is held until the oldest is written early', () => {
    const e = new WindowMerger({ ...opts, maxOpenWindows: 1, allowedLatenessMs: 3_600_000 });
    e.assign({ topic: 't', partition: 0, committed: 0, covered: [] });
    const written: number[] = [];
    for (const m of feed(e, rounds.slice(0, 13).flat())) {
      while (e.ingest(m, NOW).kind === 'held') {
        const out = e.takeFlush(NOW);
        written.push(...out.map((a) => a.windowStart));
        e.confirmFlush(out);
      }
      expect(e.openAccumulators()).toBeLessThanOrEqual(1);
    }
    expect(written).toEqual([T0, T0 + 60_000]);
  });
});
