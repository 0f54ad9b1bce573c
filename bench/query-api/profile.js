#!/usr/bin/env node
// Times single requests against the benchmark data (bench.js builds it) on a fresh server, optionally under the V8
// profiler: where does an uncached 24 h answer spend its time?
//
//   node bench/query-api/profile.js [--prof DIR] [--repeat 3] [--scale] [--env K=V ...] [path ...]
// --scale: on scale.js's data (10,000 hosts) instead of bench.js's.
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const { dataDir, TOKEN, startServer, stopServer } = require('./server');

const args = process.argv.slice(2);
const take = (name, def) => {
  const i = args.indexOf(`--${name}`);
  if (i < 0) return def;
  const v = args[i + 1];
  args.splice(i, 2);
  return v;
};
const prof = take('prof');
const repeat = Number(take('repeat', 3));
// --slide N: after the paths, N requests of 24 h top-K, each range one minute earlier than the last (a new set of
// 1 min rows each time, the same 1 h rows mostly): what a relative "last 24 h" costs when a new minute arrives.
const slide = Number(take('slide', 0));
const scale = args.indexOf('--scale');
if (scale >= 0) args.splice(scale, 1);
const dir = scale >= 0 ? path.join(path.dirname(dataDir), 'bench-query-api-scale') : dataDir;
const env = scale >= 0 ? { TMA_CHDB_PATH: path.join(dir, 'chdb') } : {};
for (let v; (v = take('env'));) env[v.split('=')[0]] = v.slice(v.indexOf('=') + 1);
const meta = JSON.parse(fs.readFileSync(path.join(dir, 'bench-meta.json'), 'utf8'));
const iso = (ms) => new Date(ms).toISOString();
const q = (ms) => `from=${encodeURIComponent(iso(meta.end - ms))}&to=${encodeURIComponent(iso(meta.end))}`;
const paths = args.length
  ? args
  : [`/v1/flows/top?${q(86_400_000)}&k=100`, `/v1/cardinality?${q(86_400_000)}`, `/v1/flows/top?${q(3_600_000)}&k=100`];

async function main() {
  const { child, base } = await startServer({ env, nodeArgs: prof ? ['--cpu-prof', `--cpu-prof-dir=${prof}`] : [] });
  try {
    for (const p of paths) {
      const times = [];
      let body;
      for (let i = 0; i < repeat; i++) {
        const t0 = performance.now();
        const r = await fetch(base + p, { headers: { authorization: `Bearer ${TOKEN}` } });
        body = await r.json();
        times.push(performance.now() - t0);
        if (!r.ok) throw new Error(`${p}: ${r.status} ${JSON.stringify(body)}`);
      }
      const top = Array.isArray(body.flows)
        ? ` top=${body.flows
            .slice(0, 3)
            .map((f) => f.packets)
            .join(
              ',',
            )} candidates=${body.candidates} completeAbove=${body.completeAbove} (100th ${body.flows[99]?.packets}, N ${body.packets.total})`
        : '';
      console.log(
        `${p.split('?')[0].padEnd(18)} ${JSON.stringify(body.scope.tiers).padEnd(20)} ms: ${times.map((t) => t.toFixed(0)).join(' ')}${top}`,
      );
    }
    if (slide > 0) {
      const times = [];
      for (let i = 1; i <= slide; i++) {
        const to = meta.end - i * 60_000;
        const p = `/v1/flows/top?from=${encodeURIComponent(iso(to - 86_400_000))}&to=${encodeURIComponent(iso(to))}&k=100`;
        const t0 = performance.now();
        const r = await fetch(base + p, { headers: { authorization: `Bearer ${TOKEN}` } });
        await r.json();
        if (!r.ok) throw new Error(`${p}: ${r.status}`);
        times.push(performance.now() - t0);
      }
      const sorted = [...times].sort((a, b) => a - b);
      console.log(
        `24 h top-K, range moved back a minute per request (${slide}): ms ${times.map((t) => t.toFixed(0)).join(' ')}; median ${sorted[Math.floor(slide / 2)].toFixed(0)}, max ${sorted[slide - 1].toFixed(0)}`,
      );
    }
  } finally {
    await stopServer(child);
  }
}
main().catch((e) => {
  console.error(e);
  process.exit(1);
});
