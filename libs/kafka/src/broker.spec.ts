// Integration: the real broker started by the test run's global setup (or TMA_KAFKA_BROKERS).
import { randomUUID } from 'node:crypto';
import { Kafka, logLevel, type EachMessagePayload } from 'kafkajs';
import { loadKafkaSettings } from './config';
import { ensureTopics } from './ensure-topics';

const settings = loadKafkaSettings(process.env, 'tma-kafka-spec');
const kafka = new Kafka({ ...settings, logLevel: logLevel.NOTHING });

async function consumeCount(groupId: string, topic: string, count: number): Promise<string[]> {
  const consumer = kafka.consumer({ groupId });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  const seen: string[] = [];
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`got ${seen.length}/${count} messages`)), 30_000);
    consumer
      .run({
        autoCommit: false,
        eachMessage: async ({ message, partition }: EachMessagePayload) => {
          seen.push(message.value!.toString());
          // Commit the offset of the *next* message, as Kafka expects.
          await consumer.commitOffsets([{ topic, partition, offset: (BigInt(message.offset) + 1n).toString() }]);
          if (seen.length === count) {
            clearTimeout(timer);
            resolve();
          }
        },
      })
      .catch(reject);
  });
  await consumer.disconnect();
  return seen;
}

describe('real Kafka broker', () => {
  const topic = `tma-test-${randomUUID()}`;
  const groupId = `tma-test-group-${randomUUID()}`;
  const admin = kafka.admin();
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });

  beforeAll(async () => {
    await admin.connect();
    await producer.connect();
    await ensureTopics(admin, [{ topic, numPartitions: 1 }]);
  });

  afterAll(async () => {
    await producer.disconnect();
    await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
    await admin.disconnect();
  });

  it('creates topics idempotently', async () => {
    await ensureTopics(admin, [{ topic, numPartitions: 1 }]);
    const meta = await admin.fetchTopicMetadata({ topics: [topic] });
    expect(meta.topics[0].partitions).toHaveLength(1);
  });

  it('delivers through a consumer group and resumes from committed offsets', async () => {
    await producer.send({ topic, acks: -1, messages: ['a', 'b', 'c'].map((value) => ({ key: 'host-1', value })) });
    expect(await consumeCount(groupId, topic, 3)).toEqual(['a', 'b', 'c']);

    const offsets = await admin.fetchOffsets({ groupId, topics: [topic] });
    expect(offsets[0].partitions[0].offset).toBe('3');

    // A new member of the same group starts after the committed offset: only the new message arrives.
    await producer.send({ topic, acks: -1, messages: [{ key: 'host-1', value: 'd' }] });
    expect(await consumeCount(groupId, topic, 1)).toEqual(['d']);
  });
});
