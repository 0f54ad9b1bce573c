// Hostile snapshots through Kafka: each is dead-lettered with its reason, and the fleet's totals stay exact. The fleet
// hashes with a secret seed; snapshots of another seed identity (an agent left on the public seed, another
// deployment's, a forged declaration over sketches of another seed) are dead-lettered as wrong-seed.
import { randomBytes } from 'node:crypto';
import { encode, snapshotTopic, type SketchSnapshot } from '@tma/schema';
import { expandHashSeed, formatHashSeed, PUBLIC_HASH_KEY, useHashSeed } from '@tma/sketch';
import { FleetSimulator, sendMessages } from '@tma/fleet-sim';
import { producer, readDeadLetters } from './support/kafka';
import { storedTotals, useTestBed, waitUntilStored } from './support/test-bed';

jest.setTimeout(180_000);

const bed = useTestBed({ name: 'hostile', partitions: 2, hosts: 8, seed: 55, minutesAgo: 10 });
const { prefix, sim } = bed;

afterAll(() => useHashSeed(PUBLIC_HASH_KEY));

it('dead-letters every hostile snapshot with its reason and keeps the totals exact', async () => {
  const seedOf = () => randomBytes(8).readBigUInt64LE(0);
  const fleetSeed = seedOf();
  const oneHost = (hostPrefix: string) =>
    new FleetSimulator({ hosts: 1, seed: 6, startMs: bed.startMs, hostPrefix }).nextRoundSnapshots()[0];
  // snapshots of another deployment: sketches and declaration of another secret seed
  useHashSeed(expandHashSeed(seedOf()));
  const foreign = oneHost('foreign-');
  // the fleet's own snapshots, and the aggregator, use the fleet's seed
  useHashSeed(expandHashSeed(fleetSeed));
  const base = oneHost('bad-');
  const hostile = (key: string, change: (s: SketchSnapshot) => void, from = base) => {
    const s: SketchSnapshot = {
      ...from,
      totals: { ...from.totals, protocols: from.totals.protocols.map((p) => ({ ...p })) },
    };
    s.candidates = from.candidates.map((c) => ({ ...c }));
    change(s);
    return { key, value: encode(s) };
  };
  const reasons: Record<string, string> = {
    'public-seed': 'wrong-seed',
    'foreign-seed': 'wrong-seed',
    'forged-seed': 'wrong-seed',
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
    hostile('public-seed', (s) => (s.sketchSpec = { ...s.sketchSpec, seedHash: PUBLIC_HASH_KEY.seedHash })),
    hostile('foreign-seed', () => undefined, foreign),
    // declares the fleet's seed identity over sketches hashed with another seed
    hostile('forged-seed', (s) => (s.sketchSpec = { ...base.sketchSpec }), foreign),
  ];
  const p = await producer();
  const topic = snapshotTopic(prefix);
  for (let r = 0; r < 6; r++) await sendMessages(p, topic, sim.nextRound());
  await p.send({ topic, acks: -1, messages: bad });
  for (let r = 0; r < 6; r++) await sendMessages(p, topic, sim.nextRound());
  await p.disconnect();

  await bed.start({ logger: false, env: bed.env({ TMA_HASH_SEED: formatHashSeed(fleetSeed) }) });
  const truth = sim.truth.totals();
  await waitUntilStored(bed.store.storage, truth.snapshots, 90_000);
  const dead = await readDeadLetters(prefix, bad.length);
  expect(Object.fromEntries(dead.map((d) => [d.key, d.reason]))).toEqual(
    Object.fromEntries(bad.map((b) => [b.key, reasons[b.key] ?? b.key])),
  );
  const t = await storedTotals(bed.store.storage);
  expect([t.packets, t.bytes, t.snapshots]).toEqual([truth.packets, truth.bytes, truth.snapshots]);
});
