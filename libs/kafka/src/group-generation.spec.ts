// Integration: the real broker started by the test run's global setup (or TMA_KAFKA_BROKERS). GROUP_JOIN carries
// the group generation once patched: the same for every member of a generation, higher at every rebalance.
import { randomBytes } from 'node:crypto';
import { Kafka, logLevel, type Consumer } from 'kafkajs';
import { loadKafkaSettings } from './config';
import { joinedGeneration, patchKafkajsGroupGeneration } from './group-generation';

const kafka = new Kafka({ ...loadKafkaSettings(process.env, 'tma-kafka-generation-spec'), logLevel: logLevel.NOTHING });
const id = randomBytes(4).toString('hex');
const topic = `tgen${id}`;
const consumers: Consumer[] = [];

afterAll(async () => {
  for (const c of consumers) await c.disconnect().catch(() => undefined);
  const admin = kafka.admin();
  await admin.connect();
  await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
  await admin.disconnect();
});

/** A member of the spec's group; `joins` receives the generation of each of its joins. */
async function member(joins: number[]): Promise<void> {
  const c = kafka.consumer({ groupId: `gen-${id}`, sessionTimeout: 6000, heartbeatInterval: 500 });
  consumers.push(c);
  c.on(c.events.GROUP_JOIN, (e) => joins.push(joinedGeneration(e.payload)));
  await c.connect();
  await c.subscribe({ topics: [topic] });
  await c.run({ eachBatch: async () => undefined });
}

async function until(what: string, ok: () => boolean): Promise<void> {
  for (const deadline = Date.now() + 60_000; !ok(); await new Promise((r) => setTimeout(r, 100)))
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
}

it('GROUP_JOIN carries the generation: strictly increasing, one value per rebalance for every member', async () => {
  expect(() => joinedGeneration({})).toThrow(/patchKafkajsGroupGeneration/);
  patchKafkajsGroupGeneration();
  patchKafkajsGroupGeneration(); // idempotent
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: 2 }], waitForLeaders: true });
  await admin.disconnect();

  const a: number[] = [];
  const b: number[] = [];
  await member(a);
  await until('the first join', () => a.length === 1);
  await member(b);
  await until('both members in the second generation', () => b.length === 1 && a.length === 2);
  expect(a[0]).toBeGreaterThanOrEqual(1);
  expect(a[1]).toBeGreaterThan(a[0]);
  expect(b[0]).toBe(a[1]);
});
