// Reading back what the agent published, from the real broker.
import * as net from 'node:net';
import { randomUUID } from 'node:crypto';
import { Kafka, logLevel, type Consumer } from 'kafkajs';
import { loadKafkaSettings } from '@tma/kafka';

export const kafkaSettings = () => loadKafkaSettings(process.env, 'tma-edge-agent-spec');

export interface Received {
  key: string;
  value: Buffer;
  offset: string;
}

/** Consumes `count` messages of a topic from the beginning (fails after timeoutMs). */
export async function consume(topic: string, count: number, timeoutMs = 30_000): Promise<Received[]> {
  const kafka = new Kafka({ ...kafkaSettings(), logLevel: logLevel.NOTHING });
  const consumer = kafka.consumer({ groupId: `tma-ea-spec-${randomUUID()}` });
  await consumer.connect();
  const got: Received[] = [];
  try {
    await subscribeWhenReady(consumer, topic);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`received ${got.length} of ${count} messages on ${topic}`)),
        timeoutMs,
      );
      consumer
        .run({
          eachMessage: async ({ message }) => {
            got.push({ key: message.key!.toString(), value: message.value!, offset: message.offset });
            if (got.length >= count) {
              clearTimeout(timer);
              resolve();
            }
          },
        })
        .catch(reject);
    });
  } finally {
    await consumer.disconnect();
  }
  return got;
}

/**
 * Subscribes once the broker serves the topic: a topic the agent has just created can answer metadata with
 * "does not host this topic-partition" for a moment, which kafkajs reports without retrying.
 */
async function subscribeWhenReady(consumer: Consumer, topic: string): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await consumer.subscribe({ topic, fromBeginning: true });
      return;
    } catch (err) {
      if (attempt >= 20 || !(err as { retriable?: boolean }).retriable) throw err;
      await new Promise((r) => setTimeout(r, 250 * attempt));
    }
  }
}

export async function deleteTopic(topic: string): Promise<void> {
  const kafka = new Kafka({ ...kafkaSettings(), logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
  await admin.disconnect();
}

/** A local port nothing listens on (bound, then released). */
export async function closedPort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

export const testPrefix = () => `tma-test-ea-${randomUUID().slice(0, 8)}`;
