#!/usr/bin/env node
// Cost of the threat detectors per fleet window against the rollup rebuild of the same window (the baseline, in the
// same run, alternating): N simulated hosts' snapshots merged into partial rows (one per partition and window) on a
// fresh embedded chDB, then per window: ThreatRunner's read of the window (and its previous one) plus the detectors
// and the writes, versus PartialRowStore.finalizeWindow.
//   node bench/aggregator/threats.js [--hosts 1000] [--windows 8] [--partitions 12]
'use strict';
const { mkdtempSync, rmSync } = require('node:fs');
const { tmpdir } = require('node:os');
const path = require('node:path');
const { benchSetup } = require('./setup');

const args = benchSetup(['libs/aggregation/tsconfig.json', 'tools/fleet-sim/tsconfig.json']);
const HOSTS = Number(args.hosts ?? 1000);
const WINDOWS = Number(args.windows ?? 8);
const PARTITIONS = Number(args.partitions ?? 12);
const MIN = 60_000;

const { createStorage, applyMigrations } = require('@tma/storage');
const { DEFAULT_THREAT_CONFIG } = require('../../libs/threats/dist');
const { FleetSimulator } = require('../../tools/fleet-sim/dist');
const { WindowMerger } = require('../../libs/aggregation/dist/window-merger');
const { partialRowFromAccumulator } = require('../../libs/aggregation/dist/rows');
const { PartialRowStore } = require('../../libs/aggregation/dist/partial-row-store');
const { ThreatRunner } = require('../../libs/aggregation/dist/threat-runner');
const { Registry } = require('prom-client');

async function main() {
  const dir = mkdtempSync(path.join(tmpdir(), 'tma-bench-threats-'));
  const storage = await createStorage({ kind: 'chdb', path: dir, database: 'tma_bench_threats' });
  try {
    await applyMigrations(storage);
    const startMs = Math.floor(Date.now() / MIN) * MIN - (WINDOWS + 2) * MIN;
    const sim = new FleetSimulator({ hosts: HOSTS, seed: 7, startMs, intervalMs: 10_000, truth: false });
    const opts = {
      windowMs: MIN,
      allowedLatenessMs: 30_000,
      idleCloseMs: 5_000,
      maxFutureMs: 1e12,
      maxOpenWindows: 100,
    };
    const mergers = Array.from({ length: PARTITIONS }, () => new WindowMerger(opts));
    mergers.forEach((m, p) => m.assign({ topic: 'snap', partition: p, committed: 0, covered: [] }));
    const offsets = new Array(PARTITIONS).fill(0);
    for (let r = 0; r < WINDOWS * 6; r++)
      sim.nextRound().forEach((m, i) => {
        const p = i % PARTITIONS;
        mergers[p].ingest({ topic: 'snap', partition: p, offset: offsets[p]++, value: m.value }, Date.now());
      });
    const store = new PartialRowStore(
      storage,
      {
        partials: 86_400,
        windowTotals: 86_400,
        topFlows: 86_400,
        hostTotals: 86_400,
        protocolTotals: 86_400,
        hourTier: 86_400,
        dayTier: 86_400,
      },
      100,
    );
    for (const [p, m] of mergers.entries())
      await store.writePartials(
        m.takeFlush(Date.now(), true).map((a) => partialRowFromAccumulator(a, `w-${p}`, 86_400)),
      );
    const quiet = { log() {}, warn() {}, error() {} };
    const runner = new ThreatRunner(
      { windowMs: MIN, allowedLatenessMs: 30_000 },
      DEFAULT_THREAT_CONFIG,
      storage,
      new Registry(),
      quiet,
      () => true,
    );
    const threatMs = [];
    const rollupMs = [];
    for (let w = 0; w < WINDOWS; w++) {
      const ws = startMs + w * MIN;
      let t = performance.now();
      await store.finalizeWindow('1m', ws, MIN);
      rollupMs.push(performance.now() - t);
      t = performance.now();
      // One window per call: the runner evaluates what is due up to the window after this one.
      await runner.runDue(false, ws + 2 * MIN + 30_000, (x) => x > ws);
      threatMs.push(performance.now() - t);
    }
    const med = (a) => [...a].sort((x, y) => x - y)[a.length >> 1];
    // The first window has no baseline yet and reads no previous window: reported apart.
    console.log(`${HOSTS} hosts, ${PARTITIONS} partitions, ${WINDOWS} windows of 1 min (10 s intervals)`);
    console.log(
      `rollup rebuild per window: median ${med(rollupMs).toFixed(0)} ms (all: ${rollupMs.map((x) => x.toFixed(0)).join(', ')})`,
    );
    console.log(
      `threat detection per window: median ${med(threatMs.slice(1)).toFixed(0)} ms after the first (all: ${threatMs.map((x) => x.toFixed(0)).join(', ')})`,
    );
    console.log(`ratio threat / rollup (medians): ${(med(threatMs.slice(1)) / med(rollupMs)).toFixed(2)}`);
  } finally {
    await storage.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
