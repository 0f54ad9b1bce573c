#!/usr/bin/env node
// Aggregator throughput with N simulated hosts (default 1,000) and the real Kafka broker beside it.
//   node --expose-gc bench/aggregator/run.js [--hosts 1000] [--rounds 12] [--partitions 12] [--busy 1] [--profile F]
// Prints, side by side on the same messages: Kafka read alone (kafkajs, no decoding), the aggregator core alone
// (decode + validate + merge in memory), and the whole aggregator (Kafka → merge → ClickHouse on embedded chDB →
// commit), with CPU, peak RSS and the time per snapshot spent decoding, merging and writing.
'use strict';
const { mkdtempSync, rmSync } = require('node:fs');
const { tmpdir, cpus } = require('node:os');
const path = require('node:path');
const { randomBytes } = require('node:crypto');
const {
  benchSetup,
  fleetFlags,
  fleetMessages,
  benchKafka,
  publish,
  committedSum,
  aggregatorEnv,
  fmt,
  sleep,
  MINUTE,
} = require('./setup');

const args = benchSetup(['apps/aggregator/tsconfig.json', 'tools/fleet-sim/tsconfig.json']);
// --busy: busy hosts (~200 KiB snapshots, setup.js BUSY_TRAFFIC), 100 of them unless --hosts says otherwise.
const { busy: BUSY, hosts: HOSTS, rounds: ROUNDS, partitions: PARTITIONS } = fleetFlags(args, 12);

const { ensureTopics, patchKafkajsIdleTimers } = require('@tma/kafka');
const { snapshotTopic, deadLetterTopic } = require('@tma/schema');
const { createStorage, applyMigrations } = require('@tma/storage');
const { WindowMerger } = require('../../libs/aggregation/dist/window-merger');
const { startAggregator } = require('../../apps/aggregator/dist/start');

patchKafkajsIdleTimers(); // as the aggregator's main.ts does at start-up

const kafka = benchKafka('tma-bench');

/** --profile FILE: a CPU profile of the whole-aggregator stage alone (start until every offset is committed). */
async function startProfile() {
  const { Session } = require('node:inspector');
  const session = new Session();
  session.connect();
  const post = (method, params) =>
    new Promise((resolve, reject) => session.post(method, params, (err, r) => (err ? reject(err) : resolve(r))));
  await post('Profiler.enable');
  await post('Profiler.setSamplingInterval', { interval: 500 });
  await post('Profiler.start');
  return {
    async stop(file) {
      const { profile } = await post('Profiler.stop');
      require('node:fs').writeFileSync(file, JSON.stringify(profile));
      session.disconnect();
    },
  };
}

async function main() {
  let t = Date.now();
  let { messages, avgBytes } = fleetMessages({ hosts: HOSTS, rounds: ROUNDS, busy: BUSY });
  const N = messages.length;
  console.log(
    `generated ${fmt(N)} snapshots of ${HOSTS} hosts (avg ${fmt(avgBytes)} B) in ${((Date.now() - t) / 1000).toFixed(1)} s`,
  );

  // 1. The core alone, in memory.
  const merger = new WindowMerger({
    windowMs: MINUTE,
    allowedLatenessMs: 30_000,
    idleCloseMs: 60_000,
    maxFutureMs: 600_000,
    maxOpenWindows: 6,
  });
  for (let p = 0; p < PARTITIONS; p++) merger.assign({ topic: 't', partition: p, committed: 0, covered: [] });
  const offs = new Array(PARTITIONS).fill(0);
  t = performance.now();
  messages.forEach((m, i) => {
    const msg = { topic: 't', partition: i % PARTITIONS, offset: offs[i % PARTITIONS]++, value: m.value };
    // Held (the partition's window limit): make room as the consumer does, without the write.
    while (merger.ingest(msg, Date.now()).kind === 'held') merger.confirmFlush(merger.takeFlush(Date.now()));
  });
  const coreRate = N / ((performance.now() - t) / 1000);
  const coreStats = { ...merger.stats };
  merger.revokeAll(); // returns the open windows' memory before the whole aggregator runs

  // 2. Publish.
  const prefix = `bench${randomBytes(3).toString('hex')}`;
  const topic = snapshotTopic(prefix);
  const admin = kafka.admin();
  await admin.connect();
  await ensureTopics(admin, [
    { topic, numPartitions: PARTITIONS },
    { topic: deadLetterTopic(prefix), numPartitions: 1 },
  ]);
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  t = Date.now();
  await publish(producer, topic, messages, PARTITIONS);
  const publishRate = N / ((Date.now() - t) / 1000);
  await producer.disconnect();
  messages = null;
  global.gc?.();

  // 3. Kafka read alone.
  const raw = kafka.consumer({ groupId: `${prefix}-raw` });
  await raw.connect();
  await raw.subscribe({ topic, fromBeginning: true });
  let seen = 0;
  let t0 = 0;
  await new Promise((resolve) => {
    raw.run({
      eachBatch: async ({ batch }) => {
        if (!t0) t0 = performance.now();
        seen += batch.messages.length;
        if (seen >= N) resolve();
      },
    });
  });
  const rawRate = N / ((performance.now() - t0) / 1000);
  await raw.disconnect();

  // 4. The whole aggregator, in this process, on a fresh embedded ClickHouse.
  const dir = mkdtempSync(path.join(tmpdir(), 'tma-bench-'));
  const storage = await createStorage({ kind: 'chdb', path: dir, database: 'tma_bench' });
  await applyMigrations(storage);
  const env = aggregatorEnv(prefix, PARTITIONS, {
    TMA_AGG_WRITER_ID: 'bench',
    TMA_AGG_ROLLUP_DELAY: args['rollup-delay'] ?? '5s',
  });
  const rssBase = process.memoryUsage().rss;
  const profiler = args.profile ? await startProfile() : null;
  const agg = await startAggregator({ env, storage, httpPort: 0, logger: ['error'], defaultMetrics: false });
  const consumer = agg.service.consumer;
  let rssPeak = 0;
  let first = 0;
  let cpu0;
  const timeline = [];
  let lastDecode = 0;
  let mergedAt = 0;
  const sampler = setInterval(() => {
    if (first && consumer.merger.stats.decodeMs !== lastDecode) {
      lastDecode = consumer.merger.stats.decodeMs;
      mergedAt = performance.now();
    }
    rssPeak = Math.max(rssPeak, process.memoryUsage().rss);
    if (args.timeline && first && timeline.length < (performance.now() - first) / 500) {
      const st = consumer.stats;
      timeline.push(
        `${((performance.now() - first) / 1000).toFixed(1)}s batches=${st.batches} decode=${consumer.merger.stats.decodeMs.toFixed(0)} write=${st.writeMs.toFixed(0)} rollup=${st.finalizeMs.toFixed(0)} commits=${st.commits}`,
      );
    }
  }, 50);
  // Timed from the start of the first batch (recorded by the consumer: a batch is processed synchronously, so
  // polling from here would only see its end).
  cpu0 = process.cpuUsage();
  while (!first) {
    if (consumer.stats.firstBatchAt > 0) first = consumer.stats.firstBatchAt;
    else cpu0 = process.cpuUsage();
    await sleep(1);
  }
  const start = { ...consumer.merger.stats, ...consumer.stats };
  // The topic's end offsets were fixed by the publish: only the group's commits are polled (cheap), and when each
  // step of them was first seen.
  const steps = [];
  for (let done = 0; done < N; await sleep(done < N ? 100 : 0)) {
    done = await committedSum(admin, `${prefix}-agg`, topic);
    if (done > (steps.at(-1)?.done ?? 0)) steps.push({ done, at: performance.now() });
  }
  const wall = (performance.now() - first) / 1000;
  // Committed as the watermark passed: the last commit before the final window, which only the idle close (a wall-
  // clock wait after the input ends) writes. In a steady stream windows close this way, one after another.
  const steady = steps.length > 1 ? steps.at(-2) : steps[0];
  const steadyRate = steady.done / ((steady.at - first) / 1000);
  const cpu = process.cpuUsage(cpu0);
  if (profiler) await profiler.stop(args.profile);
  clearInterval(sampler);
  const s = { ...consumer.merger.stats, ...consumer.stats };
  const [stored] = await storage.query(
    `SELECT sum(snapshots) AS n FROM {database}.agg_partials FINAL WHERE tier = '1m'`,
  );
  await agg.close(); // graceful: rollups and the 1 h tier are rebuilt off the commit path, finished here
  const rollupMs = consumer.stats.finalizeMs - start.finalizeMs;
  await storage.close();
  rmSync(dir, { recursive: true, force: true });
  await admin.deleteTopics({ topics: [topic, deadLetterTopic(prefix)] }).catch(() => undefined);
  await admin.disconnect();

  const aggRate = N / wall;
  const mergeWall = (mergedAt - first) / 1000;
  if (args.timeline) console.log(timeline.join('\n'));
  const per = (ms) => `${((ms * 1000) / N).toFixed(0)} µs`;
  console.log(
    `\nmachine: ${cpus().length} × ${cpus()[0].model}, Node ${process.versions.node}; ${PARTITIONS} partitions; Kafka on this machine`,
  );
  console.log(`stored snapshots: ${stored.n} of ${N}\n`);
  const mb = (rate) => fmt((rate * avgBytes) / 1e6, 1);
  const stages = [
    ['publish (producer, acks=all)', publishRate],
    ['Kafka read alone (kafkajs, no decode)', rawRate],
    ['core alone: decode + validate + merge in memory', coreRate],
    [
      'whole aggregator, until every snapshot is merged (windows written and committed as the watermark passes)',
      N / mergeWall,
    ],
    [
      `**whole aggregator, committed as the watermark passes** (${fmt(steady.done)} snapshots: all but the last window's, whose rows wait for the idle close)`,
      steadyRate,
    ],
    [
      `whole aggregator, until every offset is committed (incl. the ${env.TMA_AGG_IDLE_CLOSE} idle close of the last window)`,
      aggRate,
    ],
  ];
  console.log('| stage | snapshots/s | MB/s | vs Kafka read alone |');
  console.log('| --- | ---: | ---: | ---: |');
  for (const [stage, rate] of stages)
    console.log(`| ${stage} | ${fmt(rate)} | ${mb(rate)} | ${(rate / rawRate).toFixed(2)} |`);
  console.log(
    `\ncore alone, per snapshot: decode+validate ${per(coreStats.decodeMs)}, merge ${per(coreStats.mergeMs)}`,
  );
  console.log(
    `whole aggregator: ${wall.toFixed(2)} s wall, CPU ${fmt(((cpu.user + cpu.system) / N) | 0)} µs per snapshot, ${((cpu.user + cpu.system) / 1e6 / wall).toFixed(2)} cores (user ${(cpu.user / 1e6).toFixed(1)} s, system ${(cpu.system / 1e6).toFixed(1)} s), peak RSS ${fmt(rssPeak / 2 ** 20)} MiB (${fmt(rssBase / 2 ** 20)} MiB before start)`,
  );
  console.log(
    `per snapshot: decode+validate ${per(s.decodeMs - start.decodeMs)}, merge ${per(s.mergeMs - start.mergeMs)}, encode rows ${per(s.encodeMs - start.encodeMs)}, write partials ${per(s.writeMs - start.writeMs)}, ${s.rowsWritten - start.rowsWritten} partial rows, ${s.commits - start.commits} commits`,
  );
  console.log(
    `time in batches ${((s.batchMs - start.batchMs) / 1000).toFixed(2)} s over ${s.batches - start.batches} batches (partition assignment ${((s.assignMs - start.assignMs) / 1000).toFixed(2)} s), commits ${((s.commitMs - start.commitMs) / 1000).toFixed(2)} s`,
  );
  console.log(
    `readable rollups + 1 h tier (after the commits, debounced per window): ${per(rollupMs)} per snapshot, ${(rollupMs / 1000).toFixed(2)} s in all`,
  );
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
