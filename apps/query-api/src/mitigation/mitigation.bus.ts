// The API's side of the mitigation topics: approved rules out on the commands topic (one message per target host,
// keyed by it, or one keyed "*" for every host: one key per rule target keeps a rule's versions in order), agents'
// reports in from the reports topic (a consumer group of the API: each report is audited once).
import { Kafka, logLevel, Partitioners, type Consumer, type Producer } from 'kafkajs';
import { ensureTopics, type KafkaSettings } from '@tma/kafka';
import {
  FLEET_KEY,
  mitigationCommandCodec,
  mitigationCommandTopic,
  mitigationReportCodec,
  mitigationReportTopic,
  type MitigationCommand,
  type MitigationReport,
} from '@tma/schema';

export interface MitigationBus {
  publish(cmd: MitigationCommand): Promise<void>;
  /** Starts delivering reports (each once per consumer group). */
  onReports(handler: (r: MitigationReport) => Promise<void>): Promise<void>;
  close(): Promise<void>;
}

export class KafkaMitigationBus implements MitigationBus {
  private readonly kafka: Kafka;
  private producer: Producer | null = null;
  private consumer: Consumer | null = null;
  private topicsReady: Promise<void> | null = null;

  constructor(
    settings: KafkaSettings,
    private readonly topicPrefix: string,
    private readonly groupId = `tma-query-api-mitigation-${topicPrefix}`,
  ) {
    this.kafka = new Kafka({ ...settings, logLevel: logLevel.NOTHING, connectionTimeout: 3000 });
  }

  private topics(): Promise<void> {
    this.topicsReady ??= (async () => {
      const admin = this.kafka.admin();
      await admin.connect();
      try {
        await ensureTopics(admin, [
          { topic: mitigationCommandTopic(this.topicPrefix) },
          { topic: mitigationReportTopic(this.topicPrefix) },
        ]);
      } finally {
        await admin.disconnect().catch(() => undefined);
      }
    })().catch((e) => {
      this.topicsReady = null;
      throw e;
    });
    return this.topicsReady;
  }

  async publish(cmd: MitigationCommand): Promise<void> {
    await this.topics();
    if (!this.producer) {
      const p = this.kafka.producer({
        idempotent: true,
        maxInFlightRequests: 1,
        createPartitioner: Partitioners.DefaultPartitioner,
      });
      await p.connect();
      this.producer = p;
    }
    const value = mitigationCommandCodec.encode(cmd);
    const keys = cmd.hosts.length ? cmd.hosts : [FLEET_KEY];
    await this.producer.send({
      topic: mitigationCommandTopic(this.topicPrefix),
      acks: -1,
      messages: keys.map((key) => ({ key, value })),
    });
  }

  async onReports(handler: (r: MitigationReport) => Promise<void>): Promise<void> {
    await this.topics();
    const c = this.kafka.consumer({ groupId: this.groupId, sessionTimeout: 10_000, heartbeatInterval: 1000 });
    await c.connect();
    await c.subscribe({ topic: mitigationReportTopic(this.topicPrefix), fromBeginning: true });
    this.consumer = c;
    await c.run({
      eachMessage: async ({ message }) => {
        if (!message.value) return;
        let r: MitigationReport;
        try {
          r = mitigationReportCodec.decode(message.value);
        } catch {
          return; // not a report of this schema: nothing to audit
        }
        await handler(r);
      },
    });
  }

  async close(): Promise<void> {
    await this.consumer?.disconnect().catch(() => undefined);
    await this.producer?.disconnect().catch(() => undefined);
  }
}
