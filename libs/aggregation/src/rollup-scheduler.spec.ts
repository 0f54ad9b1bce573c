// One window whose rollups cannot be rebuilt does not hold up the rollups of the windows after it.
import { loadAggregatorConfig } from './config';
import { newConsumerStats } from './consumer-stats';
import { AggregatorMetrics } from './metrics';
import type { PartialRowStore } from './partial-row-store';
import { RollupScheduler } from './rollup-scheduler';
import type { WindowAccumulator } from './window-accumulator';
import { T0 } from './merger.fixture';

it('rebuilds the other windows when one window keeps failing, and retries the failing one with backoff, not on every pass', async () => {
  const done: number[] = [];
  let failures = 0;
  const store = {
    finalizeWindow: async (_tier: string, w: number) => {
      if (w === T0) {
        failures++;
        throw new Error('Code: 241. Memory limit exceeded (simulated)');
      }
      done.push(w);
    },
    buildHour: async () => undefined,
    buildDay: async () => undefined,
  } as unknown as PartialRowStore;
  const logger = { log: () => undefined, warn: () => undefined, error: () => undefined };
  const config = { ...loadAggregatorConfig({}), rollupDelayMs: 0 };
  const s = new RollupScheduler(
    config,
    store,
    new AggregatorMetrics({ defaultMetrics: false }),
    logger,
    newConsumerStats(),
    () => 0,
  );
  s.noteWritten([T0, T0 + 60_000, T0 + 120_000].map((windowStart) => ({ windowStart }) as WindowAccumulator));
  for (let pass = 0; pass < 8; pass++) {
    s.schedule(true);
    await s.settled();
  }
  expect(done).toEqual([T0 + 60_000, T0 + 120_000]);
  expect(failures).toBe(1); // next try after 1 s, then 2 s, 4 s … up to 5 min
});

it('builds a day from its hours once the watermark passed the day (plus lateness), after every hour of it', async () => {
  const DAY = 86_400_000;
  const HOUR = 3_600_000;
  const d = Math.floor(T0 / DAY) * DAY;
  const calls: string[] = [];
  const store = {
    finalizeWindow: async () => undefined,
    buildHour: async (h: number) => void calls.push(`h${(h - d) / HOUR}`),
    buildDay: async (x: number) => void calls.push(`d${(x - d) / DAY}`),
  } as unknown as PartialRowStore;
  const logger = { log: () => undefined, warn: () => undefined, error: () => undefined };
  const config = { ...loadAggregatorConfig({}), rollupDelayMs: 0 };
  let watermark = d + 5 * HOUR;
  const s = new RollupScheduler(
    config,
    store,
    new AggregatorMetrics({ defaultMetrics: false }),
    logger,
    newConsumerStats(),
    () => watermark,
  );
  s.noteWritten([d + HOUR, d + 2 * HOUR].map((windowStart) => ({ windowStart }) as WindowAccumulator));
  s.schedule(false);
  await s.settled();
  expect(calls).toEqual(['h1', 'h2']); // the hours are past; the day is not
  watermark = d + DAY + config.allowedLatenessMs;
  s.schedule(false);
  await s.settled();
  expect(calls).toEqual(['h1', 'h2', 'd0']);
  s.schedule(false);
  await s.settled();
  expect(calls).toEqual(['h1', 'h2', 'd0']); // built once: nothing touched it since
});
