// The Kafka side of the aggregator: kafkajs directly (not the @nestjs/microservices transport, which commits on its
// own schedule and exposes no per-partition commit of chosen offsets): autoCommit off, offsets committed only after
// ClickHouse acknowledged the rows holding them, consumption paused while ClickHouse fails. This file owns the
// consumer's life (group events, restarts after errors kafkajs does not retry, shutdown) and the one lock under
// which batches and flushes run; ingest.ts, partition-resume.ts, partial-row-flusher.ts and rollup-scheduler.ts do
// the work.
import {
  Kafka,
  logLevel,
  Partitioners,
  type Admin,
  type Consumer,
  type EachBatchPayload,
  type Producer,
} from 'kafkajs';
import { ensureTopics, joinedGeneration, patchKafkajsGroupGeneration, type KafkaSettings } from '@tma/kafka';
import { alertTopic, deadLetterTopic, snapshotTopics } from '@tma/schema';
import type { AggregatorConfig } from './config';
import { newConsumerStats, type ConsumerLogger } from './consumer-stats';
import { sendDeadLetters } from './dead-letters';
import { ingestBatch } from './ingest';
import type { AggregatorMetrics } from './metrics';
import { HEARTBEAT_MS, PartialRowFlusher } from './partial-row-flusher';
import type { PartialRowStore } from './partial-row-store';
import { resumeAssigned, resumePartition, type ResumeContext } from './partition-resume';
import { ProvisionalWriter } from './provisional-writer';
import { RollupScheduler } from './rollup-scheduler';
import { ThreatRunner } from './threat-runner';
import type { ThreatConfig } from '@tma/threats';
import { WindowMerger } from './window-merger';

/** Heartbeat errors after which the group's coordinator no longer counts this member's assignment as current. */
const MEMBERSHIP_LOST = new Set([
  'REBALANCE_IN_PROGRESS',
  'UNKNOWN_MEMBER_ID',
  'ILLEGAL_GENERATION',
  'FENCED_INSTANCE_ID',
]);

export class SnapshotConsumer {
  readonly merger: WindowMerger;
  /** Timings and counts for the benchmark breakdown. */
  readonly stats = newConsumerStats();
  readonly dlqTopic: string;
  /** Alert events of the threat detectors (docs/threats.md), when they run and publish. */
  readonly alertTopic: string;
  private readonly publishesAlerts: boolean;
  private readonly kafka: Kafka;
  private readonly topics: string[];
  private readonly rollups: RollupScheduler;
  private readonly flusher: PartialRowFlusher;
  private readonly provisional: ProvisionalWriter;
  private provisionalTimer?: NodeJS.Timeout;
  /** The provisional write under way, if any (one at a time; awaited by stop()). */
  private provisionalRun?: Promise<void>;
  private consumer?: Consumer;
  private producer?: Producer;
  private admin?: Admin;
  private chain: Promise<unknown> = Promise.resolve();
  /** Bumped on every join and restart; the merger starts over when it lags (see syncGeneration). */
  private generation = 0;
  /** The consumer group's generation id at the last join: the ownership epoch of the partitions it gave us. */
  private groupGeneration?: number;
  private mergerGeneration = 0;
  private rebalancing = false;
  private joined = false;
  private stopping = false;
  private timer?: NodeJS.Timeout;
  /** Restarts of the consumer after kafkajs gave up on it, since the last successful batch (drives the backoff). */
  private restartAttempt = 0;
  private restartTimer?: NodeJS.Timeout;
  private restarting?: Promise<void>;
  /** Partitions per topic given to this member at the last join. */
  private assignment: Record<string, number[]> = {};

  constructor(
    private readonly config: AggregatorConfig,
    kafkaSettings: KafkaSettings,
    readonly store: PartialRowStore,
    private readonly metrics: AggregatorMetrics,
    private readonly logger: ConsumerLogger,
    threatConfig?: ThreatConfig,
  ) {
    this.merger = new WindowMerger(config);
    patchKafkajsGroupGeneration(); // the epochs that fence writes (libs/rollup fence.ts) are group generations
    this.kafka = new Kafka({
      ...kafkaSettings,
      logLevel: logLevel.WARN,
      logCreator: () => (e) => this.kafkaLog(e.level, e.log.message),
    });
    this.topics = snapshotTopics(config.topicPrefix);
    this.dlqTopic = deadLetterTopic(config.topicPrefix);
    this.alertTopic = alertTopic(config.topicPrefix);
    this.publishesAlerts = threatConfig?.enabled === true && threatConfig.publishAlerts;
    // Threat detection runs on the member that owns partition 0 of the first snapshot topic: one at a time.
    const threats =
      threatConfig?.enabled === true
        ? new ThreatRunner(
            config,
            threatConfig,
            store.storage,
            metrics.registry,
            logger,
            () => (this.assignment[this.topics[0]] ?? []).includes(0) && this.joined && !this.rebalancing,
            threatConfig.publishAlerts
              ? async (messages) => {
                  await this.producer!.send({ topic: this.alertTopic, acks: -1, messages });
                }
              : undefined,
          )
        : undefined;
    this.rollups = new RollupScheduler(
      config,
      store,
      metrics,
      logger,
      this.stats,
      () => this.flusher.writtenWatermark,
      threats,
    );
    this.flusher = new PartialRowFlusher(config, this.merger, store, this.rollups, metrics, logger, this.stats, {
      pause: (paused) => {
        const topics = this.topics.map((topic) => ({ topic }));
        if (paused) this.consumer?.pause(topics);
        else this.consumer?.resume(topics);
      },
      stopping: () => this.stopping,
      lost: () => this.mayHaveLost(),
      deadLetter: (letters) => sendDeadLetters(this.producer!, this.dlqTopic, letters),
    });
    this.provisional = new ProvisionalWriter(config, this.merger, store.storage, metrics, logger);
  }

  private kafkaLog(level: number, message: string): void {
    if (level === logLevel.ERROR) this.logger.error(`kafka: ${message}`);
    else if (level === logLevel.WARN) this.logger.warn(`kafka: ${message}`);
  }

  /** Joined the group and ClickHouse writes are not failing. */
  get ready(): boolean {
    return this.joined && !this.flusher.failing && !this.stopping;
  }

  async start(): Promise<void> {
    this.admin = this.kafka.admin();
    await this.admin.connect();
    await ensureTopics(this.admin, [
      ...this.topics.map((topic) => ({ topic, numPartitions: this.config.topicPartitions })),
      { topic: this.dlqTopic, numPartitions: 1 },
      ...(this.publishesAlerts ? [{ topic: this.alertTopic, numPartitions: 1 }] : []),
    ]);
    // The Java client's partitioner, stated so kafkajs does not warn about its changed default.
    this.producer = this.kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      createPartitioner: Partitioners.DefaultPartitioner,
    });
    await this.producer.connect();
    await this.startConsumer();
    this.timer = setInterval(() => {
      void this.lock(() => this.tick()).catch((err) => this.logger.error(`flush: ${(err as Error).message}`));
    }, this.config.flushIntervalMs);
    if (this.config.provisionalIntervalMs > 0)
      this.provisionalTimer = setInterval(() => {
        if (this.provisional.due())
          this.provisionalRun ??= this.writeProvisional().finally(() => (this.provisionalRun = undefined));
      }, this.config.provisionalIntervalMs);
  }

  /**
   * Writes the open windows that changed as provisional rows. The rows are built under the lock (between batches,
   * never while the group rebalances) and written outside it: they take no part in commits, so consumption and
   * flushes never wait for them; one write at a time.
   */
  private async writeProvisional(): Promise<void> {
    try {
      const batch = await this.lock(async () => {
        this.syncGeneration();
        if (this.stopping || this.rebalancing || !this.joined) return undefined;
        return this.provisional.take();
      });
      if (batch) await this.provisional.write(batch);
    } catch (err) {
      this.logger.error(`provisional rows: ${(err as Error).message}`);
    }
  }

  /** A new kafkajs consumer in the group: subscribed, running, events wired. */
  private async startConsumer(): Promise<void> {
    const consumer = this.kafka.consumer({
      groupId: this.config.groupId,
      sessionTimeout: this.config.sessionTimeoutMs,
      rebalanceTimeout: Math.max(60_000, this.config.sessionTimeoutMs),
      heartbeatInterval: HEARTBEAT_MS,
      maxBytesPerPartition: 8 * 1024 * 1024,
    });
    this.consumer = consumer;
    consumer.on(consumer.events.GROUP_JOIN, (e) => {
      this.generation++;
      try {
        this.groupGeneration = joinedGeneration(e.payload);
      } catch (err) {
        this.groupGeneration = undefined; // no partition is claimed without it (onBatch throws)
        this.logger.error((err as Error).message);
      }
      this.assignment = e.payload.memberAssignment as Record<string, number[]>;
      this.rebalancing = false;
      this.joined = true;
      this.logger.log(`joined ${this.config.groupId}: ${JSON.stringify(e.payload.memberAssignment)}`);
    });
    consumer.on(consumer.events.REBALANCING, () => {
      this.rebalancing = true;
    });
    consumer.on(consumer.events.CRASH, (e) => {
      this.joined = false;
      const error = e.payload.error;
      if (e.payload.restart) {
        this.logger.error(`consumer crashed: ${error.name}: ${error.message}; kafkajs restarts it`);
        return;
      }
      // kafkajs leaves a consumer stopped after an error it does not consider retriable (readiness would stay false
      // forever): start a new consumer ourselves, with backoff, from the committed offsets.
      this.scheduleRestart(consumer, `${error.name}: ${error.message}`);
    });
    await consumer.connect();
    await consumer.subscribe({ topics: this.topics, fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      partitionsConsumedConcurrently: 1,
      eachBatch: (p) => this.lockBeating(p.heartbeat, () => this.onBatch(p)),
    });
  }

  private scheduleRestart(crashed: Consumer, why: string): void {
    if (this.stopping || this.restartTimer || crashed !== this.consumer) return;
    const delay = Math.min(60_000, 1000 * 2 ** this.restartAttempt);
    this.restartAttempt++;
    this.metrics.consumerRestarts.inc();
    this.logger.error(
      `consumer stopped by an error kafkajs does not retry (${why}); starting a new consumer in ${delay / 1000}s (attempt ${this.restartAttempt})`,
    );
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      this.restarting = this.lock(async () => {
        if (this.stopping) return;
        // Whatever was only in memory is read again from the committed offsets (stored rows past them are skipped).
        this.generation++;
        this.syncGeneration();
        await crashed.disconnect().catch(() => undefined);
        await this.startConsumer();
        this.logger.log(`consumer restarted (attempt ${this.restartAttempt})`);
      }).catch((err: Error) => {
        this.logger.error(`consumer restart failed: ${err.message}`);
        if (this.consumer) this.scheduleRestart(this.consumer, err.message);
      });
    }, delay);
  }

  /** Runs `fn` after every earlier locked operation: batches, flushes and finalizers never interleave. */
  private lock<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.chain.then(fn, fn);
    this.chain = run.catch(() => undefined);
    return run;
  }

  /**
   * lock() for a batch: kafkajs heartbeats only between batches, so while the batch waits for the lock (a flush
   * started by the timer may be writing or retrying) it heartbeats itself; the session does not expire meanwhile.
   */
  private lockBeating<T>(heartbeat: () => Promise<void>, fn: () => Promise<T>): Promise<T> {
    const beat = setInterval(() => void this.beat(heartbeat)(), HEARTBEAT_MS);
    return this.lock(() => {
      clearInterval(beat);
      return fn();
    }).finally(() => clearInterval(beat));
  }

  /**
   * A heartbeat that never throws; when the coordinator answers that a rebalance is under way or the session
   * expired, the partitions are marked as possibly lost (writes stop retrying; kafkajs rejoins after the batch).
   */
  private beat(heartbeat: () => Promise<void>): () => Promise<void> {
    return () =>
      heartbeat().catch((err: Error & { type?: string }) => {
        if (!MEMBERSHIP_LOST.has(err.type ?? '')) return;
        if (!this.rebalancing) this.logger.warn(`heartbeat: ${err.message}; partitions may have moved`);
        this.rebalancing = true;
      });
  }

  /** The group is rebalancing or has rebalanced since the merger's state was built: its partitions may be gone. */
  private mayHaveLost(): boolean {
    return this.rebalancing || this.mergerGeneration !== this.generation;
  }

  /** After a rebalance kafkajs reads every partition again from its committed offset: start over from there. */
  private syncGeneration(): void {
    if (this.mergerGeneration === this.generation) return;
    this.merger.revokeAll();
    this.mergerGeneration = this.generation;
  }

  private async onBatch({ batch, heartbeat: kafkaHeartbeat, isRunning, isStale }: EachBatchPayload): Promise<void> {
    this.syncGeneration();
    const heartbeat = this.beat(kafkaHeartbeat);
    if (this.stopping || !isRunning() || isStale()) return;
    const { topic, partition } = batch;
    if (batch.messages.length === 0) return;
    const b0 = performance.now();
    if (this.stats.firstBatchAt === 0) this.stats.firstBatchAt = b0;
    this.stats.batches++;
    if (!this.merger.isAssigned(topic, partition)) {
      if (this.groupGeneration === undefined) throw new Error('no group generation known: cannot claim partitions');
      const ctx: ResumeContext = {
        admin: this.admin!,
        groupId: this.config.groupId,
        store: this.store,
        merger: this.merger,
        logger: this.logger,
        generation: this.groupGeneration,
        owner: this.config.writerId,
      };
      await resumeAssigned(ctx, topic, this.assignment[topic] ?? []);
      if (!this.merger.isAssigned(topic, partition))
        await resumePartition(ctx, topic, partition, Number(batch.firstOffset()));
      this.stats.assignMs += performance.now() - b0;
    }
    let from = 0;
    for (let held = false; ; held = true) {
      const out = ingestBatch(this.merger, this.metrics, batch, Date.now(), from, held);
      // The dead letters are durable before any commit can pass their offsets.
      await sendDeadLetters(this.producer!, this.dlqTopic, out.letters);
      if (out.heldAt === undefined) break;
      // A message needs a window beyond the partition's limit: write what is due (and the oldest open window),
      // then go on from that message. Memory stays bounded and nothing is skipped.
      this.stats.heldBack++;
      this.metrics.heldBack.inc();
      await this.flusher.flush(this.consumer!, false, heartbeat);
      if (this.stopping || !isRunning() || isStale()) return;
      from = out.heldAt;
    }
    this.stats.batchMs += performance.now() - b0;
    this.restartAttempt = 0; // a batch went through: the next crash starts the backoff over
    if (this.flusher.due) await this.flusher.flush(this.consumer!, false, heartbeat);
  }

  private async tick(): Promise<void> {
    this.syncGeneration();
    // While the group rebalances this instance may be losing partitions: write nothing until it has rejoined.
    if (this.stopping || this.rebalancing || !this.joined) return;
    if (this.flusher.due) await this.flusher.flush(this.consumer!, false);
    else this.rollups.schedule(false);
  }

  /** Graceful stop: stop merging, write every open window as a partial row, commit, leave the group. */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    if (this.timer) clearInterval(this.timer);
    if (this.provisionalTimer) clearInterval(this.provisionalTimer);
    if (this.restartTimer) clearTimeout(this.restartTimer);
    await this.restarting;
    await this.provisionalRun;
    try {
      await this.lock(async () => {
        this.syncGeneration();
        if (this.consumer && this.joined) await this.flusher.flush(this.consumer, true);
      });
      await this.rollups.settled();
    } finally {
      await this.consumer?.disconnect().catch(() => undefined);
      await this.producer?.disconnect().catch(() => undefined);
      await this.admin?.disconnect().catch(() => undefined);
    }
  }
}
