// Reads the snapshots the testbed's agents publish, so the CLI can show them arriving beside what was sent:
// per host, snapshots received and the packets and bytes they add up to.
import { Kafka, logLevel, type Admin, type Consumer } from 'kafkajs';
import { ensureTopics, loadKafkaSettings } from '@tma/kafka';
import { decode, snapshotTopic, type SketchSnapshot } from '@tma/schema';

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
  /** Next offset to read per partition (what this watch has consumed). */
  private readonly consumed = new Map<number, number>();
  /** Each host's boot, to tell a redelivered snapshot (same boot, sequence not above the last) from a new one. */
  private readonly boots = new Map<string, string>();

  private constructor(
    private readonly consumer: Consumer,
    private readonly admin: Admin,
    private readonly topic: string,
  ) {}

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
    await ensureTopics(admin, [{ topic, numPartitions: 1 }]);
    // After a broker restart kafkajs starts the consumer again as a new member, and the group waits for the old one
    // until its session expires: a short session brings the watch back within seconds rather than kafkajs' 30 s.
    const consumer = kafka.consumer({
      groupId: `${hostIdPrefix}watch`,
      sessionTimeout: 6_000,
      heartbeatInterval: 1_000,
    });
    const w = new SnapshotWatch(consumer, admin, topic);
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ partition, message }) => {
        w.consumed.set(partition, Number(message.offset) + 1);
        if (!message.value) return;
        try {
          w.count(decode(message.value).snapshot, hostIdPrefix);
        } catch {
          w.decodeErrors++;
        }
      },
    });
    return w;
  }

  private count(s: SketchSnapshot, hostIdPrefix: string): void {
    if (!s.hostId.startsWith(hostIdPrefix)) return;
    const r = this.byHost.get(s.hostId) ?? { snapshots: 0, packets: 0, bytes: 0, candidates: 0, lastSequence: -1 };
    // A consumer restarted after a broker outage reads again from its last commit: count each snapshot once.
    if (this.boots.get(s.hostId) === s.bootId && s.sequence <= r.lastSequence) return;
    this.boots.set(s.hostId, s.bootId);
    r.snapshots++;
    r.packets += Number(s.totals.packets);
    r.bytes += Number(s.totals.bytes);
    r.candidates = s.candidates.length;
    r.lastSequence = Number(s.sequence);
    this.byHost.set(s.hostId, r);
  }

  /** Whether this watch has read every message the topic holds now. */
  async caughtUp(): Promise<boolean> {
    const ends = await this.admin.fetchTopicOffsets(this.topic);
    return ends.every((e) => Number(e.high) === 0 || (this.consumed.get(e.partition) ?? 0) >= Number(e.high));
  }

  async stop(): Promise<void> {
    await this.consumer.disconnect().catch(() => undefined);
    await this.admin.disconnect().catch(() => undefined);
  }
}
