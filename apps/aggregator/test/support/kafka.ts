// Real-broker helpers for the aggregator's end-to-end tests (broker from the jest global setup).
import { randomBytes } from 'node:crypto';
import { Kafka, Partitioners, logLevel, type Producer } from 'kafkajs';
import { ensureTopics, loadKafkaSettings } from '@tma/kafka';
import { alertTopic, deadLetterTopic, snapshotTopic } from '@tma/schema';

export const kafka = new Kafka({
  ...loadKafkaSettings(process.env, 'tma-aggregator-test'),
  logLevel: logLevel.NOTHING,
});

export function uniquePrefix(name: string): string {
  return `t${name}${randomBytes(4).toString('hex')}`;
}

export async function createTopics(prefix: string, partitions: number, client: Kafka = kafka): Promise<void> {
  const admin = client.admin();
  await admin.connect();
  try {
    await ensureTopics(admin, [
      { topic: snapshotTopic(prefix), numPartitions: partitions },
      { topic: deadLetterTopic(prefix), numPartitions: 1 },
    ]);
  } finally {
    await admin.disconnect();
  }
}

export async function deleteTopics(prefix: string, client: Kafka = kafka): Promise<void> {
  const admin = client.admin();
  await admin.connect();
  await admin
    .deleteTopics({ topics: [snapshotTopic(prefix), deadLetterTopic(prefix), alertTopic(prefix)] })
    .catch(() => undefined);
  await admin.disconnect();
}

export async function producer(client: Kafka = kafka): Promise<Producer> {
  const p = client.producer({
    idempotent: true,
    maxInFlightRequests: 1,
    createPartitioner: Partitioners.DefaultPartitioner,
  });
  await p.connect();
  return p;
}

export interface DeadLetter {
  key: string | null;
  reason: string;
  message: string;
  source: string;
}

/** Reads `count` messages of the dead-letter topic (from the beginning). */
export async function readDeadLetters(
  prefix: string,
  count: number,
  timeoutMs = 30_000,
  client: Kafka = kafka,
): Promise<DeadLetter[]> {
  const consumer = client.consumer({ groupId: `dlq-reader-${randomBytes(4).toString('hex')}` });
  await consumer.connect();
  await consumer.subscribe({ topic: deadLetterTopic(prefix), fromBeginning: true });
  const out: DeadLetter[] = [];
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`read ${out.length}/${count} dead letters`)), timeoutMs);
      void consumer.run({
        eachMessage: async ({ message }) => {
          const h = (name: string) => message.headers?.[name]?.toString() ?? '';
          out.push({
            key: message.key?.toString() ?? null,
            reason: h('tma-dlq-reason'),
            message: h('tma-dlq-message'),
            source: h('tma-dlq-source'),
          });
          if (out.length >= count) {
            clearTimeout(timer);
            resolve();
          }
        },
      });
    });
  } finally {
    await consumer.disconnect();
  }
  return out;
}

export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  timeoutMs = 60_000,
  everyMs = 250,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/**
 * True once the group's committed offset equals the end of every partition of the topic. A partition that never
 * held a message has nothing to commit (Kafka reports -1 for it): with few hosts, all may hash to one partition.
 */
export async function committedToEnd(groupId: string, topic: string, client: Kafka = kafka): Promise<true | undefined> {
  const admin = client.admin();
  await admin.connect();
  try {
    const ends = await admin.fetchTopicOffsets(topic);
    const committed = await admin.fetchOffsets({ groupId, topics: [topic] });
    const byPartition = new Map(committed[0]?.partitions.map((p) => [p.partition, Number(p.offset)]) ?? []);
    const done = (e: { partition: number; high: string }) =>
      byPartition.get(e.partition) === Number(e.high) || (Number(e.high) === 0 && byPartition.get(e.partition) === -1);
    return ends.every(done) ? true : undefined;
  } finally {
    await admin.disconnect();
  }
}

/** Every message value of `topic` from the beginning to its end as it is now (a throwaway group). */
export async function readTopic(topic: string, client: Kafka = kafka, timeoutMs = 60_000): Promise<Buffer[]> {
  return (await readTopicMessages(topic, client, timeoutMs)).map((m) => m.value);
}

/** Every message (key and value) of `topic` from the beginning to its end as it is now, in partition order. */
export async function readTopicMessages(
  topic: string,
  client: Kafka = kafka,
  timeoutMs = 60_000,
): Promise<{ key: string; value: Buffer }[]> {
  const admin = client.admin();
  await admin.connect();
  const ends = new Map((await admin.fetchTopicOffsets(topic)).map((e) => [e.partition, Number(e.high)]));
  await admin.disconnect();
  const out: { partition: number; offset: number; key: string; value: Buffer }[] = [];
  const next = new Map<number, number>();
  const done = () => [...ends].every(([p, high]) => high === 0 || (next.get(p) ?? 0) >= high);
  if (done()) return [];
  const consumer = client.consumer({ groupId: `reader-${randomBytes(4).toString('hex')}` });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`read ${out.length} messages of ${topic}, not its end`)),
        timeoutMs,
      );
      void consumer.run({
        eachMessage: async ({ partition, message }) => {
          const offset = Number(message.offset);
          if (offset < (ends.get(partition) ?? 0) && message.value)
            out.push({ partition, offset, key: message.key?.toString() ?? '', value: message.value });
          next.set(partition, offset + 1);
          if (done()) {
            clearTimeout(timer);
            resolve();
          }
        },
      });
    });
  } finally {
    await consumer.disconnect();
  }
  return out
    .sort((a, b) => a.partition - b.partition || a.offset - b.offset)
    .map((m) => ({ key: m.key, value: m.value }));
}
