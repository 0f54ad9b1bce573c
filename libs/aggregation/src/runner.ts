// The Kafka side of the aggregator: kafkajs directly (not the @nestjs/microservices transport, which commits on its
// own schedule and exposes no per-partition commit of chosen offsets): autoCommit off, offsets committed only after
// ClickHouse acknowledged the rows holding them, consumption paused while ClickHouse fails.
import {
  Kafka,
  KafkaJSNonRetriableError,
  logLevel,
  Partitioners,
  type Admin,
  type Consumer,
  type EachBatchPayload,
  type IHeaders,
  type Producer,
} from 'kafkajs';
import { ensureTopics, patchKafkajsIdleTimers, type KafkaSettings } from '@tma/kafka';
import { DLQ_MESSAGE_HEADER, DLQ_REASON_HEADER, deadLetterTopic, snapshotTopics } from '@tma/schema';
import type { AggregatorConfig } from './config';
import { AggregatorEngine } from './engine';
import type { AggregatorMetrics } from './metrics';
import { partialRowFromAccumulator, type PartialRow } from './rows';
import { AggregatorSink, HOUR_MS } from './sink';
import type { WindowAccumulator } from './window';

// Idle kafkajs connections otherwise re-arm a 1 ms timer each, all day (see @tma/kafka).
patchKafkajsIdleTimers();

export interface RunnerLogger {
  log(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class AggregatorRunner {
  readonly engine: AggregatorEngine;
  private readonly kafka: Kafka;
  private consumer?: Consumer;
  private producer?: Producer;
  private admin?: Admin;
  private readonly topics: string[];
  readonly dlqTopic: string;
  private chain: Promise<unknown> = Promise.resolve();
  private generation = 0;
  private engineGeneration = 0;
  private rebalancing = false;
  private joined = false;
  private failing = false;
  private paused = false;
  private stopping = false;
  private timer?: NodeJS.Timeout;
  private lastFlushWall = 0;
  private writes = 0;
  private crashBatches = 0;
  private crashedConsumer?: Consumer;
  /** Restarts of the consumer after kafkajs gave up on it, since the last successful join (drives the backoff). */
  private restartAttempt = 0;
  private restartTimer?: NodeJS.Timeout;
  private restarting?: Promise<void>;
  /** Partitions per topic given to this member at the last join. */
  private assignment: Record<string, number[]> = {};
  private rollupRunning = false;
  private rollupForceAgain = false;
  private rollupDone: Promise<void> = Promise.resolve();
  /** Window start → when its rollups are due (debounced: every new row for the window pushes it back). */
  private readonly finalizeQueue = new Map<number, number>();
  /** Hour start → count of writes touching it; the count tells a rebuild whether rows arrived meanwhile. */
  private readonly hoursTouched = new Map<number, number>();
  /** Stats of the last flushes, for the benchmark breakdown. */
  readonly stats = {
    encodeMs: 0,
    writeMs: 0,
    finalizeMs: 0,
    commits: 0,
    rowsWritten: 0,
    batchMs: 0,
    assignMs: 0,
    commitMs: 0,
    batches: 0,
    firstBatchAt: 0,
  };

  constructor(
    private readonly config: AggregatorConfig,
    kafkaSettings: KafkaSettings,
    readonly sink: AggregatorSink,
    private readonly metrics: AggregatorMetrics,
    private readonly logger: RunnerLogger,
  ) {
    this.engine = new AggregatorEngine(config);
    this.kafka = new Kafka({
      ...kafkaSettings,
      logLevel: logLevel.WARN,
      logCreator: () => (e) => this.kafkaLog(e.level, e.log.message),
    });
    this.topics = snapshotTopics(config.topicPrefix);
    this.dlqTopic = deadLetterTopic(config.topicPrefix);
  }

  private kafkaLog(level: number, message: string): void {
    if (level === logLevel.ERROR) this.logger.error(`kafka: ${message}`);
    else if (level === logLevel.WARN) this.logger.warn(`kafka: ${message}`);
  }

  /** Joined the group and ClickHouse writes are not failing. */
  get ready(): boolean {
    return this.joined && !this.failing && !this.stopping;
  }

  async start(): Promise<void> {
    this.admin = this.kafka.admin();
    await this.admin.connect();
    await ensureTopics(this.admin, [
      ...this.topics.map((topic) => ({ topic, numPartitions: this.config.topicPartitions })),
      { topic: this.dlqTopic, numPartitions: 1 },
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
  }

  /** A new kafkajs consumer in the group: subscribed, running, events wired. */
  private async startConsumer(): Promise<void> {
    const consumer = this.kafka.consumer({
      groupId: this.config.groupId,
      sessionTimeout: this.config.sessionTimeoutMs,
      rebalanceTimeout: Math.max(60_000, this.config.sessionTimeoutMs),
      heartbeatInterval: 3_000,
      maxBytesPerPartition: 8 * 1024 * 1024,
    });
    this.consumer = consumer;
    consumer.on(consumer.events.GROUP_JOIN, (e) => {
      this.generation++;
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
      eachBatch: (p) => this.lock(() => this.onBatch(p)),
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

  /** After a rebalance kafkajs reads every partition again from its committed offset: start over from there. */
  private syncGeneration(): void {
    if (this.engineGeneration === this.generation) return;
    this.engine.revokeAll();
    this.engineGeneration = this.generation;
  }

  /**
   * Loads every partition of `topic` this member was given in three round trips (offsets, covered rows, sequences)
   * instead of three per partition. A partition never committed starts at 0: kafkajs reads it from the log start
   * (fromBeginning), and every stored row of it counts as covered.
   */
  private async assignAll(topic: string): Promise<void> {
    const mine = (this.assignment[topic] ?? []).filter((p) => !this.engine.isAssigned(topic, p));
    if (mine.length === 0) return;
    const offsets = await this.admin!.fetchOffsets({ groupId: this.config.groupId, topics: [topic] });
    const start = new Map<number, number>(mine.map((p) => [p, 0]));
    for (const p of offsets[0]?.partitions ?? [])
      if (start.has(p.partition) && Number(p.offset) >= 0) start.set(p.partition, Number(p.offset));
    const covered = await this.sink.coveredRangesMany(topic, start);
    for (const [partition, from] of start) {
      const c = covered.get(partition) ?? [];
      this.engine.assign({ topic, partition, committed: from, covered: c });
      if (c.length > 0)
        this.logger.log(
          `${topic}/${partition}: resuming at ${from}; ${c.length} stored row(s) past it will not be merged again`,
        );
    }
    for (const s of await this.sink.recentSequencesMany(topic, mine))
      this.engine.sequences.restore(s.host, s.boot, s.last);
  }

  private async assign(topic: string, partition: number, firstFetched: number): Promise<void> {
    const offsets = await this.admin!.fetchOffsets({ groupId: this.config.groupId, topics: [topic] });
    const found = offsets[0]?.partitions.find((p) => p.partition === partition);
    const committed = found && Number(found.offset) >= 0 ? Number(found.offset) : -1;
    const start = committed >= 0 ? committed : firstFetched;
    const covered = await this.sink.coveredRanges(topic, partition, committed >= 0 ? committed : 0);
    this.engine.assign({ topic, partition, committed: start, covered });
    for (const s of await this.sink.recentSequences(topic, partition))
      this.engine.sequences.restore(s.host, s.boot, s.last);
    if (covered.length > 0)
      this.logger.log(
        `${topic}/${partition}: resuming at ${start}; ${covered.length} stored row(s) past it will not be merged again`,
      );
  }

  private async onBatch({ batch, heartbeat, isRunning, isStale }: EachBatchPayload): Promise<void> {
    this.syncGeneration();
    if (this.stopping || !isRunning() || isStale()) return;
    const { topic, partition } = batch;
    if (batch.messages.length === 0) return;
    if (this.crashBatches < this.config.faultCrashBatches && this.crashedConsumer !== this.consumer) {
      this.crashedConsumer = this.consumer;
      this.crashBatches++;
      throw new KafkaJSNonRetriableError(
        `injected non-retriable failure ${this.crashBatches} (TMA_AGG_FAULT_CRASH_BATCHES)`,
      );
    }
    const b0 = performance.now();
    if (this.stats.firstBatchAt === 0) this.stats.firstBatchAt = b0;
    this.stats.batches++;
    if (!this.engine.isAssigned(topic, partition)) {
      await this.assignAll(topic);
      if (!this.engine.isAssigned(topic, partition)) await this.assign(topic, partition, Number(batch.firstOffset()));
      this.stats.assignMs += performance.now() - b0;
    }
    const dlq: { key: Buffer | null; value: Buffer | null; headers: IHeaders }[] = [];
    const now = Date.now();
    const m = this.metrics;
    const d0 = this.engine.stats.decodeMs;
    const g0 = this.engine.stats.mergeMs;
    for (const msg of batch.messages) {
      const out = this.engine.ingest({ topic, partition, offset: Number(msg.offset), value: msg.value }, now);
      switch (out.kind) {
        case 'accepted':
          m.snapshots.inc({ outcome: out.late ? 'late' : 'accepted' });
          if (out.gap > 0) m.gaps.inc(out.gap);
          break;
        case 'rejected':
          m.snapshots.inc({ outcome: 'rejected' });
          m.dlq.inc({ reason: out.reason });
          dlq.push(
            deadLetter(msg.key, msg.value, {
              [DLQ_REASON_HEADER]: out.reason,
              [DLQ_MESSAGE_HEADER]: out.message.slice(0, 1024),
              'tma-dlq-source': `${topic}/${partition}/${msg.offset}`,
            }),
          );
          break;
        default:
          m.snapshots.inc({ outcome: out.kind });
      }
    }
    m.decodeSeconds.inc((this.engine.stats.decodeMs - d0) / 1000);
    m.mergeSeconds.inc((this.engine.stats.mergeMs - g0) / 1000);
    m.lag.set(
      { topic, partition: String(partition) },
      Math.max(0, Number(batch.highWatermark) - Number(batch.lastOffset()) - 1),
    );
    m.watermark.set(this.engine.watermark / 1000);
    m.openWindows.set(this.engine.openAccumulators());
    // The dead letters are durable before any commit can pass their offsets.
    for (const messages of chunkBySize(dlq, DLQ_REQUEST_BYTES)) {
      await this.producer!.send({ topic: this.dlqTopic, acks: -1, messages });
    }
    this.stats.batchMs += performance.now() - b0;
    this.restartAttempt = 0; // a batch went through: the next crash starts the backoff over
    if (Date.now() - this.lastFlushWall >= this.config.flushIntervalMs) await this.flush(false, heartbeat);
  }

  private async tick(): Promise<void> {
    this.syncGeneration();
    // While the group rebalances this instance may be losing partitions: write nothing until it has rejoined.
    if (this.stopping || this.rebalancing || !this.joined) return;
    if (Date.now() - this.lastFlushWall >= this.config.flushIntervalMs) await this.flush(false);
    else this.scheduleRollups(false);
  }

  /** Writes what is due, then commits, then rebuilds rollups. Retries writes until they succeed (pausing the consumer). */
  private async flush(force: boolean, heartbeat?: () => Promise<void>): Promise<void> {
    const now = Date.now();
    const idle = this.engine.isIdle(now);
    const accs = this.engine.takeFlush(now, force);
    if (accs.length > 0) {
      const t0 = performance.now();
      const rows = accs.map((a) => partialRowFromAccumulator(a, this.config.writerId, this.config.retention.partials));
      this.stats.encodeMs += performance.now() - t0;
      await this.writeWithRetry(rows, heartbeat, force);
      if (this.config.faultKillAfterWrites > 0 && ++this.writes >= this.config.faultKillAfterWrites) {
        this.logger.warn(`fault injection: SIGKILL after write ${this.writes}, before the commit`);
        process.kill(process.pid, 'SIGKILL');
        await sleep(60_000);
      }
      this.engine.confirmFlush(accs);
      this.noteWritten(accs);
    }
    const positions = this.engine.commitPositions();
    if (positions.length > 0) {
      const c0 = performance.now();
      try {
        await this.consumer!.commitOffsets(
          positions.map((p) => ({ topic: p.topic, partition: p.partition, offset: String(p.offset) })),
        );
        this.engine.markCommitted(positions);
        this.stats.commits++;
        this.stats.commitMs += performance.now() - c0;
      } catch (err) {
        // A rebalance took the partition: its new owner skips what these rows hold (see engine.ts).
        this.logger.warn(`commit failed (${(err as Error).message}); the rows are stored and will not be merged again`);
      }
    }
    this.lastFlushWall = Date.now();
    this.metrics.openWindows.set(this.engine.openAccumulators());
    this.scheduleRollups(force || idle);
  }

  /**
   * Rollups run on their own chain, not under the batch lock: rebuilding a busy window (or an hour) can take
   * seconds of reading and re-ranking, and consumption, commits and heartbeats must not wait for it.
   */
  private scheduleRollups(force: boolean): void {
    if (this.rollupRunning) {
      this.rollupForceAgain ||= force;
      return;
    }
    this.rollupRunning = true;
    this.rollupDone = (async () => {
      try {
        let f = force;
        do {
          this.rollupForceAgain = false;
          await this.runFinalizers(f);
          f = this.rollupForceAgain;
        } while (f);
      } catch (err) {
        this.logger.error(`rollups: ${(err as Error).message}`);
      } finally {
        this.rollupRunning = false;
      }
    })();
  }

  private async writeWithRetry(
    rows: PartialRow[],
    heartbeat: (() => Promise<void>) | undefined,
    force: boolean,
  ): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      const end = this.metrics.writeSeconds.startTimer({ table: 'agg_partials' });
      const t0 = performance.now();
      try {
        await this.sink.writePartials(rows);
        end();
        this.stats.writeMs += performance.now() - t0;
        this.stats.rowsWritten += rows.length;
        this.metrics.rowsWritten.inc({ table: 'agg_partials' }, rows.length);
        if (this.paused) this.setPaused(false);
        this.failing = false;
        return;
      } catch (err) {
        this.metrics.writeErrors.inc();
        this.failing = true;
        if (!this.paused) this.setPaused(true);
        this.logger.warn(
          `write of ${rows.length} partial row(s) failed (attempt ${attempt + 1}): ${(err as Error).message}`,
        );
        // While stopping, give up after a few attempts: the unwritten data stays uncommitted and is read again.
        if ((force || this.stopping) && attempt >= 4) throw err;
        await sleep(Math.min(10_000, 200 * 2 ** attempt));
        await heartbeat?.().catch(() => undefined);
      }
    }
  }

  private setPaused(paused: boolean): void {
    this.paused = paused;
    this.metrics.paused.set(paused ? 1 : 0);
    const topics = this.topics.map((topic) => ({ topic }));
    if (paused) this.consumer?.pause(topics);
    else this.consumer?.resume(topics);
  }

  private noteWritten(accs: readonly WindowAccumulator[]): void {
    for (const a of accs) {
      this.finalizeQueue.set(a.windowStart, Date.now() + this.config.rollupDelayMs);
      const h = Math.floor(a.windowStart / HOUR_MS) * HOUR_MS;
      this.hoursTouched.set(h, (this.hoursTouched.get(h) ?? 0) + 1);
    }
  }

  /** Readable rollups of written windows; the 1 h tier once the watermark passed the hour (or on idle/shutdown). */
  private async runFinalizers(force: boolean): Promise<void> {
    const t0 = performance.now();
    const now = Date.now();
    for (const [w, due] of [...this.finalizeQueue].sort((a, b) => a[0] - b[0])) {
      if (!force && due > now) continue;
      try {
        const end = this.metrics.writeSeconds.startTimer({ table: 'rollups' });
        await this.sink.finalizeWindow('1m', w, this.config.windowMs);
        end();
        // A row written meanwhile moved the due time: keep it queued for another rebuild.
        if (this.finalizeQueue.get(w) === due) this.finalizeQueue.delete(w);
      } catch (err) {
        this.logger.warn(
          `rollups of window ${new Date(w).toISOString()} failed, will retry: ${(err as Error).message}`,
        );
        break;
      }
    }
    for (const [h, touches] of [...this.hoursTouched].sort((a, b) => a[0] - b[0])) {
      if (!force && h + HOUR_MS + this.config.allowedLatenessMs > this.engine.lowWatermark) continue;
      try {
        const end = this.metrics.writeSeconds.startTimer({ table: 'hour_tier' });
        await this.sink.buildHour(h);
        end();
        if (this.hoursTouched.get(h) === touches) this.hoursTouched.delete(h);
      } catch (err) {
        this.logger.warn(`1 h tier of ${new Date(h).toISOString()} failed, will retry: ${(err as Error).message}`);
        break;
      }
    }
    this.stats.finalizeMs += performance.now() - t0;
  }

  /** Graceful stop: stop merging, write every open window as a partial row, commit, leave the group. */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    if (this.timer) clearInterval(this.timer);
    if (this.restartTimer) clearTimeout(this.restartTimer);
    await this.restarting;
    try {
      await this.lock(async () => {
        this.syncGeneration();
        if (this.consumer && this.joined) await this.flush(true);
      });
      await this.rollupDone;
    } finally {
      await this.consumer?.disconnect().catch(() => undefined);
      await this.producer?.disconnect().catch(() => undefined);
      await this.admin?.disconnect().catch(() => undefined);
    }
  }
}

type DeadLetter = { key: Buffer | null; value: Buffer | null; headers: IHeaders };

/** One produce request stays well under the broker's default 1 MiB message.max.bytes. */
const DLQ_REQUEST_BYTES = 512 * 1024;
/** A rejected message larger than this keeps only its first bytes (the header says how large it was). */
export const DLQ_VALUE_BYTES = 256 * 1024;

/** Dead letter for a rejected message; an oversized value is cut so the DLQ write itself can never be refused. */
export function deadLetter(key: Buffer | null, value: Buffer | null, headers: IHeaders): DeadLetter {
  if (value && value.length > DLQ_VALUE_BYTES) {
    return {
      key,
      value: value.subarray(0, DLQ_VALUE_BYTES),
      headers: { ...headers, 'tma-dlq-truncated-from': String(value.length) },
    };
  }
  return { key, value, headers };
}

/** Groups dead letters into produce requests of at most `budget` bytes of keys and values (at least one each). */
export function chunkBySize(letters: DeadLetter[], budget: number): DeadLetter[][] {
  const chunks: DeadLetter[][] = [];
  let current: DeadLetter[] = [];
  let size = 0;
  for (const l of letters) {
    const n = (l.key?.length ?? 0) + (l.value?.length ?? 0) + 256;
    if (current.length > 0 && size + n > budget) {
      chunks.push(current);
      current = [];
      size = 0;
    }
    current.push(l);
    size += n;
  }
  if (current.length > 0) chunks.push(current);
  return chunks;
}
