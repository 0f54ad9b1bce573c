#!/usr/bin/env node
// Embedded chDB start-up cost: time from createStorage() to the first answered query, and resident memory
// after it, each run in a fresh process (the engine starts once per process). The storage module is measured
// beside the bare chDB connection it wraps, in the same run, so the ratio holds on a noisy machine.
//
//   npx nx run storage:bench          (or: node bench/storage/start.js [runs])
'use strict';
const { spawnSync } = require('node:child_process');
const { mkdtempSync, rmSync } = require('node:fs');
const { tmpdir, cpus, totalmem } = require('node:os');
const path = require('node:path');

const MB = 1024 * 1024;

const LIB = path.join(__dirname, '../../libs/storage');

/** The library as the apps load it: compiled by the project's build target into dist/. */
function build() {
  const tsc = require.resolve('typescript/bin/tsc');
  const r = spawnSync(process.execPath, [tsc, '-b', path.join(LIB, 'tsconfig.json')], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`build failed:\n${r.stdout}${r.stderr}`);
}

async function child(mode, dir) {
  const rssNode = process.memoryUsage().rss;
  // Loading the modules (chdb maps its ~180 MB native library) is timed apart from starting the engine.
  const tl = performance.now();
  const { createClient } = require('@clickhouse/client');
  const { createChdbConnection } = require('chdb/connection');
  const lib = mode === 'raw' ? undefined : require(path.join(LIB, 'dist', 'index.js'));
  const loadMs = performance.now() - tl;
  const t0 = performance.now();
  if (mode === 'raw') {
    const client = createClient({ connection: createChdbConnection({ path: dir }) });
    const rs = await client.query({ query: 'SELECT 1 AS one', format: 'JSONEachRow' });
    await rs.json();
    const startMs = performance.now() - t0;
    const rss = process.memoryUsage().rss;
    await client.close();
    return { loadMs, startMs, rssNode, rss };
  }
  const { createStorage, applyMigrations } = lib;
  const storage = await createStorage({ kind: 'chdb', path: dir, database: 'tma_bench' });
  await storage.query('SELECT 1 AS one');
  const startMs = performance.now() - t0;
  const rss = process.memoryUsage().rss;
  let migrateMs;
  if (mode === 'storage+migrate') {
    const t1 = performance.now();
    await applyMigrations(storage);
    migrateMs = performance.now() - t1;
  }
  await storage.close();
  return { loadMs, startMs, rssNode, rss, migrateMs };
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

function main() {
  const runs = Number(process.argv[2] ?? 5);
  const modes = ['raw', 'storage', 'storage+migrate'];
  build();
  const results = Object.fromEntries(modes.map((m) => [m, []]));
  // Interleaved so drift on a shared machine hits every mode alike; a fresh data directory per run (cold start).
  for (let i = 0; i < runs; i++) {
    for (const mode of modes) {
      const dir = mkdtempSync(path.join(tmpdir(), 'tma-bench-chdb-'));
      try {
        const r = spawnSync(process.execPath, [__filename, '--child', mode, dir], { encoding: 'utf8' });
        if (r.status !== 0) throw new Error(`${mode} run failed:\n${r.stderr}`);
        results[mode].push(JSON.parse(r.stdout.trim().split('\n').pop()));
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }
  }
  console.log(
    `machine: ${cpus().length} CPU (${cpus()[0]?.model ?? '?'}), ${(totalmem() / 2 ** 30).toFixed(1)} GiB, Node ${process.version}`,
  );
  console.log(`runs per mode: ${runs} (median shown), each a fresh process and a fresh data directory\n`);
  console.log('mode              load modules   start→first answer         RSS after   RSS of bare Node   migrations');
  const raw = median(results.raw.map((r) => r.startMs));
  for (const mode of modes) {
    const rs = results[mode];
    const start = median(rs.map((r) => r.startMs));
    const rss = median(rs.map((r) => r.rss)) / MB;
    const node = median(rs.map((r) => r.rssNode)) / MB;
    const mig = rs[0].migrateMs === undefined ? '' : `${median(rs.map((r) => r.migrateMs)).toFixed(0)} ms`;
    const load = median(rs.map((r) => r.loadMs));
    console.log(
      `${mode.padEnd(17)} ${`${load.toFixed(0)} ms`.padStart(9)}      ${`${start.toFixed(0)} ms`.padStart(8)} (×${(start / raw).toFixed(2)} raw)` +
        `   ${`${rss.toFixed(0)} MB`.padStart(7)}   ${`${node.toFixed(0)} MB`.padStart(9)}          ${mig}`,
    );
  }
}

if (process.argv[2] === '--child') {
  child(process.argv[3], process.argv[4]).then(
    (r) => console.log(JSON.stringify(r)),
    (err) => {
      console.error(err);
      process.exit(1);
    },
  );
} else {
  main();
}
