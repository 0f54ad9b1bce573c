// One aggregator instance of bench/aggregator/scale.js, as its own process on its own embedded ClickHouse (chDB is
// one process per data directory). Settings come from the environment the parent gives; it talks over IPC:
//   → { type: 'joined' }                        once the instance has joined the group
//   ← { type: 'assignment', topic } → { type: 'assignment', n }   partitions of the topic it holds
//   ← { type: 'stop' }                          every offset is committed: stop gracefully and report
//   → { type: 'done', cpuMs, firstBatchAt, rows, stats }   its CPU from its first batch to the stop, its partial rows
// (advanced IPC serialization: the sketch columns travel as bytes).
'use strict';
const { mkdtempSync, rmSync } = require('node:fs');
const { tmpdir } = require('node:os');
const path = require('node:path');
const { createStorage, applyMigrations } = require('@tma/storage');
const { patchKafkajsIdleTimers } = require('@tma/kafka');
const { STORED_PARTIAL_SELECT, STORED_PARTIAL_BINARY } = require('@tma/rollup');
const { startAggregator } = require('../../apps/aggregator/dist/start');

const { sleep } = require('./setup');

async function main() {
  patchKafkajsIdleTimers();
  const dir = mkdtempSync(path.join(tmpdir(), 'tma-bench-instance-'));
  const storage = await createStorage({ kind: 'chdb', path: dir, database: 'tma_bench' });
  await applyMigrations(storage);
  const agg = await startAggregator({
    env: process.env,
    storage,
    httpPort: 0,
    logger: ['error'],
    defaultMetrics: false,
  });
  const consumer = agg.service.consumer;
  // Held open until the parent says stop (an idle consumer on an empty topic may leave nothing else referenced).
  const keepAlive = setInterval(() => undefined, 60_000);
  while (!agg.service.readiness().joined) await sleep(20);
  process.send({ type: 'joined' });

  // CPU from the first batch on (the instance idles until the parent publishes).
  let cpu0 = process.cpuUsage();
  const watch = setInterval(() => {
    if (consumer.stats.firstBatchAt === 0) cpu0 = process.cpuUsage();
    else clearInterval(watch);
  }, 2);
  await new Promise((resolve) =>
    process.on('message', (m) => {
      // the partitions of the snapshot topic this instance holds now (a private field of the consumer: bench only)
      if (m.type === 'assignment')
        process.send({ type: 'assignment', n: (consumer.assignment[m.topic] ?? []).length, joined: consumer.joined });
      if (m.type === 'stop') resolve();
    }),
  );
  clearInterval(watch);
  clearInterval(keepAlive);
  const cpu = process.cpuUsage(cpu0);
  const firstBatchAt = consumer.stats.firstBatchAt > 0 ? performance.timeOrigin + consumer.stats.firstBatchAt : 0;
  const stats = { ...consumer.merger.stats, ...consumer.stats };
  await agg.close();
  const rows = await storage.query(
    `SELECT topic, partition, epoch, toString(first_offset) AS first_offset, ${STORED_PARTIAL_SELECT}
     FROM {database}.agg_partials FINAL WHERE tier = '1m' ORDER BY partition, first_offset`,
    {},
    { binaryColumns: [...STORED_PARTIAL_BINARY] },
  );
  await storage.close();
  rmSync(dir, { recursive: true, force: true });
  // Disconnecting before the message is flushed would drop it: disconnect once it is sent.
  process.send({ type: 'done', cpuMs: (cpu.user + cpu.system) / 1000, firstBatchAt, rows, stats }, () =>
    process.connected ? process.disconnect() : undefined,
  );
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
