#!/usr/bin/env node
// Native sketch forms (docs/sql.md): what they cost on disk, and a push-down merge in SQL (sumForEach/maxForEach
// over agg_window_sketches, tma_hll_estimate) beside the TypeScript merge of the same windows' binary sketches
// (read hex from agg_partials, decode, merge the CMS pair and four HLLs, estimate), in the same run, interleaved.
//
//   npx tsc -b && node bench/storage/native.js [--hosts 500] [--windows 30] [--rounds 5]
//
// Windows of a simulated fleet (tools/fleet-sim, 1 min each) are built with the aggregator's own row builders
// (@tma/rollup); to reach 24 h and 7 d without simulating them, those windows are copied with later start times
// inside ClickHouse (INSERT … SELECT), so the merge reads as many rows, of the same density, as a real range.
'use strict';
const { mkdtempSync, rmSync } = require('node:fs');
const { tmpdir, cpus, totalmem } = require('node:os');
const path = require('node:path');

const root = path.resolve(__dirname, '../..');
const dist = (p) => require(path.join(root, p, 'dist', 'index.js'));
const { applyMigrations, createStorage } = dist('libs/storage');
const {
  emptyMerged,
  mergeStoredPartial,
  mergedCandidates,
  partialRow,
  readableRows,
  SKETCH_COLUMNS,
  STORED_PARTIAL_BINARY,
  STORED_PARTIAL_SELECT,
} = dist('libs/rollup');
const { HLL_SKETCHES } = dist('libs/sketch');
const { snapshotRow } = require('./snapshot-row');
const { FleetSimulator } = dist('tools/fleet-sim');

const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};
const HOSTS = arg('hosts', 500);
const WINDOWS = arg('windows', 30);
const ROUNDS = arg('rounds', 5);
const MIN = 60_000;
const DAY_S = 86_400;

const ttl = { windowTotals: DAY_S, topFlows: DAY_S, hostTotals: DAY_S, protocolTotals: DAY_S, sketches: 30 * DAY_S };

/** WINDOWS fleet windows: one agg_partials row each (all partitions in one) and its native rows. */
async function seed(storage, start) {
  const sim = new FleetSimulator({ hosts: HOSTS, seed: 3, intervalMs: MIN, startMs: start, packetsPerInterval: 2000 });
  for (let w = 0; w < WINDOWS; w++) {
    const m = emptyMerged(start + w * MIN, 60);
    for (const s of sim.nextRoundSnapshots()) mergeStoredPartial(m, snapshotRow(s));
    const id = {
      tier: '1m',
      windowStartMs: m.windowStart,
      windowSeconds: 60,
      topic: 't',
      partition: 0,
      firstOffset: w,
      lastOffset: w,
      version: 1,
      writer: 'bench',
      late: false,
    };
    let t = performance.now();
    const row = partialRow(m, mergedCandidates(m), id, 30 * DAY_S);
    await storage.insertRows('agg_partials', [row]);
    cost.partials += performance.now() - t;
    t = performance.now();
    const r = readableRows(m, '1m', 10, ttl);
    cost.readable += performance.now() - t;
    t = performance.now();
    await storage.insertRows('agg_window_totals', r.windowTotals);
    await storage.insertRows('agg_top_flows', r.topFlows);
    await storage.insertRows('agg_host_totals', r.hostTotals);
    await storage.insertRows('agg_protocol_totals', r.protocolTotals);
    cost.readableWrite += performance.now() - t;
    t = performance.now();
    await storage.insertRows('agg_window_flows', r.windowFlows);
    await storage.insertRows('agg_window_sketches', r.windowSketches);
    cost.nativeWrite += performance.now() - t;
  }
}

/** Milliseconds spent per kind of write while seeding (the native rows' share of a rollup rebuild). */
const cost = { partials: 0, readable: 0, readableWrite: 0, nativeWrite: 0 };

/** Compressed and uncompressed bytes per row of the given columns, from the active parts. */
async function sizes(storage, table, columns) {
  const [r] = await storage.query(
    `SELECT sum(column_data_compressed_bytes) AS c, sum(column_data_uncompressed_bytes) AS u
     FROM system.parts_columns WHERE database = {db:String} AND table = {t:String} AND active AND column IN {cols:Array(String)}`,
    { db: storage.database, t: table, cols: columns },
  );
  const [n] = await storage.query(`SELECT count() AS n FROM {database}.${table}`);
  return { compressed: Number(r.c) / Number(n.n), uncompressed: Number(r.u) / Number(n.n), rows: Number(n.n) };
}

/** Copies the seeded windows until `count` windows of `tier` exist from `start` (same content, later starts). */
async function replicate(storage, tier, seeded, start, count, stepS) {
  const cols = `window_seconds, version, snapshots, packets, bytes, cms_packets, cms_bytes, ${HLL_SKETCHES.map((h) => h.column).join(', ')}, updated_at, expires_at`;
  const pcols = `window_seconds, topic, partition, first_offset, last_offset, version, writer, late, snapshots, packets, bytes, ${SKETCH_COLUMNS.join(', ')}, protocols, protocol_packets, protocol_bytes, hosts, host_boot, host_last_seq, host_agent_version, host_packets, host_bytes, host_snapshots, host_gaps, gaps, written_at, expires_at`;
  const s = Math.floor(start / 1000);
  for (let i = 0; i < count; i++) {
    const ws = s + i * stepS;
    const src = Math.floor(seeded / 1000) + (i % WINDOWS) * 60;
    await storage.command(
      `INSERT INTO {database}.agg_window_sketches (tier, window_start, ${cols})
       SELECT {tier:String}, toDateTime({ws:UInt32}), ${cols} FROM {database}.agg_window_sketches FINAL WHERE tier = '1m' AND window_start = toDateTime({src:UInt32})`,
      { tier, ws, src },
    );
    await storage.command(
      `INSERT INTO {database}.agg_partials (tier, window_start, ${pcols})
       SELECT {tier:String}, toDateTime({ws:UInt32}), ${pcols} FROM {database}.agg_partials FINAL WHERE tier = '1m' AND window_start = toDateTime({src:UInt32})`,
      { tier, ws, src },
    );
  }
}

const SQL_MERGE = `SELECT count() AS n, arraySum(sumForEach(cms_packets)) AS cells_p, arraySum(sumForEach(cms_bytes)) AS cells_b,
  ${HLL_SKETCHES.map((h) => `tma_hll_estimate(maxForEach(${h.column})) AS ${h.column}`).join(', ')}
  FROM {database}.agg_window_sketches FINAL WHERE tier = {tier:String} AND window_start >= {from:UInt32} AND window_start < {to:UInt32}`;

async function sqlMerge(storage, tier, from, to) {
  const [r] = await storage.query(SQL_MERGE, { tier, from, to });
  return { n: Number(r.n), estimates: HLL_SKETCHES.map((h) => r[h.column]) };
}

async function tsMerge(storage, tier, from, to) {
  const rows = await storage.query(
    `SELECT ${STORED_PARTIAL_SELECT} FROM {database}.agg_partials FINAL
     WHERE tier = {tier:String} AND window_start >= {from:UInt32} AND window_start < {to:UInt32}`,
    { tier, from, to },
    { binaryColumns: [...STORED_PARTIAL_BINARY] },
  );
  const m = emptyMerged(from * 1000, to - from);
  for (const r of rows) mergeStoredPartial(m, r);
  return { n: rows.length, estimates: HLL_SKETCHES.map((h) => m[h.property].estimate()) };
}

const median = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
const kib = (b) => `${(b / 1024).toFixed(1)} KiB`;

async function main() {
  const dir = mkdtempSync(path.join(tmpdir(), 'tma-bench-native-'));
  const storage = await createStorage({ kind: 'chdb', path: dir, database: 'tma_bench' });
  try {
    await applyMigrations(storage);
    // Recent enough that the rows (and their copies) are inside their TTL.
    const start = Math.floor((Date.now() - 3 * 86_400_000) / 3_600_000) * 3_600_000;
    const t0 = performance.now();
    await seed(storage, start);
    const seedS = (performance.now() - t0) / 1000;
    // Wide parts (small parts are compact, without per-column sizes), merged.
    for (const t of ['agg_window_sketches', 'agg_window_flows', 'agg_partials']) {
      await storage.command(
        `ALTER TABLE {database}.${t} MODIFY SETTING min_bytes_for_wide_part = 0, min_rows_for_wide_part = 0`,
      );
      await storage.command(`OPTIMIZE TABLE {database}.${t} FINAL`);
    }
    const native = await sizes(storage, 'agg_window_sketches', [
      'cms_packets',
      'cms_bytes',
      ...HLL_SKETCHES.map((h) => h.column),
    ]);
    const cms = await sizes(storage, 'agg_window_sketches', ['cms_packets', 'cms_bytes']);
    const flows = await sizes(storage, 'agg_window_flows', [
      'tier',
      'window_start',
      'version',
      'src',
      'dst',
      'sport',
      'dport',
      'protocol',
      'cms_cells',
      'kernel_packets',
      'kernel_bytes',
      'expires_at',
    ]);
    const binary = await sizes(storage, 'agg_partials', [...SKETCH_COLUMNS]);
    process.stdout.write(
      `machine: ${cpus().length} CPU (${cpus()[0].model.trim()}), ${(totalmem() / 2 ** 30).toFixed(1)} GiB, Node ${process.version}\n` +
        `${WINDOWS} fleet windows of ${HOSTS} hosts (1 min each), built in ${seedS.toFixed(1)} s\n\n` +
        `per 1 min window                       compressed    uncompressed\n` +
        `agg_window_sketches (CMS pair + 4 HLL)  ${kib(native.compressed).padStart(12)}  ${kib(native.uncompressed).padStart(12)}\n` +
        `  of which the CMS pair                 ${kib(cms.compressed).padStart(12)}  ${kib(cms.uncompressed).padStart(12)}\n` +
        `agg_window_flows (${(flows.rows / WINDOWS).toFixed(0)} flows/window)   ${kib((flows.compressed * flows.rows) / WINDOWS).padStart(12)}  ${kib((flows.uncompressed * flows.rows) / WINDOWS).padStart(12)}\n` +
        `agg_partials sketch columns (binary)   ${kib(binary.compressed).padStart(12)}  ${kib(binary.uncompressed).padStart(12)}\n\n` +
        `per window: agg_partials row built + written ${(cost.partials / WINDOWS).toFixed(0)} ms; rollup rows built ` +
        `${(cost.readable / WINDOWS).toFixed(0)} ms (incl. native), readable rollups written ${(cost.readableWrite / WINDOWS).toFixed(0)} ms, ` +
        `native rows written ${(cost.nativeWrite / WINDOWS).toFixed(0)} ms\n\n`,
    );
    // 24 h of 1 min windows and 7 d of 1 h windows, copied from the seeded ones.
    const day0 = start + 86_400_000 * 2;
    await replicate(storage, '1m', start, day0, 1440, 60);
    await replicate(storage, '1h', start, day0, 168, 3600);
    const cases = [
      ['24 h of 1 min windows', '1m', 1440 * 60],
      ['24 h of 1 h windows', '1h', 24 * 3600],
      ['7 d of 1 h windows', '1h', 168 * 3600],
    ];
    process.stdout.write(`merge (median of ${ROUNDS}, interleaved)   rows     SQL push-down   TypeScript   TS / SQL\n`);
    for (const [label, tier, span] of cases) {
      const from = Math.floor(day0 / 1000);
      const to = from + span;
      const a = [];
      const b = [];
      let last;
      for (let r = 0; r < ROUNDS; r++) {
        let t = performance.now();
        const s = await sqlMerge(storage, tier, from, to);
        a.push(performance.now() - t);
        t = performance.now();
        const j = await tsMerge(storage, tier, from, to);
        b.push(performance.now() - t);
        if (s.n !== j.n || s.estimates.some((e, i) => e !== j.estimates[i]))
          throw new Error(`SQL and TypeScript disagree: ${JSON.stringify(s)} vs ${JSON.stringify(j)}`);
        last = s;
      }
      process.stdout.write(
        `${label.padEnd(36)} ${String(last.n).padStart(5)}  ${median(a).toFixed(0).padStart(10)} ms  ${median(b).toFixed(0).padStart(8)} ms  ${(median(b) / median(a)).toFixed(2).padStart(8)}\n`,
      );
    }
  } finally {
    await storage.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  process.stderr.write(`${err.stack ?? err}\n`);
  process.exit(1);
});
