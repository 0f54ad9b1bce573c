#!/usr/bin/env node
// agg_partials insert throughput and stored size on embedded chDB (one process, one node): the figures docs/scale.md
// sizes a cluster from. Rows are built as the aggregator builds them: simulated hosts' real sketch snapshots
// (tools/fleet-sim) merged per 1 min window and Kafka partition by @tma/rollup, written by @tma/storage's insertRows
// with a dedup token per batch.
//
//   node bench/storage/insert.js [--hosts 1000] [--partitions 12] [--minutes 5] [--batch 12] [--passes 5]
//
// Size is measured on the distinct rows of the first pass only (later passes repeat the same sketches under other
// offsets, which would compress unrealistically well); throughput over every pass.
'use strict';
const { execFileSync } = require('node:child_process');
const { mkdtempSync, rmSync } = require('node:fs');
const { cpus, tmpdir, totalmem, loadavg } = require('node:os');
const path = require('node:path');
const { parseArgs } = require('node:util');

const root = path.resolve(__dirname, '../..');
const { values: o } = parseArgs({
  options: {
    hosts: { type: 'string', default: '1000' },
    partitions: { type: 'string', default: '12' },
    minutes: { type: 'string', default: '5' },
    batch: { type: 'string', default: '12' },
    passes: { type: 'string', default: '5' },
  },
});
const HOSTS = Number(o.hosts);
const PARTITIONS = Number(o.partitions);
const MINUTES = Number(o.minutes);
const BATCH = Number(o.batch);
const PASSES = Number(o.passes);
const INTERVAL_MS = 10_000;
const WINDOW_MS = 60_000;
const TOPIC = 'tma.snapshots.v1';

execFileSync(path.join(root, 'node_modules/.bin/tsc'), ['-b', 'libs/storage', 'libs/rollup', 'tools/fleet-sim'], {
  cwd: root,
  stdio: 'inherit',
});
const { createStorage, applyMigrations } = require(path.join(root, 'libs/storage/dist'));
const rollup = require(path.join(root, 'libs/rollup/dist'));
const { snapshotRow } = require('./snapshot-row');
const { FleetSimulator } = require(path.join(root, 'tools/fleet-sim/dist'));

/** Host → partition as any stable keyed partitioner does (FNV-1a here; Kafka's is murmur2). */
function partitionOf(hostId) {
  let h = 0x811c9dc5;
  for (let i = 0; i < hostId.length; i++) h = Math.imul(h ^ hostId.charCodeAt(i), 0x01000193) >>> 0;
  return h % PARTITIONS;
}

function buildRows() {
  // Recent windows: rows expire 7 days after their window (TTL), and OPTIMIZE … FINAL would drop older ones.
  const startMs = Math.floor(Date.now() / 3_600_000) * 3_600_000 - 3_600_000;
  const sim = new FleetSimulator({ hosts: HOSTS, seed: 7, intervalMs: INTERVAL_MS, startMs, truth: false });
  const windows = new Map();
  for (let r = 0; r < (MINUTES * WINDOW_MS) / INTERVAL_MS; r++)
    for (const s of sim.nextRoundSnapshots()) {
      const ws = rollup.windowOf(s.intervalEndMs, WINDOW_MS);
      const partition = partitionOf(s.hostId);
      const key = `${ws}|${partition}`;
      let acc = windows.get(key);
      if (!acc) windows.set(key, (acc = { m: rollup.emptyMerged(ws, WINDOW_MS / 1000), partition }));
      rollup.mergeStoredPartial(acc.m, snapshotRow(s));
    }
  return [...windows.values()].map(({ m, partition }, i) =>
    rollup.partialRow(
      m,
      rollup.mergedCandidates(m),
      {
        tier: '1m',
        windowStartMs: m.windowStart,
        windowSeconds: m.windowSeconds,
        topic: TOPIC,
        partition,
        firstOffset: i * 1000,
        lastOffset: i * 1000 + m.snapshots - 1,
        version: i * 1000 + m.snapshots,
        writer: 'bench',
        late: false,
      },
      7 * 86_400,
    ),
  );
}

const SKETCHES = [
  'cms_packets',
  'cms_bytes',
  'hll_flows',
  'hll_sources',
  'hll_destinations',
  'hll_ports',
  'candidates',
];
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const mb = (b) => (b / 1e6).toFixed(1);
const kb = (b) => (b / 1e3).toFixed(1);

async function main() {
  const t0 = performance.now();
  const rows = buildRows();
  const buildS = (performance.now() - t0) / 1000;
  const sketchBytes = rows.map((r) => SKETCHES.reduce((n, c) => n + r[c].length, 0));
  const perSketch = Object.fromEntries(SKETCHES.map((c) => [c, median(rows.map((r) => r[c].length))]));

  const dir = mkdtempSync(path.join(tmpdir(), 'tma-bench-insert-'));
  const storage = await createStorage({ kind: 'chdb', path: dir, database: 'tma_bench_insert' });
  try {
    await applyMigrations(storage);
    const batchMs = [];
    let written = 0;
    let sizes;
    for (let pass = 0; pass < PASSES; pass++) {
      // Later passes: the same content under other offsets (other keys), as further offset ranges would be.
      const shift = pass * 1e6;
      const passRows = rows.map((r) => ({
        ...r,
        first_offset: r.first_offset + shift,
        last_offset: r.last_offset + shift,
        version: r.version + shift,
      }));
      for (let i = 0; i < passRows.length; i += BATCH) {
        const batch = passRows.slice(i, i + BATCH);
        const t = performance.now();
        await storage.insertRows('agg_partials', batch, { dedupToken: `bench-${pass}-${i}` });
        batchMs.push(performance.now() - t);
        written += batch.length;
      }
      if (pass === 0) {
        await storage.command('OPTIMIZE TABLE {database}.agg_partials FINAL');
        [sizes] = await storage.query(
          `SELECT sum(rows) AS rows, sum(data_compressed_bytes) AS compressed, sum(data_uncompressed_bytes) AS raw
           FROM system.parts WHERE database = {db:String} AND table = 'agg_partials' AND active`,
          { db: storage.database },
        );
      }
    }
    // What the rollup writes besides: readable rows of every window (all partitions merged, top 100 flows) and
    // the 1 h tier row of these windows with its frequent-items summary (as the aggregator's rollup builds them).
    const windows = new Map();
    for (const r of rows) {
      const ws = r.window_start * 1000;
      if (!windows.has(ws)) windows.set(ws, rollup.emptyMerged(ws, WINDOW_MS / 1000));
      rollup.mergeStoredPartial(windows.get(ws), r);
    }
    const ttl = 30 * 86_400;
    const ttls = { windowTotals: ttl, topFlows: ttl, hostTotals: ttl, protocolTotals: ttl };
    const readable = { agg_window_totals: [], agg_top_flows: [], agg_host_totals: [], agg_protocol_totals: [] };
    for (const m of windows.values()) {
      const r = rollup.readableRows(m, '1m', 100, ttls);
      readable.agg_window_totals.push(...r.windowTotals);
      readable.agg_top_flows.push(...r.topFlows);
      readable.agg_host_totals.push(...r.hostTotals);
      readable.agg_protocol_totals.push(...r.protocolTotals);
    }
    for (const [table, list] of Object.entries(readable)) await storage.insertRows(table, list);
    const hour = rollup.emptyMerged(Math.min(...windows.keys()), 3600);
    for (const r of rows) rollup.mergeStoredPartial(hour, r);
    const summary = rollup.mergeSummaries(hour.frequentParts, rollup.HOUR_CANDIDATES);
    hour.candidateParts = [summary.block];
    hour.frequent = rollup.frequentState(summary);
    const hourRow = rollup.partialRow(
      hour,
      rollup.mergedCandidates(hour),
      {
        ...{ tier: '1h', windowStartMs: hour.windowStart, windowSeconds: 3600, topic: '', partition: 0 },
        ...{ firstOffset: 0, lastOffset: 0, version: hour.partials, writer: 'rollup', late: false },
      },
      400 * 86_400,
    );
    await storage.insertRows('agg_partials', [hourRow]);
    for (const table of Object.keys(readable)) await storage.command(`OPTIMIZE TABLE {database}.${table} FINAL`);
    const tableSizes = await storage.query(
      `SELECT table, sum(rows) AS rows, sum(data_compressed_bytes) AS compressed FROM system.parts
       WHERE database = {db:String} AND active AND table IN {tables:Array(String)} GROUP BY table ORDER BY table`,
      { db: storage.database, tables: Object.keys(readable) },
    );

    const [count] = await storage.query("SELECT count() AS n FROM {database}.agg_partials FINAL WHERE tier = '1m'");
    if (Number(count.n) !== written) throw new Error(`wrote ${written} rows but ${count.n} are stored`);
    const totalS = batchMs.reduce((a, b) => a + b, 0) / 1000;
    const rowsPerS = written / totalS;
    const compressedPerRow = Number(sizes.compressed) / Number(sizes.rows);
    const rawPerRow = Number(sizes.raw) / Number(sizes.rows);

    console.log(
      `machine: ${cpus().length} CPU (${cpus()[0].model.trim()}), ${mb(totalmem())} MB, Node ${process.version}, load ${loadavg()[0].toFixed(1)}`,
    );
    console.log(`engine: embedded chDB ${storage.serverVersion}, one process (single node, no replication)`);
    console.log(
      `rows: ${rows.length} distinct (${HOSTS} hosts, ${PARTITIONS} partitions, ${MINUTES} min; ${(HOSTS / PARTITIONS).toFixed(0)} hosts per row, ${INTERVAL_MS / 1000} s snapshots), built in ${buildS.toFixed(1)} s`,
    );
    console.log(
      `sketch bytes per row: median ${kb(median(sketchBytes))} kB (` +
        SKETCHES.map((c) => `${c} ${kb(perSketch[c])}`).join(', ') +
        ')',
    );
    console.log(
      `stored per row (first pass, merged): ${kb(compressedPerRow)} kB compressed, ${kb(rawPerRow)} kB uncompressed (×${(rawPerRow / compressedPerRow).toFixed(2)})`,
    );
    console.log(
      `insert: ${written} rows in ${batchMs.length} batches of ≤ ${BATCH}: ${rowsPerS.toFixed(0)} rows/s, ` +
        `${mb(rowsPerS * rawPerRow)} MB/s uncompressed; batch median ${median(batchMs).toFixed(0)} ms`,
    );
    console.log(
      `1 h tier row (${hour.hosts.size} hosts, ${rollup.HOUR_CANDIDATES} candidates kept): sketches ${kb(SKETCHES.reduce((n, c) => n + hourRow[c].length, 0))} kB (candidates ${kb(hourRow.candidates.length)} kB)`,
    );
    console.log(
      `rollups per ${windows.size} windows: ` +
        tableSizes
          .map(
            (t) => `${t.table} ${t.rows} rows, ${(Number(t.compressed) / Number(t.rows)).toFixed(1)} B/row compressed`,
          )
          .join('; '),
    );
  } finally {
    await storage.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
