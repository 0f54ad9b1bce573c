#!/usr/bin/env node
// The aggregator core of two builds side by side in one process, on the same snapshots: this checkout against a built
// checkout of the baseline revision (e.g. `git worktree add ../base <rev>`, then in it `npx tsc -b
// libs/aggregation/tsconfig.json`):
//   node bench/aggregator/ab.js --baseline DIR [--hosts 1000] [--rounds 12] [--partitions 12] [--repeats 5] [--busy 1]
// Each run merges every snapshot (decode + validate + merge, WindowMerger.ingest) into windows of 12 partitions, then
// builds every window's agg_partials row (partialRowFromAccumulator, as the flusher writes it). Runs alternate so
// machine noise hits both alike; prints the median µs per snapshot of each and the ratio, and fails unless both
// builds give byte-identical rows.
'use strict';
const path = require('node:path');
const { benchSetup, fleetFlags, fleetMessages, fmt, stable, MINUTE } = require('./setup');

const args = benchSetup(['libs/aggregation/tsconfig.json', 'tools/fleet-sim/tsconfig.json']);
const { busy, hosts, rounds, partitions } = fleetFlags(args, 12);
const REPEATS = Number(args.repeats ?? 5);
if (!args.baseline) throw new Error('--baseline DIR: a built checkout of the revision to compare with');

const builds = [
  { name: 'baseline', dir: path.resolve(args.baseline) },
  { name: 'this checkout', dir: path.resolve('.') },
].map((b) => ({
  ...b,
  WindowMerger: require(path.join(b.dir, 'libs/aggregation/dist/window-merger')).WindowMerger,
  partialRowFromAccumulator: require(path.join(b.dir, 'libs/aggregation/dist/rows')).partialRowFromAccumulator,
  times: { ingest: [], rows: [] },
}));

const { messages, avgBytes } = fleetMessages({ hosts, rounds, busy });
const N = messages.length;
const nowMs = Date.now();
const written = new Date(nowMs);

function runOnce(b) {
  const merger = new b.WindowMerger({
    windowMs: MINUTE,
    allowedLatenessMs: 30_000,
    idleCloseMs: 60_000,
    maxFutureMs: 600_000,
    maxOpenWindows: 6,
  });
  for (let p = 0; p < partitions; p++) merger.assign({ topic: 't', partition: p, committed: 0, covered: [] });
  const offs = new Array(partitions).fill(0);
  const rows = [];
  let t = performance.now();
  messages.forEach((m, i) => {
    const p = i % partitions;
    const msg = { topic: 't', partition: p, offset: offs[p]++, value: m.value };
    // Held (the partition's window limit): its oldest window is taken and written as the consumer does.
    while (merger.ingest(msg, nowMs).kind === 'held') {
      const accs = merger.takeFlush(nowMs);
      for (const acc of accs) rows.push(b.partialRowFromAccumulator(acc, 'ab', 3600, written));
      merger.confirmFlush(accs);
    }
  });
  const ingestMs = performance.now() - t;
  t = performance.now();
  const accs = merger.takeFlush(nowMs, true);
  for (const acc of accs) rows.push(b.partialRowFromAccumulator(acc, 'ab', 3600, written));
  merger.confirmFlush(accs);
  b.times.ingest.push((ingestMs * 1000) / N);
  b.times.rows.push(((performance.now() - t) * 1000) / N);
  return stable(rows);
}

const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
let same = true;
for (let r = 0; r < REPEATS; r++) {
  const out = builds.map(runOnce);
  if (out[0] !== out[1]) same = false;
  global.gc?.();
}
console.log(
  `${fmt(N)} snapshots of ${hosts} ${busy ? 'busy' : 'quiet'} hosts (avg ${fmt(avgBytes)} B), ${partitions} partitions, ${REPEATS} alternating runs each\n`,
);
console.log('| per snapshot (median) | baseline | this checkout | ratio |');
console.log('| --- | ---: | ---: | ---: |');
for (const [k, label] of [
  ['ingest', 'decode + validate + merge (WindowMerger.ingest)'],
  ['rows', 'agg_partials rows of every window (partialRowFromAccumulator)'],
]) {
  const [a, b] = builds.map((x) => median(x.times[k]));
  console.log(`| ${label} | ${a.toFixed(1)} µs | ${b.toFixed(1)} µs | ${(b / a).toFixed(2)} |`);
}
console.log(`\nrows: ${same ? 'identical (every run, byte for byte)' : 'DIFFERENT'}`);
if (!same) process.exitCode = 1;
