// A host is never silenced by one hostile sequence number: dedup is per (host, agent, boot) stream, and a jump
// further than the bound starts a separate run instead of moving the stream's position.
import type { Batch } from 'kafkajs';
import { decode, encode } from '@tma/schema';
import { FleetSimulator } from '@tma/fleet-sim';
import { SequenceTracker } from './dedup';
import { ingestBatch } from './ingest';
import { AggregatorMetrics } from './metrics';
import { WindowMerger } from './window-merger';
import { MERGER_OPTIONS, NOW, T0 } from './merger.fixture';

describe('SequenceTracker streams', () => {
  it('keeps counting a stream after one far jump, and still drops duplicates of both', () => {
    const t = new SequenceTracker(4, 1000);
    for (let q = 0; q < 4; q++) expect(t.observe('h', 'a', 'b', q).kind).toBe('new');
    expect(t.observe('h', 'a', 'b', 1e12)).toEqual({ kind: 'new', gap: 0, jump: true });
    for (let q = 4; q < 8; q++) expect(t.observe('h', 'a', 'b', q)).toEqual({ kind: 'new', gap: 0 });
    expect(t.observe('h', 'a', 'b', 5).kind).toBe('duplicate');
    expect(t.observe('h', 'a', 'b', 1e12).kind).toBe('duplicate');
    expect(t.observe('h', 'a', 'b', 900).kind).toBe('new'); // within the bound: a gap of the same stream
    expect(t.observe('h', 'a', 'b', 900).kind).toBe('duplicate');
  });

  it('keeps agents apart: a new agent id on the same host and boot starts its own sequence', () => {
    const t = new SequenceTracker();
    expect(t.observe('h', 'a1', 'b', 50).kind).toBe('new');
    expect(t.observe('h', 'a2', 'b', 0).kind).toBe('new');
    expect(t.observe('h', 'a2', 'b', 0).kind).toBe('duplicate');
  });

  it('restores positions per (host, boot, agent): a new agent on the same boot is a new stream', () => {
    const t = new SequenceTracker();
    t.restore('h', 'b', 'a1', 20);
    expect(t.observe('h', 'a2', 'b', 0)).toEqual({ kind: 'new', gap: 0 });
    expect(t.observe('h', 'a2', 'b', 1)).toEqual({ kind: 'new', gap: 0 });
    expect(t.observe('h', 'a1', 'b', 20).kind).toBe('duplicate');
    expect(t.observe('h', 'a1', 'b', 3).kind).toBe('duplicate');
    expect(t.observe('h', 'a1', 'b', 23)).toEqual({ kind: 'new', gap: 2 });
  });

  it('lets the first stream of a boot adopt a position stored without an agent id (older rows)', () => {
    const t = new SequenceTracker();
    t.restore('h', 'b', '', 20);
    t.restore('h', 'b', 'a1', 5);
    expect(t.observe('h', 'a1', 'b', 5).kind).toBe('duplicate'); // its own position first
    expect(t.observe('h', 'a2', 'b', 20).kind).toBe('duplicate'); // then the one without an agent id
    expect(t.observe('h', 'a3', 'b', 0)).toEqual({ kind: 'new', gap: 0 }); // adopted once only
  });
});

describe('a crafted sequence jump does not silence the host', () => {
  it('counts the good snapshots after it exactly once, and counts the drops by reason', async () => {
    const sim = new FleetSimulator({ hosts: 1, seed: 3, startMs: T0, intervalMs: 10_000 });
    const good = Array.from({ length: 8 }, () => sim.nextRound()[0].value);
    const crafted = decode(good[3]).snapshot;
    crafted.sequence += 1_000_000_000;
    crafted.intervalStartMs += 1000; // a different interval inside the same window
    crafted.intervalEndMs += 1000;
    const values = [...good.slice(0, 4), encode(crafted), ...good.slice(4), good[6]]; // the last one resent
    const merger = new WindowMerger(MERGER_OPTIONS);
    merger.assign({ topic: 't', partition: 0, committed: 0, covered: [] });
    const metrics = new AggregatorMetrics({ defaultMetrics: false });
    const batch = {
      topic: 't',
      partition: 0,
      highWatermark: String(values.length),
      messages: values.map((value, i) => ({ offset: String(i), key: null, value })),
      lastOffset: () => String(values.length - 1),
    } as unknown as Batch;
    ingestBatch(merger, metrics, batch, NOW);
    const snaps = (await metrics.snapshots.get()).values;
    const by = Object.fromEntries(snaps.map((v) => [v.labels.outcome, v.value]));
    expect(by.accepted).toBe(9); // 8 good + the crafted one (nothing tells it apart from a restarted counter)
    expect(by.duplicate).toBe(1);
    const dropped = (await metrics.dropped.get()).values;
    expect(dropped.map((v) => [v.labels.reason, v.value])).toEqual([['duplicate-sequence', 1]]);
    expect((await metrics.sequenceJumps.get()).values[0].value).toBe(1);
    const totals = merger.takeFlush(NOW, true).reduce((n, a) => n + a.snapshots, 0);
    expect(totals).toBe(9);
  });
});
