#!/usr/bin/env node
// The aggregator's window merge alone, A/B in one process on the same validated snapshots (no Kafka, no storage):
//   node --expose-gc bench/aggregator/merge.js [--hosts 1000] [--rounds 24] [--repeats 5] [--dense]
// --dense re-encodes every blob dense (a busy host's snapshot: 2 × 128 KiB CMS + 4 × 16 KiB HLL; default 40 hosts).
// Compares the sketch merges of a window (2 CMS + 4 HLL per snapshot, straight from the serialized blobs) into
// CmsWindow / HllWindow, as the aggregator does, against CountMinSketch / HyperLogLog windows (the path before),
// and times the whole WindowAccumulator.add() (sketches + candidates + protocols + hosts). Runs alternate A and B
// so machine noise hits both alike; prints the best and median per-snapshot times and their ratio.
'use strict';
const { cpus } = require('node:os');
const { benchSetup } = require('./setup');

const args = benchSetup(['libs/aggregation/tsconfig.json', 'tools/fleet-sim/tsconfig.json']);
const DENSE = process.argv.includes('--dense');
const HOSTS = Number(args.hosts ?? (DENSE ? 40 : 1000));
const ROUNDS = Number(args.rounds ?? 24);
const REPEATS = Number(args.repeats ?? 5);
const WINDOW_MS = 60_000;

const sk = require('@tma/sketch');
const { CountMinSketch, HyperLogLog, mergeEncodedCountMinSketch, mergeEncodedHyperLogLog } = sk;
const { decode, encode } = require('@tma/schema');
const { FleetSimulator } = require('../../tools/fleet-sim/dist');
const { validateMessage } = require('../../libs/aggregation/dist/validate');
const { windowOf } = require('../../libs/rollup/dist');
const { WindowAccumulator } = require('../../libs/aggregation/dist/window-accumulator');

const startMs =
  Math.floor(Date.now() / WINDOW_MS) * WINDOW_MS - Math.ceil((ROUNDS * 10_000) / WINDOW_MS + 2) * WINDOW_MS;
const sim = new FleetSimulator({ hosts: HOSTS, seed: 7, startMs, intervalMs: 10_000, truth: false });
const snaps = [];
const denseCms = (b) => Buffer.from(sk.encodeCountMinSketch(sk.decodeCountMinSketch(b), { encoding: 'dense' }));
const denseHll = (b) => Buffer.from(sk.encodeHyperLogLog(sk.decodeHyperLogLog(b), { encoding: 'dense' }));
function densify(value) {
  const s = decode(value).snapshot;
  return encode({
    ...s,
    cmsPackets: denseCms(s.cmsPackets),
    cmsBytes: denseCms(s.cmsBytes),
    hllFlows: denseHll(s.hllFlows),
    hllSources: denseHll(s.hllSources),
    hllDestinations: denseHll(s.hllDestinations),
    hllDestinationPorts: denseHll(s.hllDestinationPorts),
  });
}
let blobBytes = 0;
for (let r = 0; r < ROUNDS; r++)
  for (const m of sim.nextRound()) {
    const value = DENSE ? densify(m.value) : m.value;
    blobBytes += value.length;
    snaps.push(validateMessage(value, { nowMs: Date.now(), maxFutureMs: 600_000 }));
  }
const N = snaps.length;
const byWindow = new Map();
for (const v of snaps) {
  const w = windowOf(v.snapshot.intervalEndMs, WINDOW_MS);
  if (!byWindow.has(w)) byWindow.set(w, []);
  byWindow.get(w).push(v);
}

const blobs = (s) => [s.hllFlows, s.hllSources, s.hllDestinations, s.hllDestinationPorts];

/**
 * The sketch merges of every window (2 CMS + 4 HLL per snapshot, from the serialized blobs, or from the scaled
 * sketches a snapshot carries after validation) into fresh sketches of one kind; `total` reads the packets CMS total
 * (and releases what needs it).
 */
function mergeWindows({ newCms, newHll, mergeCms, mergeHll, total }) {
  let check = 0;
  const t = performance.now();
  for (const vs of byWindow.values()) {
    const cms = [newCms(), newCms()];
    const hll = [newHll(), newHll(), newHll(), newHll()];
    for (const v of vs) {
      const s = v.snapshot;
      if (v.scaled) {
        cms[0].merge(v.scaled.cmsPackets);
        cms[1].merge(v.scaled.cmsBytes);
      } else {
        mergeCms(cms[0], s.cmsPackets);
        mergeCms(cms[1], s.cmsBytes);
      }
      blobs(s).forEach((b, i) => mergeHll(hll[i], b));
    }
    check += total(cms, hll);
  }
  return { ms: performance.now() - t, check };
}

/** Before: plain sketches, CMS cells added by the JS loops of mergeEncodedCountMinSketch. */
const plainSketches = () =>
  mergeWindows({
    newCms: () => new CountMinSketch(),
    newHll: () => new HyperLogLog(),
    mergeCms: mergeEncodedCountMinSketch,
    mergeHll: mergeEncodedHyperLogLog,
    total: (cms) => cms[0].total,
  });

/** After, sketches only: the same merges into CmsWindow / HllWindow (+ toSketch, dispose). */
const windowSketches = () =>
  mergeWindows({
    newCms: () => new sk.CmsWindow(),
    newHll: () => new sk.HllWindow(),
    mergeCms: (w, b) => w.mergeEncoded(b),
    mergeHll: (w, b) => w.mergeEncoded(b),
    total: (cms, hll) => {
      const n = cms[0].toSketch().total;
      hll.forEach((h) => h.toSketch());
      for (const x of [...cms, ...hll]) x.dispose();
      return n;
    },
  });

/** After: the accumulator's windows, through WindowAccumulator (whole add(): sketches, candidates, hosts…). */
function accumulators() {
  let check = 0;
  const t = performance.now();
  let off = 0;
  for (const [w, vs] of byWindow) {
    const acc = new WindowAccumulator('t', 0, w, WINDOW_MS, false);
    for (const v of vs) acc.add(v, off++, 0);
    check += acc.seal().cmsPackets.total; // seal(): the copy out of WebAssembly memory every flush pays
  }
  return { ms: performance.now() - t, check };
}

const runs = { plain: [], windows: [], add: [] };
let check;
for (let r = 0; r < REPEATS + 1; r++) {
  for (const [name, fn] of [
    ['plain', plainSketches],
    ['windows', windowSketches],
    ['add', accumulators],
  ]) {
    global.gc?.();
    const res = fn();
    if (check === undefined) check = res.check;
    else if (res.check !== check) throw new Error(`${name}: total ${res.check} ≠ ${check}`);
    if (r > 0) runs[name].push((res.ms * 1000) / N); // the first round warms up
  }
}
const best = (xs) => Math.min(...xs);
const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
const f = (x) => x.toFixed(1);
console.log(
  `machine: ${cpus().length} × ${cpus()[0].model}, Node ${process.versions.node}; ${N} snapshots of ${HOSTS} hosts (avg ${Math.round(blobBytes / N)} B${DENSE ? ', dense blobs' : ''}) in ${byWindow.size} windows, ${REPEATS} runs each`,
);
console.log('| per snapshot | best µs | median µs |');
console.log('| --- | ---: | ---: |');
console.log(
  `| sketch merges into CountMinSketch / HyperLogLog (before) | ${f(best(runs.plain))} | ${f(median(runs.plain))} |`,
);
console.log(
  `| sketch merges into CmsWindow / HllWindow (after) | ${f(best(runs.windows))} | ${f(median(runs.windows))} |`,
);
console.log(`| whole WindowAccumulator.add() (after; + seal) | ${f(best(runs.add))} | ${f(median(runs.add))} |`);
console.log(
  `windows / plain: ${(median(runs.windows) / median(runs.plain)).toFixed(2)} (median), ${(best(runs.windows) / best(runs.plain)).toFixed(2)} (best)`,
);
