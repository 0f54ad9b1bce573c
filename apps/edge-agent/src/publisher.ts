// Kafka publishing: idempotent producer, acks=all, batch compression as configured (gzip by default; zstd and snappy
// codecs come from @tma/kafka, which registers them with kafkajs), keyed by host id. drain() sends the spool oldest first and stops at the first failure, so order holds
// and nothing leaves the spool before the broker acknowledged it; a spooled file that cannot be read back is dropped
// (counted by the spool) instead, so it cannot block the ones behind it.
import { Kafka, logLevel, Partitioners, type CompressionTypes, type Producer } from 'kafkajs';
import {
  DEFAULT_COMPRESSION,
  compressionType,
  ensureTopics,
  patchKafkajsIdleTimers,
  type CompressionCodec,
  type KafkaSettings,
} from '@tma/kafka';
import type { Logger } from './log';
import type { Spool } from './spool';

// Idle kafkajs connections otherwise re-arm a 1 ms timer each, all day (~3.5 % of a core here; see @tma/kafka).
patchKafkajsIdleTimers();

/** How long a dropped client may take to disconnect before it is left behind. */
const DISCONNECT_WAIT_MS = 5_000;

export interface PublisherOptions {
  settings: KafkaSettings;
  topic: string;
  key: string;
  log: Logger;
  /** kafkajs connection timeout, ms */
  connectionTimeoutMs?: number;
  /** how long one publish may wait for its acknowledgement, ms (default 30 s) */
  sendTimeoutMs?: number;
  /** create the topic when missing (with the broker's default partitions) */
  createTopic?: boolean;
  /** batch compression (default gzip) */
  compression?: CompressionCodec;
}

export interface DrainResult {
  sent: number;
  /** spooled files dropped because they could not be read back */
  dropped: number;
  /** publish latency of each sent message, seconds */
  latencies: number[];
  error?: Error;
}

export class Publisher {
  private producer: Producer | null = null;
  private connecting: Promise<Producer> | null = null;
  /** Numbers connection attempts: one given up on (reset) does not install its client when it ends. */
  private attempts = 0;
  private topicReady = false;
  private readonly compression: CompressionTypes;

  constructor(private readonly o: PublisherOptions) {
    this.compression = compressionType(o.compression ?? DEFAULT_COMPRESSION);
  }

  private async connect(): Promise<Producer> {
    if (this.producer) return this.producer;
    if (this.connecting) return this.connecting;
    const attempt = ++this.attempts;
    this.connecting = (async () => {
      const kafka = new Kafka({
        ...this.o.settings,
        logLevel: logLevel.NOTHING,
        connectionTimeout: this.o.connectionTimeoutMs ?? 3000,
        retry: { retries: 3, initialRetryTime: 200, maxRetryTime: 2000 },
        // kafkajs enforces request timeouts with a 100 ms interval timer per connection, all day long; send()
        // bounds each publish with one timer of its own instead.
        enforceRequestTimeout: false,
      });
      // Keyed by host id with the Java client's partitioner (stated, so kafkajs does not warn about its changed default).
      const producer = kafka.producer({
        idempotent: true,
        maxInFlightRequests: 1,
        allowAutoTopicCreation: false,
        createPartitioner: Partitioners.DefaultPartitioner,
      });
      try {
        if (!this.topicReady && this.o.createTopic !== false) {
          const admin = kafka.admin();
          await admin.connect();
          try {
            await ensureTopics(admin, [{ topic: this.o.topic }], 3);
          } finally {
            await admin.disconnect().catch(() => undefined);
          }
          this.topicReady = true;
        }
        await producer.connect();
      } catch (e) {
        await producer.disconnect().catch(() => undefined);
        throw e;
      }
      if (this.attempts !== attempt) {
        // Given up on (reset) while it connected: a newer attempt owns the connection.
        await producer.disconnect().catch(() => undefined);
        throw new Error('connection attempt abandoned');
      }
      this.producer = producer;
      this.o.log('info', 'kafka_connected', {
        brokers: this.o.settings.brokers,
        topic: this.o.topic,
        compression: this.o.compression ?? DEFAULT_COMPRESSION,
      });
      return producer;
    })().finally(() => {
      if (this.attempts === attempt) this.connecting = null;
    });
    return this.connecting;
  }

  /**
   * Sends one message and resolves once every in-sync replica has it. The connection and the send share one deadline:
   * kafkajs' own request timeout is off (see connect), so a request the broker never answers would otherwise hold
   * the drain, and every snapshot behind it, for good.
   */
  async send(value: Buffer): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timeoutMs = this.o.sendTimeoutMs ?? 30_000;
    try {
      await Promise.race([
        this.connect().then((producer) =>
          producer.send({
            topic: this.o.topic,
            acks: -1,
            compression: this.compression,
            messages: [{ key: this.o.key, value }],
          }),
        ),
        new Promise((_, reject) => {
          timer = setTimeout(
            () => reject(new Error(`no acknowledgement from Kafka within ${timeoutMs} ms`)),
            timeoutMs,
          );
        }),
      ]);
    } catch (e) {
      // Start from a fresh client next time: a broken producer can keep failing after the broker is back.
      await this.reset();
      throw e;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Publishes spooled messages oldest first until the spool is empty or a send fails. */
  async drain(spool: Spool): Promise<DrainResult> {
    const result: DrainResult = { sent: 0, dropped: 0, latencies: [] };
    if (!spool.publishable()) return result; // the state is not on disk yet: a crash could reuse these sequences
    try {
      for (let e = spool.peek(); e; e = spool.peek()) {
        let value: Buffer;
        try {
          value = spool.read(e);
        } catch (err) {
          spool.discard(e, err);
          result.dropped++;
          continue;
        }
        const t0 = process.hrtime.bigint();
        await this.send(value);
        result.latencies.push(Number(process.hrtime.bigint() - t0) / 1e9);
        spool.remove(e);
        result.sent++;
      }
    } catch (e) {
      spool.release();
      result.error = e as Error;
    }
    if (result.sent || result.dropped) spool.sync();
    return result;
  }

  /**
   * Drops the client. Its disconnect waits for the requests it has in flight, which without a request timeout may
   * never end: it is given a few seconds, then the client is left behind (its sockets close with the broker's).
   */
  private async reset(): Promise<void> {
    const p = this.producer;
    this.producer = null;
    this.connecting = null; // a connection attempt that hangs is not waited for again
    this.attempts++;
    if (!p) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      p.disconnect().catch(() => undefined),
      new Promise((r) => (timer = setTimeout(r, DISCONNECT_WAIT_MS))),
    ]);
    clearTimeout(timer);
  }

  async close(): Promise<void> {
    if (this.connecting) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        this.connecting.catch(() => undefined),
        new Promise((r) => (timer = setTimeout(r, DISCONNECT_WAIT_MS))),
      ]);
      clearTimeout(timer);
    }
    await this.reset();
  }
}
