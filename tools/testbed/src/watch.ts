// Reads the snapshots the testbed's agents publish, so the CLI can show them arriving beside what was sent:
// per host, snapshots received and the packets and bytes they add up to.
import { Kafka, logLevel, type Consumer } from 'kafkajs';
import { ensureTopics, loadKafkaSettings } from '@tma/kafka';
import { decode, snapshotTopic } from '@tma/schema';

export interface HostReceived {
  snapshots: number;
  packets: number;
  bytes: number;
  candidates: number;
  lastSequence: number;
}

export class SnapshotWatch {
  readonly byHost = new Map<string, HostReceived>();
  decodeErrors = 0;

  private constructor(private readonly consumer: Consumer) {}

  /** Subscribes to `<prefix>.snapshots.v<N>`; counts the snapshots of hosts whose id starts with `hostIdPrefix`. */
  static async start(
    prefix: string,
    hostIdPrefix: string,
    env: NodeJS.ProcessEnv = process.env,
  ): Promise<SnapshotWatch> {
    const kafka = new Kafka({ ...loadKafkaSettings(env, 'tma-testbed'), logLevel: logLevel.NOTHING });
    const topic = snapshotTopic(prefix);
    const admin = kafka.admin();
    await admin.connect();
    try {
      await ensureTopics(admin, [{ topic, numPartitions: 1 }]);
    } finally {
      await admin.disconnect();
    }
    const consumer = kafka.consumer({ groupId: `${hostIdPrefix}watch` });
    const w = new SnapshotWatch(consumer);
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ message }) => {
        if (!message.value) return;
        try {
          const { snapshot: s } = decode(message.value);
          if (!s.hostId.startsWith(hostIdPrefix)) return;
          const r = w.byHost.get(s.hostId) ?? { snapshots: 0, packets: 0, bytes: 0, candidates: 0, lastSequence: -1 };
          r.snapshots++;
          r.packets += Number(s.totals.packets);
          r.bytes += Number(s.totals.bytes);
          r.candidates = s.candidates.length;
          r.lastSequence = Number(s.sequence);
          w.byHost.set(s.hostId, r);
        } catch {
          w.decodeErrors++;
        }
      },
    });
    return w;
  }

  async stop(): Promise<void> {
    await this.consumer.disconnect().catch(() => undefined);
  }
}
