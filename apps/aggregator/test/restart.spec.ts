// kafkajs stops a consumer for good after an error it does not retry; the aggregator starts a new one with backoff,
// says why in its log, becomes ready again and still stores every snapshot exactly once.
import type { LoggerService } from '@nestjs/common';
import { snapshotTopic } from '@tma/schema';
import { sendMessages } from '@tma/fleet-sim';
import { crashingResumes } from './support/faults';
import { producer, waitFor } from './support/kafka';
import { metric } from './support/metrics';
import { storedTotals, useTestBed, waitUntilStored } from './support/test-bed';

jest.setTimeout(180_000);

const bed = useTestBed({ name: 'rs', partitions: 2, hosts: 8, seed: 505, minutesAgo: 10 });
const { prefix, sim } = bed;
const lines: string[] = [];
const logger: LoggerService = {
  log: (m: unknown) => void lines.push(`log ${String(m)}`),
  warn: (m: unknown) => void lines.push(`warn ${String(m)}`),
  error: (m: unknown) => void lines.push(`error ${String(m)}`),
};

it('restarts a consumer kafkajs gave up on, with backoff, and stores every snapshot once', async () => {
  const p = await producer();
  for (let r = 0; r < 12; r++) await sendMessages(p, snapshotTopic(prefix), sim.nextRound());
  await p.disconnect();
  // The first batch of each of the first two consumers fails while resuming its partitions.
  const agg = await bed.start({ storage: crashingResumes(bed.store.storage, 2), logger });
  const expected = sim.truth.totals();
  await waitUntilStored(bed.store.storage, expected.snapshots);
  await waitFor('ready again', async () => (agg.readiness() === null ? true : undefined));
  const t = await storedTotals(bed.store.storage);
  expect([t.packets, t.snapshots]).toEqual([expected.packets, expected.snapshots]);
  // Two crashes, each logged with its cause and the delay (1 s, then 2 s unless a batch went through in between).
  const stopped = lines.filter((l) => l.includes('consumer stopped by an error kafkajs does not retry'));
  expect(stopped).toHaveLength(2);
  expect(stopped[0]).toMatch(/injected non-retriable failure 1 .*starting a new consumer in 1s \(attempt 1\)/);
  expect(stopped[1]).toMatch(
    /injected non-retriable failure 2 .*starting a new consumer in (1s \(attempt 1\)|2s \(attempt 2\))/,
  );
  expect(lines.filter((l) => l.includes('consumer restarted'))).toHaveLength(2);
  expect(metric(await agg.metricsText(), 'tma_aggregator_consumer_restarts_total')).toBe(2);
});
