#!/usr/bin/env node
// CPU of an idle aggregator: joined to its group on a real broker, no traffic, measured over a stretch of wall time
// after it settled. kafkajs keeps timers running in idle connections; this shows what they cost.
//
//   node bench/aggregator/idle.js [--seconds 30] [--root DIR]   (DIR: another checkout's build, for a before/after)
'use strict';
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const args = process.argv.slice(2);
const opt = (name, def) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : def;
};
const root = path.resolve(opt('root', path.join(__dirname, '../..')));
const SECONDS = Number(opt('seconds', 30));

async function main() {
  const { patchKafkajsIdleTimers } = require(path.join(root, 'libs/kafka/dist'));
  const { startAggregator } = require(path.join(root, 'apps/aggregator/dist/start'));
  const { createStorage } = require(path.join(root, 'libs/storage/dist'));
  patchKafkajsIdleTimers(); // as the aggregator's main.ts does at start-up
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tma-agg-idle-'));
  const storage = await createStorage({ kind: 'chdb', path: dir, database: 'tma' });
  const prefix = `idle${process.pid}`;
  const agg = await startAggregator({
    env: {
      ...process.env,
      TMA_TOPIC_PREFIX: prefix,
      TMA_AGG_GROUP_ID: `${prefix}-group`,
      TMA_AGG_TOPIC_PARTITIONS: '4',
    },
    storage,
    logger: false,
  });
  try {
    for (let i = 0; i < 600 && agg.readiness() !== null; i++) await new Promise((r) => setTimeout(r, 100));
    if (agg.readiness() !== null) throw new Error(`not ready: ${agg.readiness()}`);
    await new Promise((r) => setTimeout(r, 5000)); // settle: first fetches, metadata
    let ticks = 0;
    const tick = () => ticks++;
    const { createHook } = require('node:async_hooks');
    const hook = createHook({ init: (_id, type) => type === 'Timeout' && tick() }).enable();
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    await new Promise((r) => setTimeout(r, SECONDS * 1000));
    const c = process.cpuUsage(c0);
    const wall = performance.now() - t0;
    hook.disable();
    const cpu = (c.user + c.system) / 1000 / wall;
    console.log(
      `idle aggregator (${path.relative(process.cwd(), root) || '.'}): ${(cpu * 100).toFixed(2)} % of a core over ${SECONDS} s; ${Math.round((ticks * 1000) / wall)} timers armed per second`,
    );
  } finally {
    await agg.close();
    await storage.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
main().catch((e) => {
  console.error(e);
  process.exit(1);
});
