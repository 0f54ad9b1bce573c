// Codecs on their own, then through the real broker (TMA_KAFKA_BROKERS from the test run's global setup): every codec
// round-trips byte for byte, and the broker (Java) both reads what we write and writes what we read — a topic whose
// compression.type differs from the producer's makes the broker decompress and recompress every batch.
import { randomBytes, randomUUID } from 'node:crypto';
import { CompressionTypes, Kafka, logLevel } from 'kafkajs';
import {
  COMPRESSION_CODECS,
  compressionType,
  snappyCompress,
  snappyDecompress,
  zstdAvailable,
  zstdCompress,
  zstdDecompress,
  type CompressionCodec,
} from './compression';
import { loadKafkaSettings } from './config';
import { ensureTopics } from './ensure-topics';

/** Something shaped like a snapshot: runs of small counters and zero cells, some incompressible bytes. */
function payload(bytes: number, seed: number): Buffer {
  const b = Buffer.alloc(bytes);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < bytes; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    b[i] = i % 512 < 64 ? x & 0xff : i % 8 === 0 ? x & 0x0f : 0;
  }
  return b;
}

const samples: Array<[string, Buffer]> = [
  ['empty', Buffer.alloc(0)],
  ['one byte', Buffer.from([7])],
  ['random 1000 B', randomBytes(1000)],
  ['snapshot-like 100 KiB (four snappy blocks)', payload(100 * 1024 + 3, 9)],
];

describe('codecs', () => {
  it('has zstd on this Node', () => {
    expect(zstdAvailable()).toBe(true);
    expect(compressionType('zstd')).toBe(CompressionTypes.ZSTD);
  });

  it.each(samples)('zstd and snappy round-trip %s', async (_name, data) => {
    expect(await zstdDecompress(await zstdCompress(data))).toEqual(data);
    expect(snappyDecompress(snappyCompress(data))).toEqual(data);
  });

  it('compresses a snapshot-like buffer with both', async () => {
    const data = payload(200_000, 3);
    expect((await zstdCompress(data)).length).toBeLessThan(data.length / 3);
    expect(snappyCompress(data).length).toBeLessThan(data.length / 2);
  });

  it('writes snappy in the framing Kafka clients use: magic, versions, 32 KiB blocks', () => {
    const c = snappyCompress(payload(70_000, 5));
    expect(c.subarray(0, 8)).toEqual(Buffer.from('\x82SNAPPY\0', 'latin1'));
    expect([c.readInt32BE(8), c.readInt32BE(12)]).toEqual([1, 1]);
    let off = 16;
    let blocks = 0;
    while (off < c.length) {
      off += 4 + c.readInt32BE(off);
      blocks++;
    }
    expect(off).toBe(c.length);
    expect(blocks).toBe(3); // 32 KiB + 32 KiB + 4,464 B
  });

  it('reads a bare snappy block too, and rejects truncated framing', () => {
    const data = payload(5000, 11);
    const framed = snappyCompress(data);
    const bare = framed.subarray(20); // one block: skip the header and its length
    expect(snappyDecompress(bare)).toEqual(data);
    expect(() => snappyDecompress(framed.subarray(0, framed.length - 10))).toThrow(/overruns/);
    expect(() => snappyDecompress(Buffer.concat([framed, Buffer.from([0, 0])]))).toThrow(/truncated/);
  });
});

describe('codecs through the real broker', () => {
  const kafka = new Kafka({ ...loadKafkaSettings(process.env, 'tma-kafka-codec-spec'), logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  const topics: string[] = [];
  const messages = samples.map(([, value], i) => ({ key: `k${i}`, value }));

  beforeAll(async () => {
    await admin.connect();
    await producer.connect();
  });
  afterAll(async () => {
    await producer.disconnect();
    await admin.deleteTopics({ topics }).catch(() => undefined);
    await admin.disconnect();
  });

  async function topicWith(brokerCompression: string): Promise<string> {
    const topic = `tma-test-codec-${randomUUID()}`;
    topics.push(topic);
    await ensureTopics(admin, [
      { topic, numPartitions: 1, configEntries: [{ name: 'compression.type', value: brokerCompression }] },
    ]);
    return topic;
  }

  async function consumeAll(topic: string, count: number): Promise<Array<{ key: string; value: Buffer }>> {
    const consumer = kafka.consumer({ groupId: `tma-test-codec-${randomUUID()}` });
    await consumer.connect();
    const got: Array<{ key: string; value: Buffer }> = [];
    try {
      await consumer.subscribe({ topic, fromBeginning: true });
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`got ${got.length}/${count} messages from ${topic}`)), 30_000);
        consumer
          .run({
            eachMessage: async ({ message }) => {
              got.push({ key: message.key!.toString(), value: message.value ?? Buffer.alloc(0) });
              if (got.length === count) {
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

  it.each(COMPRESSION_CODECS.map((c) => [c]))(
    '%s: produced, stored as sent, consumed byte for byte',
    async (codec: CompressionCodec) => {
      const topic = await topicWith('producer');
      await producer.send({ topic, acks: -1, compression: compressionType(codec), messages });
      const got = await consumeAll(topic, messages.length);
      expect(got.map((m) => m.key)).toEqual(messages.map((m) => m.key));
      got.forEach((m, i) => expect(m.value.equals(messages[i].value)).toBe(true));
    },
    60_000,
  );

  // The broker recompresses with its own (Java) codecs: our zstd and snappy output must parse there, and its
  // zstd and snappy output must parse here.
  it.each([
    ['zstd', 'gzip'],
    ['snappy', 'gzip'],
    ['gzip', 'zstd'],
    ['gzip', 'snappy'],
  ] as const)(
    'produced as %s into a topic stored as %s: the broker recodes, bytes equal',
    async (codec, stored) => {
      const topic = await topicWith(stored);
      await producer.send({ topic, acks: -1, compression: compressionType(codec), messages });
      const got = await consumeAll(topic, messages.length);
      got.forEach((m, i) => expect(m.value.equals(messages[i].value)).toBe(true));
    },
    60_000,
  );
});
