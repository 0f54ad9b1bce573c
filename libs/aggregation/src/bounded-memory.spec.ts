// Memory is bounded at ingest: a message that needs a window beyond the per-partition limit (open windows, or late
// windows of old data) is held back until a flush made room, then merged: nothing lost, nothing counted twice.
import { FleetSimulator } from '@tma/fleet-sim';
import { WindowMerger, type IngestOutcome } from './window-merger';
import type { WindowAccumulator } from './window-accumulator';
import { MERGER_OPTIONS, NOW, T0 } from './merger.fixture';

const MAX = 3;

function run(values: Buffer[]) {
  const merger = new WindowMerger({ ...MERGER_OPTIONS, maxOpenWindows: MAX });
  merger.assign({ topic: 't', partition: 0, committed: 0, covered: [] });
  const written: WindowAccumulator[] = [];
  const flush = (force = false) => {
    const taken = merger.takeFlush(NOW, force);
    written.push(...taken);
    merger.confirmFlush(taken);
  };
  let held = 0;
  let peak = 0;
  const outcomes: IngestOutcome['kind'][] = [];
  values.forEach((value, offset) => {
    for (;;) {
      const out = merger.ingest({ topic: 't', partition: 0, offset, value }, NOW);
      peak = Math.max(peak, merger.openAccumulators());
      if (out.kind !== 'held') {
        outcomes.push(out.kind);
        break;
      }
      held++;
      flush(); // what the consumer does: write what is due and make room, then go on from the same message
    }
  });
  flush(true);
  return { held, peak, outcomes, written, commit: merger.commitPositions() };
}

describe('bounded memory at ingest', () => {
  const sim = new FleetSimulator({ hosts: 3, seed: 8, startMs: T0, intervalMs: 10_000 });
  const rounds: Buffer[][] = [];
  for (let r = 0; r < 60; r++) rounds.push(sim.nextRound().map((m) => m.value)); // 10 windows
  const truth = sim.truth.totals();

  it('caps late windows of old data (newest round first, then the rest from old to new)', () => {
    const values = [...rounds[59], ...rounds.slice(0, 59).flat()];
    const r = run(values);
    expect(r.held).toBeGreaterThan(0);
    expect(r.peak).toBeLessThanOrEqual(2 * MAX);
    expect(r.outcomes.every((k) => k === 'accepted')).toBe(true);
    const sum = r.written.reduce((t, a) => ({ s: t.s + a.snapshots, p: t.p + a.packets }), { s: 0, p: 0 });
    expect(sum).toEqual({ s: truth.snapshots, p: truth.packets });
    expect(r.commit).toEqual([{ topic: 't', partition: 0, offset: values.length }]);
  });

  it('caps open windows when data runs ahead of the watermark', () => {
    // One round per window, newest window first for the first host only: every window opens at once.
    const values = rounds.filter((_, i) => i % 6 === 0).flat();
    const r = run(values);
    expect(r.peak).toBeLessThanOrEqual(2 * MAX);
    const snapshots = r.written.reduce((n, a) => n + a.snapshots, 0);
    expect(snapshots).toBe(values.length);
  });
});
