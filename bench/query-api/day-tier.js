#!/usr/bin/env node
// What a 24 h and a 30-day top-K cost from the 1 d tier against the 1 h tier, side by side in one run: the merge a
// top-K answer does on its rows (decode the CMS pair and the candidate list of every row, add the CMS, union the
// candidates, cut to the 2,048 largest estimates, rank them with bounds), timed in-process on rows shaped as the
// aggregator writes them (a frequent-items summary of k = 10,000 per ranking: up to 20,000 candidates per row, full
// 4 × 4096 CMS pair). Then the same with the rows read from embedded ClickHouse first (30 days of 1 h rows and their
// 30 1 d rows stored in a scratch chDB, the sketch columns selected as the query API selects them).
//
//   npx tsc -b libs/rollup/tsconfig.json libs/storage/tsconfig.json && \
//     node bench/query-api/day-tier.js [--reps 5] [--flows 400000] [--no-store]
'use strict';
const path = require('node:path');
const os = require('node:os');
const { parseArgs } = require('node:util');
const root = path.resolve(__dirname, '../..');
const sketch = require(path.join(root, 'libs/sketch/dist'));
const rollup = require(path.join(root, 'libs/rollup/dist'));
const fs = require('node:fs');

const { values: options } = parseArgs({
  options: {
    reps: { type: 'string', default: '5' },
    flows: { type: 'string', default: '400000' },
    'no-store': { type: 'boolean', default: false },
  },
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

async function time(fn) {
  const out = [];
  let r;
  for (let i = 0; i < REPS; i++) {
    const t0 = performance.now();
    r = await fn();
    out.push(performance.now() - t0);
  }
  out.sort((a, b) => a - b);
  return { ms: out[Math.floor(out.length / 2)], r };
}

/** Stores 30 days of 1 h rows and of 1 d rows in a scratch chDB; returns a reader of a tier's rows in a range. */
async function store(hourRows, dayRow, start) {
  const { createStorage, applyMigrations } = require(path.join(root, 'libs/storage/dist'));
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tma-day-tier-'));
  const storage = await createStorage({ kind: 'chdb', path: path.join(dir, 'chdb'), database: 'tma' });
  await applyMigrations(storage);
  const base = (tier, ws, seconds) => ({
    tier,
    window_start: Math.floor(ws / 1000),
    window_seconds: seconds,
    topic: '',
    partition: 0,
    first_offset: 0,
    epoch: 0,
    last_offset: 0,
    version: 1,
    writer: 'rollup',
    late: 0,
    snapshots: 1,
    packets: 1,
    bytes: 1,
    hll_flows: new Uint8Array(0),
    hll_sources: new Uint8Array(0),
    hll_destinations: new Uint8Array(0),
    hll_ports: new Uint8Array(0),
    written_at: new Date(),
    expires_at: 2_000_000_000,
  });
  for (let d = 0; d < 30; d++) {
    const rows = hourRows.map((r, h) => ({ ...base('1h', start + d * 86_400_000 + h * 3_600_000, 3600), ...r }));
    rows.push({ ...base('1d', start + d * 86_400_000, 86_400), ...dayRow });
    await storage.insertRows('agg_partials', rows);
  }
  await storage.command('OPTIMIZE TABLE {database}.agg_partials FINAL');
  const read = (tier, days) =>
    storage.query(
      `SELECT hex(cms_packets) AS cms_packets, hex(cms_bytes) AS cms_bytes, hex(candidates) AS candidates
       FROM {database}.agg_partials FINAL
       WHERE tier = {tier:String} AND window_start >= {from:UInt32} AND window_start < {to:UInt32}`,
      { tier, from: Math.floor(start / 1000), to: Math.floor((start + days * 86_400_000) / 1000) },
      { binaryColumns: ['cms_packets', 'cms_bytes', 'candidates'] },
    );
  return {
    read,
    close: async () => {
      await storage.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function main() {
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
  const build = await time(() =>
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
    const a = await time(() => topK(viaHours));
    const b = await time(() => topK(viaDays));
    console.log(
      `${name.padEnd(12)}  ${`${viaHours.length} / ${viaDays.length}`.padStart(16)}   ${a.ms.toFixed(0).padStart(8)}   ${b.ms.toFixed(0).padStart(8)}   ${(a.ms / b.ms).toFixed(1).padStart(4)}×   ${a.r.floor.packets} / ${b.r.floor.packets}`,
    );
  }
  if (options['no-store']) return;
  const start = Math.floor(Date.now() / 86_400_000) * 86_400_000 - 40 * 86_400_000;
  const t1 = performance.now();
  const db = await store(hourRows, dayRow, start);
  console.log(
    `\nstored 720 + 30 rows in a scratch chDB in ${((performance.now() - t1) / 1000).toFixed(0)} s; read + merge:`,
  );
  try {
    for (const [name, days] of cases) {
      const a = await time(async () => topK(await db.read('1h', days)));
      const b = await time(async () => topK(await db.read('1d', days)));
      if (a.r.candidates === 0 || b.r.candidates === 0) throw new Error('rows not read back');
      console.log(
        `${name.padEnd(12)}  ${`${24 * days} / ${days}`.padStart(16)}   ${a.ms.toFixed(0).padStart(8)}   ${b.ms.toFixed(0).padStart(8)}   ${(a.ms / b.ms).toFixed(1).padStart(4)}×`,
      );
    }
  } finally {
    await db.close();
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
