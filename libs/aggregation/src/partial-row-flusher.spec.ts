// A write must not hold a partition past its group session: a slow insert heartbeats while in flight, and a failing
// write stops retrying once the partitions may have moved (its rows stay pending, nothing is committed past them).
import type { Consumer } from 'kafkajs';
import { FleetSimulator } from '@tma/fleet-sim';
import { loadAggregatorConfig } from './config';
import { newConsumerStats } from './consumer-stats';
import { AggregatorMetrics } from './metrics';
import { HEARTBEAT_MS, PartialRowFlusher, type FlushHooks } from './partial-row-flusher';
import type { PartialRowStore } from './partial-row-store';
import type { RollupScheduler } from './rollup-scheduler';
import { WindowMerger } from './window-merger';
import { MERGER_OPTIONS, NOW, T0 } from './merger.fixture';

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const logger = { log: () => undefined, warn: () => undefined, error: () => undefined };

function setUp(writePartials: () => Promise<void>, hooks: Partial<FlushHooks> = {}) {
  const merger = new WindowMerger(MERGER_OPTIONS);
  merger.assign({ topic: 't', partition: 0, committed: 0, covered: [], epoch: 5 });
  const sim = new FleetSimulator({ hosts: 3, seed: 7, startMs: T0, intervalMs: 10_000 });
  let offset = 0;
  // 7 rounds of 10 s: two windows, two rows.
  for (let r = 0; r < 7; r++)
    for (const m of sim.nextRound()) merger.ingest({ topic: 't', partition: 0, offset: offset++, value: m.value }, NOW);
  const commits: unknown[] = [];
  const consumer = { commitOffsets: async (o: unknown) => void commits.push(o) } as unknown as Consumer;
  const rollups = { noteWritten: () => undefined, schedule: () => undefined } as unknown as RollupScheduler;
  const flusher = new PartialRowFlusher(
    loadAggregatorConfig({}),
    merger,
    { writePartials } as unknown as PartialRowStore,
    rollups,
    new AggregatorMetrics({ defaultMetrics: false }),
    logger,
    newConsumerStats(),
    {
      pause: () => undefined,
      stopping: () => false,
      lost: () => false,
      deadLetter: async () => undefined,
      ...hooks,
    },
  );
  return { merger, consumer, commits, flusher };
}

it('heartbeats while a slow insert is in flight', async () => {
  let beats = 0;
  const { consumer, commits, flusher } = setUp(() => sleep(2 * HEARTBEAT_MS + 500));
  await flusher.flush(consumer, true, async () => void beats++);
  expect(beats).toBe(2);
  expect(commits).toHaveLength(1);
}, 30_000);

it('keeps retrying a failing write while the partitions are its own, and stops once they may have moved', async () => {
  let attempts = 0;
  let lost = false;
  const { merger, consumer, commits, flusher } = setUp(
    async () => {
      attempts++;
      throw new Error('connect ECONNREFUSED (simulated)');
    },
    { lost: () => lost },
  );
  let beats = 0;
  const flushing = flusher.flush(consumer, false, async () => void beats++);
  await sleep(1500); // backoff 200, 400, 800 ms: three rounds of one insert of both rows, then each alone
  expect(beats).toBeGreaterThanOrEqual(2);
  expect(attempts).toBeGreaterThanOrEqual(6);
  lost = true; // a heartbeat learnt of a rebalance
  await flushing;
  expect(commits).toEqual([]);
  expect(merger.commitPositions()).toEqual([]); // the unwritten rows stay pending
  expect(merger.openAccumulators()).toBe(2);
}, 30_000);
