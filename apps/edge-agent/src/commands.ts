// The commands topic from the agent's side: every start reads it from the beginning (a consumer group of this host
// that never commits), so the rules still in force are applied again after a restart and a rule id's versions
// arrive in order (one key per host or the fleet, one partition each); Mitigation makes every re-delivery a no-op.
// Reports go back keyed by host id, in the order they were made.
import { Kafka, logLevel, type Consumer } from 'kafkajs';
import { ensureTopics, type KafkaSettings } from '@tma/kafka';
import {
  mitigationCommandCodec,
  mitigationCommandTopic,
  mitigationReportCodec,
  mitigationReportTopic,
  type MitigationReport,
} from '@tma/schema';
import type { Logger } from './log';
import { reportFields, type Mitigation } from './mitigation';
import { Publisher } from './publisher';

export interface CommandLinkOptions {
  settings: KafkaSettings;
  topicPrefix: string;
  hostId: string;
  log: Logger;
}

export class CommandLink {
  private consumer: Consumer | null = null;
  private readonly reports: Publisher;
  private sending: Promise<void> = Promise.resolve();
  private closed = false;

  constructor(
    private readonly mitigation: Mitigation,
    private readonly o: CommandLinkOptions,
  ) {
    this.reports = new Publisher({
      settings: o.settings,
      topic: mitigationReportTopic(o.topicPrefix),
      key: o.hostId,
      log: o.log,
      compression: 'none',
    });
  }

  /** Connects and subscribes; retries in the background while the broker is away (the agent counts meanwhile). */
  start(): void {
    void this.connect();
  }

  private async connect(): Promise<void> {
    for (let attempt = 0; !this.closed; attempt++) {
      try {
        const kafka = new Kafka({ ...this.o.settings, logLevel: logLevel.NOTHING, connectionTimeout: 3000 });
        const admin = kafka.admin();
        await admin.connect();
        try {
          await ensureTopics(admin, [{ topic: mitigationCommandTopic(this.o.topicPrefix) }], 3);
        } finally {
          await admin.disconnect().catch(() => undefined);
        }
        const consumer = kafka.consumer({
          groupId: `tma-edge-agent-commands-${this.o.hostId}`.replace(/[^A-Za-z0-9._-]/g, '_'),
          sessionTimeout: 10_000,
          heartbeatInterval: 1000,
        });
        await consumer.connect();
        await consumer.subscribe({ topic: mitigationCommandTopic(this.o.topicPrefix), fromBeginning: true });
        if (this.closed) {
          await consumer.disconnect().catch(() => undefined);
          return;
        }
        this.consumer = consumer;
        await consumer.run({
          autoCommit: false,
          eachMessage: async ({ message }) => {
            if (!message.value) return;
            let report: MitigationReport | null;
            try {
              report = this.mitigation.handle(mitigationCommandCodec.decode(message.value));
            } catch (e) {
              this.o.log('warn', 'mitigation_command_refused', { error: e as Error, offset: message.offset });
              return;
            }
            if (report) this.report(report);
          },
        });
        this.o.log('info', 'mitigation_commands_subscribed', { topic: mitigationCommandTopic(this.o.topicPrefix) });
        return;
      } catch (e) {
        this.o.log('warn', 'mitigation_commands_unavailable', { error: e as Error, attempt });
        await new Promise((r) => setTimeout(r, Math.min(30_000, 1000 * 2 ** Math.min(attempt, 5))).unref());
      }
    }
  }

  /** Logs a report and sends it (in order, after the ones before it). */
  report(r: MitigationReport): void {
    this.o.log(r.event === 'REFUSED' ? 'warn' : 'info', 'mitigation', reportFields(r));
    if (this.closed) return;
    this.sending = this.sending.then(() =>
      this.reports.send(mitigationReportCodec.encode(r)).catch((e: Error) => {
        this.o.log('warn', 'mitigation_report_failed', { error: e, ruleId: r.ruleId, event: r.event });
      }),
    );
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.race([this.sending, new Promise((r) => setTimeout(r, 3000).unref())]);
    await this.consumer?.disconnect().catch(() => undefined);
    await this.reports.close();
  }
}
