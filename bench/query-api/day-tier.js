#!/usr/bin/env node
// What a 24 h and a 30-day top-K cost from the 1 d tier against the 1 h tier, side by side in one run: the merge a
// top-K answer does on its rows (decode the CMS pair and the candidate list of every row, add the CMS, union the
// candidates, cut to the 2,048 largest estimates, rank them with bounds), timed in-process on rows shaped as the
// aggregator writes them (a frequent-items summary of k = 10,000 per ranking: up to 20,000 candidates per row, full
// 4 × 4096 CMS pair). Storage reads are left out: they scale with the rows read alike.
//
//   npx tsc -b libs/rollup/tsconfig.json && node bench/query-api/day-tier.js [--reps 5] [--flows 400000]
'use strict';
const path = require('node:path');
const os = require('node:os');
const { parseArgs } = require('node:util');
const root = path.resolve(__dirname, '../..');
const sketch = require(path.join(root, 'libs/sketch/dist'));
const rollup = require(path.join(root, 'libs/rollup/dist'));

const { values: options } = parseArgs({
  options: { reps: { type: 'string', default: '5' }, flows: { type: 'string', default: '400000' } },
});
const REPS = Number(options.reps);
const FLOWS = Number(options.flows);
const K = rollup.HOUR_CANDIDATES;

function prng(seed) {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const keys = [];
const keyOf = (i) =>
  (keys[i] ??= sketch.flowKey({
    src: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`,
    dst: `198.18.${(i * 7) & 255}.${1 + (i % 250)}`,
    sport: 1024 + (i % 60000),
    dport: 443,
    proto: 6,
  }));

/**
 * One hour's exact summary: Zipf 1.1 traffic over FLOWS flows (which ones lead shifts every hour), 5 × 10^7 packets,
 * every flow above 64 packets listed with since-entry counts; then pruned to k like the aggregator's 1 h row.
 */
function hourSummary(h) {
  const rnd = prng(1000 + h);
  const cmsP = new sketch.CountMinSketch();
  const cmsB = new sketch.CountMinSketch();
  const candidates = [];
  let z = 0;
  for (let r = 1; r <= FLOWS; r++) z += 1 / Math.pow(r, 1.1);
  const shift = Math.floor(rnd() * FLOWS);
  const h32 = new Uint32Array(2);
  for (let r = 1; r <= FLOWS; r++) {
    const p = Math.round(5e7 / z / Math.pow(r, 1.1));
    if (p === 0) continue;
    const i = (r * 7919 + shift) % FLOWS;
    const key = keyOf(i);
    sketch.hashKeyInto(key, h32);
    cmsP.add(h32[0], h32[1], p);
    cmsB.add(h32[0], h32[1], p * 800);
    if (p >= 64) {
      const since = p - 63;
      candidates.push({ key, packets: p + 8, bytes: (p + 8) * 800, sincePackets: since, sinceBytes: since * 800 });
    }
  }
  const block = rollup.CandidateBlock.from({ candidates, floor: { packets: 63, bytes: 63 * 800 }, sampled: false });
  const s = rollup.mergeSummaries([rollup.exactSummary(block, rollup.windowSlack(block, cmsP, cmsB))], K);
  return { s, cmsP, cmsB };
}

/** A stored row's sketch columns (what the API decodes). */
function row(s, cmsP, cmsB) {
  return {
    cms_packets: sketch.encodeCountMinSketch(cmsP),
    cms_bytes: sketch.encodeCountMinSketch(cmsB),
    candidates: sketch.encodeCandidates(s.block.toArray(), undefined, {
      floor: s.block.floor,
      sampled: false,
      frequent: rollup.frequentState(s),
    }),
  };
}

/** The API's top-K work on a set of rows (sketch-merger ranked(): union, cut to 2,048, heavyHitters with the floor). */
function topK(rows) {
  const cmsP = new sketch.CountMinSketch();
  const cmsB = new sketch.CountMinSketch();
  const blocks = [];
  for (const r of rows) {
    cmsP.merge(sketch.decodeCountMinSketch(r.cms_packets));
    cmsB.merge(sketch.decodeCountMinSketch(r.cms_bytes));
    blocks.push(rollup.CandidateBlock.from(sketch.decodeCandidateList(r.candidates)));
  }
  const u = rollup.unionBlocks(blocks);
  const order = rollup.topByEstimate(u, cmsP, 2048);
  const all = sketch.heavyHitters(u.pick(order).toArray(), cmsP, cmsB, { by: 'packets', floor: u.floor });
  return { top: all.slice(0, 100), floor: u.floor, candidates: u.size };
}

function time(fn) {
  const out = [];
  let r;
  for (let i = 0; i < REPS; i++) {
    const t0 = performance.now();
    r = fn();
    out.push(performance.now() - t0);
  }
  out.sort((a, b) => a - b);
  return { ms: out[Math.floor(out.length / 2)], r };
}

function main() {
  console.log(
    `machine: ${os.cpus().length} × ${os.cpus()[0].model}, node ${process.version}, load ${os.loadavg()[0].toFixed(1)}`,
  );
  const t0 = performance.now();
  // 24 distinct hours, reused over 30 days (rows of different days differ only in which hour they are: the merge cost
  // depends on the rows' sizes, not their keys).
  const hours = [];
  for (let h = 0; h < 24; h++) hours.push(hourSummary(h));
  const hourRows = hours.map((x) => row(x.s, x.cmsP, x.cmsB));
  const daySummary = rollup.mergeSummaries(
    hours.map((x) => x.s),
    rollup.DAY_CANDIDATES,
  );
  const dayP = new sketch.CountMinSketch();
  const dayB = new sketch.CountMinSketch();
  for (const x of hours) {
    dayP.merge(x.cmsP);
    dayB.merge(x.cmsB);
  }
  const dayRow = row(daySummary, dayP, dayB);
  const build = time(() =>
    rollup.mergeSummaries(
      hours.map((x) => x.s),
      rollup.DAY_CANDIDATES,
    ),
  );
  console.log(
    `rows: 1 h ${hourRows[0].candidates.length >> 10} KiB of candidates (${hours[0].s.block.size} flows), 1 d ${dayRow.candidates.length >> 10} KiB (${daySummary.block.size} flows); built in ${((performance.now() - t0) / 1000).toFixed(1)} s; a day's summary from its 24 hours: ${build.ms.toFixed(0)} ms`,
  );
  const cases = [
    ['24 h top-K', 1],
    ['30 d top-K', 30],
  ];
  console.log(`\nmedian of ${REPS}, ms   rows (1 h / 1 d)   1 h tier   1 d tier   ratio   floor (1 h / 1 d, packets)`);
  for (const [name, days] of cases) {
    const viaHours = Array.from({ length: 24 * days }, (_, i) => hourRows[i % 24]);
    const viaDays = Array.from({ length: days }, () => dayRow);
    const a = time(() => topK(viaHours));
    const b = time(() => topK(viaDays));
    console.log(
      `${name.padEnd(12)}  ${`${viaHours.length} / ${viaDays.length}`.padStart(16)}   ${a.ms.toFixed(0).padStart(8)}   ${b.ms.toFixed(0).padStart(8)}   ${(a.ms / b.ms).toFixed(1).padStart(4)}×   ${a.r.floor.packets} / ${b.r.floor.packets}`,
    );
  }
}

main();
