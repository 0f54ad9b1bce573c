// Hostile snapshots through Kafka: each is dead-lettered with its reason, and the fleet's totals stay exact.
import { encode, snapshotTopic, type SketchSnapshot } from '@tma/schema';
import { FleetSimulator, sendMessages } from '@tma/fleet-sim';
import { producer, readDeadLetters } from './support/kafka';
import { storedTotals, useTestBed, waitUntilStored } from './support/test-bed';

jest.setTimeout(180_000);

const bed = useTestBed({ name: 'hostile', partitions: 2, hosts: 8, seed: 55, minutesAgo: 10 });
const { prefix, sim } = bed;

it('dead-letters every hostile snapshot with its reason and keeps the totals exact', async () => {
  const [base] = new FleetSimulator({
    hosts: 1,
    seed: 6,
    startMs: bed.startMs,
    hostPrefix: 'bad-',
  }).nextRoundSnapshots();
  const hostile = (key: string, change: (s: SketchSnapshot) => void) => {
    const s: SketchSnapshot = {
      ...base,
      totals: { ...base.totals, protocols: base.totals.protocols.map((p) => ({ ...p })) },
    };
    s.candidates = base.candidates.map((c) => ({ ...c }));
    change(s);
    return { key, value: encode(s) };
  };
  const bad = [
    hostile('invalid-count', (s) => (s.candidates[0].packets = -1)),
    hostile('invalid-sampling', (s) => (s.samplingRate = 2 ** 31 - 1)),
    hostile('past-interval', (s) => {
      s.intervalStartMs -= 8 * 86_400_000;
      s.intervalEndMs -= 8 * 86_400_000;
    }),
    hostile('invalid-text', (s) => (s.agentVersion = 'v'.repeat(10_000))),
    hostile('invalid-protocol', (s) => (s.totals.protocols[0].protocol = 300)),
  ];
  const p = await producer();
  const topic = snapshotTopic(prefix);
  for (let r = 0; r < 6; r++) await sendMessages(p, topic, sim.nextRound());
  await p.send({ topic, acks: -1, messages: bad });
  for (let r = 0; r < 6; r++) await sendMessages(p, topic, sim.nextRound());
  await p.disconnect();

  await bed.start({ logger: false });
  const truth = sim.truth.totals();
  await waitUntilStored(bed.store.storage, truth.snapshots, 90_000);
  const dead = await readDeadLetters(prefix, bad.length);
  expect(Object.fromEntries(dead.map((d) => [d.key, d.reason]))).toEqual(
    Object.fromEntries(bad.map((b) => [b.key, b.key])),
  );
  const t = await storedTotals(bed.store.storage);
  expect([t.packets, t.bytes, t.snapshots]).toEqual([truth.packets, truth.bytes, truth.snapshots]);
});
